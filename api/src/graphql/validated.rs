//! Documents validated once.
//!
//! Full validation runs some twenty rules over the document on every
//! request, a sixth of the server's work for a `sendMessage`. All but one
//! depend on the document alone; the exception checks argument values,
//! including those that come from variables. So once a document (its exact
//! text) passed full validation, a later request with the same text only
//! needs its variables checked against the types the operation declares
//! for them (the rules already made sure every variable is used where its
//! type fits), and runs with async-graphql's fast validation, which keeps
//! the rules execution relies on (fragment cycles) and the complexity and
//! depth limits.
//!
//! The check here only answers "certainly valid": whenever it is not sure
//! (a variable given as `null`, a type it does not know), the request goes
//! through full validation as any first request does, and gets its errors
//! from there.
//!
//! The input types are registered as async-graphql registers them when it
//! builds the schema, through its registry (public, but hidden from its
//! documentation); the tests here and the end-to-end test of refused
//! variables pin what this relies on.

use std::sync::Arc;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{OutputType, SubscriptionType, Value, Variables};

use super::{Mutation, Query, Subscription};

/// Checks variable values against the schema's input types.
#[derive(Clone)]
pub(crate) struct VariableCheck {
    registry: Arc<Registry>,
}

impl VariableCheck {
    /// The schema's types, registered as building the schema registers
    /// them (without executing anything: a request run here, at start, put
    /// a second copy of every resolver in the binary).
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        Query::create_type_info(&mut registry);
        Mutation::create_type_info(&mut registry);
        <Subscription as SubscriptionType>::create_type_info(&mut registry);
        Self {
            registry: Arc::new(registry),
        }
    }

    fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether full validation of `document`, known to pass for some
    /// variables, certainly passes with `variables` too.
    pub(crate) fn certainly_valid(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> bool {
        let operation = match (&document.operations, operation_name) {
            (DocumentOperations::Single(operation), _) => operation,
            (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
                Some(operation) => operation,
                None => return false,
            },
            (DocumentOperations::Multiple(_), None) => return false,
        };
        operation
            .node
            .variable_definitions
            .iter()
            .all(|definition| {
                let definition = &definition.node;
                match variables.get(&definition.name.node) {
                    // Full validation does not look at missing variables
                    // either: execution reports them.
                    None => true,
                    // A nullable variable may stand where its argument is not
                    // nullable but has a default; which it is, the document
                    // says: full validation decides.
                    Some(Value::Null) => false,
                    // Declared types read as the schema writes its own
                    // (`[ID!]!`), so one walk serves both.
                    Some(value) => self.fits(&definition.var_type.node.to_string(), value),
                }
            })
    }

    /// A value against a type as the schema writes it (`[String!]!`).
    fn fits(&self, ty: &str, value: &Value) -> bool {
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => {
                !matches!(value, Value::Null) && self.fits(inner, value)
            }
            MetaTypeName::List(item) => match value {
                Value::Null => true,
                Value::List(items) => items.iter().all(|v| self.fits(item, v)),
                single => self.fits(item, single),
            },
            MetaTypeName::Named(name) => {
                matches!(value, Value::Null) || self.fits_named(name, value)
            }
        }
    }

    /// A value that is not null against a named input type.
    fn fits_named(&self, name: &str, value: &Value) -> bool {
        match self.registry().types.get(name) {
            Some(MetaType::Scalar { is_valid, .. }) => {
                is_valid.as_ref().is_none_or(|is_valid| is_valid(value))
            }
            Some(MetaType::Enum { enum_values, .. }) => match value {
                Value::Enum(item) => enum_values.contains_key(item.as_str()),
                Value::String(item) => enum_values.contains_key(item.as_str()),
                _ => false,
            },
            Some(MetaType::InputObject {
                input_fields,
                oneof: false,
                ..
            }) => match value {
                Value::Object(given) => {
                    given
                        .keys()
                        .all(|key| input_fields.contains_key(key.as_str()))
                        && input_fields
                            .values()
                            .all(|field| match given.get(field.name.as_str()) {
                                Some(value) => self.fits(&field.ty, value),
                                None => {
                                    !MetaTypeName::create(&field.ty).is_non_null()
                                        || field.default_value.is_some()
                                }
                            })
                }
                _ => false,
            },
            // One-of input objects and anything unknown: not sure.
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Variables;
    use async_graphql::parser::parse_query;
    use serde_json::{Value as Json, json};

    use super::VariableCheck;

    const SEND: &str =
        "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { seq } } }";
    const PLACE: &str = "mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } } \
        query Other { me { id } }";

    fn check() -> VariableCheck {
        VariableCheck::new()
    }

    fn certainly_valid(
        check: &VariableCheck,
        query: &str,
        operation: Option<&str>,
        variables: Json,
    ) -> bool {
        let document = parse_query(query).expect("a document");
        check.certainly_valid(&document, operation, &Variables::from_json(variables))
    }

    #[test]
    fn values_of_the_declared_types_are_certainly_valid() {
        let check = check();
        let send = |input: Json| certainly_valid(&check, SEND, None, json!({ "input": input }));
        assert!(send(json!({ "conversationId": "c1", "text": "hi" })));
        assert!(send(
            json!({ "conversationId": "c1", "text": null, "category": "MARKETING" })
        ));
        // Missing variables are left to execution, as full validation does.
        assert!(certainly_valid(&check, SEND, None, json!({})));

        let line = json!({ "productId": "p1", "quantity": 2 });
        let place =
            |input: Json| certainly_valid(&check, PLACE, Some("Place"), json!({ "input": input }));
        assert!(place(
            json!({ "conversationId": "c1", "items": [line.clone()] })
        ));
        // A single value stands for a list of one.
        assert!(place(json!({ "conversationId": "c1", "items": line })));

        // Lists the operation declares, read as the schema writes types.
        const LISTED: &str = "query($ids: [ID!]!, $counts: [[Int]]) { me { id } }";
        let listed = |variables: Json| certainly_valid(&check, LISTED, None, variables);
        assert!(listed(
            json!({ "ids": ["a", "b"], "counts": [[1, null], []] })
        ));
        assert!(listed(json!({ "ids": "a" })));
        assert!(!listed(json!({ "ids": ["a", null] })));
        assert!(!listed(json!({ "ids": ["a"], "counts": [["x"]] })));
    }

    #[test]
    fn anything_else_is_left_to_full_validation() {
        let check = check();
        let send = |input: Json| certainly_valid(&check, SEND, None, json!({ "input": input }));
        assert!(!send(json!({ "conversationId": "c1", "text": 5 })));
        assert!(!send(json!({ "conversationId": "c1", "unknown": 1 })));
        assert!(!send(json!({ "text": "no conversation" })));
        assert!(!send(json!({ "conversationId": null })));
        assert!(!send(json!({ "conversationId": ["c1"] })));
        assert!(!send(
            json!({ "conversationId": "c1", "category": "NO_SUCH" })
        ));
        assert!(!send(json!({ "conversationId": "c1", "category": 1 })));
        assert!(!send(json!("not an object")));
        assert!(!send(Json::Null));

        let line = json!({ "productId": "p1", "quantity": 2 });
        let input = json!({ "input": { "conversationId": "c1", "items": [line, { "productId": "p2", "quantity": "two" }] } });
        assert!(!certainly_valid(
            &check,
            PLACE,
            Some("Place"),
            input.clone()
        ));
        // Which operation runs is for full validation and execution to say.
        assert!(!certainly_valid(&check, PLACE, None, input.clone()));
        assert!(!certainly_valid(&check, PLACE, Some("Missing"), input));
    }
}
