//! The `Conversation` type.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Result};
use chatshop_entity::{conversation, user};
use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;

use super::{Channel, ConversationStatus, Message, Shop, User};
use crate::domain::ids::{self, NodeKind};
use crate::graphql::context::ContextExt;
use crate::graphql::relay::{PageArgs, connection};
use crate::services::conversations::{self, Side};
use crate::services::messages;

/// What a customer is told, before writing, about a hosted conversation.
pub(crate) const HOSTED_DISCLOSURE: &str = "This business uses a hosting service from the platform to manage this chat. \
Messages in this conversation are stored on the platform's servers and are not end-to-end encrypted. \
They are used only to provide this conversation, never for any other commercial purpose.";

/// A conversation, as seen by one of its participants.
pub(crate) struct Conversation {
    pub model: conversation::Model,
    pub side: Side,
}

/// A conversation between one customer and one shop, on one channel. Only its
/// participants (the customer and the shop's members) can see it.
#[Object]
impl Conversation {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::Conversation, self.model.id))
    }

    /// The shop.
    async fn shop(&self, ctx: &Context<'_>) -> Result<Shop> {
        let state = ctx.state()?;
        Ok(Shop(conversations::shop_of(&state.db, &self.model).await?))
    }

    /// The customer.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let state = ctx.state()?;
        let found = user::Entity::find_by_id(self.model.customer_id)
            .one(&state.db)
            .await
            .map_err(crate::Error::from)?;
        // Seen by the customer themselves or by the shop's staff.
        Ok(found.map(User::with_email))
    }

    /// The channel it happens on.
    async fn channel(&self) -> Channel {
        self.model.channel.into()
    }

    /// Where it stands in the shop's inbox.
    async fn status(&self) -> ConversationStatus {
        self.model.status.into()
    }

    /// Whether the platform hosts this conversation for the shop. If so, its
    /// messages are stored on the platform's servers, are not end-to-end
    /// encrypted, and `disclosure` says so to the customer.
    async fn hosted(&self) -> bool {
        self.model.hosted
    }

    /// Always `false`: Chatshop stores messages on the server to deliver,
    /// replay and bill them, so no conversation is end-to-end encrypted.
    async fn end_to_end_encrypted(&self) -> bool {
        false
    }

    /// The text to show the customer before the first message of a hosted
    /// conversation; `null` when the conversation is not hosted.
    async fn disclosure(&self) -> Option<&'static str> {
        self.model.hosted.then_some(HOSTED_DISCLOSURE)
    }

    /// The agent the conversation is assigned to.
    async fn assigned_agent(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(agent) = self.model.assigned_agent_id else {
            return Ok(None);
        };
        let state = ctx.state()?;
        let found = user::Entity::find_by_id(agent)
            .one(&state.db)
            .await
            .map_err(crate::Error::from)?;
        // The customer sees who answers them, not how to reach them
        // elsewhere; the shop's staff see their colleague in full.
        Ok(found.map(match self.side {
            Side::Customer => User::without_email,
            Side::Business(_) => User::with_email,
        }))
    }

    /// The highest `seq` so far (0 before the first message).
    async fn last_seq(&self) -> i64 {
        self.model.last_seq
    }

    /// The newest message.
    async fn last_message(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let state = ctx.state()?;
        Ok(conversations::last_message(&state.db, self.model.id)
            .await?
            .map(Message::from))
    }

    /// Messages the caller's side received and has not read yet.
    async fn unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let state = ctx.state()?;
        let count = conversations::unread_count(&state.db, self.model.id, self.side).await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// History, newest first: `first`/`after` go back in time.
    #[graphql(complexity = "crate::graphql::relay::page_weight(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the newest (or from `after`).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which (older) the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the oldest (or from `before`).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which (newer) the page ends.")] before: Option<String>,
    ) -> Result<Connection<String, Message>> {
        let state = ctx.state()?;
        let page = PageArgs {
            first,
            after,
            last,
            before,
        }
        .into_request(state)?;
        let rows = messages::history(&state.db, self.model.id, &page).await?;
        Ok(connection(rows, |m| m.id, Message::from))
    }

    /// Messages with `fromSeq <= seq <= toSeq`, oldest first, at most 200.
    async fn messages_by_seq(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First seq, inclusive.")] from_seq: i64,
        #[graphql(desc = "Last seq, inclusive.")] to_seq: i64,
    ) -> Result<Vec<Message>> {
        let state = ctx.state()?;
        Ok(messages::range(&state.db, self.model.id, from_seq, to_seq)
            .await?
            .into_iter()
            .map(Message::from)
            .collect())
    }

    /// When the last message was sent.
    async fn last_message_at(&self) -> Option<DateTime<Utc>> {
        self.model.last_message_at
    }

    /// When the conversation started.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    /// When anything in it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}
