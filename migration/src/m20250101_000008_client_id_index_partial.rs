//! The index that keeps a client message id unique per conversation holds
//! only messages that have one. Most messages have none, and every entry
//! costs each append an index page written (on SQLite, a page of the WAL
//! per conversation in a group commit) for nothing: `NULL`s never
//! conflict. Lookups by client id (`client_message_id = …`) still use it.
//!
//! On PostgreSQL the new index is built beside the old one without locking
//! `messages` (`CONCURRENTLY`, so outside a transaction), then takes its
//! name; each step may run again after an interruption.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "uq_messages_conversation_client_id";

/// What the index holds: only messages with a client id, or all of them.
const WITH_CLIENT_ID: &str = " WHERE client_message_id IS NOT NULL";
const ALL: &str = "";

async fn replace_index(manager: &SchemaManager<'_>, condition: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let definition = format!("ON messages (conversation_id, client_message_id){condition}");
    if manager.get_database_backend() == DbBackend::Postgres {
        let building = format!("{INDEX}_replacement");
        for statement in [
            // A build interrupted earlier leaves an invalid index behind.
            format!("DROP INDEX CONCURRENTLY IF EXISTS {building}"),
            format!("CREATE UNIQUE INDEX CONCURRENTLY {building} {definition}"),
            format!("DROP INDEX CONCURRENTLY IF EXISTS {INDEX}"),
            format!("ALTER INDEX {building} RENAME TO {INDEX}"),
        ] {
            db.execute_unprepared(&statement).await?;
        }
        return Ok(());
    }
    // One call, so both statements go to one connection: another
    // connection of the pool may still see the old index when it prepares
    // the `CREATE`.
    db.execute_unprepared(&format!(
        "DROP INDEX IF EXISTS {INDEX}; CREATE UNIQUE INDEX {INDEX} {definition}"
    ))
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(manager, WITH_CLIENT_ID).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(manager, ALL).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }
}
