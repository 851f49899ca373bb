//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use super::HttpState;

/// Liveness: the process answers. Never touches the database, so a database
/// outage does not get healthy instances restarted.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers and carries every migration this build
/// expects; a load balancer should route elsewhere otherwise.
pub(crate) async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    use chatshop_migration::MigratorTrait;
    match state.app.db.ping().await {
        Ok(()) => match chatshop_migration::Migrator::get_pending_migrations(&state.app.db).await {
            Ok(pending) if pending.is_empty() => (StatusCode::OK, "ready"),
            Ok(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database migrations pending",
            ),
            Err(err) => {
                tracing::warn!(error = %err, "readiness check failed");
                (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
            }
        },
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
