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
//!
//! A notification carries as many events as fit in its payload, and events
//! published together (a message group) are queued together. PostgreSQL
//! pays for each notification (queued under a lock every notifying commit
//! takes, then read and sent by every listening backend) and every
//! instance, the sender included, receives each one: a notification per
//! event, a group's often split over two statements, cost 16 senders 7–9 %
//! of their throughput.

use sea_orm::DatabaseConnection;
use sea_orm::sqlx::postgres::{PgListener, PgPool};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::topics::{Delivery, Topics};
use super::{Event, EventBus};
use crate::Error;
use crate::app::{POSTGRES_STATEMENT_BYTES, runs_within};

/// The NOTIFY channel.
const CHANNEL: &str = "chatshop_events";

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more (and with them
/// every notification of the statement).
const MAX_NOTIFY_BYTES: usize = 7_900;

/// Publications (an event, or events published together) waiting to be
/// sent; beyond this, publishers wait.
const OUTBOX: usize = 1_024;

/// The most publications one statement carries.
const MAX_BATCH: usize = 64;

/// A notification: events, in the order they were published, and the
/// instance that published them.
#[derive(Serialize, Deserialize)]
struct Envelope<E> {
    from: Uuid,
    events: Vec<E>,
}

/// Events through PostgreSQL's LISTEN/NOTIFY.
pub struct PostgresEventBus {
    outbox: mpsc::Sender<Vec<Event>>,
    local: Delivery,
    listener: tokio::task::JoinHandle<()>,
    notifier: tokio::task::JoinHandle<()>,
}

impl PostgresEventBus {
    /// Its events by topic.
    pub(crate) fn topics(&self) -> Topics {
        self.local.topics()
    }

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
        let local = Delivery::new();
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
                                for event in envelope.events {
                                    forward.send(event);
                                }
                            }
                            // Events we cannot read (another version of the
                            // server, say) are events missed: everyone replays.
                            Err(err) => {
                                tracing::warn!(error = %err, "unreadable event notification; subscribers resynchronise");
                                forward.send(Event::Resync);
                            }
                        }
                    }
                    // The connection dropped and was re-established: anything
                    // sent in between is lost, so everyone replays.
                    Ok(None) => {
                        tracing::warn!("event listener reconnected; subscribers resynchronise");
                        forward.send(Event::Resync);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "event listener failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        });
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let notifier = tokio::spawn(send_notifications(pool, origin, queued));
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
///
/// The statement goes to a connection of the sqlx pool, as the group
/// writers' do (see `services::query_pooled`): through SeaORM it took an
/// eighth of a lone send's instructions more.
async fn send_notifications(pool: PgPool, origin: Uuid, mut queued: mpsc::Receiver<Vec<Event>>) {
    let mut published = Vec::with_capacity(MAX_BATCH);
    while queued.recv_many(&mut published, MAX_BATCH).await > 0 {
        let mut batch: Vec<Event> = published.drain(..).flatten().collect();
        order_appends(&mut batch);
        let payloads = notify_payloads(origin, batch.drain(..));
        for payloads in runs_within(payloads, POSTGRES_STATEMENT_BYTES, String::len) {
            // Notifications of one statement arrive in the order they were
            // sent, and the statements go one after the other. A notifying
            // transaction writes a commit record, and waiting for it to
            // reach the disk would only delay the notifications and every
            // commit that flushes behind it (the message writer's): its
            // commit does not wait (`synchronous_commit` off for it alone).
            // Should the database crash before the record is written, the
            // notifications were sent or are lost with the connection, which
            // every instance treats as missed events.
            let sent = async {
                let mut connection = pool.acquire().await?;
                sea_orm::sqlx::query(
                    "WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true)) \
                    SELECT pg_notify($1, payload) \
                    FROM unflushed, unnest($2::text[]) WITH ORDINALITY AS sent(payload, n) ORDER BY n",
                )
                .bind(CHANNEL)
                .bind(payloads)
                .execute(&mut *connection)
                .await
            };
            if let Err(err) = sent.await {
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
        self.local.send(event.clone());
        // Fails only once the notifier has stopped (the bus is being dropped).
        let _ = self.outbox.send(vec![event]).await;
    }

    async fn publish_all(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        for event in &events {
            self.local.send(event.clone());
        }
        // Queued together, they share a notification.
        let _ = self.outbox.send(events).await;
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}

/// How the notifications an instance sends begin: its own id, the first
/// field of their envelope.
fn own_prefix(origin: Uuid) -> String {
    format!("{{\"from\":\"{origin}\",\"events\":[")
}

/// The NOTIFY payloads of events, in order: as many events to a payload as
/// fit under PostgreSQL's cap.
fn notify_payloads(from: Uuid, events: impl IntoIterator<Item = Event>) -> Vec<String> {
    let prefix = own_prefix(from);
    // Each event also takes a comma, and the last closes the envelope.
    let budget = MAX_NOTIFY_BYTES - prefix.len();
    let events: Vec<String> = events
        .into_iter()
        .flat_map(|event| event_json(event, budget - 1))
        .collect();
    runs_within(events, budget, |event| event.len() + 1)
        .into_iter()
        .map(|events| {
            let mut payload = prefix.clone();
            payload.push_str(&events.join(","));
            payload.push_str("]}");
            payload
        })
        .collect()
}

/// An event as JSON in pieces of at most `cap` bytes: a long message
/// travels by reference (subscribers read it from the database), and a
/// status change of many messages as several.
fn event_json(event: Event, cap: usize) -> Vec<String> {
    let Ok(json) = serde_json::to_string(&event) else {
        return Vec::new();
    };
    if json.len() <= cap {
        return vec![json];
    }
    match event {
        Event::MessageAppended {
            shop_id,
            conversation_id,
            seq,
            ..
        } => event_json(
            Event::MessageAppended {
                shop_id,
                conversation_id,
                seq,
                message: None,
            },
            cap,
        ),
        Event::MessageStatusChanged {
            shop_id,
            conversation_id,
            mut seqs,
        } if seqs.len() > 1 => {
            let later = seqs.split_off(seqs.len() / 2);
            [seqs, later]
                .into_iter()
                .flat_map(|seqs| {
                    event_json(
                        Event::MessageStatusChanged {
                            shop_id,
                            conversation_id,
                            seqs,
                        },
                        cap,
                    )
                })
                .collect()
        }
        // Ids only: far below the cap.
        _ => vec![json],
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

    fn unpack(from: Uuid, payloads: &[String]) -> Vec<Event> {
        payloads
            .iter()
            .flat_map(|payload| {
                assert!(payload.len() <= MAX_NOTIFY_BYTES, "{} bytes", payload.len());
                assert!(payload.starts_with(&own_prefix(from)), "{payload}");
                let envelope: Envelope<Event> = serde_json::from_str(payload).expect("it parses");
                assert_eq!(envelope.from, from);
                envelope.events
            })
            .collect()
    }

    #[test]
    fn events_share_notifications_in_order_within_the_cap() {
        let conversation_id = Uuid::new_v4();
        let events: Vec<Event> = (1..=200)
            .map(|seq| {
                let message =
                    crate::test_support::text_message(conversation_id, seq, &"x".repeat(300));
                Event::appended(Uuid::nil(), message)
            })
            .collect();
        let from = Uuid::new_v4();
        let payloads = notify_payloads(from, events.clone());
        // About 700 bytes an event: ten or so to a notification.
        assert!(
            (15..=40).contains(&payloads.len()),
            "{} payloads",
            payloads.len()
        );
        assert_eq!(unpack(from, &payloads), events);
        assert!(!payloads[0].starts_with(&own_prefix(Uuid::new_v4())));
    }

    #[test]
    fn a_long_message_travels_by_reference() {
        let message = crate::test_support::text_message(Uuid::new_v4(), 3, &"é".repeat(4_000));
        let from = Uuid::new_v4();
        let payloads = notify_payloads(from, [Event::appended(Uuid::nil(), message.clone())]);
        assert_eq!(
            unpack(from, &payloads),
            [Event::MessageAppended {
                shop_id: Uuid::nil(),
                conversation_id: message.conversation_id,
                seq: 3,
                message: None,
            }]
        );
    }

    #[test]
    fn a_status_change_of_many_messages_is_split_under_the_cap() {
        let conversation_id = Uuid::new_v4();
        let seqs: Vec<i64> = (1_000_000..1_005_000).collect();
        let from = Uuid::new_v4();
        let payloads = notify_payloads(
            from,
            [Event::MessageStatusChanged {
                shop_id: Uuid::nil(),
                conversation_id,
                seqs: seqs.clone(),
            }],
        );
        assert!(payloads.len() > 1);
        let delivered: Vec<i64> = unpack(from, &payloads)
            .into_iter()
            .flat_map(|event| match event {
                Event::MessageStatusChanged { seqs, .. } => seqs,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(delivered, seqs);
    }
}
