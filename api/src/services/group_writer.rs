//! Group commit for the writes people wait on: messages they send and, on
//! PostgreSQL, the three durable steps of a checkout (placing an order of
//! one line, claiming it for a payment, settling the payment).
//!
//! Every send needs its own `seq` and a durable commit. Committed one by one,
//! concurrent sends each pay a commit (an fsync) and queue for the lock that
//! hands out `seq`s: SQLite's single write lock, or on PostgreSQL the
//! conversation's row, held from the increment to the end of the commit.
//! Here a writer task takes every write of its kind waiting at that moment
//! and writes them in one transaction: one commit for the group, and no two
//! writers contending. Each caller still hears back only after the commit
//! that holds its write.
//!
//! Messages have one writer on both databases. On PostgreSQL, four writers
//! by conversation committed side by side did worse than one committing
//! groups twice the size (16 senders: 4.3–4.6k against 7.2–8.0k sends/s):
//! each commit waits for its own WAL flush. Each checkout step has a writer
//! of its own there. A group is one statement (one round trip, its own
//! transaction) whatever its size: a statement's fixed cost (round trip,
//! planning, commit) is several times a row's (measured with pgbench here:
//! 5.3k one-row inserts/s against 3.5k ten-row ones), so writes that share a
//! statement cost a fraction of what they cost alone. Groups lock the
//! conversations and products they share in id order, so that groups
//! written side by side queue instead of deadlocking. A message group is
//! one statement on SQLite too: a statement there crosses no network, but
//! each goes to the connection's own thread and back, and that hop (two
//! thread wake-ups) costs more than the row.
//!
//! On SQLite the message writer has a thread of its own, and a group's
//! messages are announced and answered while the next group is written.
//! On PostgreSQL, when many are sending at once, the writer waits a moment
//! for the senders it has just answered before writing the next group (see
//! [`gather`]).
//!
//! A writer also announces the messages people sent, in `seq` order:
//! announced by each sender after its reply, messages of one group would
//! reach the bus in whatever order the senders' tasks ran, and every
//! subscriber seeing a gap would read the database to fill it. Orders are
//! announced by their callers, as everywhere else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatshop_entity::{message, order, payment};
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::messages::{Append, append, append_all, append_alone};
use super::orders::Draft;
use super::payments::{ClaimRequest, Settlement};
use crate::app::{POSTGRES_STATEMENT_BYTES, runs_within};
use crate::events::{Event, EventBus};

/// The most writes one transaction takes: bounds how long the first caller
/// of a group waits for the rest.
const MAX_GROUP: usize = 64;

/// Writes waiting for a writer. Beyond this, callers wait to enqueue.
const QUEUE: usize = 1024;

type Reply<T> = oneshot::Sender<Result<T, DbErr>>;

/// Where writes of one kind wait for their writer, each with its reply.
type Queue<I, O> = mpsc::Sender<(I, Reply<O>)>;

/// An order and the message its step posted.
pub(crate) type Posted = (order::Model, message::Model);

/// The handle callers use; cheap to clone. The writer tasks end when every
/// handle is dropped.
#[derive(Clone)]
pub(crate) enum GroupWriter {
    /// Through the group writers: messages to one; on PostgreSQL, each
    /// checkout step to its own.
    Grouped {
        sends: mpsc::Sender<MessageSend>,
        checkout: Option<Arc<CheckoutQueues>>,
    },
    /// Elsewhere: each send in its own transaction.
    Direct {
        db: DatabaseConnection,
        events: Arc<dyn EventBus>,
    },
}

/// PostgreSQL: a writer for each checkout step, each taking whatever is
/// waiting as one statement. The three run side by side: a step waits only
/// for the statement of its own kind before it.
pub(crate) struct CheckoutQueues {
    places: Queue<Draft, Option<Posted>>,
    claims: Queue<ClaimRequest, Option<(order::Model, payment::Model)>>,
    settlements: Queue<Settlement, Option<Posted>>,
}

