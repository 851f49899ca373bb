//! `conversations`: one customer and one shop, on one channel.

use sea_orm::entity::prelude::*;

use crate::enums::{Channel, ConversationStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub shop_id: Uuid,
    pub customer_id: Uuid,
    pub channel: Channel,
    /// Whether the shop had hosting on when the conversation started; the
    /// customer was told so, and that promise holds for this conversation.
    pub hosted: bool,
    pub status: ConversationStatus,
    pub assigned_agent_id: Option<Uuid>,
    /// The highest `seq` handed out; the next message takes `last_seq + 1`
    /// in the same transaction that increments it.
    pub last_seq: i64,
    pub last_message_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::shop::Entity",
        from = "Column::ShopId",
        to = "super::shop::Column::Id"
    )]
    Shop,
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
}

impl Related<super::shop::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Shop.def()
    }
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
