//! PostgreSQL LISTEN/NOTIFY: events reach every instance sharing the database.
//!
//! An instance's own events reach its subscribers at once, when they are
//! published (after the writes that caused them committed), without a round
//! trip through the database. Each instance also LISTENs on one channel
//! with a dedicated connection and re-broadcasts what the other instances
//! published; every notification carries its sender's id, so an instance
//! skips its own. Messages of a conversation may therefore arrive from two
//! sources out of `seq` order; subscribers put them back in order (see
//! `graphql::subscriptions`). When the listening connection drops, sqlx
//! reconnects and we broadcast [`Event::Resync`]: notifications sent
//! meanwhile are lost, and subscribers replay from the database.
//!
//! Publishing only queues the event: one task sends whatever is queued in
//! one statement, after the writes that caused it have committed. A sender
//! does not wait for its notification's round trip, concurrent writers share
//! one, and messages of a conversation queued close together go out in
//! `seq` order even when their senders finished out of order (a subscriber
//! who sees a gap waits for it to fill, or reads the database).

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::{Event, EventBus, SUBSCRIBER_BUFFER};
use crate::Error;
use crate::app::{POSTGRES_STATEMENT_BYTES, runs_within};

/// The NOTIFY channel.
const CHANNEL: &str = "chatshop_events";

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; the envelope
/// around the event takes less than 100.
const MAX_NOTIFY_BYTES: usize = 7_900;

/// Events waiting to be sent; beyond this, publishers wait.
const OUTBOX: usize = 4_096;

/// The most notifications one statement carries.
const MAX_BATCH: usize = 256;

/// A notification: an event and the instance that published it.
#[derive(Serialize, Deserialize)]
struct Envelope<E> {
    from: Uuid,
    event: E,
}

/// Events through PostgreSQL's LISTEN/NOTIFY.
pub struct PostgresEventBus {
    outbox: mpsc::Sender<Event>,
    local: broadcast::Sender<Event>,
    listener: tokio::task::JoinHandle<()>,
    notifier: tokio::task::JoinHandle<()>,
}

impl PostgresEventBus {
    /// Starts listening; returns once the LISTEN is in place, so no event
    /// published after this returns can be missed.
    ///
    /// # Errors
    /// `INTERNAL` when the listening connection cannot be opened.
    pub async fn start(db: DatabaseConnection) -> Result<Self, Error> {
        let pool: PgPool = db.get_postgres_connection_pool().clone();
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(Error::internal)?;
        listener.listen(CHANNEL).await.map_err(Error::internal)?;
        let (local, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let forward = local.clone();
        let origin = Uuid::new_v4();
        let own = own_prefix(origin);
        let listener = tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    // Delivered here when it was published; told apart by
                    // its first bytes, since every send comes back to its
                    // sender and reading the whole event costs more.
                    Ok(Some(notification)) if notification.payload().starts_with(&own) => {}
                    Ok(Some(notification)) => {
                        match serde_json::from_str::<Envelope<Event>>(notification.payload()) {
                            // Delivered here when it was published.
                            Ok(envelope) if envelope.from == origin => {}
                            Ok(envelope) => {
                                let _ = forward.send(envelope.event);
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "ignoring a malformed event notification")
                            }
                        }
                    }
                    // The connection dropped and was re-established: anything
                    // sent in between is lost, so everyone replays.
                    Ok(None) => {
                        tracing::warn!("event listener reconnected; subscribers resynchronise");
                        let _ = forward.send(Event::Resync);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "event listener failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        });
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let notifier = tokio::spawn(send_notifications(db, origin, queued));
        Ok(Self {
            outbox,
            local,
            listener,
            notifier,
        })
    }
}

impl Drop for PostgresEventBus {
    fn drop(&mut self) {
        self.listener.abort();
        self.notifier.abort();
    }
}

/// Sends what is queued, as it comes, one statement at a time.
async fn send_notifications(
    db: DatabaseConnection,
    origin: Uuid,
    mut queued: mpsc::Receiver<Event>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queued.recv_many(&mut batch, MAX_BATCH).await > 0 {
        order_appends(&mut batch);
        let payloads: Vec<String> = batch
            .drain(..)
            .filter_map(|event| notify_payload(origin, event))
            .collect();
        for payloads in runs_within(payloads, POSTGRES_STATEMENT_BYTES, String::len) {
            // Notifications of one statement arrive in the order they were
            // sent, and the statements go one after the other.
            let statement = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS sent(payload, n) ORDER BY n",
                [CHANNEL.into(), payloads.into()],
            );
            if let Err(err) = db.execute_raw(statement).await {
                // Subscribers recover from the database; the writes themselves stand.
                tracing::warn!(error = %err, "could not publish events");
            }
        }
    }
}

