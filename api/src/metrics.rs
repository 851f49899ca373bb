//! Prometheus metrics, served at `/metrics`.
//!
//! GraphQL operations are labelled by their first root field (`products`,
//! `sendMessage`): a set fixed by the schema, unlike operation names, which
//! clients choose and could use to grow the label set without bound.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, Selection};
use async_graphql::{Response, ServerResult, Value, Variables};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    field: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FieldLabels {
    field: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

type HistogramFamily = Family<FieldLabels, Histogram, fn() -> Histogram>;

/// Every metric Chatshop exports. Cheap to clone (shared handles).
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    operations: Family<OperationLabels, Counter>,
    durations: HistogramFamily,
    /// Open WebSocket connections.
    pub websockets: Gauge,
    /// Running operations on WebSockets (subscriptions mostly).
    pub subscriptions: Gauge,
    /// Messages sent through `sendMessage`.
    pub messages_sent: Counter,
    /// Orders paid.
    pub orders_paid: Counter,
    payment_failures: Family<ReasonLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to ~4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chatshop");
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "graphql_operations",
            "GraphQL operations by first root field and outcome (ok or error code)",
            operations.clone(),
        );
        let durations: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "graphql_operation_duration_seconds",
            "GraphQL operation latency by first root field",
            durations.clone(),
        );
        let websockets = Gauge::default();
        registry.register(
            "websocket_connections",
            "Open graphql-transport-ws connections",
            websockets.clone(),
        );
        let subscriptions = Gauge::default();
        registry.register(
            "websocket_operations",
            "Operations running on WebSocket connections",
            subscriptions.clone(),
        );
        let messages_sent = Counter::default();
        registry.register(
            "messages_sent",
            "Messages sent with sendMessage",
            messages_sent.clone(),
        );
        let orders_paid = Counter::default();
        registry.register("orders_paid", "Orders paid", orders_paid.clone());
        let payment_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "payment_failures",
            "Failed payment attempts by reason",
            payment_failures.clone(),
        );
        Self {
            registry: Arc::new(registry),
            operations,
            durations,
            websockets,
            subscriptions,
            messages_sent,
            orders_paid,
            payment_failures,
        }
    }

    /// Counts a failed payment.
    pub fn payment_failed(&self, reason: &str) {
        self.payment_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::warn!("could not encode metrics");
        }
        text
    }

    /// Counts and times one operation, labelled by its first root field
    /// (`None`: the document did not parse) and its first error's code.
    pub fn record_operation(
        &self,
        field: Option<String>,
        response: &Response,
        elapsed: std::time::Duration,
    ) {
        let field = field.unwrap_or_else(|| "(invalid)".to_owned());
        let outcome = response
            .errors
            .first()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|e| match e.get("code") {
                Some(Value::String(code)) => Some(code.clone()),
                _ => None,
            })
            .unwrap_or_else(|| {
                if response.errors.is_empty() {
                    "ok".to_owned()
                } else {
                    "BAD_USER_INPUT".to_owned()
                }
            });
        self.operations
            .get_or_create(&OperationLabels {
                field: field.clone(),
                outcome,
            })
            .inc();
        self.durations
            .get_or_create(&FieldLabels { field })
            .observe(elapsed.as_secs_f64());
    }
}

/// The first root field an operation selects: the metrics' label.
pub(crate) fn first_root_field(document: &ExecutableDocument) -> Option<String> {
    document
        .operations
        .iter()
        .next()
        .and_then(|(_, operation)| {
            operation
                .node
                .selection_set
                .node
                .items
                .iter()
                .find_map(|selection| match &selection.node {
                    Selection::Field(field) => Some(field.node.name.node.to_string()),
                    _ => None,
                })
        })
}

/// The schema extension that times and counts every operation, for
/// in-process execution of [`crate::Chatshop::schema`]; the HTTP and
/// WebSocket endpoints record operations themselves (see
/// [`crate::graphql::executor`]).
pub(crate) struct OperationMetrics(pub Metrics);

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExtension {
            metrics: self.0.clone(),
            field: Mutex::new(None),
        })
    }
}

struct OperationMetricsExtension {
    metrics: Metrics,
    field: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for OperationMetricsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Ok(mut field) = self.field.lock() {
            *field = first_root_field(&document);
        }
        Ok(document)
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let mut response = next.run(ctx).await;
        // Codes are given by the ErrorCodes extension; giving them here too
        // is harmless (it skips errors that have one) and spares us an
        // ordering dependency between the two extensions.
        crate::error::classify_all(&mut response.errors);
        let field = self.field.lock().ok().and_then(|f| f.clone());
        self.metrics
            .record_operation(field, &response, started.elapsed());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_the_text_format() {
        let metrics = Metrics::new();
        metrics.messages_sent.inc();
        metrics.payment_failed("card_declined");
        let text = metrics.render();
        assert!(text.contains("chatshop_messages_sent_total 1"), "{text}");
        assert!(
            text.contains("chatshop_payment_failures_total{reason=\"card_declined\"} 1"),
            "{text}"
        );
    }
}
