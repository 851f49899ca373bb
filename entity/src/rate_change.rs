//! `rate_changes`: changes to the per-message rate card. The rate in force
//! for a category is the latest change effective at the moment of delivery
//! (or the configured default before any change); past usage keeps the rate
//! it was metered at.

use sea_orm::entity::prelude::*;

use crate::enums::MessageCategory;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub category: MessageCategory,
    /// Price per delivered message in micro-units of USD (5 000 = 0.5 cent).
    pub rate_micro: i64,
    pub effective_from: DateTimeUtc,
    pub changed_by: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
