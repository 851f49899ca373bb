//! Use cases: the only code that talks to the database.
//!
//! Conventions:
//! * every function that touches user-owned data takes the caller (`&Actor`)
//!   and checks it through [`crate::auth::policy`] before reading or writing;
//! * input arrives as plain structs of raw values and is parsed into
//!   [`crate::domain`] types here, so every transport validates the same way,
//!   and errors name the input field as the schema spells it;
//! * invariants are enforced by the database (unique indexes, foreign keys,
//!   conditional updates) and constraint violations are mapped to error codes,
//!   never checked in advance;
//! * a failed write leaves nothing behind: multi-row writes run in one
//!   transaction.

pub(crate) mod appender;
pub mod billing;
pub mod catalog;
pub mod conversations;
pub mod messages;
pub mod orders;
pub mod payments;
pub mod privacy;
pub mod shops;
pub mod users;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::Error;
use crate::domain::page::{Direction, Page, PageRequest};

/// An optional field of an update: keep the current value, clear it, or set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Change<T> {
    /// Leave the value as it is.
    #[default]
    Keep,
    /// Set the value to null.
    Clear,
    /// Set a new value.
    Set(T),
}

/// Fetches one keyset page of `select`, ordered by the time-ordered uuid `id`.
pub(crate) async fn paginate<E, C>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id: C,
    request: &PageRequest,
) -> Result<Page<E::Model>, Error>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let mut select = select;
    if let Some(after) = request.after {
        select = select.filter(id.gt(after));
    }
    if let Some(before) = request.before {
        select = select.filter(id.lt(before));
    }
    select = match request.direction {
        Direction::Forward => select.order_by_asc(id),
        Direction::Backward => select.order_by_desc(id),
    };
    // One row more than asked tells whether another page exists.
    let rows = select
        .limit(request.limit.saturating_add(1))
        .all(db)
        .await?;
    Ok(request.finish(rows))
}

/// A new time-ordered id: rows sort by creation, which keyset pagination uses.
pub(crate) fn new_id() -> Uuid {
    Uuid::now_v7()
}