impl GroupWriter {
    /// Starts the writers on `db` (the write connection) where they pay;
    /// sent messages are announced on `events`.
    pub(crate) fn start(db: DatabaseConnection, events: Arc<dyn EventBus>) -> Self {
        let (sends, queue) = mpsc::channel(QUEUE);
        let writer = write_sends(db.clone(), events.clone(), queue);
        match db.get_database_backend() {
            DatabaseBackend::Sqlite => spawn_on_own_thread(writer),
            // Its statements wait on the network, and the server's runtime
            // drives the connections' sockets.
            DatabaseBackend::Postgres => {
                tokio::spawn(writer);
            }
            _ => return Self::Direct { db, events },
        }
        let checkout = (db.get_database_backend() == DatabaseBackend::Postgres).then(|| {
            Arc::new(CheckoutQueues {
                places: spawn_writer(&db),
                claims: spawn_writer(&db),
                settlements: spawn_writer(&db),
            })
        });
        Self::Grouped { sends, checkout }
    }

    /// Appends `new` to a conversation of `shop_id` with the next `seq`;
    /// returns once it is committed and announced.
    pub(crate) async fn append(
        &self,
        shop_id: Uuid,
        conversation_id: Uuid,
        new: Append,
    ) -> Result<message::Model, DbErr> {
        let queue = match self {
            Self::Direct { db, events } => {
                let message = append(db, conversation_id, new).await?;
                announce(events.as_ref(), shop_id, &message).await;
                return Ok(message);
            }
            Self::Grouped { sends, .. } => sends,
        };
        let (reply, answer) = oneshot::channel();
        let send = MessageSend {
            shop_id,
            conversation_id,
            new,
            reply,
        };
        queue.send(send).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Whether the checkout steps below are grouped (on PostgreSQL).
    pub(crate) fn groups_checkout(&self) -> bool {
        self.checkout().is_some()
    }

    fn checkout(&self) -> Option<&CheckoutQueues> {
        match self {
            Self::Grouped {
                checkout: Some(checkout),
                ..
            } => Some(checkout),
            _ => None,
        }
    }

    /// Records an order of one line, as [`record_one_lines`] does; only
    /// where [`Self::groups_checkout`].
    pub(crate) async fn place(&self, draft: Draft) -> Result<Option<Posted>, DbErr> {
        let queues = self.checkout().ok_or_else(ungrouped)?;
        write(&queues.places, draft).await
    }

    /// Claims an order for a first attempt, as [`claim_first_attempts`]
    /// does; only where [`Self::groups_checkout`].
    pub(crate) async fn claim(
        &self,
        claim: ClaimRequest,
    ) -> Result<Option<(order::Model, payment::Model)>, DbErr> {
        let queues = self.checkout().ok_or_else(ungrouped)?;
        write(&queues.claims, claim).await
    }

    /// Records a successful charge, as [`settle_all`] does; only where
    /// [`Self::groups_checkout`].
    pub(crate) async fn settle(&self, settlement: Settlement) -> Result<Option<Posted>, DbErr> {
        let queues = self.checkout().ok_or_else(ungrouped)?;
        write(&queues.settlements, settlement).await
    }
}

/// Runs SQLite's message writer on a thread of its own. Every send waits for
/// it, one group at a time, so the moment a group is written the writer
/// must start the next, not wait its turn behind the requests a tokio
/// worker is busy with (16 senders: 9.2–9.4k → 8.4–11.7k sends/s, median
/// 10.0k). Falls back to a task when no thread can be had.
fn spawn_on_own_thread(writer: impl Future<Output = ()> + Send + 'static) {
    let server = tokio::runtime::Handle::current();
    // The writer goes to the thread once it exists, so that a failed spawn
    // still has it to run as a task.
    let (start, started) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("chatshop-writer".to_owned())
        .spawn(move || {
            let Ok(writer) = started.recv() else { return };
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(writer),
                Err(err) => {
                    tracing::warn!(error = %err, "no runtime for the message writer; it shares the server's");
                    server.spawn(writer);
                }
            }
        });
    match thread {
        Ok(_) => {
            let _ = start.send(writer);
        }
        Err(err) => {
            tracing::warn!(error = %err, "no thread for the message writer; it shares the server's");
            tokio::spawn(writer);
        }
    }
}

