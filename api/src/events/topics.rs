//! Live events passed on to the subscriptions that follow them.
//!
//! The bus hands every event to every receiver, and a subscription follows
//! one conversation, or one shop's inbox. With each subscription on the bus
//! itself, every event woke every open subscription of the instance, to be
//! dropped by all but the few that follow its conversation: a message cost
//! the server work for each socket open anywhere (a send took 3.3 times the
//! instructions with 100 sockets following another conversation). Here
//! each event goes to the channel of its conversation and to that of its
//! shop, which exist while someone follows them; a subscription wakes for
//! its own events only.
//!
//! The built-in buses pass events on as they deliver them on this instance
//! ([`Delivery`]), in the publishing task. A bus of the embedding program's
//! own is read by a task that passes its events on ([`Topics::start`]): one
//! more hand-over per event.
//!
//! Order and completeness are the bus's: events are passed on in the order
//! they are delivered, a channel exists from the moment its first follower
//! subscribes (before that follower reads the database, so nothing falls
//! between the read and the live events), and when the passing task falls
//! behind its bus, every channel hears [`Event::Resync`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::{Event, EventBus, SUBSCRIBER_BUFFER};

/// How far a follower of a conversation may fall behind before it is told
/// it lagged (it then reads what it missed from the database). A channel's
/// buffer is allocated whole, for every conversation someone follows, so it
/// stays small: a conversation carries a few messages a second, and a
/// follower 32 events behind is better served from the database. Its slots
/// hold events by reference ([`Shared`]), a pointer each.
const CONVERSATION_BUFFER: usize = 32;

/// The same for a shop's inbox, which carries every conversation of the
/// shop; a lagging inbox tells its client to resynchronise.
const SHOP_BUFFER: usize = 256;

/// What a subscription follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    /// Every event of one conversation.
    Conversation(Uuid),
    /// Every event of one shop's conversations.
    Shop(Uuid),
}

impl Topic {
    fn buffer(self) -> usize {
        match self {
            Self::Conversation(_) => CONVERSATION_BUFFER,
            Self::Shop(_) => SHOP_BUFFER,
        }
    }
}

/// The channels of the topics someone follows. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Topics {
    channels: Arc<Channels>,
}

/// An event as the channels carry it. A channel's buffer is allocated whole
/// when its first follower comes, for every conversation and inbox someone
/// follows: its slots hold a pointer each rather than an event, a fraction
/// of the size. The event is allocated once, for every channel it goes to.
type Shared = Arc<Event>;

#[derive(Default)]
struct Channels {
    by_topic: Mutex<HashMap<Topic, broadcast::Sender<Shared>>>,
}

impl Topics {
    /// Channels with no task of their own: a [`Delivery`] passes events on.
    fn new() -> Self {
        Self {
            channels: Arc::new(Channels::default()),
        }
    }

    /// Starts passing the events of `bus` on; the task ends with the last
    /// clone of the returned value.
    pub(crate) fn start(bus: &dyn EventBus) -> Self {
        let channels = Arc::new(Channels::default());
        let mut events = bus.subscribe();
        let weak = Arc::downgrade(&channels);
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => Event::Resync,
                    Err(RecvError::Closed) => break,
                };
                let Some(channels) = weak.upgrade() else {
                    break;
                };
                channels.pass_on(&event);
            }
        });
        Self { channels }
    }

    /// Follows `topic`: every event of it from now on.
    pub(crate) fn follow(&self, topic: Topic) -> Follower {
        let receiver = self
            .channels
            .lock()
            .entry(topic)
            .or_insert_with(|| broadcast::channel(topic.buffer()).0)
            .subscribe();
        Follower {
            receiver,
            topic,
            channels: Arc::downgrade(&self.channels),
        }
    }

    /// How many topics have followers (for tests).
    #[cfg(test)]
    fn followed(&self) -> usize {
        self.channels.lock().len()
    }
}

impl Channels {
    /// The map. Nothing panics while holding it, and a map left by a panic
    /// is still whole: a poisoned lock is taken as it is.
    fn lock(&self) -> MutexGuard<'_, HashMap<Topic, broadcast::Sender<Shared>>> {
        self.by_topic.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pass_on(&self, event: &Event) {
        let by_topic = self.lock();
        if *event == Event::Resync {
            let resync = Arc::new(Event::Resync);
            for sender in by_topic.values() {
                let _ = sender.send(resync.clone());
            }
            return;
        }
        let topics = [
            event.conversation_id().map(Topic::Conversation),
            event.shop_id().map(Topic::Shop),
        ];
        let mut shared = None;
        for topic in topics.into_iter().flatten() {
            if let Some(sender) = by_topic.get(&topic) {
                let event = shared.get_or_insert_with(|| Arc::new(event.clone()));
                // No receiver left is not an error: the last follower is
                // leaving and removes the channel.
                let _ = sender.send(event.clone());
            }
        }
    }
}

