//! Group commit for messages people send.
//!
//! Every send needs its own `seq` and a durable commit. Committed one by one,
//! concurrent sends each pay a commit (an fsync) and queue for the lock that
//! hands out `seq`s: SQLite's single write lock, or on PostgreSQL the
//! conversation's row, held from the increment to the end of the commit.
//! Here a writer task takes every send waiting at that moment and appends
//! them in one transaction: one commit for the group, and no two writers
//! contending. Each sender still hears back only after the commit that
//! holds its message.
//!
//! SQLite has one writer. PostgreSQL takes concurrent writers on separate
//! connections well, and one task would serialise every network round trip,
//! so there sends go to one of a few writers by conversation: a conversation
//! always to the same one, where its sends would queue anyway. There a group
//! is one statement (one round trip, its own transaction) whatever its size;
//! on SQLite, where a statement crosses no network, one per message inside
//! the group's transaction.
//!
//! A writer also announces what it committed, in `seq` order: announced by
//! each sender after its reply, messages of one group would reach the bus in
//! whatever order the senders' tasks ran, and every subscriber seeing a gap
//! would read the database to fill it.

use std::sync::Arc;

use chatshop_entity::message;
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::messages::{Append, append, append_all_postgres, append_in};
use crate::app::{POSTGRES_STATEMENT_BYTES, runs_within};
use crate::events::{Event, EventBus};

/// The most messages one transaction takes: bounds how long the first sender
/// of a group waits for the rest.
const MAX_GROUP: usize = 64;

/// Sends waiting for a writer. Beyond this, senders wait to enqueue.
const QUEUE: usize = 1024;

/// Writers on PostgreSQL: each holds a pooled connection while it writes,
/// so a few, leaving the rest of the pool to reads.
const POSTGRES_WRITERS: usize = 4;

type Reply = oneshot::Sender<Result<message::Model, DbErr>>;

pub(crate) struct Job {
    shop_id: Uuid,
    conversation_id: Uuid,
    new: Append,
    reply: Reply,
}

/// The handle senders use; cheap to clone. The writer task ends when every
/// handle is dropped.
#[derive(Clone)]
pub(crate) enum MessageAppender {
    /// Through the group writers, a conversation always to the same one.
    Grouped(Arc<[mpsc::Sender<Job>]>),
    /// Elsewhere: each send in its own transaction.
    Direct {
        db: DatabaseConnection,
        events: Arc<dyn EventBus>,
    },
}

impl MessageAppender {
    /// Starts the writer on `db` (the write connection) where it pays;
    /// committed messages are announced on `events`.
    pub(crate) fn start(db: DatabaseConnection, events: Arc<dyn EventBus>) -> Self {
        let writers = match db.get_database_backend() {
            DatabaseBackend::Sqlite => 1,
            DatabaseBackend::Postgres => POSTGRES_WRITERS,
            _ => return Self::Direct { db, events },
        };
        let queues = (0..writers)
            .map(|_| {
                let (jobs, queue) = mpsc::channel(QUEUE);
                tokio::spawn(write_groups(db.clone(), events.clone(), queue));
                jobs
            })
            .collect();
        Self::Grouped(queues)
    }

    /// Appends `new` to a conversation of `shop_id` with the next `seq`;
    /// returns once it is committed and announced.
    pub(crate) async fn append(
        &self,
        shop_id: Uuid,
        conversation_id: Uuid,
        new: Append,
    ) -> Result<message::Model, DbErr> {
        let jobs = match self {
            Self::Direct { db, events } => {
                let message = append(db, conversation_id, new).await?;
                announce(events.as_ref(), shop_id, &message).await;
                return Ok(message);
            }
            Self::Grouped(queues) => {
                // The last byte of a UUIDv7 is random.
                let last = conversation_id.as_bytes().last().copied().unwrap_or(0);
                queues
                    .get(usize::from(last) % queues.len())
                    .ok_or_else(|| DbErr::Custom("no message writer".to_owned()))?
            }
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            shop_id,
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

async fn write_groups(
    db: DatabaseConnection,
    events: Arc<dyn EventBus>,
    mut queue: mpsc::Receiver<Job>,
) {
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let mut waiting = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut waiting, MAX_GROUP).await > 0 {
        let jobs = std::mem::take(&mut waiting);
        // On PostgreSQL a group is one statement: a few kilobytes at most.
        let groups = if postgres {
            runs_within(jobs, POSTGRES_STATEMENT_BYTES, Job::statement_bytes)
        } else {
            vec![jobs]
        };
        for group in groups {
            write_group(&db, events.as_ref(), group).await;
        }
    }
}

async fn write_group(db: &DatabaseConnection, events: &dyn EventBus, group: Vec<Job>) {
    // One bad send (a reused client id, a vanished conversation) must not
    // fail the others: when the group fails, each is redone alone below and
    // gets its own outcome.
    if group.len() > 1
        && let Ok(outcomes) = append_group(db, &group).await
    {
        for (job, outcome) in group.into_iter().zip(outcomes) {
            finish(events, job, outcome).await;
        }
        return;
    }
    for job in group {
        // Alone: on PostgreSQL one statement, no transaction around it.
        let result = append(db, job.conversation_id, job.new.clone()).await;
        finish(events, job, result).await;
    }
}

impl Job {
    /// About what this send adds to a group's statement: its text and
    /// keys, and a few hundred bytes of ids and names.
    fn statement_bytes(&self) -> usize {
        let keys = [&self.new.client_message_id, &self.new.request_digest]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum::<usize>();
        self.new.body.len() + keys + 400
    }
}

/// Announces a committed message, then answers its sender.
async fn finish(events: &dyn EventBus, job: Job, result: Result<message::Model, DbErr>) {
    if let Ok(message) = &result {
        announce(events, job.shop_id, message).await;
    }
    let _ = job.reply.send(result);
}

async fn announce(events: &dyn EventBus, shop_id: Uuid, message: &message::Model) {
    events
        .publish(Event::appended(shop_id, message.clone()))
        .await;
}

/// Appends a group in one transaction: all or nothing, except that on
/// PostgreSQL (one statement) a send to a conversation that is gone gets
/// its own error while the rest are written.
async fn append_group(
    db: &DatabaseConnection,
    group: &[Job],
) -> Result<Vec<Result<message::Model, DbErr>>, DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let appends: Vec<(Uuid, &Append)> = group
            .iter()
            .map(|job| (job.conversation_id, &job.new))
            .collect();
        let stored = append_all_postgres(db, &appends).await?;
        return Ok(stored
            .into_iter()
            .map(|stored| stored.ok_or_else(|| DbErr::RecordNotFound("conversation".to_owned())))
            .collect());
    }
    let txn = db.begin().await?;
    let mut messages = Vec::with_capacity(group.len());
    for job in group {
        messages.push(Ok(
            append_in(&txn, job.conversation_id, job.new.clone()).await?
        ));
    }
    txn.commit().await?;
    Ok(messages)
}