/// Puts the appended messages of each conversation in `seq` order, in the
/// places appended messages hold in the batch; every other event stays
/// where it is.
fn order_appends(batch: &mut [Event]) {
    let mut slots: Vec<&mut Event> = batch
        .iter_mut()
        .filter(|event| matches!(event, Event::MessageAppended { .. }))
        .collect();
    if slots.len() < 2 {
        return;
    }
    let mut appends: Vec<Event> = slots
        .iter_mut()
        .map(|slot| std::mem::replace(&mut **slot, Event::Resync))
        .collect();
    appends.sort_by_key(|event| match event {
        Event::MessageAppended {
            conversation_id,
            seq,
            ..
        } => (*conversation_id, *seq),
        _ => (uuid::Uuid::nil(), 0),
    });
    for (slot, event) in slots.into_iter().zip(appends) {
        *slot = event;
    }
}

#[async_trait::async_trait]
impl EventBus for PostgresEventBus {
    async fn publish(&self, event: Event) {
        // No local subscriber is not an error.
        let _ = self.local.send(event.clone());
        // Fails only once the notifier has stopped (the bus is being dropped).
        let _ = self.outbox.send(event).await;
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}

/// How the notifications an instance sends begin: its own id, the first
/// field of their envelope.
fn own_prefix(origin: Uuid) -> String {
    format!("{{\"from\":\"{origin}\",")
}

/// The NOTIFY payload of an event. NOTIFY payloads are capped at 8000 bytes:
/// a long message travels by reference and subscribers read it from the
/// database.
fn notify_payload(from: Uuid, event: Event) -> Option<String> {
    let payload = serde_json::to_string(&Envelope {
        from,
        event: &event,
    })
    .ok()?;
    if payload.len() <= MAX_NOTIFY_BYTES {
        return Some(payload);
    }
    match event {
        Event::MessageAppended {
            shop_id,
            conversation_id,
            seq,
            ..
        } => {
            let event = Event::MessageAppended {
                shop_id,
                conversation_id,
                seq,
                message: None,
            };
            serde_json::to_string(&Envelope { from, event }).ok()
        }
        // Ids only: never near the cap.
        _ => Some(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn appended(conversation_id: Uuid, seq: i64) -> Event {
        Event::MessageAppended {
            shop_id: Uuid::nil(),
            conversation_id,
            seq,
            message: None,
        }
    }

    #[test]
    fn appends_of_a_conversation_leave_in_seq_order_and_other_events_stay_put() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let changed = Event::ConversationChanged {
            shop_id: Uuid::nil(),
            conversation_id: a,
        };
        let mut batch = vec![
            appended(a, 6),
            changed.clone(),
            appended(b, 2),
            appended(a, 5),
        ];
        order_appends(&mut batch);
        let seqs_of_a: Vec<i64> = batch
            .iter()
            .filter_map(|event| match event {
                Event::MessageAppended {
                    conversation_id,
                    seq,
                    ..
                } if *conversation_id == a => Some(*seq),
                _ => None,
            })
            .collect();
        assert_eq!(seqs_of_a, [5, 6]);
        assert_eq!(batch.get(1), Some(&changed));
        assert_eq!(batch.len(), 4);
        assert!(batch.contains(&appended(b, 2)));
    }

    #[test]
    fn a_long_message_travels_by_reference() {
        let message = crate::test_support::text_message(Uuid::new_v4(), 3, &"é".repeat(4_000));
        let from = Uuid::new_v4();
        let payload =
            notify_payload(from, Event::appended(Uuid::nil(), message.clone())).expect("a payload");
        assert!(payload.len() <= MAX_NOTIFY_BYTES);
        assert!(payload.starts_with(&own_prefix(from)), "{payload}");
        assert!(!payload.starts_with(&own_prefix(Uuid::new_v4())));
        let envelope: Envelope<Event> = serde_json::from_str(&payload).expect("it parses");
        assert_eq!(envelope.from, from);
        assert_eq!(
            envelope.event,
            Event::MessageAppended {
                shop_id: Uuid::nil(),
                conversation_id: message.conversation_id,
                seq: 3,
                message: None,
            }
        );
    }
}