/// Where a built-in bus delivers events on this instance: to every
/// receiver of the bus ([`EventBus::subscribe`]) and, in the same call, to
/// the followers of the event's topics.
#[derive(Clone)]
pub(crate) struct Delivery {
    every: broadcast::Sender<Event>,
    topics: Topics,
}

impl Delivery {
    pub(crate) fn new() -> Self {
        Self {
            every: broadcast::channel(SUBSCRIBER_BUFFER).0,
            topics: Topics::new(),
        }
    }

    pub(crate) fn send(&self, event: Event) {
        self.topics.channels.pass_on(&event);
        // No receiver is not an error: nobody is listening right now.
        let _ = self.every.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.every.subscribe()
    }

    /// The topics this delivery passes events on to.
    pub(crate) fn topics(&self) -> Topics {
        self.topics.clone()
    }
}

/// A subscription's receiver of one topic; the topic's channel goes when
/// its last follower does.
pub(crate) struct Follower {
    receiver: broadcast::Receiver<Shared>,
    topic: Topic,
    channels: Weak<Channels>,
}

impl Follower {
    /// The next event of the topic, as [`broadcast::Receiver::recv`].
    pub(crate) async fn recv(&mut self) -> Result<Event, RecvError> {
        // The copy a receiver of `Event`s would have made.
        self.receiver.recv().await.map(|event| Event::clone(&event))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let Some(channels) = self.channels.upgrade() else {
            return;
        };
        let mut by_topic = channels.lock();
        // Still counted: this follower's receiver is dropped after this.
        if by_topic
            .get(&self.topic)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            by_topic.remove(&self.topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::LocalEventBus;

    fn changed(shop_id: Uuid, conversation_id: Uuid) -> Event {
        Event::ConversationChanged {
            shop_id,
            conversation_id,
        }
    }

    async fn next(follower: &mut Follower) -> Option<Event> {
        tokio::time::timeout(Duration::from_millis(200), follower.recv())
            .await
            .ok()
            .and_then(Result::ok)
    }

    #[tokio::test]
    async fn a_follower_hears_its_conversation_and_shop_only() {
        let bus = LocalEventBus::new();
        let topics = Topics::start(&bus);
        let (shop, other_shop) = (Uuid::now_v7(), Uuid::now_v7());
        let (mine, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut conversation = topics.follow(Topic::Conversation(mine));
        let mut inbox = topics.follow(Topic::Shop(shop));

        bus.publish(changed(shop, other)).await;
        bus.publish(changed(other_shop, Uuid::now_v7())).await;
        bus.publish(Event::AccountClosed {
            user_id: Uuid::now_v7(),
        })
        .await;
        bus.publish(changed(shop, mine)).await;

        assert_eq!(next(&mut conversation).await, Some(changed(shop, mine)));
        assert_eq!(next(&mut conversation).await, None);
        assert_eq!(next(&mut inbox).await, Some(changed(shop, other)));
        assert_eq!(next(&mut inbox).await, Some(changed(shop, mine)));
        assert_eq!(next(&mut inbox).await, None);

        bus.publish(Event::Resync).await;
        assert_eq!(next(&mut conversation).await, Some(Event::Resync));
        assert_eq!(next(&mut inbox).await, Some(Event::Resync));
    }

    #[tokio::test]
    async fn a_delivery_passes_events_on_in_the_same_call() {
        let delivery = Delivery::new();
        let mut every = delivery.subscribe();
        let (shop, id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut follower = delivery.topics().follow(Topic::Conversation(id));
        delivery.send(changed(shop, id));
        delivery.send(changed(shop, Uuid::now_v7()));
        assert_eq!(
            follower.receiver.try_recv(),
            Ok(Arc::new(changed(shop, id)))
        );
        assert!(follower.receiver.try_recv().is_err());
        assert_eq!(every.try_recv(), Ok(changed(shop, id)));
        assert!(every.try_recv().is_ok(), "every receiver hears both");
    }

    #[tokio::test]
    async fn a_topic_lives_as_long_as_its_followers() {
        let bus = LocalEventBus::new();
        let topics = Topics::start(&bus);
        let id = Uuid::now_v7();
        let first = topics.follow(Topic::Conversation(id));
        let mut second = topics.follow(Topic::Conversation(id));
        assert_eq!(topics.followed(), 1);
        drop(first);
        assert_eq!(topics.followed(), 1, "one follower is left");
        let shop = Uuid::now_v7();
        bus.publish(changed(shop, id)).await;
        assert_eq!(next(&mut second).await, Some(changed(shop, id)));
        drop(second);
        assert_eq!(topics.followed(), 0);
        // Followed again: a new channel, live at once.
        let mut again = topics.follow(Topic::Conversation(id));
        bus.publish(changed(shop, id)).await;
        assert_eq!(next(&mut again).await, Some(changed(shop, id)));
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_is_told() {
        let bus = LocalEventBus::new();
        let topics = Topics::start(&bus);
        let (shop, id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut slow = topics.follow(Topic::Conversation(id));
        for _ in 0..=CONVERSATION_BUFFER {
            bus.publish(changed(shop, id)).await;
        }
        // Let the router pass everything on before reading.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(1))));
    }
}
