//! The in-process bus: one instance (the embedded SQLite default).

use tokio::sync::broadcast;

use super::{Event, EventBus, SUBSCRIBER_BUFFER};

/// Delivers events to the subscribers of this process only. Clones share
/// one channel.
#[derive(Clone)]
pub struct LocalEventBus {
    sender: broadcast::Sender<Event>,
}

impl LocalEventBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        Self { sender }
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
        // No receiver is not an error: nobody is listening right now.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
