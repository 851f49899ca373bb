//! The `chatshop` server binary.

use clap::{Parser, Subcommand};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Chatshop: an embeddable GraphQL API for shopping inside conversations.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(Box<ServeArgs>),
    /// Print the GraphQL schema (SDL) that `schema.graphql` must equal.
    ExportSchema,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: chatshop::Config,
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Password hashes run on the blocking pool, each with a 19 MiB work
        // area that the allocator keeps for as long as the thread that
        // freed it lives: let idle hashing threads go after a second, not
        // tokio's default ten, so sign-ins do not hold memory long.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()?
        .block_on(run())
}

async fn run() -> Result<()> {
    // `chatshop` and `chatshop --listen …` mean `chatshop serve …`.
    let mut args: Vec<_> = std::env::args_os().collect();
    let first = args.get(1).and_then(|a| a.to_str()).unwrap_or("");
    if ![
        "serve",
        "export-schema",
        "help",
        "--help",
        "-h",
        "--version",
        "-V",
    ]
    .contains(&first)
    {
        args.insert(1.min(args.len()), "serve".into());
    }
    let cli = Cli::parse_from(args);
    let config = match cli.command {
        Some(Command::Serve(args)) => args.config,
        Some(Command::ExportSchema) | None => {
            print!("{}", chatshop::sdl());
            return Ok(());
        }
    };
    chatshop::telemetry::init(&config.log_format);
    let listen = config.listen;
    let seed_demo = config.seed_demo;
    let chatshop = chatshop::Chatshop::connect(config).await?;
    if seed_demo && chatshop.seed_demo_if_empty().await? {
        tracing::info!("demo shop `demo-coffee` seeded; see the README for its accounts");
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "chatshop listening; GraphQL at /graphql, playground at /");
    chatshop.serve(listener, shutdown_signal()).await?;
    tracing::info!("chatshop stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what container runtimes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
