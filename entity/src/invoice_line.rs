//! `invoice_lines`: what an invoice is made of.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub invoice_id: Uuid,
    /// `MESSAGES`, `PLATFORM_FEES` or `HOSTING`.
    pub kind: String,
    /// The message category, for `MESSAGES` lines.
    pub category: Option<String>,
    pub quantity: i64,
    /// Micro-units of `currency` (exact to a millionth of the major unit).
    pub amount_micro: i64,
    pub currency: String,
    pub description: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id"
    )]
    Invoice,
}

impl Related<super::invoice::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Invoice.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
