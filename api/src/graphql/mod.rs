//! The GraphQL schema: resolvers translate between the wire and the services.
//!
//! Resolvers never build SQL and decide nothing: they parse ids, call one
//! service function with the caller, and wrap what comes back in an output
//! type. The schema is built from types alone; runtime state is attached as
//! data, so [`sdl`] needs no database.

mod account;
mod catalog;
mod context;
mod node;
mod relay;
mod shops;
pub(crate) mod types;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::app::AppState;
use crate::error::ErrorCodes;

/// The executable schema.
pub type ChatshopSchema = Schema<Query, Mutation, EmptySubscription>;

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(account::AccountQuery, node::NodeQuery, shops::ShopsQuery, catalog::CatalogQuery);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(account::AccountMutation, shops::ShopsMutation, catalog::CatalogMutation);

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription).extension(ErrorCodes)
}

/// Builds the executable schema around the shared state and its limits.
pub(crate) fn build_schema(state: AppState) -> ChatshopSchema {
    let limits = &state.config.limits;
    let mut schema = builder()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        // Guards the validator itself against deeply nested fragments.
        .limit_recursive_depth(limits.max_depth.saturating_mul(4).max(32));
    if !limits.introspection {
        schema = schema.disable_introspection().disable_suggestions();
    }
    schema.data(state).finish()
}

/// The SDL of the public schema, exactly as `schema.graphql` must hold it.
/// Needs no database, configuration or runtime.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new()
        .sorted_fields()
        .sorted_arguments()
        .sorted_enum_items();
    builder().finish().sdl_with_options(options)
}
