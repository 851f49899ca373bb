//! Group commit for messages people send, on SQLite.
//!
//! Every send needs its own `seq` and a durable commit. Committed one by one,
//! concurrent sends each pay a commit (an fsync) and queue for SQLite's
//! single write lock. Here one task takes every send waiting at that moment
//! and appends them in one transaction: one commit for the group, and no
//! two writers contending. Each sender still hears back only after the
//! commit that holds its message.
//!
//! PostgreSQL takes concurrent writers on separate connections well, and one
//! task would serialise their network round trips: there, each send commits
//! on its own.

use chatshop_entity::message;
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::messages::{Append, append, append_in};

/// The most messages one transaction takes: bounds how long the first sender
/// of a group waits for the rest.
const MAX_GROUP: usize = 64;

/// Sends waiting for the writer. Beyond this, senders wait to enqueue.
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<message::Model, DbErr>>;

pub(crate) struct Job {
    conversation_id: Uuid,
    new: Append,
    reply: Reply,
}

/// The handle senders use; cheap to clone. The writer task ends when every
/// handle is dropped.
#[derive(Clone)]
pub(crate) enum MessageAppender {
    /// SQLite: through the group writer.
    Grouped(mpsc::Sender<Job>),
    /// Elsewhere: each send in its own transaction.
    Direct(DatabaseConnection),
}

impl MessageAppender {
    /// Starts the writer on `db` (the write connection) where it pays.
    pub(crate) fn start(db: DatabaseConnection) -> Self {
        if db.get_database_backend() != DatabaseBackend::Sqlite {
            return Self::Direct(db);
        }
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_groups(db, queue));
        Self::Grouped(jobs)
    }

    /// Appends `new` to the conversation with the next `seq`; returns once it
    /// is committed.
    pub(crate) async fn append(
        &self,
        conversation_id: Uuid,
        new: Append,
    ) -> Result<message::Model, DbErr> {
        let jobs = match self {
            Self::Direct(db) => return append(db, conversation_id, new).await,
            Self::Grouped(jobs) => jobs,
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            conversation_id,
            new,
            reply,
        };
        jobs.send(job)
            .await
            .map_err(|_| DbErr::Custom("the message writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("the message writer dropped a send".to_owned()))?
    }
}

async fn write_groups(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        if group.len() == 1
            && let Some(job) = group.pop()
        {
            let result = append_alone(&db, &job).await;
            let _ = job.reply.send(result);
            continue;
        }
        match append_group(&db, &group).await {
            Ok(messages) => {
                for (job, message) in group.drain(..).zip(messages) {
                    let _ = job.reply.send(Ok(message));
                }
            }
            // One bad send (a reused client id, a vanished conversation)
            // must not fail the others: redo them one by one, so each gets
            // its own outcome.
            Err(_) => {
                for job in group.drain(..) {
                    let result = append_alone(&db, &job).await;
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

async fn append_alone(db: &DatabaseConnection, job: &Job) -> Result<message::Model, DbErr> {
    let txn = db.begin().await?;
    let message = append_in(&txn, job.conversation_id, job.new.clone()).await?;
    txn.commit().await?;
    Ok(message)
}

async fn append_group(
    db: &DatabaseConnection,
    group: &[Job],
) -> Result<Vec<message::Model>, DbErr> {
    let txn = db.begin().await?;
    let mut messages = Vec::with_capacity(group.len());
    for job in group {
        messages.push(append_in(&txn, job.conversation_id, job.new.clone()).await?);
    }
    txn.commit().await?;
    Ok(messages)
}
