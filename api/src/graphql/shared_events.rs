//! One resolution of a live event, shared by every subscriber that would
//! resolve it the same way.
//!
//! When a message is appended to a conversation that many sockets follow,
//! every subscription receives the same event (the bus hands each the same
//! `Arc`) and, with the same document, would resolve it to the same value:
//! resolving it once per subscriber was most of the server's work per
//! delivery after the socket writes. So the first subscriber to resolve an
//! event keeps the value for a moment, and the others with the same
//! operation take a copy.
//!
//! "The same operation" is the exact document, variables and operation name
//! ([`SharedOperation`]), and the same field of it. A value is kept only if
//! its resolution never asked who the caller was (`ContextExt::actor`, the
//! contract the response cache relies on as well): then it is what any
//! subscriber would get. Values that depend on the caller (an order card's
//! order, a product as its viewer may see it) are resolved per subscriber,
//! as are events read from the database (replays, status changes).
//!
//! One subscriber resolves an event while the others with its operation
//! wait for the outcome (a resolution may read the database, and a thousand
//! concurrent reads of the same row would defeat the purpose); if it gives
//! up half-way (its socket closed), the next one takes over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_graphql::{Pos, Value};
use chatshop_entity::message;
use tokio::sync::OnceCell;

use super::response_cache::Key;

/// How many resolutions are kept: the subscribers of one event resolve it
/// within one burst, so a few recent events are enough.
const KEPT: usize = 64;

/// Request data: the operation a subscription runs, by its document,
/// variables and operation name.
pub(crate) struct SharedOperation(pub Key);

/// Which resolution of which event.
pub(crate) struct EventKey<'a> {
    pub operation: &'a Arc<SharedOperation>,
    /// The field's place in the document (a document may select the same
    /// root field twice, under two aliases).
    pub field: Pos,
    /// The event's message, as the bus carried it.
    pub message: &'a Arc<message::Model>,
    /// What happened to it (`MessageEventType` as a number).
    pub kind: u8,
}

/// The outcome of an event's resolution: the value for anyone, or `None`
/// when each subscriber must resolve it for themselves.
pub(crate) type Outcome = Arc<OnceCell<Option<Value>>>;

struct Kept {
    operation: Arc<SharedOperation>,
    field: Pos,
    /// Held, so that no other message can take its address while kept.
    message: Arc<message::Model>,
    kind: u8,
    outcome: Outcome,
}

impl Kept {
    fn is(&self, key: &EventKey<'_>) -> bool {
        Arc::ptr_eq(&self.message, key.message)
            && self.kind == key.kind
            && self.field == key.field
            && (Arc::ptr_eq(&self.operation, key.operation) || self.operation.0 == key.operation.0)
    }
}

/// Recent resolutions of live events. Schema data.
#[derive(Default)]
pub(crate) struct ResolvedEvents {
    kept: Mutex<VecDeque<Kept>>,
}

impl ResolvedEvents {
    /// Where this event's resolution for this operation is (or will be)
    /// kept: the same cell for every subscriber that asks while it is
    /// among the most recent.
    pub fn outcome(&self, key: &EventKey<'_>) -> Outcome {
        let Ok(mut kept) = self.kept.lock() else {
            return Outcome::default();
        };
        // Newest first: the event being delivered was most likely kept last.
        if let Some(found) = kept.iter().rev().find(|k| k.is(key)) {
            return found.outcome.clone();
        }
        if kept.len() == KEPT {
            kept.pop_front();
        }
        let outcome = Outcome::default();
        kept.push_back(Kept {
            operation: key.operation.clone(),
            field: key.field,
            message: key.message.clone(),
            kind: key.kind,
            outcome: outcome.clone(),
        });
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(query: &str) -> Arc<SharedOperation> {
        Arc::new(SharedOperation(
            Key::new(query, &async_graphql::Variables::default(), None).unwrap(),
        ))
    }

    fn message(seq: i64) -> Arc<message::Model> {
        Arc::new(crate::test_support::text_message(
            uuid::Uuid::nil(),
            seq,
            "",
        ))
    }

    #[test]
    fn an_outcome_is_shared_only_for_the_same_event_operation_and_field() {
        let events = ResolvedEvents::default();
        let (a, b) = (
            operation("subscription { a }"),
            operation("subscription { b }"),
        );
        let same_text = operation("subscription { a }");
        let (first, second) = (message(1), message(1));
        let field = Pos {
            line: 1,
            column: 16,
        };
        let key = |operation, message, field| EventKey {
            operation,
            field,
            message,
            kind: 0,
        };
        let outcome = events.outcome(&key(&a, &first, field));
        outcome.set(Some(Value::from(1))).unwrap();
        let seen = |key: EventKey<'_>| events.outcome(&key).get().cloned();

        assert_eq!(seen(key(&a, &first, field)), Some(Some(Value::from(1))));
        // Another subscriber's request with the same document, variables
        // and operation name.
        assert_eq!(
            seen(key(&same_text, &first, field)),
            Some(Some(Value::from(1)))
        );
        // An equal message that is another event.
        assert_eq!(seen(key(&a, &second, field)), None);
        assert_eq!(seen(key(&b, &first, field)), None);
        let other_field = Pos {
            line: 1,
            column: 30,
        };
        assert_eq!(seen(key(&a, &first, other_field)), None);
        let mut status_change = key(&a, &first, field);
        status_change.kind = 1;
        assert_eq!(seen(status_change), None);
    }

    #[test]
    fn only_the_most_recent_outcomes_are_kept() {
        let events = ResolvedEvents::default();
        let operation = operation("subscription { a }");
        let field = Pos {
            line: 1,
            column: 16,
        };
        let messages: Vec<_> = (0..=i64::try_from(KEPT).unwrap()).map(message).collect();
        let key = |message| EventKey {
            operation: &operation,
            field,
            message,
            kind: 0,
        };
        for (n, message) in messages.iter().enumerate() {
            let value = Value::from(i32::try_from(n).unwrap());
            events.outcome(&key(message)).set(Some(value)).unwrap();
        }
        assert_eq!(events.outcome(&key(&messages[0])).get(), None);
        assert_eq!(
            events.outcome(&key(&messages[KEPT])).get().cloned(),
            Some(Some(Value::from(i32::try_from(KEPT).unwrap())))
        );
    }
}
