//! `usage_records`: one per delivered billable message, never two (the
//! message id is unique), at the rate in force when it was delivered, and
//! billed by one invoice.

use sea_orm::entity::prelude::*;

use crate::enums::MessageCategory;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub message_id: Uuid,
    pub shop_id: Uuid,
    pub category: MessageCategory,
    /// Micro-units of USD.
    pub rate_micro: i64,
    pub delivered_at: DateTimeUtc,
    /// The invoice that billed it; `None` until a period is closed after
    /// `delivered_at`.
    pub invoice_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
