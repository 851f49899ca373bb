//! `orders`: placed in a conversation, paid in the chat.

use sea_orm::entity::prelude::*;

use crate::enums::OrderStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub shop_id: Uuid,
    /// Who pays: the conversation's customer.
    pub customer_id: Uuid,
    /// Who placed it: the customer, or an agent proposing it.
    pub placed_by_id: Uuid,
    pub status: OrderStatus,
    /// ISO 4217 code of every amount of the order.
    pub currency: String,
    pub subtotal_minor: i64,
    /// The platform's cut of the payment (taken from the shop's proceeds).
    pub platform_fee_minor: i64,
    /// What the customer pays.
    pub total_minor: i64,
    pub refunded_minor: i64,
    /// The placer's idempotency key; unique per placer.
    pub client_key: Option<String>,
    /// Stock stays reserved until then; an unpaid order expires after.
    pub reserved_until: DateTimeUtc,
    /// The payment attempt that currently holds the order: a charge while
    /// it is unpaid, a refund once it is paid (one runs at a time, so two
    /// keys can never both charge, nor both refund the same units).
    pub payment_attempt_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub fulfilled_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// The invoice that charged the shop its platform fee; `None` until a
    /// period is closed after `paid_at`.
    pub invoice_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::order_item::Entity")]
    OrderItem,
    #[sea_orm(has_many = "super::payment::Entity")]
    Payment,
}

impl Related<super::order_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrderItem.def()
    }
}

impl Related<super::payment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Payment.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
