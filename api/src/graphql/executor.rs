//! How the HTTP and WebSocket endpoints run operations.
//!
//! Once a schema has any async-graphql extension, every field of every
//! response goes through the extension chain (a registry lookup and three
//! boxed futures per field), even when the extensions only look at the
//! document or at the whole response. The endpoints therefore run
//! operations on a schema without extensions and do the extensions' work
//! around it, with the same functions: the query-shape limits on the parsed
//! document, an error code on every error, and the operation metrics.
//! [`crate::Chatshop::schema`], for in-process callers, keeps the extensions.

use std::time::Instant;

use async_graphql::{Request, Response, ServerError};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::ChatshopSchema;
use super::limits::QueryShape;
use crate::error::classify_all;
use crate::metrics::{Metrics, first_root_field};

/// Runs operations. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Executor {
    /// The schema without extensions.
    schema: ChatshopSchema,
    shape: QueryShape,
    metrics: Metrics,
}

impl Executor {
    pub(super) fn new(schema: ChatshopSchema, shape: QueryShape, metrics: Metrics) -> Self {
        Self {
            schema,
            shape,
            metrics,
        }
    }

    /// Runs a query or mutation.
    pub async fn execute(&self, mut request: Request) -> Response {
        let started = Instant::now();
        let (field, refused) = self.check(&mut request);
        let mut response = match refused {
            None => self.schema.execute(request).await,
            Some(error) => Response::from_errors(vec![error]),
        };
        classify_all(&mut response.errors);
        self.metrics
            .record_operation(field, &response, started.elapsed());
        response
    }

    /// Runs any operation as a stream of results (subscriptions; a query or
    /// mutation yields one).
    pub fn execute_stream(&self, mut request: Request) -> BoxStream<'static, Response> {
        let responses = match self.check(&mut request) {
            (_, None) => self.schema.execute_stream(request),
            (_, Some(error)) => stream::once(async { Response::from_errors(vec![error]) }).boxed(),
        };
        responses
            .map(|mut response| {
                classify_all(&mut response.errors);
                response
            })
            .boxed()
    }

    /// Parses the document (async-graphql reuses the parse) and checks its
    /// shape; returns the metrics label and what stops the operation, if
    /// anything does.
    fn check(&self, request: &mut Request) -> (Option<String>, Option<ServerError>) {
        match request.parsed_query() {
            Ok(document) => (first_root_field(document), self.shape.check(document).err()),
            Err(error) => (None, Some(error)),
        }
    }
}
