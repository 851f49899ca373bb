//! The HTTP surface: one function assembles it, handlers live beside it.

mod graphql;
mod health;
mod negotiate;
mod playground;
mod ws;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::graphql::ChatshopSchema;

/// What the HTTP handlers share.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub app: AppState,
    pub schema: ChatshopSchema,
}

/// The whole HTTP surface as a `Router<()>`, ready to nest or serve.
pub(crate) fn router(app: AppState, schema: ChatshopSchema) -> Router {
    let playground_enabled = app.config.playground;
    let state = HttpState { app, schema };
    let mut router = Router::new()
        // axum answers other methods with 405 and an `Allow: GET,HEAD,POST` header.
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    #[cfg(feature = "stock-http-handler")]
    {
        router = router.route_service(
            "/graphql-stock",
            async_graphql_axum::GraphQL::new(state.schema.clone()),
        );
    }
    if playground_enabled {
        router = router
            .route("/", get(playground::index))
            .route("/playground/{*path}", get(playground::asset));
    }
    router.with_state(state)
}
