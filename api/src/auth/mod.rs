//! Who is calling: tokens in, an [`Actor`] out.
//!
//! The HTTP and WebSocket layers verify the presented token once and attach
//! the resulting `Actor` to the request. Services take `&Actor` as an argument;
//! nothing reads "the current user" from ambient state.

pub(crate) mod accounts;
pub mod identity_provider;
pub mod jwt;
pub mod password;
pub mod policy;

use uuid::Uuid;

use crate::Error;

/// The caller of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// No credentials were presented.
    Anonymous,
    /// A signed-in user.
    User {
        /// The user's id.
        id: Uuid,
    },
}

impl Actor {
    /// The signed-in user's id, or `UNAUTHENTICATED`.
    pub fn user_id(&self) -> Result<Uuid, Error> {
        match self {
            Self::User { id } => Ok(*id),
            Self::Anonymous => Err(Error::Unauthenticated),
        }
    }

    /// The signed-in user's id, if any.
    pub fn user_id_opt(&self) -> Option<Uuid> {
        match self {
            Self::User { id } => Some(*id),
            Self::Anonymous => None,
        }
    }
}

/// The caller a verified token names: an external identity becomes (or
/// finds) its Chatshop user; a user who deleted their data is nobody
/// (`None`), whatever token they still hold.
///
/// # Errors
/// `INTERNAL` on database failures.
pub(crate) async fn resolve(
    db: &sea_orm::DatabaseConnection,
    accounts: &accounts::ActiveAccounts,
    verified: jwt::Verified,
) -> Result<Option<Actor>, Error> {
    let id = match verified {
        jwt::Verified::User(id) => id,
        jwt::Verified::External(identity) => {
            crate::services::users::from_external(db, &identity).await?
        }
    };
    Ok(accounts
        .is_active(db, id)
        .await?
        .then_some(Actor::User { id }))
}
