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
//!
//! Clients send the same few documents over and over, and parsing one took
//! a tenth of a catalog page's CPU: parsed documents are kept, by their
//! exact text, and reused. So is the fact that a document passed full
//! validation, after which its requests only have their variables checked
//! (see [`super::validated`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerError};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::ChatshopSchema;
use super::limits::QueryShape;
use super::response_cache::ResponseCache;
use super::validated::VariableCheck;
use crate::error::classify_all;
use crate::metrics::{Metrics, first_root_field};

/// The schema without extensions, twice: validating documents in full, and
/// only as far as execution needs, for documents validated before.
#[derive(Clone)]
pub(crate) struct Schemas {
    pub strict: ChatshopSchema,
    pub fast: ChatshopSchema,
    /// Checks the variables of a request for a validated document.
    pub variables: VariableCheck,
}

/// Runs operations. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Executor {
    schemas: Schemas,
    shape: QueryShape,
    metrics: Metrics,
    documents: Arc<DocumentCache>,
    /// Kept anonymous responses; every mutation run here drops them.
    responses: Arc<ResponseCache>,
}

impl Executor {
    pub(super) fn new(
        schemas: Schemas,
        shape: QueryShape,
        metrics: Metrics,
        responses: Arc<ResponseCache>,
    ) -> Self {
        Self {
            schemas,
            shape,
            metrics,
            documents: Arc::default(),
            responses,
        }
    }

    /// The kept responses to anonymous queries.
    pub fn responses(&self) -> &ResponseCache {
        &self.responses
    }

    /// Gives the request its parsed document, from the cache when the same
    /// text was seen before. A document that does not parse is left for
    /// execution to report.
    pub fn parse(&self, request: &mut Request) -> Parsed {
        Parsed(self.documents.parse_into(request))
    }

    /// The operation a [parsed](Executor::parse) request runs, when its
    /// document names it unambiguously, with its first root field (the
    /// metrics label).
    pub fn operation(request: &mut Request) -> Option<(OperationType, Option<String>)> {
        let name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let mut operations = document.operations.iter();
        let operation = match name {
            Some(name) => operations
                .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
                .map(|(_, op)| op),
            None => match (operations.next(), operations.next()) {
                (Some((_, op)), None) => Some(op),
                _ => None,
            },
        }?;
        Some((operation.node.ty, first_root_field(document)))
    }

    /// Runs a query or mutation.
    pub async fn execute(&self, mut request: Request) -> Response {
        let parsed = self.parse(&mut request);
        self.execute_parsed(request, parsed).await
    }

    /// Runs a query or mutation whose document [`Executor::parse`] gave it.
    pub async fn execute_parsed(&self, mut request: Request, parsed: Parsed) -> Response {
        let started = Instant::now();
        let (field, refused) = self.check(&mut request);
        let mutates = mutates(&mut request);
        let mut response = match refused {
            None => {
                let validated = self.validated(&request, &parsed);
                let response = self.schema(validated).execute(request).await;
                if !validated {
                    parsed.passed_if_valid(&response);
                }
                response
            }
            Some(error) => Response::from_errors(vec![error]),
        };
        if mutates {
            self.responses.invalidate();
        }
        classify_all(&mut response.errors);
        self.metrics
            .record_operation(field, &response, started.elapsed());
        response
    }

    /// Runs any operation as a stream of results (subscriptions; a query or
    /// mutation yields one).
    pub fn execute_stream(&self, mut request: Request) -> BoxStream<'static, Response> {
        let parsed = self.parse(&mut request);
        let (_, refused) = self.check(&mut request);
        let invalidate = mutates(&mut request).then(|| self.responses.clone());
        // Validation comes before the first result: only that one tells.
        let mut first = None;
        let responses = match refused {
            None => {
                let validated = self.validated(&request, &parsed);
                if !validated {
                    first = Some(parsed);
                }
                self.schema(validated).execute_stream(request)
            }
            Some(error) => stream::once(async { Response::from_errors(vec![error]) }).boxed(),
        };
        responses
            .map(move |mut response| {
                if let Some(parsed) = first.take() {
                    parsed.passed_if_valid(&response);
                }
                if let Some(responses) = &invalidate {
                    responses.invalidate();
                }
                classify_all(&mut response.errors);
                response
            })
            .boxed()
    }

    /// Whether the request's document passed full validation before and
    /// its variables certainly pass too.
    fn validated(&self, request: &Request, parsed: &Parsed) -> bool {
        match &parsed.0 {
            Some(cached) if cached.validated.load(Ordering::Relaxed) => {
                self.schemas.variables.certainly_valid(
                    &cached.document,
                    request.operation_name.as_deref(),
                    &request.variables,
                )
            }
            _ => false,
        }
    }

    fn schema(&self, validated: bool) -> &ChatshopSchema {
        if validated {
            &self.schemas.fast
        } else {
            &self.schemas.strict
        }
    }

    /// Checks the shape of the request's document; returns the metrics
    /// label and what stops the operation, if anything does.
    fn check(&self, request: &mut Request) -> (Option<String>, Option<ServerError>) {
        match request.parsed_query() {
            Ok(document) => (first_root_field(document), self.shape.check(document).err()),
            Err(error) => (None, Some(error)),
        }
    }
}

