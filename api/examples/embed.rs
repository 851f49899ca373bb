//! Mounting Chatshop inside an existing axum application.
//!
//! Run with `cargo run -p chatshop --example embed`, then:
//!
//! ```text
//! curl localhost:3000/                       # the host application's own page
//! curl localhost:3000/shop-api/graphql \
//!   -H 'content-type: application/json' \
//!   -d '{"query":"{ shops { edges { node { name } } } }"}'
//! ```

use axum::Router;
use axum::routing::get;
use chatshop::{Chatshop, Config};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Any `Config` field can be set in code; here an embedded SQLite file and
    // no playground, as an integrator would run it behind their own UI.
    let config = Config {
        database_url: "sqlite://embedded-chatshop.db?mode=rwc".to_owned(),
        playground: false,
        ..Config::default()
    };
    let chatshop = Chatshop::connect(config).await?;
    chatshop.seed_demo_if_empty().await?;

    let app = Router::new()
        .route(
            "/",
            get(|| async { "My existing app. Chatshop lives under /shop-api." }),
        )
        .nest("/shop-api", chatshop.router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
