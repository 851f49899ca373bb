//! Typed access to what a resolver needs from its context.

use std::sync::Arc;

use async_graphql::Context;

use super::response_cache::ViewerConsulted;

use crate::Error;
use crate::app::AppState;
use crate::auth::Actor;

static ANONYMOUS: Actor = Actor::Anonymous;

/// Shortcuts that never panic (no `data_unchecked`).
pub(crate) trait ContextExt {
    /// The shared state.
    fn state(&self) -> Result<&AppState, Error>;
    /// The caller; anonymous when the transport attached no one. Asking
    /// makes the response the caller's own (see `response_cache`, and
    /// `shared_events` for live events): resolvers whose answer does not
    /// depend on the caller should not ask, and no resolver may learn who
    /// the caller is any other way.
    fn actor(&self) -> &Actor;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> Result<&AppState, Error> {
        self.data::<AppState>()
            .map_err(|_| Error::internal("application state missing from the schema"))
    }

    fn actor(&self) -> &Actor {
        // Whatever is resolved from here on depends on the caller.
        if let Some(consulted) = self.data_opt::<Arc<ViewerConsulted>>() {
            consulted.mark();
        }
        self.data_opt::<Actor>().unwrap_or(&ANONYMOUS)
    }
}
