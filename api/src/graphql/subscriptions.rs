//! Live updates: `messageEvents` (replay, then live) and `inboxEvents`.
//!
//! Ordering and the seam between replay and live: a subscription first
//! subscribes to the event bus, and only then reads the database. Anything
//! committed after the read is therefore also announced on the bus, and
//! anything committed before it is in the read: nothing falls between the
//! two. Duplicates are dropped by `seq`: the stream remembers the highest
//! `seq` it sent and, on every announcement, reads from the database what
//! comes after it. An announcement is only a nudge; the database is the
//! source, so a message is sent once, in order, with its current status.
//! Announcements can arrive out of order (concurrent senders): a message
//! ahead of a gap is held for a moment until the gap fills, and only read
//! from the database when it does not.
//!
//! Lag: when the bus says this subscriber fell behind (or the broker
//! reconnected and events may be lost), the stream reads from the database
//! what comes after its last `seq`: it never skips. Status changes missed
//! that way are not replayed one by one; the replayed messages carry their
//! current status, and a client that needs every receipt re-reads history.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Enum, ID, OutputType, Positioned, Result, ServerResult,
    SimpleObject, Subscription, Value,
};
use chatshop_entity::message;
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::context::ContextExt;
use super::response_cache::ViewerConsulted;
use super::shared_events::{EventKey, ResolvedEvents, SharedOperation};
use super::types::{Conversation, Message, Order};
use crate::Error;
use crate::auth::policy::{self, ShopPermission};
use crate::domain::ids::{self, NodeKind};
use crate::events::{Event, Topic};
use crate::services::conversations::{self, Side};
use crate::services::{messages, orders, shops};

/// How long a subscriber waits for a message announced out of order before
/// reading the gap from the database.
const GAP_WAIT: Duration = Duration::from_millis(50);

/// How many out-of-order messages a subscriber holds before it reads from
/// the database instead.
const MAX_EARLY: usize = 64;

/// How many of a conversation's orders a whole-conversation `orderEvents`
/// subscriber that fell behind is sent again, the last changed first.
const RESYNC_ORDERS: u64 = 100;

/// What happened to a message.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MessageEventType {
    /// A message was added (or replayed after `afterSeq`).
    Appended,
    /// A message's delivery status moved forward.
    StatusChanged,
}

/// An event of one conversation.
#[derive(SimpleObject)]
#[graphql(name = "MessageEvent")]
pub(crate) struct MessageEventFields {
    /// What happened.
    r#type: MessageEventType,
    /// The message, as it is now.
    message: Message,
}

/// A `MessageEvent` as the stream yields it: its fields, and whether it came
/// from the bus, shared by every subscriber (see `shared_events`).
pub(crate) struct MessageEvent {
    fields: MessageEventFields,
    live: bool,
}

impl MessageEvent {
    /// An event read from the database: resolved for its subscriber alone.
    fn read(r#type: MessageEventType, message: message::Model) -> Self {
        Self {
            fields: MessageEventFields {
                r#type,
                message: Message::from(message),
            },
            live: false,
        }
    }

    /// A message appended, as the bus carried it.
    fn live(message: Arc<message::Model>) -> Self {
        Self {
            fields: MessageEventFields {
                r#type: MessageEventType::Appended,
                message: Message(message),
            },
            live: true,
        }
    }
}

impl OutputType for MessageEvent {
    fn type_name() -> Cow<'static, str> {
        MessageEventFields::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        MessageEventFields::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let shared = || {
            Some((
                ctx.data_opt::<Arc<SharedOperation>>()?,
                ctx.data_opt::<Arc<ViewerConsulted>>()?,
                ctx.data_opt::<ResolvedEvents>()?,
            ))
        };
        // Only live events are shared, and only where the transport named
        // the operation (the WebSocket endpoint does).
        let Some((operation, consulted, resolved)) = self.live.then(shared).flatten() else {
            return OutputType::resolve(&self.fields, ctx, field).await;
        };
        let key = EventKey {
            operation,
            field: field.pos,
            message: &self.fields.message.0,
            kind: match self.fields.r#type {
                MessageEventType::Appended => 0,
                MessageEventType::StatusChanged => 1,
            },
        };
        // The first subscriber to get here resolves; the others wait for
        // its outcome (see `shared_events`).
        let mut own = None;
        let outcome = resolved.outcome(&key);
        let shared = outcome
            .get_or_init(|| async {
                // Items of one subscription resolve one after another:
                // whatever marks the request from here on is this resolution.
                consulted.reset();
                let resolution = OutputType::resolve(&self.fields, ctx, field).await;
                let shared = match &resolution {
                    Ok(value) if !consulted.get() => Some(value.clone()),
                    _ => None,
                };
                own = Some(resolution);
                shared
            })
            .await;
        match (own, shared) {
            (Some(resolution), _) => resolution,
            (None, Some(value)) => Ok(value.clone()),
            // It depended on who asked: resolve it for this subscriber.
            (None, None) => OutputType::resolve(&self.fields, ctx, field).await,
        }
    }
}