fn stopped() -> DbErr {
    DbErr::Custom("a group writer has stopped".to_owned())
}

fn ungrouped() -> DbErr {
    DbErr::Custom("checkout steps are grouped on PostgreSQL only".to_owned())
}

/// Queues `input` for its writer and waits for the outcome.
async fn write<I, O>(queue: &Queue<I, O>, input: I) -> Result<O, DbErr> {
    let (reply, answer) = oneshot::channel();
    queue.send((input, reply)).await.map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

/// A write that groups with others of its kind into one statement (each
/// kind implements it beside its statement).
pub(crate) trait GroupedWrite: Sized + Send + Sync + 'static {
    /// What each write gets back (`None`: nothing was written for it).
    type Written: Send + 'static;

    /// About what this write adds to a group's statement, in bytes.
    fn statement_bytes(&self) -> usize;

    /// Writes a group in one statement, each write's outcome in order.
    fn write_all(
        db: &DatabaseConnection,
        group: &[Self],
    ) -> impl Future<Output = Result<Vec<Option<Self::Written>>, DbErr>> + Send;
}

/// Starts a writer that takes whatever writes of a kind are waiting and
/// writes them (see [`write_all`]).
fn spawn_writer<W: GroupedWrite>(db: &DatabaseConnection) -> Queue<W, Option<W::Written>> {
    let (inputs, mut queue) = mpsc::channel(QUEUE);
    let db = db.clone();
    tokio::spawn(async move {
        let mut waiting = Vec::with_capacity(MAX_GROUP);
        while queue.recv_many(&mut waiting, MAX_GROUP).await > 0 {
            write_all(&db, std::mem::take(&mut waiting)).await;
        }
    });
    inputs
}

/// A message to append, as a group writer holds it.
pub(crate) struct MessageSend {
    shop_id: Uuid,
    conversation_id: Uuid,
    new: Append,
    reply: Reply<message::Model>,
}

/// Written sends of one group, each with its outcome, in `seq` order.
type Written = Vec<(MessageSend, Result<message::Model, DbErr>)>;

/// Groups written and not yet announced. The writer goes on to its next
/// group while the last one is announced and answered.
const FINISHING: usize = 64;

async fn write_sends(
    db: DatabaseConnection,
    events: Arc<dyn EventBus>,
    mut queue: mpsc::Receiver<MessageSend>,
) {
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let (finished, to_finish) = mpsc::channel(FINISHING);
    let finisher = tokio::spawn(finish_sends(events, to_finish));
    let mut waiting = Vec::with_capacity(MAX_GROUP);
    // How many senders the next group may expect (see `gather`).
    let mut expected = 0;
    let mut last_write = Duration::ZERO;
    while queue.recv_many(&mut waiting, MAX_GROUP).await > 0 {
        if postgres {
            gather(&mut queue, &mut waiting, expected, last_write).await;
        }
        let sends = std::mem::take(&mut waiting);
        let group_size = sends.len();
        let started = Instant::now();
        // On PostgreSQL a group is one statement: a few kilobytes at most.
        let groups = if postgres {
            runs_within(
                sends,
                POSTGRES_STATEMENT_BYTES,
                MessageSend::statement_bytes,
            )
        } else {
            vec![sends]
        };
        for group in groups {
            let written = write_send_group(&db, group).await;
            if finished.send(written).await.is_err() {
                return;
            }
        }
        last_write = started.elapsed();
        // The senders just written are about to be answered; in a closed
        // loop they come back, beside those that queued meanwhile.
        expected = group_size + queue.len();
    }
    // Every handle is gone: answer what was written before stopping.
    drop(finished);
    let _ = finisher.await;
}

/// Below this many senders at once, a group goes as soon as one is waiting.
const GATHER_FROM: usize = 4;

