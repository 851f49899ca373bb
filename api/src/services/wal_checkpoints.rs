//! SQLite: the write-ahead log is copied into the database file from a
//! reading connection, so that request-path writes seldom wait for it.
//!
//! SQLite checkpoints the log from whichever connection commits past a
//! number of pages (1,000 unless told). Request-path writes all go through
//! one connection (see `StateInner::writer`), so that was always the
//! writer: at 1,000 messages a second, every 200 ms a commit also copied
//! the log into the file and flushed it, 0.5–1.1 ms that the sends queued
//! behind it waited too. Here every commit of the writer wakes a task that,
//! a moment later, checkpoints from a connection of the reading pool in
//! SQLite's passive mode: it copies what no reader still needs and never
//! blocks the writer, which goes on appending meanwhile.
//!
//! The log starts over only when a write begins after a checkpoint that
//! copied all of it, so while writes never pause (16 senders back to back)
//! the task's checkpoints fall behind and the log would grow without end.
//! The writer's own checkpoints therefore stay, as a backstop, at a larger
//! log ([`WRITER_BACKSTOP_PAGES`]); below it they no longer happen.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::sqlx::{self, SqlitePool};
use tokio::sync::mpsc;

/// How long after a commit the log is checkpointed: commits meanwhile
/// share the checkpoint (at 1,000 messages a second, about 250 pages).
const AFTER_COMMIT: Duration = Duration::from_millis(50);

/// Pages of log at which the writer checkpoints by itself (16 MiB of
/// 4 KiB pages). With the writer checkpointing at 4,000 pages and the task
/// at work, 1 × 1,000 messages a second gave a p99.9 of 4.44 ms against
/// 5.41 (medians of seven alternated runs) and 16 senders 10,220 sends/s
/// against 9,505.
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 4_000;

/// Opens the pool of one connection that request-path writes go through,
/// on the database `options` open, with its log checkpointed from `reader`
/// (a pool on the same file) after every commit.
pub(crate) async fn writer_pool(
    options: SqliteConnectOptions,
    pool: SqlitePoolOptions,
    reader: DatabaseConnection,
) -> Result<SqlitePool, sqlx::Error> {
    let checkpoints = WalCheckpoints::start(reader);
    pool.max_connections(1)
        .after_connect(move |connection, _| {
            let checkpoints = checkpoints.clone();
            Box::pin(async move {
                // Runs inside SQLite's commit: it must not touch the
                // connection, and only queues a wake-up.
                connection.lock_handle().await?.set_commit_hook(move || {
                    checkpoints.committed();
                    true
                });
                Ok(())
            })
        })
        .connect_with(options.pragma("wal_autocheckpoint", WRITER_BACKSTOP_PAGES.to_string()))
        .await
}

/// Wakes the checkpointing task; cheap to clone. The task ends when every
/// handle is dropped.
#[derive(Clone)]
struct WalCheckpoints {
    wake: mpsc::Sender<()>,
}

impl WalCheckpoints {
    /// Starts checkpointing `reader`'s database on one of its connections.
    fn start(reader: DatabaseConnection) -> Self {
        // One wake-up waiting is enough: commits during a checkpoint's
        // wait go into it.
        let (wake, mut woken) = mpsc::channel(1);
        tokio::spawn(async move {
            while woken.recv().await.is_some() {
                tokio::time::sleep(AFTER_COMMIT).await;
                if let Err(err) = checkpoint(&reader).await {
                    tracing::warn!(error = %err, "WAL checkpoint failed; the writer's own checkpoints take over");
                }
            }
        });
        Self { wake }
    }

    /// Says that a transaction committed: the log is checkpointed soon.
    fn committed(&self) {
        // Full: a checkpoint is already coming.
        let _ = self.wake.try_send(());
    }
}

/// Copies into the database file as much of the log as no reader needs,
/// without waiting for anyone.
async fn checkpoint(reader: &DatabaseConnection) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_optional(reader.get_sqlite_connection_pool())
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use sea_orm::sqlx::sqlite::SqliteJournalMode;

    use super::*;

    #[tokio::test]
    async fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("wal.sqlite");
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let reader = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.clone())
            .await
            .expect("the reading pool");
        let writer = writer_pool(
            options,
            SqlitePoolOptions::new(),
            sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(reader.clone()),
        )
        .await
        .expect("the writing pool");
        // From before the first commit: the checkpoint it schedules comes
        // `AFTER_COMMIT` later, possibly after every insert below is done.
        let written = std::time::Instant::now();
        sqlx::query("CREATE TABLE notes (body TEXT NOT NULL)")
            .execute(&writer)
            .await
            .expect("created");
        let file_size = || std::fs::metadata(&file).expect("the database file").len();
        // 400 kB in a hundred commits: a hundred pages, far below the
        // writer's own threshold.
        for _ in 0..100 {
            sqlx::query("INSERT INTO notes (body) VALUES (?)")
                .bind("x".repeat(4_000))
                .execute(&writer)
                .await
                .expect("inserted");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while file_size() < 400_000 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the log was not checkpointed: the file holds {} bytes",
                file_size()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(written.elapsed() >= AFTER_COMMIT);
    }
}
