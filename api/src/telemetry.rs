//! Logging for the binary: human-readable lines on stderr, filtered by
//! `RUST_LOG` (default: `info` for Chatshop, `warn` for its dependencies).

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber. Call once, from `main`.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,chatshop=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