/// Whether the request's document holds a mutation (run or not: dropping
/// kept responses once too often costs nothing).
fn mutates(request: &mut Request) -> bool {
    request.parsed_query().is_ok_and(|document| {
        document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation)
    })
}

/// Documents cached: at most this many…
const CACHED_DOCUMENTS: usize = 512;
/// …of at most this many bytes of text each.
const MAX_CACHED_TEXT: usize = 16 * 1024;

/// A parsed document as kept, and whether it passed full validation.
struct CachedDocument {
    document: ExecutableDocument,
    validated: AtomicBool,
}

/// What [`Executor::parse`] found: the kept document, if the request's is.
pub(crate) struct Parsed(Option<Arc<CachedDocument>>);

impl Parsed {
    /// Notes that the document passed full validation when `response`
    /// (its first, for a stream) carries no request error: errors of
    /// validation, as every error that stops a request before it runs,
    /// have no path.
    fn passed_if_valid(&self, response: &Response) {
        if let Some(cached) = &self.0
            && response.errors.iter().all(|error| !error.path.is_empty())
        {
            cached.validated.store(true, Ordering::Relaxed);
        }
    }
}

/// Parsed documents by their text.
#[derive(Default)]
struct DocumentCache {
    parsed: RwLock<HashMap<String, Arc<CachedDocument>>>,
}

impl DocumentCache {
    /// Gives the request its parsed document, from the cache or parsed now
    /// (and then cached), and returns the kept document. A document that
    /// does not parse is left for [`Request::parsed_query`] to report.
    fn parse_into(&self, request: &mut Request) -> Option<Arc<CachedDocument>> {
        if request.query.len() > MAX_CACHED_TEXT {
            return None;
        }
        let cached = self
            .parsed
            .read()
            .ok()
            .and_then(|parsed| parsed.get(&request.query).cloned());
        if let Some(cached) = cached {
            request.set_parsed_query(cached.document.clone());
            return Some(cached);
        }
        let document = request.parsed_query().ok()?.clone();
        let cached = Arc::new(CachedDocument {
            document,
            validated: AtomicBool::new(false),
        });
        if let Ok(mut parsed) = self.parsed.write() {
            // Many distinct documents (generated queries, or someone trying
            // to fill the cache) only make it start over.
            if parsed.len() >= CACHED_DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(request.query.clone(), cached.clone());
        }
        Some(cached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_reused_by_its_exact_text() {
        let cache = DocumentCache::default();
        let mut first = Request::new("{ me { id } }");
        cache.parse_into(&mut first);
        assert!(first.parsed_query().is_ok());
        assert_eq!(cache.parsed.read().unwrap().len(), 1);

        let mut again = Request::new("{ me { id } }");
        cache.parse_into(&mut again);
        assert_eq!(cache.parsed.read().unwrap().len(), 1);
        let reused = again.parsed_query().unwrap();
        assert_eq!(first_root_field(reused).as_deref(), Some("me"));

        let mut other = Request::new("{ shop(slug: \"x\") { id } }");
        cache.parse_into(&mut other);
        assert_eq!(
            first_root_field(other.parsed_query().unwrap()).as_deref(),
            Some("shop")
        );
        assert_eq!(cache.parsed.read().unwrap().len(), 2);
    }

    #[test]
    fn a_document_that_does_not_parse_is_not_cached_and_still_refused() {
        let cache = DocumentCache::default();
        let mut broken = Request::new("{ me { id }");
        cache.parse_into(&mut broken);
        assert!(broken.parsed_query().is_err());
        assert!(cache.parsed.read().unwrap().is_empty());
    }

    #[test]
    fn the_cache_starts_over_when_full() {
        let cache = DocumentCache::default();
        for n in 0..=CACHED_DOCUMENTS {
            cache.parse_into(&mut Request::new(format!("{{ f{n} }}")));
        }
        assert_eq!(cache.parsed.read().unwrap().len(), 1);
    }
}
