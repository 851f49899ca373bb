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
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};

/// The limits on a query's shape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryShape {
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_depth: usize,
}

impl QueryShape {
    /// How deep selection sets of any kind (fields, fragments, inline
    /// fragments) may nest. It bounds every walk over a document, ours and
    /// async-graphql's validator's (`limit_recursive_depth`), so a deeply
    /// nested document cannot exhaust the stack.
    pub fn max_nesting(&self) -> usize {
        self.max_depth.saturating_mul(4).max(32)
    }

    /// Checks a parsed document against the limits.
    pub fn check(&self, document: &ExecutableDocument) -> ServerResult<()> {
        let too_deep = || ServerError::new("Query is nested too deep.", None);
        let depth = data_depth(document, self.max_nesting()).ok_or_else(too_deep)?;
        if depth > self.max_depth {
            return Err(too_deep());
        }
        // Nesting is bounded now: the walk below cannot run away.
        let aliases = count_aliases(document);
        if aliases > self.max_aliases {
            return Err(ServerError::new(
                format!(
                    "the query uses {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                ),
                None,
            ));
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
        Ok(())
    }
}

/// The limits as a schema extension, for in-process execution of
/// [`crate::Chatshop::schema`]; the HTTP and WebSocket endpoints check
/// documents themselves (see [`super::executor`]).
impl ExtensionFactory for QueryShape {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(QueryShapeExtension(*self))
    }
}

struct QueryShapeExtension(QueryShape);

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
        self.0.check(&document)?;
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
/// introspection fields (`__schema`, `__type`): `{ a { b } }` is 2 deep.
/// Fragments count where they are spread; a fragment cycle (refused later by
/// validation) counts once. `None` when selection sets of any kind nest more
/// than `max_nesting` levels anywhere, unused fragments included.
fn data_depth(document: &ExecutableDocument, max_nesting: usize) -> Option<usize> {
    let mut walk = Walk {
        document,
        max_nesting,
        fragments: HashMap::new(),
    };
    for name in document.fragments.keys() {
        walk.fragment(name, 0)?;
    }
    let mut deepest = 0;
    for (_, operation) in document.operations.iter() {
        deepest = deepest.max(walk.set(&operation.node.selection_set, 0)?.depth);
    }
    Some(deepest)
}

/// How deep a selection set goes.
#[derive(Clone, Copy, Default)]
struct Measure {
    /// Field levels (introspection excluded).
    depth: usize,
    /// Selection-set levels of any kind below this one.
    nesting: usize,
}

/// One walk over a document. Each fragment is measured once (`None` while it
/// is being measured, which cuts cycles), so the walk is linear in the
/// document however often fragments are spread.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    max_nesting: usize,
    fragments: HashMap<&'a str, Option<Measure>>,
}

impl<'a> Walk<'a> {
    /// Measures a selection set found at nesting `level`; `None` when it
    /// goes deeper than the limit.
    fn set(&mut self, set: &'a Positioned<SelectionSet>, level: usize) -> Option<Measure> {
        if level > self.max_nesting {
            return None;
        }
        let mut measure = Measure::default();
        for selection in &set.node.items {
            let (depth, nesting) = match &selection.node {
                Selection::Field(field) if field.node.selection_set.node.items.is_empty() => (1, 0),
                Selection::Field(field) => {
                    let below = self.set(&field.node.selection_set, level + 1)?;
                    let depth = if field.node.name.node.starts_with("__") {
                        1
                    } else {
                        1 + below.depth
                    };
                    (depth, 1 + below.nesting)
                }
                Selection::InlineFragment(fragment) => {
                    let below = self.set(&fragment.node.selection_set, level + 1)?;
                    (below.depth, 1 + below.nesting)
                }
                Selection::FragmentSpread(spread) => {
                    let below = self.fragment(&spread.node.fragment_name.node, level + 1)?;
                    (below.depth, 1 + below.nesting)
                }
            };
            measure.depth = measure.depth.max(depth);
            measure.nesting = measure.nesting.max(nesting);
        }
        Some(measure)
    }

    /// Measures a fragment whose selection set sits at nesting `level`.
    fn fragment(&mut self, name: &'a Name, level: usize) -> Option<Measure> {
        match self.fragments.get(name.as_str()) {
            Some(Some(known)) => {
                return (level + known.nesting <= self.max_nesting).then_some(*known);
            }
            // A cycle: validation refuses it with a clearer message.
            Some(None) => return Some(Measure::default()),
            None => {}
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return Some(Measure::default());
        };
        self.fragments.insert(name.as_str(), None);
        let measure = self.set(&fragment.node.selection_set, level)?;
        self.fragments.insert(name.as_str(), Some(measure));
        Some(measure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(query: &str) -> usize {
        data_depth(&async_graphql::parser::parse_query(query).unwrap(), 1_000).unwrap()
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

    #[test]
    fn nesting_beyond_the_limit_is_refused_before_any_deep_walk() {
        // The parser refuses selection sets nested more than 64 deep in the
        // text; fragment spreads chain without that limit.
        let fields = "{ a ".repeat(60) + &"}".repeat(60);
        let document = async_graphql::parser::parse_query(&fields).unwrap();
        assert_eq!(data_depth(&document, 40), None);

        let inline = "{ a ".to_owned() + &"... on T { ".repeat(60) + "b" + &"}".repeat(61);
        let document = async_graphql::parser::parse_query(&inline).unwrap();
        assert_eq!(data_depth(&document, 40), None, "inline fragments nest too");

        // A chain of fragments, each spreading the next: unused, still measured.
        let mut chain = String::from("{ a }");
        for n in 0..3_000 {
            chain.push_str(&format!(" fragment F{n} on T {{ ...F{} }}", n + 1));
        }
        let document = async_graphql::parser::parse_query(&chain).unwrap();
        assert_eq!(data_depth(&document, 40), None);
    }

    #[test]
    fn fragments_spread_many_times_are_measured_once() {
        // Each fragment spreads the next twice: 2^30 paths, one walk each fragment.
        let mut query = String::from("{ ...F0 }");
        for n in 0..30 {
            query.push_str(&format!(
                " fragment F{n} on T {{ a: x {{ ...F{next} }} b: x {{ ...F{next} }} }}",
                next = n + 1
            ));
        }
        query.push_str(" fragment F30 on T { leaf }");
        let document = async_graphql::parser::parse_query(&query).unwrap();
        assert_eq!(data_depth(&document, 1_000), Some(31));
    }
}
