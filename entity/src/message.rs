//! `messages`: what was said in a conversation, in `seq` order.

use sea_orm::entity::prelude::*;

use crate::enums::{AuthorKind, DeliveryStatus, MessageCategory, MessageKind};

// Serde: a freshly appended message travels inside its live event, so
// subscribers need not read it back from the database.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// 1, 2, 3 … within the conversation; unique with `conversation_id`.
    pub seq: i64,
    pub author_kind: AuthorKind,
    /// The author's account; `None` for system messages.
    pub author_id: Option<Uuid>,
    pub kind: MessageKind,
    pub body: String,
    pub product_id: Option<Uuid>,
    /// The order an order card or confirmation shows.
    pub order_id: Option<Uuid>,
    /// Billing category; set on business-authored messages only.
    pub category: Option<MessageCategory>,
    /// The sender's idempotency key; unique within the conversation.
    pub client_message_id: Option<String>,
    /// A digest of the sent input, to tell a retry from a different message
    /// that reuses a client id.
    pub request_digest: Option<String>,
    pub status: DeliveryStatus,
    pub delivered_at: Option<DateTimeUtc>,
    pub read_at: Option<DateTimeUtc>,
    /// When the body was erased (retention or the author's deletion).
    pub redacted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::conversation::Entity",
        from = "Column::ConversationId",
        to = "super::conversation::Column::Id"
    )]
    Conversation,
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
