//! The index that keeps a client message id unique per conversation holds
//! only messages that have one. Most messages have none, and every entry
//! costs each append an index page written (on SQLite, a page of the WAL
//! per conversation in a group commit) for nothing: `NULL`s never
//! conflict. Lookups by client id (`client_message_id = …`) still use it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "uq_messages_conversation_client_id";

/// Replaces the index with one that holds `condition`, in one call so that both
/// statements go to one connection: on SQLite another connection of the
/// pool may still see the old index when it prepares the `CREATE`.
async fn replace_index(manager: &SchemaManager<'_>, condition: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DROP INDEX IF EXISTS {INDEX}; \
             CREATE UNIQUE INDEX {INDEX} ON messages (conversation_id, client_message_id){condition}"
        ))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(manager, " WHERE client_message_id IS NOT NULL").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(manager, "").await
    }
}
