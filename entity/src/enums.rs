//! Enumerations stored in the database as short upper-case strings, so that a
//! row read by hand (or by another tool) is self-explanatory.

use sea_orm::entity::prelude::*;

/// A user's role in a shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ShopRole {
    /// Manages the shop, its catalog, its members and its billing.
    #[sea_orm(string_value = "OWNER")]
    Owner,
    /// Answers customers and handles orders; cannot manage members or billing.
    #[sea_orm(string_value = "AGENT")]
    Agent,
}
