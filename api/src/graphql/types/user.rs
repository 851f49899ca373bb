//! The `User` type.

use async_graphql::{ID, Object};
use chatshop_entity::user;
use chrono::{DateTime, Utc};

use crate::domain::ids::{self, NodeKind};

/// A person with an account, as one caller sees them.
pub(crate) struct User {
    model: user::Model,
    /// Whether the caller may read the email address: the person themselves,
    /// the people they work with in a shop, and a shop's staff for its
    /// customers; not a customer for the agent assigned to them.
    email_shown: bool,
}

impl User {
    /// Everything, email included.
    pub(crate) fn with_email(model: user::Model) -> Self {
        Self {
            model,
            email_shown: true,
        }
    }

    /// Name only: for a customer looking at a shop's agent.
    pub(crate) fn without_email(model: user::Model) -> Self {
        Self {
            model,
            email_shown: false,
        }
    }
}

/// A person with an account. Visible to themselves and to the people they
/// work with in a shop.
#[Object]
impl User {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::User, self.model.id))
    }

    /// Email address (normalised to lower case); `null` for a customer
    /// looking at the agent assigned to their conversation, who sees the
    /// agent's name only.
    async fn email(&self) -> Option<&str> {
        self.email_shown.then_some(self.model.email.as_str())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
}
