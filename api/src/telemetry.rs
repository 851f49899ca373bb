//! Logging for the binary: lines on stderr, human-readable or JSON, filtered
//! by `RUST_LOG` (default: `info` for Chatshop, `warn` for its dependencies).
//! Every line logged while a request is handled carries its request id.

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber. Call once, from `main`.
/// `format` is `text` or `json`.
pub fn init(format: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,chatshop=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format.eq_ignore_ascii_case("json") {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}
