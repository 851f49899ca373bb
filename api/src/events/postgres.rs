//! PostgreSQL LISTEN/NOTIFY: events reach every instance sharing the database.
//!
//! Each instance LISTENs on one channel with a dedicated connection and
//! re-broadcasts what arrives to its local subscribers, its own events
//! included, so every instance sees events in the order the database
//! delivered them. When the listening connection drops, sqlx reconnects and
//! we broadcast [`Event::Resync`]: notifications sent meanwhile are lost, and
//! subscribers replay from the database.

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::sync::broadcast;

use super::{Event, EventBus, SUBSCRIBER_BUFFER};
use crate::Error;

/// The NOTIFY channel.
const CHANNEL: &str = "chatshop_events";

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_NOTIFY_BYTES: usize = 7_900;

/// Events through PostgreSQL's LISTEN/NOTIFY.
pub struct PostgresEventBus {
    db: DatabaseConnection,
    local: broadcast::Sender<Event>,
    listener: tokio::task::JoinHandle<()>,
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
        let listener = tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        match serde_json::from_str::<Event>(notification.payload()) {
                            Ok(event) => {
                                let _ = forward.send(event);
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
        Ok(Self {
            db,
            local,
            listener,
        })
    }

    async fn notify(&self, statement: Statement) {
        if let Err(err) = self.db.execute_raw(statement).await {
            // Subscribers recover from the database; the write itself stands.
            tracing::warn!(error = %err, "could not publish an event");
        }
    }
}

impl Drop for PostgresEventBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait::async_trait]
impl EventBus for PostgresEventBus {
    async fn publish(&self, event: Event) {
        let Some(payload) = notify_payload(event) else {
            return;
        };
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        );
        self.notify(statement).await;
    }

    async fn publish_all(&self, events: Vec<Event>) {
        let payloads: Vec<String> = events.into_iter().filter_map(notify_payload).collect();
        // One round trip; notifications of one statement arrive in the order
        // they were sent.
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS sent(payload, n) ORDER BY n",
            [CHANNEL.into(), payloads.into()],
        );
        self.notify(statement).await;
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}

/// The NOTIFY payload of an event. NOTIFY payloads are capped at 8000 bytes:
/// a long message travels by reference and subscribers read it from the
/// database.
fn notify_payload(event: Event) -> Option<String> {
    let payload = serde_json::to_string(&event).ok()?;
    if payload.len() <= MAX_NOTIFY_BYTES {
        return Some(payload);
    }
    match event {
        Event::MessageAppended {
            shop_id,
            conversation_id,
            seq,
            ..
        } => serde_json::to_string(&Event::MessageAppended {
            shop_id,
            conversation_id,
            seq,
            message: None,
        })
        .ok(),
        // Ids only: never near the cap.
        _ => Some(payload),
    }
}
