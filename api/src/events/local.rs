//! The in-process bus: one instance (the embedded SQLite default).

use tokio::sync::broadcast;

use super::topics::{Delivery, Topics};
use super::{Event, EventBus};

/// Delivers events to the subscribers of this process only. Clones share
/// one channel.
#[derive(Clone)]
pub struct LocalEventBus {
    delivery: Delivery,
}

impl LocalEventBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        Self {
            delivery: Delivery::new(),
        }
    }

    /// Its events by topic.
    pub(crate) fn topics(&self) -> Topics {
        self.delivery.topics()
    }
}

impl Default for LocalEventBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl EventBus for LocalEventBus {
    async fn publish(&self, event: Event) {
        self.delivery.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.delivery.subscribe()
    }
}
