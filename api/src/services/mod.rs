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

pub mod billing;
pub mod catalog;
pub mod conversations;
pub(crate) mod group_writer;
pub mod messages;
pub mod orders;
pub mod payments;
pub mod privacy;
pub mod shops;
pub mod users;
pub(crate) mod wal_checkpoints;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, Iterable, QueryFilter, QueryOrder,
    QuerySelect, Select,
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

/// Values read from the database (or checked), each with when it was
/// read, for caches that may answer from them. Bounded: at its limit
/// ([`REMEMBERED_LIMIT`] unless told) it starts over.
pub(crate) struct Remembered<K, V> {
    known: std::sync::RwLock<std::collections::HashMap<K, (V, std::time::Instant)>>,
    limit: usize,
}

/// How many values a [`Remembered`] holds before it starts over.
const REMEMBERED_LIMIT: usize = 100_000;

impl<K, V> Default for Remembered<K, V> {
    fn default() -> Self {
        Self::with_limit(REMEMBERED_LIMIT)
    }
}

impl<K, V> Remembered<K, V> {
    /// Holds at most `limit` values before it starts over.
    pub(crate) fn with_limit(limit: usize) -> Self {
        Self {
            known: std::sync::RwLock::default(),
            limit,
        }
    }
}

impl<K: Eq + std::hash::Hash, V: Clone> Remembered<K, V> {
    /// The value remembered for `key`, and how long ago it was read.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<(V, std::time::Duration)>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        let known = self.known.read().ok()?;
        known
            .get(key)
            .map(|(value, read_at)| (value.clone(), read_at.elapsed()))
    }

    /// Remembers `value`, read just now, for `key`.
    pub(crate) fn remember(&self, key: K, value: V) {
        if let Ok(mut known) = self.known.write() {
            if known.len() >= self.limit {
                known.clear();
            }
            known.insert(key, (value, std::time::Instant::now()));
        }
    }

    /// Forgets what was remembered for `key`.
    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        if let Ok(mut known) = self.known.write() {
            known.remove(key);
        }
    }
}

/// How many rows a statement run by [`query_pooled`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rows {
    /// None or one (read without collecting a stream).
    AtMostOne,
    /// Any number.
    All,
}

/// Runs `sql`, written for `db`'s backend, on its sqlx pool under SeaORM,
/// for the statements of the group writers, which run one after another
/// and are on every send's and order's path. SeaORM's future for a
/// statement holds every backend's and is moved whole by its tracing
/// wrappers, about 30k instructions a statement. The values are bound as
/// SeaORM binds them, and errors take SeaORM's shape, which
/// [`is_unique_violation`] reads.
pub(crate) async fn query_pooled(
    db: &sea_orm::DatabaseConnection,
    sql: &'static str,
    values: Vec<sea_orm::Value>,
    rows: Rows,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    use sea_orm::DbBackend;
    let found = match db.get_database_backend() {
        DbBackend::Postgres => on_pool(db.get_postgres_connection_pool(), sql, values, rows).await,
        DbBackend::Sqlite => on_pool(db.get_sqlite_connection_pool(), sql, values, rows).await,
        backend => {
            let statement = sea_orm::Statement::from_sql_and_values(backend, sql, values);
            return db.query_all_raw(statement).await;
        }
    };
    found.map_err(|err| sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(err.into())))
}

/// [`query_pooled`] on one backend's pool.
async fn on_pool<DB>(
    pool: &sea_orm::sqlx::Pool<DB>,
    sql: &'static str,
    values: Vec<sea_orm::Value>,
    rows: Rows,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::sqlx::Error>
where
    DB: sea_orm::sqlx::Database,
    for<'c> &'c mut DB::Connection: sea_orm::sqlx::Executor<'c, Database = DB>,
    sea_query_sqlx::SqlxValues: sea_orm::sqlx::IntoArguments<DB>,
    DB::Row: Into<sea_orm::QueryResult>,
{
    use sea_orm::sqlx;
    let query = sqlx::query_with(
        sqlx::AssertSqlSafe(sql),
        sea_query_sqlx::SqlxValues(sea_orm::Values(values)),
    );
    // Taken here rather than by the pool's own `fetch_*`, whose boxed
    // future holds the acquisition's and is copied whole into its box
    // (13k instructions of a lone send on PostgreSQL).
    let mut connection = pool.acquire().await?;
    Ok(match rows {
        Rows::AtMostOne => query
            .fetch_optional(&mut *connection)
            .await?
            .map(Into::into)
            .into_iter()
            .collect(),
        Rows::All => query
            .fetch_all(&mut *connection)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// Whether a write failed on a unique index (a key used before).
pub(crate) fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// `alias.column AS {prefix}column, …` for every column of `E`: for a
/// statement that returns `E`'s row beside another's, read back with
/// `FromQueryResult::from_query_result(row, prefix)`.
pub(crate) fn columns_as<E: EntityTrait>(alias: &str, prefix: &str) -> String {
    E::Column::iter()
        .map(|column| {
            let name = column.as_str();
            format!("{alias}.{name} AS {prefix}{name}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A PostgreSQL array parameter. Groups pass their rows as arrays, one per
/// column, to `unnest`: the planner then knows how many rows there are (a
/// JSON record set counts as 100 to it, enough to make it scan whole tables
/// to join them). Arrays of nullable values do not bind.
pub(crate) fn array<T>(values: impl Iterator<Item = T>) -> sea_orm::Value
where
    Vec<T>: Into<sea_orm::Value>,
{
    values.collect::<Vec<_>>().into()
}

/// Bytes as lowercase hexadecimal (digests kept as text). Written a digit
/// at a time: formatting each byte on its own took a tenth of a send.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for half in [byte >> 4, byte & 0x0f] {
            text.extend(char::from_digit(u32::from(half), 16));
        }
    }
    text
}

/// A new time-ordered id: rows sort by creation, which keyset pagination uses.
pub(crate) fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod remembered_tests {
    use super::{REMEMBERED_LIMIT, Remembered};

    #[test]
    fn a_remembered_value_comes_back_with_its_age_until_forgotten() {
        let remembered = Remembered::default();
        assert_eq!(remembered.get(&1), None);
        remembered.remember(1, "one");
        let (value, age) = remembered.get(&1).unwrap();
        assert_eq!(value, "one");
        assert!(age < std::time::Duration::from_secs(1));
        remembered.forget(&1);
        assert_eq!(remembered.get(&1), None);
    }

    #[test]
    fn a_full_map_starts_over() {
        let remembered = Remembered::default();
        for key in 0..REMEMBERED_LIMIT {
            remembered.remember(key, ());
        }
        assert!(remembered.get(&0).is_some());
        remembered.remember(REMEMBERED_LIMIT, ());
        assert_eq!(remembered.get(&0), None);
        assert!(remembered.get(&REMEMBERED_LIMIT).is_some());
    }
}

#[cfg(test)]
mod hex_tests {
    #[test]
    fn hex_writes_two_lowercase_digits_per_byte() {
        assert_eq!(super::hex(&[]), "");
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        // The same text as formatting each byte: stored digests stay valid.
        let every_byte: Vec<u8> = (0..=255).collect();
        let formatted: String = every_byte.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&every_byte), formatted);
    }
}
