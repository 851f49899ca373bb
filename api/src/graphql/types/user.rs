//! The `User` type.

use async_graphql::{ID, Object};
use chatshop_entity::user;
use chrono::{DateTime, Utc};

use crate::domain::ids::{self, NodeKind};

/// A person with an account. Visible to themselves and to the people they
/// work with in a shop.
pub(crate) struct User(pub user::Model);

/// A person with an account. Visible to themselves and to the people they
/// work with in a shop.
#[Object]
impl User {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::User, self.0.id))
    }

    /// Email address (normalised to lower case).
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
