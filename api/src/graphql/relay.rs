//! Relay connections over the services' keyset pages.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use uuid::Uuid;

use crate::Error;
use crate::app::AppState;
use crate::domain::ids;
use crate::domain::page::{Page, PageRequest};

/// Relay pagination arguments as received.
pub(crate) struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    /// Validates the arguments against the configured limits.
    pub fn into_request(self, state: &AppState) -> Result<PageRequest, Error> {
        let limits = &state.config.limits;
        let after = self
            .after
            .as_deref()
            .map(|c| ids::decode_cursor("after", c))
            .transpose()?;
        let before = self
            .before
            .as_deref()
            .map(|c| ids::decode_cursor("before", c))
            .transpose()?;
        PageRequest::new(
            self.first,
            self.last,
            after,
            before,
            limits.default_page_size,
            limits.max_page_size,
        )
    }
}

/// Builds a connection from a page; `position` gives each row's cursor position.
pub(crate) fn connection<Row, Node: OutputType>(
    page: Page<Row>,
    position: impl Fn(&Row) -> Uuid,
    node: impl Fn(Row) -> Node,
) -> Connection<String, Node, EmptyFields, EmptyFields> {
    let mut connection = Connection::new(page.has_previous, page.has_next);
    connection.edges.extend(page.items.into_iter().map(|row| {
        let cursor = ids::encode_cursor(position(&row));
        Edge::new(cursor, node(row))
    }));
    connection
}

/// Complexity of a connection field: its children count once per row the
/// page may hold, so `first: 100` of something costly weighs 100 times as
/// much as `first: 1`. Without `first`/`last` the default page size applies.
pub(crate) fn page_weight(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    /// The default page size (`--default-page-size`'s default).
    const DEFAULT_PAGE: usize = 20;
    let rows = first
        .or(last)
        .map_or(DEFAULT_PAGE, |n| usize::try_from(n).unwrap_or(0));
    rows.max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}
