//! The GraphQL schema: resolvers translate between the wire and the services.
//!
//! Resolvers never build SQL and decide nothing: they parse ids, call one
//! service function with the caller, and wrap what comes back in an output
//! type. The schema is built from types alone; runtime state is attached as
//! data, so [`sdl`] needs no database.

mod account;
mod billing;
mod catalog;
mod context;
mod conversations;
pub(crate) mod executor;
mod limits;
mod node;
mod orders;
mod relay;
pub(crate) mod response_cache;
pub(crate) mod shared_events;
mod shops;
mod subscriptions;
pub(crate) mod types;
mod validated;

use async_graphql::{MergedObject, Schema, SchemaBuilder};

pub(crate) use executor::Executor;
use executor::Schemas;
pub(crate) use subscriptions::Subscription;

use crate::app::AppState;
use crate::error::ErrorCodes;

/// The executable schema.
pub type ChatshopSchema = Schema<Query, Mutation, Subscription>;

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(
    account::AccountQuery,
    node::NodeQuery,
    shops::ShopsQuery,
    catalog::CatalogQuery,
    conversations::ConversationsQuery,
    orders::OrdersQuery,
    billing::BillingQuery,
);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(
    account::AccountMutation,
    shops::ShopsMutation,
    catalog::CatalogMutation,
    conversations::ConversationsMutation,
    orders::OrdersMutation,
    billing::BillingMutation,
);

/// A mutation resolver's body, run on the heap. async-graphql builds a
/// field's future inside its root's, so the mutation root's future is as
/// large as its largest resolver's (9 KB with the checkout's), and every
/// mutation, a sent message included, had that many bytes copied each time
/// the future moved. Boxed, each resolver's future holds a pointer.
pub(crate) fn boxed<'a, T>(
    body: impl Future<Output = async_graphql::Result<T>> + Send + 'a,
) -> std::pin::Pin<Box<dyn Future<Output = async_graphql::Result<T>> + Send + 'a>> {
    Box::pin(body)
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
}

/// Builds the executable schema around the shared state and its limits:
/// the schema for in-process callers, whose extensions enforce the limits,
/// and the [`Executor`] the endpoints run operations with.
pub(crate) fn build_schema(state: AppState) -> (ChatshopSchema, Executor) {
    let limits = &state.config.limits;
    let shape = limits::QueryShape {
        max_aliases: limits.max_aliases,
        max_root_fields: limits.max_root_fields,
        max_depth: limits.max_depth,
    };
    let configured = || {
        let mut schema = builder()
            .limit_complexity(limits.max_complexity)
            // Guards the validator itself against deeply nested fragments.
            .limit_recursive_depth(shape.max_nesting());
        if !limits.introspection {
            schema = schema.disable_introspection().disable_suggestions();
        }
        schema
            .data(state.clone())
            .data(shared_events::ResolvedEvents::default())
    };
    let responses = std::sync::Arc::new(response_cache::ResponseCache::new(
        std::time::Duration::from_millis(state.config.anonymous_cache_ms),
    ));
    responses.follow(state.events.as_ref());
    let executor = Executor::new(
        Schemas {
            strict: configured().finish(),
            fast: configured()
                .validation_mode(async_graphql::ValidationMode::Fast)
                .finish(),
            variables: validated::VariableCheck::new(),
        },
        shape,
        state.metrics.clone(),
        responses,
    );
    let in_process = configured()
        .extension(ErrorCodes)
        .extension(crate::metrics::OperationMetrics(state.metrics.clone()))
        .extension(shape)
        .finish();
    (in_process, executor)
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

#[cfg(test)]
mod tests {
    /// `schema.graphql` is the contract frontend teams code against; it must
    /// be exactly what the code serves.
    #[test]
    fn schema_graphql_is_current() {
        let committed = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"));
        let current = super::sdl();
        if committed != current {
            let first_difference = committed
                .lines()
                .zip(current.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .map_or_else(
                    || "one file is a prefix of the other".to_owned(),
                    |(n, (a, b))| format!("line {}: committed {a:?}, current {b:?}", n + 1),
                );
            panic!(
                "schema.graphql is out of date; run `cargo run -p chatshop -- export-schema > schema.graphql` ({first_difference})"
            );
        }
    }

    /// Every type, field, argument and enum value we define is documented:
    /// the SDL is the API's reference documentation. (Relay's generated
    /// connection and edge types are documented by async-graphql.)
    #[test]
    fn every_schema_element_has_a_description() {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

        let document = async_graphql::parser::parse_schema(super::sdl()).expect("the SDL parses");
        let documented = |d: &Option<async_graphql::Positioned<String>>| {
            d.as_ref().is_some_and(|d| !d.node.trim().is_empty())
        };
        let mut undocumented = Vec::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            let name = ty.name.node.to_string();
            let generated =
                name.ends_with("Connection") || name.ends_with("Edge") || name == "PageInfo";
            if generated || matches!(ty.kind, TypeKind::Scalar) {
                continue;
            }
            if !documented(&ty.description) {
                undocumented.push(name.clone());
            }
            match ty.kind {
                TypeKind::Object(object) => {
                    for field in object.fields {
                        if !documented(&field.node.description) {
                            undocumented.push(format!("{name}.{}", field.node.name.node));
                        }
                        for argument in field.node.arguments {
                            if !documented(&argument.node.description) {
                                undocumented.push(format!(
                                    "{name}.{}({})",
                                    field.node.name.node, argument.node.name.node
                                ));
                            }
                        }
                    }
                }
                TypeKind::InputObject(input) => {
                    for field in input.fields {
                        if !documented(&field.node.description) {
                            undocumented.push(format!("{name}.{}", field.node.name.node));
                        }
                    }
                }
                TypeKind::Enum(values) => {
                    for value in values.values {
                        if !documented(&value.node.description) {
                            undocumented.push(format!("{name}.{}", value.node.value.node));
                        }
                    }
                }
                _ => {}
            }
        }
        assert!(
            undocumented.is_empty(),
            "undocumented schema elements: {undocumented:?}"
        );
    }
}
