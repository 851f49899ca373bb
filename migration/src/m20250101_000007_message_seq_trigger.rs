//! SQLite: inserting a message moves its conversation's `last_seq` and
//! `last_message_at` along, so that appending a message (the next `seq`
//! read from the conversation inside the insert) is a single statement.
//! PostgreSQL appends with a data-modifying CTE that does the same, and
//! needs nothing here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Never moves a conversation backwards: an append that already advanced
/// the conversation itself leaves nothing for the trigger to do.
const CREATE: &str = "CREATE TRIGGER IF NOT EXISTS messages_advance_conversation \
    AFTER INSERT ON messages \
    BEGIN \
        UPDATE conversations \
        SET last_seq = NEW.seq, last_message_at = NEW.created_at, updated_at = NEW.created_at \
        WHERE id = NEW.conversation_id AND last_seq < NEW.seq; \
    END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(CREATE).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP TRIGGER IF EXISTS messages_advance_conversation")
            .await?;
        Ok(())
    }
}