/// The longest a group waits for senders to come back.
const MAX_GATHER: Duration = Duration::from_millis(2);

/// PostgreSQL: waits a little for the senders a group may expect, when
/// many are sending at once. Those answered a moment ago send again while
/// the next group is written: without waiting, half of 16 closed-loop
/// senders rode each group while the other half came back, and every group
/// paid a statement's fixed cost (round trip, executor, commit and WAL
/// flush) for half of them. Waiting for them makes groups of all 16 and
/// takes a third of the CPU time PostgreSQL spends on a send. The wait ends
/// when `expected` are waiting, or after half the last write's time (the
/// timer counts whole milliseconds, so up to one more), and a lone sender
/// never waits. On SQLite a group's fixed cost is small and its writer
/// overlaps the next group with answering the last: waiting there made
/// fewer sends.
async fn gather<T>(
    queue: &mut mpsc::Receiver<T>,
    waiting: &mut Vec<T>,
    expected: usize,
    last_write: Duration,
) {
    let expected = expected.min(MAX_GROUP);
    if expected < GATHER_FROM || waiting.len() >= expected {
        return;
    }
    let deadline = tokio::time::Instant::now() + last_write.min(MAX_GATHER) / 2;
    while waiting.len() < expected {
        let more = expected - waiting.len();
        match tokio::time::timeout_at(deadline, queue.recv_many(waiting, more)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Announces each written group's messages in order, at once (a broker
/// across instances sends them together), then answers their senders.
async fn finish_sends(events: Arc<dyn EventBus>, mut written: mpsc::Receiver<Written>) {
    while let Some(group) = written.recv().await {
        let appended = group
            .iter()
            .filter_map(|(send, outcome)| {
                let message = outcome.as_ref().ok()?;
                Some(Event::appended(send.shop_id, message.clone()))
            })
            .collect();
        events.publish_all(appended).await;
        for (send, outcome) in group {
            let _ = send.reply.send(outcome);
        }
    }
}

/// Writes `jobs` of one kind, in groups of at most
/// [`POSTGRES_STATEMENT_BYTES`] (see [`write_halving`]).
async fn write_all<W: GroupedWrite>(
    db: &DatabaseConnection,
    jobs: Vec<(W, Reply<Option<W::Written>>)>,
) {
    for group in runs_within(jobs, POSTGRES_STATEMENT_BYTES, |(write, _)| {
        write.statement_bytes()
    }) {
        let (writes, replies): (Vec<W>, Vec<_>) = group.into_iter().unzip();
        let outcomes = write_halving(db, &writes).await;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
}

/// Writes a group in one statement, and each write gets its outcome, in
/// order. One bad write (a key used before) must not fail the others, and
/// fails the group's statement as a whole: a group that fails is written
/// again in halves, down to single writes, which get their own error. One
/// bad write among 64 costs a dozen statements, not 64, while every other
/// write of its kind waits.
async fn write_halving<W: GroupedWrite>(
    db: &DatabaseConnection,
    writes: &[W],
) -> Vec<Result<Option<W::Written>, DbErr>> {
    let mut outcomes = Vec::with_capacity(writes.len());
    // Depth first, the left half first: outcomes come out in order.
    let mut pending = vec![writes];
    while let Some(group) = pending.pop() {
        match W::write_all(db, group).await {
            Ok(written) => outcomes.extend(written.into_iter().map(Ok)),
            Err(err) if group.len() <= 1 => outcomes.push(Err(err)),
            Err(_) => {
                let (left, right) = group.split_at(group.len() / 2);
                pending.push(right);
                pending.push(left);
            }
        }
    }
    outcomes
}

async fn write_send_group(db: &DatabaseConnection, group: Vec<MessageSend>) -> Written {
    let outcomes = write_halving(db, &group).await;
    group
        .into_iter()
        .zip(outcomes)
        .map(|(send, outcome)| {
            let outcome = outcome.and_then(|stored| {
                stored.ok_or_else(|| DbErr::RecordNotFound("conversation".to_owned()))
            });
            (send, outcome)
        })
        .collect()
}

/// A message group is one statement, as the checkout steps' are; a send to
/// a conversation that is gone gets `None` while the rest are written.
impl GroupedWrite for MessageSend {
    type Written = message::Model;

    /// Its text and keys, and a few hundred bytes of ids and names.
    fn statement_bytes(&self) -> usize {
        let keys = [&self.new.client_message_id, &self.new.request_digest]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum::<usize>();
        self.new.body.len() + keys + 400
    }

    async fn write_all(
        db: &DatabaseConnection,
        group: &[Self],
    ) -> Result<Vec<Option<message::Model>>, DbErr> {
        if let [send] = group {
            // Alone: the statement made for one message, a little cheaper.
            return match append_alone(db, send.conversation_id, send.new.clone()).await {
                Ok(message) => Ok(vec![Some(message)]),
                Err(DbErr::RecordNotFound(_)) => Ok(vec![None]),
                Err(err) => Err(err),
            };
        }
        let appends: Vec<(Uuid, &Append)> = group
            .iter()
            .map(|send| (send.conversation_id, &send.new))
            .collect();
        append_all(db, &appends).await
    }
}

async fn announce(events: &dyn EventBus, shop_id: Uuid, message: &message::Model) {
    events
        .publish(Event::appended(shop_id, message.clone()))
        .await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

    /// A write that fails its whole statement when it is `bad`.
    struct Probe {
        value: usize,
        bad: bool,
    }

    impl GroupedWrite for Probe {
        type Written = usize;

        fn statement_bytes(&self) -> usize {
            1
        }

        async fn write_all(
            _db: &DatabaseConnection,
            group: &[Self],
        ) -> Result<Vec<Option<usize>>, DbErr> {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
            if group.iter().any(|write| write.bad) {
                return Err(DbErr::Custom("a key used before".to_owned()));
            }
            Ok(group.iter().map(|write| Some(write.value)).collect())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_waits_for_the_senders_it_expects_and_no_longer() {
        let (senders, mut queue) = mpsc::channel(64);
        let last_write = Duration::from_millis(2);
        // Two are waiting; the other six of eight come back while it waits.
        let mut waiting = vec![0, 1];
        let late = senders.clone();
        tokio::spawn(async move {
            for n in 2..8 {
                tokio::task::yield_now().await;
                late.send(n).await.expect("queued");
            }
        });
        gather(&mut queue, &mut waiting, 8, last_write).await;
        assert_eq!(waiting, (0..8).collect::<Vec<_>>());

        // Only two of the eight expected come back: the group goes at the
        // deadline with what it has.
        let mut waiting = vec![10];
        senders.send(11).await.expect("queued");
        let started = tokio::time::Instant::now();
        gather(&mut queue, &mut waiting, 8, last_write).await;
        assert_eq!(waiting, [10, 11]);
        assert!(started.elapsed() >= last_write / 2);
        assert!(started.elapsed() < last_write * 2);

        // Few senders: no wait at all, whatever the last write took.
        senders.send(21).await.expect("queued");
        let mut waiting = vec![20];
        let started = tokio::time::Instant::now();
        gather(&mut queue, &mut waiting, GATHER_FROM - 1, last_write).await;
        assert_eq!(waiting, [20]);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_failed_group_is_written_again_in_halves_and_keeps_its_order() {
        let writes: Vec<Probe> = (0..64)
            .map(|value| Probe {
                value,
                bad: value == 37,
            })
            .collect();
        let outcomes = write_halving(&DatabaseConnection::default(), &writes).await;
        assert_eq!(outcomes.len(), 64);
        for (value, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(written) => assert_eq!(written, Some(value)),
                Err(_) => assert_eq!(value, 37, "only the bad write fails"),
            }
        }
        // The group, then two halves at each of six levels: 13 statements,
        // where one at a time would take 65.
        assert_eq!(STATEMENTS.load(Ordering::SeqCst), 13);
    }
}
