//! Typed access to what a resolver needs from its context.

use async_graphql::Context;

use crate::Error;
use crate::app::AppState;
use crate::auth::Actor;

static ANONYMOUS: Actor = Actor::Anonymous;

/// Shortcuts that never panic (no `data_unchecked`).
pub(crate) trait ContextExt {
    /// The shared state.
    fn state(&self) -> Result<&AppState, Error>;
    /// The caller; anonymous when the transport attached no one.
    fn actor(&self) -> &Actor;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> Result<&AppState, Error> {
        self.data::<AppState>()
            .map_err(|_| Error::internal("application state missing from the schema"))
    }

    fn actor(&self) -> &Actor {
        self.data_opt::<Actor>().unwrap_or(&ANONYMOUS)
    }
}
