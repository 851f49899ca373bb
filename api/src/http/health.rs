//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use super::HttpState;

/// Liveness: the process answers. Never touches the database, so a database
/// outage does not get healthy instances restarted.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers; a load balancer should route elsewhere otherwise.
pub(crate) async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    match state.app.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Prometheus metrics in the text exposition format.
pub(crate) async fn metrics(State(state): State<HttpState>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.app.metrics.render(),
    )
}
