//! PostgreSQL: a message's conversation is checked by the statement that
//! appends it, not by a foreign key.
//!
//! Every append reads its conversation's `last_seq` and moves it on in the
//! same statement, its row locked until commit; where the conversation is
//! gone, nothing is inserted. The key's check then read that row again, a
//! query of its own for each message: a fifth of PostgreSQL's time in a
//! group of sixteen. What the key also did, taking a conversation's
//! messages along when it is deleted, a trigger now does, once a statement.
//! A conversation cannot be deleted while a message is appended to it: the
//! append holds the row's lock, and either sees it deleted (and appends
//! nothing) or commits first (and its messages go with the conversation).
//!
//! SQLite checks a key with one lookup of a page it has just read, and
//! keeps it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "\
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_conversation_id_fkey;
CREATE OR REPLACE FUNCTION delete_messages_of_deleted_conversations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages WHERE conversation_id IN (SELECT id FROM deleted);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS conversations_take_their_messages ON conversations;
CREATE TRIGGER conversations_take_their_messages
    AFTER DELETE ON conversations REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION delete_messages_of_deleted_conversations();";

const DOWN: &str = "\
DROP TRIGGER IF EXISTS conversations_take_their_messages ON conversations;
DROP FUNCTION IF EXISTS delete_messages_of_deleted_conversations();
ALTER TABLE messages ADD CONSTRAINT messages_conversation_id_fkey
    FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