/// What happened in a shop's inbox.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InboxEventType {
    /// A conversation started, or its status or assignee changed.
    ConversationChanged,
    /// A message was added to a conversation.
    MessageAppended,
    /// A message's delivery status moved forward.
    MessageStatusChanged,
    /// Events may have been missed (the subscriber fell behind): refetch the
    /// inbox with the `conversations` query.
    Resync,
}

/// An event of a shop's inbox.
#[derive(SimpleObject)]
pub(crate) struct InboxEvent {
    /// What happened.
    r#type: InboxEventType,
    /// The conversation concerned (`null` for `RESYNC`).
    conversation: Option<Conversation>,
    /// The message concerned, for message events.
    message: Option<Message>,
}

/// The root subscription type.
#[derive(Default)]
pub struct Subscription;

/// Live updates, over `graphql-transport-ws` at `/graphql/ws`.
#[Subscription]
impl Subscription {
    /// The messages of a conversation: first every stored message with
    /// `seq > afterSeq` in order, then new messages and status changes live,
    /// with no gap and no duplicate. Participants only; to resume after a
    /// disconnect, pass the last `seq` received.
    async fn message_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation.")] conversation_id: ID,
        #[graphql(desc = "Replay messages after this seq first (default 0: everything).")]
        after_seq: Option<i64>,
    ) -> Result<impl Stream<Item = Result<MessageEvent>> + use<>> {
        let state = ctx.state()?.clone();
        let actor = ctx.actor().clone();
        actor.user_id()?;
        let conversation_id =
            ids::decode("conversationId", NodeKind::Conversation, &conversation_id)?;
        // Subscribe before reading: see the module documentation.
        let mut events = state.topics.follow(Topic::Conversation(conversation_id));
        // Boxed, as every check in these resolvers: async-graphql keeps a
        // resolver's future and the stream it returns in one allocation,
        // as large as the larger of the two, for as long as the
        // subscription lives. Unboxed, this query cost each subscriber
        // 2 KiB.
        Box::pin(conversations::access(&state.db, &actor, conversation_id)).await?;
        let mut last_seq = after_seq.unwrap_or(0).max(0);

        // Database reads inside the streams are boxed: a stream lives as long
        // as its subscription, and its idle size is that of its largest
        // await, so an unboxed query future would be held by every idle
        // subscriber.
        let stream = async_stream::try_stream! {
            let mut catch_up = true;
            // Messages announced ahead of one still on its way (concurrent
            // senders announce in the order their commits returned), held
            // until the gap fills: a moment's wait instead of a database read.
            let mut early: BTreeMap<i64, Arc<message::Model>> = BTreeMap::new();
            loop {
                if catch_up {
                    catch_up = false;
                    early.clear();
                    loop {
                        let batch = Box::pin(messages::after_seq(&state.db, conversation_id, last_seq)).await?;
                        if batch.is_empty() {
                            break;
                        }
                        for message in batch {
                            last_seq = message.seq;
                            yield MessageEvent::read(MessageEventType::Appended, message);
                        }
                    }
                }
                while let Some(entry) = early.first_entry() {
                    if *entry.key() > last_seq + 1 {
                        break;
                    }
                    let message = entry.remove();
                    if message.seq == last_seq + 1 {
                        last_seq = message.seq;
                        yield MessageEvent::live(message);
                    }
                }
                let received = if early.is_empty() {
                    events.recv().await
                } else {
                    match tokio::time::timeout(GAP_WAIT, events.recv()).await {
                        Ok(received) => received,
                        // The gap did not fill in time: read it.
                        Err(_) => {
                            catch_up = true;
                            continue;
                        }
                    }
                };
                match received {
                    Ok(Event::MessageAppended { conversation_id: id, seq, message, .. }) if id == conversation_id => {
                        // Up to date and the event carries the message: no
                        // database read. A bare announcement, or too many
                        // early ones, reads what follows `last_seq`.
                        match message {
                            Some(message) if seq == last_seq + 1 => {
                                last_seq = seq;
                                yield MessageEvent::live(message);
                            }
                            Some(message) if seq > last_seq && early.len() < MAX_EARLY => {
                                early.insert(seq, message);
                            }
                            _ => catch_up = seq > last_seq,
                        }
                    }
                    Ok(Event::MessageStatusChanged { conversation_id: id, seqs, .. }) if id == conversation_id => {
                        // Changes to messages not sent yet arrive with them.
                        let sent: Vec<i64> = seqs.into_iter().filter(|s| *s <= last_seq).collect();
                        for message in Box::pin(messages::by_seqs(&state.db, conversation_id, &sent)).await? {
                            yield MessageEvent::read(MessageEventType::StatusChanged, message);
                        }
                    }
                    Ok(Event::Resync) | Err(RecvError::Lagged(_)) => catch_up = true,
                    Ok(_) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        };
        Ok(
            stream
                .map(|item: Result<MessageEvent, Error>| item.map_err(async_graphql::Error::from)),
        )
    }

    /// Changes of one order (`orderId`) or of every order in a conversation
    /// (`conversationId`): placed, paid, fulfilled, cancelled, refunded, and
    /// failed payment attempts. Give exactly one of the two. Participants only.
    /// Each event is the order as it is now; a subscriber that fell behind is
    /// sent the order again, or the conversation's 100 last changed orders.
    async fn order_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One order.")] order_id: Option<ID>,
        #[graphql(desc = "Every order of this conversation.")] conversation_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Order>> + use<>> {
        let state = ctx.state()?.clone();
        let actor = ctx.actor().clone();
        actor.user_id()?;
        // Followed before the access check, as the other subscriptions do:
        // every change committed from then on is heard. An order stays in
        // the conversation it was placed in, so reading it first says which
        // conversation to follow.
        let (order_filter, conversation_id, mut events) = match (order_id, conversation_id) {
            (Some(id), None) => {
                let order_id = ids::decode("orderId", NodeKind::Order, &id)?;
                let found = Box::pin(orders::find(&state.db, order_id)).await?;
                let conversation_id = found.conversation_id;
                let events = state.topics.follow(Topic::Conversation(conversation_id));
                Box::pin(orders::access_to(&state.db, &actor, found)).await?;
                (Some(order_id), conversation_id, events)
            }
            (None, Some(id)) => {
                let conversation_id = ids::decode("conversationId", NodeKind::Conversation, &id)?;
                let events = state.topics.follow(Topic::Conversation(conversation_id));
                Box::pin(conversations::access(&state.db, &actor, conversation_id)).await?;
                (None, conversation_id, events)
            }
            _ => {
                return Err(Error::invalid(
                    "orderId",
                    "give exactly one of orderId and conversationId",
                )
                .into());
            }
        };
        let stream = async_stream::try_stream! {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    // A lagging subscriber gets the current state of what it follows.
                    Err(RecvError::Lagged(_)) => Event::Resync,
                    Err(RecvError::Closed) => break,
                };
                let order_ids = match event {
                    Event::OrderChanged { order_id, .. } => vec![order_id],
                    // What it missed is unknown: the current state of the
                    // order, or of the conversation's last changed orders.
                    Event::Resync => match order_filter {
                        Some(order_id) => vec![order_id],
                        None => Box::pin(orders::last_changed_in(&state.db, conversation_id, RESYNC_ORDERS)).await?,
                    },
                    _ => continue,
                };
                for order_id in order_ids {
                    if order_filter.is_some_and(|wanted| wanted != order_id) {
                        continue;
                    }
                    if let Some((model, side)) = Box::pin(orders::get(&state.db, &actor, order_id)).await? {
                        yield Order { model, side };
                    }
                }
            }
        };
        Ok(stream.map(|item: Result<Order, Error>| item.map_err(async_graphql::Error::from)))
    }

    /// Every conversation event of a shop, for its members (the shared inbox).
    async fn inbox_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop.")] shop_id: ID,
    ) -> Result<impl Stream<Item = Result<InboxEvent>> + use<>> {
        let state = ctx.state()?.clone();
        let actor = ctx.actor().clone();
        actor.user_id()?;
        let shop_id = ids::decode("shopId", NodeKind::Shop, &shop_id)?;
        let mut events = state.topics.follow(Topic::Shop(shop_id));
        let role = policy::require(
            Box::pin(shops::role_of(&state.db, &actor, shop_id)).await?,
            ShopPermission::Work,
        )?;
        let side = Side::Business(role);

        let stream = async_stream::try_stream! {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => Event::Resync,
                    Err(RecvError::Closed) => break,
                };
                if matches!(event, Event::Resync) {
                    yield InboxEvent { r#type: InboxEventType::Resync, conversation: None, message: None };
                    continue;
                }
                if event.shop_id() != Some(shop_id) {
                    continue;
                }
                let Some(conversation_id) = event.conversation_id() else { continue };
                let Some((model, _)) = Box::pin(conversations::get(&state.db, &actor, conversation_id)).await? else { continue };
                let conversation = || Some(Conversation { model: model.clone(), side });
                match event {
                    Event::ConversationChanged { .. } => {
                        yield InboxEvent { r#type: InboxEventType::ConversationChanged, conversation: conversation(), message: None };
                    }
                    Event::MessageAppended { seq, message: Some(message), .. } if message.seq == seq => {
                        yield InboxEvent { r#type: InboxEventType::MessageAppended, conversation: conversation(), message: Some(Message(message)) };
                    }
                    Event::MessageAppended { seq, .. } => {
                        for message in Box::pin(messages::by_seqs(&state.db, conversation_id, &[seq])).await? {
                            yield InboxEvent { r#type: InboxEventType::MessageAppended, conversation: conversation(), message: Some(Message::from(message)) };
                        }
                    }
                    Event::MessageStatusChanged { seqs, .. } => {
                        for message in Box::pin(messages::by_seqs(&state.db, conversation_id, &seqs)).await? {
                            yield InboxEvent { r#type: InboxEventType::MessageStatusChanged, conversation: conversation(), message: Some(Message::from(message)) };
                        }
                    }
                    Event::OrderChanged { .. } | Event::AccountClosed { .. } | Event::Resync => {}
                }
            }
        };
        Ok(stream.map(|item: Result<InboxEvent, Error>| item.map_err(async_graphql::Error::from)))
    }
}
