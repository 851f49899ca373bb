//! Limits on the shape of a query that async-graphql does not check the way
//! we want: aliases (each one can re-run an expensive field), root fields
//! (each one is a separate entry point) and depth. Depth leaves introspection
//! out: the standard introspection query that GraphiQL, codegen and IDEs send
//! nests `ofType` nine levels deep, and its cost is bounded by the schema,
//! not by the data. Complexity stays async-graphql's.

use std::collections::HashMap;

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError, ServerResult, Variables};

/// The extension factory, configured with the limits.
pub(crate) struct QueryShape {
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_depth: usize,
}

impl ExtensionFactory for QueryShape {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(QueryShapeExtension {
            max_aliases: self.max_aliases,
            max_root_fields: self.max_root_fields,
            max_depth: self.max_depth,
        })
    }
}

struct QueryShapeExtension {
    max_aliases: usize,
    max_root_fields: usize,
    max_depth: usize,
}

#[async_trait::async_trait]
impl Extension for QueryShapeExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(ServerError::new(
                format!(
                    "the query uses {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                ),
                None,
            ));
        }
        if data_depth(&document) > self.max_depth {
            return Err(ServerError::new("Query is nested too deep.", None));
        }
        for (_, operation) in document.operations.iter() {
            let roots = operation.node.selection_set.node.items.len();
            if roots > self.max_root_fields {
                return Err(ServerError::new(
                    format!(
                        "an operation selects {roots} root fields; at most {} are allowed",
                        self.max_root_fields
                    ),
                    None,
                ));
            }
        }
        Ok(document)
    }
}

/// Aliases in every operation and fragment of the document.
fn count_aliases(document: &ExecutableDocument) -> usize {
    let in_operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| in_set(&op.node.selection_set))
        .sum();
    let in_fragments: usize = document
        .fragments
        .values()
        .map(|f| in_set(&f.node.selection_set))
        .sum();
    in_operations + in_fragments
}

fn in_set(set: &Positioned<SelectionSet>) -> usize {
    set.node
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set)
            }
            Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// The deepest field nesting of any operation, not counting what is under
/// introspection fields (`__schema`, `__type`). `{ a { b } }` is 2 deep.
/// Fragments count where they are spread; a fragment cycle (refused later by
/// validation) counts once.
fn data_depth(document: &ExecutableDocument) -> usize {
    let mut fragments = HashMap::new();
    document
        .operations
        .iter()
        .map(|(_, op)| depth_of(&op.node.selection_set, document, &mut fragments))
        .max()
        .unwrap_or(0)
}

/// Depth of a selection set; `fragments` memoises each fragment's depth (and
/// holds 0 for one being measured, which cuts cycles).
fn depth_of(
    set: &Positioned<SelectionSet>,
    document: &ExecutableDocument,
    fragments: &mut HashMap<String, usize>,
) -> usize {
    let mut deepest = 0;
    for selection in &set.node.items {
        let depth = match &selection.node {
            Selection::Field(field) if field.node.name.node.starts_with("__") => 1,
            Selection::Field(field) => 1 + depth_of(&field.node.selection_set, document, fragments),
            Selection::InlineFragment(fragment) => {
                depth_of(&fragment.node.selection_set, document, fragments)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if let Some(known) = fragments.get(name) {
                    *known
                } else if let Some(fragment) =
                    document.fragments.get(&spread.node.fragment_name.node)
                {
                    fragments.insert(name.to_owned(), 0);
                    let depth = depth_of(&fragment.node.selection_set, document, fragments);
                    fragments.insert(name.to_owned(), depth);
                    depth
                } else {
                    0
                }
            }
        };
        deepest = deepest.max(depth);
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(query: &str) -> usize {
        data_depth(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn depth_counts_nested_fields_through_fragments() {
        assert_eq!(depth("{ me { id } }"), 2);
        assert_eq!(depth("{ a { b { c } } d }"), 3);
        assert_eq!(
            depth("{ a { ...F } } fragment F on T { b { ... on U { c { d } } } }"),
            4
        );
        // A cycle is refused by validation later; measuring it must end.
        assert_eq!(depth("{ a { ...F } } fragment F on T { b { ...F } }"), 2);
    }

    #[test]
    fn introspection_does_not_count_towards_depth() {
        let type_ref = "kind name ofType { ".repeat(9) + "kind name" + &"}".repeat(9);
        let query = format!(
            "{{ __schema {{ types {{ fields {{ args {{ type {{ {type_ref} }} }} }} }} }} shop {{ name }} }}"
        );
        assert_eq!(depth(&query), 2);
    }

    #[test]
    fn aliases_are_counted_everywhere() {
        let document = async_graphql::parser::parse_query(
            "query { a: me { id } b: me { x: id } ...F } fragment F on Query { c: me { id } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&document), 4);
    }
}
