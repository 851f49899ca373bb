//! The `Message` type.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chatshop_entity::{message, user};
use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;

use super::{AuthorKind, DeliveryStatus, MessageCategory, MessageKind, Product};
use crate::domain::ids::{self, NodeKind};
use crate::graphql::context::ContextExt;
use crate::services::catalog;

/// A message in a conversation.
pub(crate) struct Message(pub std::sync::Arc<message::Model>);

impl From<message::Model> for Message {
    fn from(model: message::Model) -> Self {
        Self(std::sync::Arc::new(model))
    }
}

/// Who wrote a message, as the other side sees them.
#[derive(SimpleObject)]
pub(crate) struct MessageAuthor {
    /// Customer, agent or system.
    kind: AuthorKind,
    /// The author's display name (`null` for system messages).
    name: Option<String>,
}

/// A message in a conversation. `seq` orders a conversation's messages
/// (1, 2, 3 …, no gaps): clients resume live updates from the last `seq` they hold.
#[Object]
impl Message {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::Message, self.0.id))
    }

    /// Position in the conversation: 1, 2, 3 … without gaps.
    async fn seq(&self) -> i64 {
        self.0.seq
    }

    /// The conversation's global id.
    async fn conversation_id(&self) -> ID {
        ID(ids::encode(NodeKind::Conversation, self.0.conversation_id))
    }

    /// Who wrote it.
    async fn author(&self, ctx: &Context<'_>) -> Result<MessageAuthor> {
        let name = match self.0.author_id {
            Some(id) => {
                let state = ctx.state()?;
                user::Entity::find_by_id(id)
                    .one(&state.db)
                    .await
                    .map_err(crate::Error::from)?
                    .map(|u| u.name)
            }
            None => None,
        };
        Ok(MessageAuthor {
            kind: self.0.author_kind.into(),
            name,
        })
    }

    /// What kind of message it is.
    async fn kind(&self) -> MessageKind {
        self.0.kind.into()
    }

    /// The text (may be empty for a bare product reference, or once erased).
    async fn text(&self) -> &str {
        &self.0.body
    }

    /// Whether the text was erased (by the retention period, or because its
    /// author deleted their data).
    async fn redacted(&self) -> bool {
        self.0.redacted_at.is_some()
    }

    /// The product the message refers to, as it is now (`null` when there is
    /// none, or it has since been archived).
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        let Some(product_id) = self.0.product_id else {
            return Ok(None);
        };
        let state = ctx.state()?;
        match catalog::get_product(&state.db, ctx.actor(), product_id).await? {
            Some(found) => Ok(Some(Product::load(state, found).await?)),
            None => Ok(None),
        }
    }

    /// The order an order card or confirmation shows (`null` otherwise, or
    /// when the caller may not see it).
    async fn order(&self, ctx: &Context<'_>) -> Result<Option<super::Order>> {
        let Some(order_id) = self.0.order_id else {
            return Ok(None);
        };
        let state = ctx.state()?;
        Ok(
            crate::services::orders::get(&state.db, ctx.actor(), order_id)
                .await?
                .map(|(model, side)| super::Order { model, side }),
        )
    }

    /// Billing category of a business message; `null` for customer messages.
    async fn category(&self) -> Option<MessageCategory> {
        self.0.category.map(Into::into)
    }

    /// The sender's idempotency key, if they gave one.
    async fn client_message_id(&self) -> Option<&str> {
        self.0.client_message_id.as_deref()
    }

    /// Delivery status.
    async fn status(&self) -> DeliveryStatus {
        self.0.status.into()
    }

    /// When the server stored it.
    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the recipient's device received it.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }

    /// When the recipient saw it.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
}
