//! `signing_keys`: secrets the server generated for itself.
//!
//! When no token secret is configured, the first server to start generates
//! one and stores it here, so tokens survive restarts and every instance that
//! shares the database verifies every other instance's tokens.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    /// What the key is for, e.g. `access-token`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub purpose: String,
    /// Base64 of the random key bytes.
    pub secret: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
