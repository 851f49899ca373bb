//! Live events: what happened, published after the write that made it
//! happen has committed, to every subscriber on every instance.
//!
//! Events carry ids, not content: a subscriber loads what it shows from the
//! database, which applies the reader's permissions and makes an event that
//! arrives twice, late, or not at all harmless. A subscriber that may have
//! missed events (it lagged, or the broker reconnected) replays from the
//! database by `seq`; nothing is ever silently skipped.

mod local;
mod postgres;
mod topics;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

pub use local::LocalEventBus;
pub use postgres::PostgresEventBus;
pub(crate) use topics::{Topic, Topics};

/// Something that happened in a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message was appended with this `seq`.
    MessageAppended {
        /// The shop of the conversation.
        shop_id: Uuid,
        /// The conversation.
        conversation_id: Uuid,
        /// The new message's `seq`.
        seq: i64,
        /// The message itself, when it fits in the event: subscribers that
        /// are up to date deliver it without reading it back. `None` means
        /// "read it from the database" (it is there, committed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<std::sync::Arc<chatshop_entity::message::Model>>,
    },
    /// Messages changed delivery status.
    MessageStatusChanged {
        /// The shop of the conversation.
        shop_id: Uuid,
        /// The conversation.
        conversation_id: Uuid,
        /// The `seq`s of the messages that changed.
        seqs: Vec<i64>,
    },
    /// The conversation itself changed (status, assignment) or started.
    ConversationChanged {
        /// The shop of the conversation.
        shop_id: Uuid,
        /// The conversation.
        conversation_id: Uuid,
    },
    /// An order was placed or changed status.
    OrderChanged {
        /// The shop of the order.
        shop_id: Uuid,
        /// The conversation the order was placed in.
        conversation_id: Uuid,
        /// The order.
        order_id: Uuid,
    },
    /// A user deleted their data: every instance stops accepting their
    /// tokens.
    AccountClosed {
        /// The user.
        user_id: Uuid,
    },
    /// Events may have been lost (a broker reconnect): every subscriber
    /// replays from the database.
    Resync,
}

impl Event {
    /// A message of a conversation of `shop_id` was appended; the event
    /// carries it.
    pub fn appended(shop_id: Uuid, message: chatshop_entity::message::Model) -> Self {
        Self::MessageAppended {
            shop_id,
            conversation_id: message.conversation_id,
            seq: message.seq,
            message: Some(std::sync::Arc::new(message)),
        }
    }

    /// The shop the event belongs to (`None` for [`Event::Resync`] and
    /// [`Event::AccountClosed`]).
    pub fn shop_id(&self) -> Option<Uuid> {
        match self {
            Self::MessageAppended { shop_id, .. }
            | Self::MessageStatusChanged { shop_id, .. }
            | Self::ConversationChanged { shop_id, .. }
            | Self::OrderChanged { shop_id, .. } => Some(*shop_id),
            Self::AccountClosed { .. } | Self::Resync => None,
        }
    }

    /// The conversation the event belongs to (`None` for [`Event::Resync`]
    /// and [`Event::AccountClosed`]).
    pub fn conversation_id(&self) -> Option<Uuid> {
        match self {
            Self::MessageAppended {
                conversation_id, ..
            }
            | Self::MessageStatusChanged {
                conversation_id, ..
            }
            | Self::ConversationChanged {
                conversation_id, ..
            }
            | Self::OrderChanged {
                conversation_id, ..
            } => Some(*conversation_id),
            Self::AccountClosed { .. } | Self::Resync => None,
        }
    }
}

/// Carries events between the instances that share a database.
///
/// Implement it to bring your own broker. `publish` is called after commit and
/// is best-effort by design: subscribers recover lost events from the database.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes an event to every subscriber on every instance.
    async fn publish(&self, event: Event);
    /// Publishes several events, in order. Brokers with a per-call cost
    /// (a database round trip) override this to send them at once.
    async fn publish_all(&self, events: Vec<Event>) {
        for event in events {
            self.publish(event).await;
        }
    }
    /// Receives every event published from now on (on any instance).
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

/// What a [`follow`]er hears from the bus.
pub(crate) enum Heard {
    /// An event.
    Event(Event),
    /// Events may have been lost: the follower fell behind, or the broker
    /// reconnected ([`Event::Resync`]).
    Lost,
}

/// Calls `on` with everything the bus carries from now on, for as long as
/// `owner` lives (the follower holds it weakly).
pub(crate) fn follow<T: Send + Sync + 'static>(
    bus: &dyn EventBus,
    owner: &std::sync::Arc<T>,
    on: impl Fn(&T, Heard) + Send + 'static,
) {
    let mut events = bus.subscribe();
    let owner = std::sync::Arc::downgrade(owner);
    tokio::spawn(async move {
        loop {
            let heard = match events.recv().await {
                Ok(Event::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => Heard::Lost,
                Ok(event) => Heard::Event(event),
                Err(broadcast::error::RecvError::Closed) => break,
            };
            let Some(owner) = owner.upgrade() else { break };
            on(&owner, heard);
        }
    });
}

/// How many events a slow subscriber may fall behind before it is told it
/// lagged (and replays from the database).
pub(crate) const SUBSCRIBER_BUFFER: usize = 1024;
