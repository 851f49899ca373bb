//! `payments`: every attempt to move money, recorded before the provider is
//! called. No card data: only the provider's reference.

use sea_orm::entity::prelude::*;

use crate::enums::{PaymentKind, PaymentStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    pub kind: PaymentKind,
    /// The client's idempotency key; unique per kind. Also sent to the
    /// provider, which must not charge twice for one key.
    pub idempotency_key: String,
    /// A digest of the request, to tell a retry from a reuse of the key.
    pub request_digest: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: PaymentStatus,
    /// Why it failed: `card_declined`, `provider_error`, `timeout`, …
    pub failure_code: Option<String>,
    /// The provider's id for the charge or refund.
    pub provider_reference: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// For a refund that went through, the invoice that gave back its share
    /// of the platform fee; `None` until then, and for everything else.
    pub invoice_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::order::Entity",
        from = "Column::OrderId",
        to = "super::order::Column::Id"
    )]
    Order,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
