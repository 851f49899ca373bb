//! The HTTP surface: one function assembles it, handlers live beside it.

mod graphql;
mod health;
mod negotiate;
mod playground;
mod rate_limit;
mod ws;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::graphql::{ChatshopSchema, Executor};

/// What the HTTP handlers share.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub app: AppState,
    pub executor: Executor,
    pub rate_limits: std::sync::Arc<rate_limit::RateLimits>,
    pub sockets_per_user: std::sync::Arc<ws::SocketsPerUser>,
}

/// The whole HTTP surface as a `Router<()>`, ready to nest or serve.
/// `schema` is served only by the benchmark's stock handler.
pub(crate) fn router(app: AppState, executor: Executor, schema: ChatshopSchema) -> Router {
    let playground_enabled = app.config.playground;
    let rate_limits = std::sync::Arc::new(rate_limit::RateLimits::new(&app.config.limits));
    spawn_rate_limit_sweeper(&rate_limits);
    let sockets_per_user = std::sync::Arc::new(ws::SocketsPerUser::default());
    let state = HttpState {
        app,
        executor,
        rate_limits,
        sockets_per_user,
    };
    let mut router = Router::new()
        // axum answers other methods with 405 and an `Allow: GET,HEAD,POST` header.
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    #[cfg(feature = "stock-http-handler")]
    {
        router = router.route_service("/graphql-stock", async_graphql_axum::GraphQL::new(schema));
    }
    #[cfg(not(feature = "stock-http-handler"))]
    drop(schema);
    if playground_enabled {
        router = router
            .route("/", get(playground::index))
            .route("/playground/{*path}", get(playground::asset));
    }
    router
        .with_state(state)
        .layer(axum::middleware::from_fn(request_id))
}

/// Gives every request an id (the client's `X-Request-Id` when it is a sane
/// token, a fresh one otherwise), logs everything done for it inside a span
/// carrying that id, and returns the id in `X-Request-Id`.
async fn request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Forgets idle callers' buckets every minute; stops with the router.
fn spawn_rate_limit_sweeper(rate_limits: &std::sync::Arc<rate_limit::RateLimits>) {
    let weak = std::sync::Arc::downgrade(rate_limits);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            interval.tick().await;
            let Some(rate_limits) = weak.upgrade() else {
                break;
            };
            rate_limits.forget_idle();
        }
    });
}
