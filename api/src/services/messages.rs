//! Messages: sending (idempotent, gapless `seq`), history, receipts.

use chatshop_entity::enums::{AuthorKind, DeliveryStatus, MessageCategory, MessageKind};
use chatshop_entity::{message, product};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Iterable,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::conversations::{self, Side};
use super::{array, columns_as, is_unique_violation, new_id};
use crate::Error;
use crate::auth::Actor;
use crate::domain::page::{Direction, Page, PageRequest};
use crate::events::{Event, EventBus};

/// Longest message text: a long chat message, far below a DoS.
pub const MAX_TEXT_CHARS: usize = 4_096;
/// Longest client-supplied message id.
const MAX_CLIENT_ID_CHARS: usize = 128;
/// Most messages one replay or range query returns at once.
pub const MAX_BATCH: u64 = 200;

/// A message to send (raw input).
#[derive(Debug, Default)]
pub struct NewMessage {
    /// The conversation.
    pub conversation_id: Uuid,
    /// The sender's idempotency key.
    pub client_message_id: Option<String>,
    /// The text.
    pub text: Option<String>,
    /// A product of the conversation's shop to show as a card.
    pub product_id: Option<Uuid>,
    /// Billing category (business messages only; default `SERVICE`).
    pub category: Option<MessageCategory>,
}

/// Appends a message to a conversation with the next `seq`.
///
/// The `seq` comes from the conversation's counter in the same statement
/// as the insert: concurrent senders queue on the conversation's row
/// (PostgreSQL) or the write lock (SQLite) and each gets its own number; a
/// rolled-back send rolls its number back too, so there are no gaps.
///
/// # Errors
/// `NOT_FOUND` for non-participants; `BAD_USER_INPUT` for invalid text, an
/// unknown product, or a category on a customer message; `CONFLICT` when the
/// client id was used for a different message.
pub(crate) async fn send(
    db: &impl ConnectionTrait,
    group_writer: &super::group_writer::GroupWriter,
    participations: &conversations::Participations,
    actor: &Actor,
    input: NewMessage,
) -> Result<message::Model, Error> {
    let conversation = participations
        .participation(db, actor, input.conversation_id)
        .await?;
    let side = conversation.side;
    let text = check_text(input.text.as_deref(), input.product_id.is_some())?;
    let client_id = input
        .client_message_id
        .as_deref()
        .map(check_client_id)
        .transpose()?;
    if let Some(product_id) = input.product_id {
        let product = product::Entity::find_by_id(product_id).one(db).await?;
        if product.is_none_or(|p| p.shop_id != conversation.shop_id || p.archived) {
            return Err(Error::invalid(
                "input.productId",
                "no product of this shop with this id",
            ));
        }
    }
    let (author_kind, category) = match side {
        Side::Customer if input.category.is_some() => {
            return Err(Error::invalid(
                "input.category",
                "only business messages carry a billing category",
            ));
        }
        Side::Customer => (AuthorKind::Customer, None),
        Side::Business(_) => (
            AuthorKind::Agent,
            Some(input.category.unwrap_or(MessageCategory::Service)),
        ),
    };
    if category == Some(MessageCategory::Marketing)
        && chatshop_entity::marketing_opt_out::Entity::find_by_id((
            conversation.customer_id,
            conversation.shop_id,
        ))
        .one(db)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(
            "the customer opted out of this shop's marketing messages",
        ));
    }
    let kind = if input.product_id.is_some() {
        MessageKind::ProductReference
    } else {
        MessageKind::Text
    };
    let digest = request_digest(&text, input.product_id, category);
    let author_id = actor.user_id()?;

    let appended = group_writer
        .append(
            conversation.shop_id,
            conversation.conversation_id,
            Append {
                author_kind,
                author_id: Some(author_id),
                kind,
                body: text,
                product_id: input.product_id,
                order_id: None,
                category,
                client_message_id: client_id.clone(),
                request_digest: Some(digest.clone()),
            },
        )
        .await;
    match appended {
        // The group writer has announced it already, in seq order.
        Ok(message) => Ok(message),
        Err(err) if is_unique_violation(&err) && client_id.is_some() => {
            // The client id was used before: a retry gets the same message
            // back; a different message with the same id is a conflict.
            let existing = message::Entity::find()
                .filter(message::Column::ConversationId.eq(conversation.conversation_id))
                .filter(message::Column::ClientMessageId.eq(client_id))
                .one(db)
                .await?
                .ok_or_else(|| Error::internal("message vanished after a unique violation"))?;
            if existing.request_digest.as_deref() == Some(digest.as_str())
                && existing.author_id == Some(author_id)
            {
                Ok(existing)
            } else {
                Err(Error::Conflict(
                    "this clientMessageId was already used for a different message",
                ))
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// A message about to be appended (by a person or by the system).
#[derive(Clone)]
pub(crate) struct Append {
    pub author_kind: AuthorKind,
    pub author_id: Option<Uuid>,
    pub kind: MessageKind,
    pub body: String,
    pub product_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
    pub category: Option<MessageCategory>,
    pub client_message_id: Option<String>,
    pub request_digest: Option<String>,
}

/// Takes the next `seq` and inserts the message, atomically, in one
/// statement (inside the caller's transaction, if it is one).
pub(crate) async fn append(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    new: Append,
) -> Result<message::Model, sea_orm::DbErr> {
    append_in(db, conversation_id, new).await
}

/// Takes the next `seq` and inserts the message inside the caller's
/// transaction; the caller commits.
///
/// One statement on both databases, so an append costs one round trip:
/// on PostgreSQL a data-modifying CTE increments the conversation's
/// `last_seq` and inserts with it; on SQLite the insert reads `last_seq + 1`
/// from the conversation, and a trigger moves the conversation along (see
/// the `message_seq_trigger` migration). When the conversation is gone,
/// nothing is inserted.
pub(crate) async fn append_in(
    txn: &impl ConnectionTrait,
    conversation_id: Uuid,
    new: Append,
) -> Result<message::Model, sea_orm::DbErr> {
    let backend = txn.get_database_backend();
    let statement = sea_orm::Statement::from_sql_and_values(
        backend,
        append_sql(backend),
        append_values(conversation_id, new),
    );
    let row = txn.query_one_raw(statement).await?;
    appended(row.as_ref())
}

/// [`append_in`] on its own, as the message writer appends a lone send, on
/// the pool (see [`super::query_pooled`]).
pub(crate) async fn append_alone(
    db: &sea_orm::DatabaseConnection,
    conversation_id: Uuid,
    new: Append,
) -> Result<message::Model, sea_orm::DbErr> {
    let sql = append_sql(db.get_database_backend());
    let rows = super::query_pooled(
        db,
        sql,
        append_values(conversation_id, new),
        super::Rows::AtMostOne,
    )
    .await?;
    appended(rows.first())
}

/// The statement [`append_in`] runs on `backend`.
fn append_sql(backend: DbBackend) -> &'static str {
    // SQLite hands out `seq`s under its single write lock, which the insert
    // holds from the read of `last_seq` to the end of the transaction.
    static SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO messages ({MESSAGE_COLUMNS}) \
            SELECT ?3, ?2, last_seq + 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
                NULL, NULL, NULL, ?1 FROM conversations WHERE id = ?2 \
            RETURNING {MESSAGE_COLUMNS}"
        )
    });
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("WITH {} SELECT * FROM appended", postgres_append(1, None))
    });
    if backend == DbBackend::Postgres {
        POSTGRES.as_str()
    } else {
        SQLITE.as_str()
    }
}

/// The message an append returned; the conversation is gone without one.
fn appended(row: Option<&sea_orm::QueryResult>) -> Result<message::Model, sea_orm::DbErr> {
    let row = row.ok_or_else(|| sea_orm::DbErr::RecordNotFound("conversation".to_owned()))?;
    message_in_order(row)
}

/// Appends several messages, to one or several conversations, in one
/// statement: one round trip and one commit for the lot, with `seq`s handed
/// out in the order given. Returns each message, or `None` where its
/// conversation is gone. Fails as a whole (nothing is written) when any
/// insert fails, a reused client id for instance.
///
/// The statement is the same whatever the group's size. On PostgreSQL the
/// messages travel as arrays, one a column (see [`postgres_group_values`]);
/// on SQLite as one JSON array of [`append_record`]s, and each
/// conversation's next `seq`s are read and numbered before the first insert
/// (a materialised expression), and the `message_seq_trigger` moves the
/// conversation along row by row.
pub(crate) async fn append_all(
    db: &sea_orm::DatabaseConnection,
    group: &[(Uuid, &Append)],
) -> Result<Vec<Option<message::Model>>, sea_orm::DbErr> {
    // The writer counts each conversation's messages and numbers them
    // (`k`, from 1) before it binds them: PostgreSQL only adds each
    // conversation's count to its `last_seq`, and a message's `seq` is the
    // conversation's `last_seq` before plus its `k`.
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH conversations_locked AS ( \
                SELECT id FROM conversations WHERE id = ANY($1::uuid[]) \
                ORDER BY id FOR NO KEY UPDATE), \
            bumped AS ( \
                UPDATE conversations AS c SET last_seq = c.last_seq + counted.k, \
                    last_message_at = $15, updated_at = $15 \
                FROM unnest($1::uuid[], $2::int[]) AS counted(id, k) \
                JOIN conversations_locked ON conversations_locked.id = counted.id \
                WHERE c.id = counted.id \
                RETURNING c.id, c.last_seq - counted.k AS seq_before) \
            INSERT INTO messages ({MESSAGE_COLUMNS}) \
            SELECT i.id, i.conversation_id, bumped.seq_before + i.k, i.author_kind, \
                NULLIF(i.author_id, '{none}'), i.kind, i.body, NULLIF(i.product_id, '{none}'), \
                NULLIF(i.order_id, '{none}'), NULLIF(i.category, ''), \
                NULLIF(i.client_message_id, ''), NULLIF(i.request_digest, ''), '{sent}', \
                NULL, NULL, NULL, $15 \
            FROM unnest($3::int[], $4::uuid[], $5::uuid[], $6::text[], $7::uuid[], $8::text[], \
                $9::text[], $10::uuid[], $11::uuid[], $12::text[], $13::text[], $14::text[]) \
                AS i(k, id, conversation_id, author_kind, author_id, kind, body, product_id, \
                    order_id, category, client_message_id, request_digest) \
            JOIN bumped ON bumped.id = i.conversation_id \
            RETURNING {MESSAGE_COLUMNS}",
            none = Uuid::nil(),
            sent = DeliveryStatus::Sent.to_value(),
        )
    });
    static SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH input AS MATERIALIZED ( \
                SELECT j.key AS n, j.value ->> 'conversation_id' AS conversation_id, j.value AS v \
                FROM json_each(?1) AS j), \
            numbered AS MATERIALIZED ( \
                SELECT input.n, unhex(v ->> 'id', '-') AS id, c.id AS conversation_id, \
                    c.last_seq + row_number() OVER (PARTITION BY c.id ORDER BY input.n) AS seq, \
                    v ->> 'author_kind' AS author_kind, unhex(v ->> 'author_id', '-') AS author_id, \
                    v ->> 'kind' AS kind, v ->> 'body' AS body, \
                    unhex(v ->> 'product_id', '-') AS product_id, \
                    unhex(v ->> 'order_id', '-') AS order_id, v ->> 'category' AS category, \
                    v ->> 'client_message_id' AS client_message_id, \
                    v ->> 'request_digest' AS request_digest \
                FROM input JOIN conversations AS c ON c.id = unhex(input.conversation_id, '-')) \
            INSERT INTO messages ({MESSAGE_COLUMNS}) \
            SELECT id, conversation_id, seq, author_kind, author_id, kind, body, product_id, \
                order_id, category, client_message_id, request_digest, '{sent}', NULL, NULL, \
                NULL, ?2 \
            FROM numbered ORDER BY n \
            RETURNING {MESSAGE_COLUMNS}",
            sent = DeliveryStatus::Sent.to_value(),
        )
    });
    let backend = db.get_database_backend();
    let ids: Vec<Uuid> = group.iter().map(|_| new_id()).collect();
    let now = chrono::Utc::now();
    let (sql, values) = if backend == DbBackend::Postgres {
        (POSTGRES.as_str(), postgres_group_values(group, &ids, now))
    } else {
        let input: Vec<AppendRecord<'_>> = group
            .iter()
            .zip(&ids)
            .enumerate()
            .map(|(n, ((conversation_id, new), id))| append_record(n, *id, *conversation_id, new))
            .collect();
        (
            SQLITE.as_str(),
            vec![append_records_json(&input)?, now.into()],
        )
    };
    let rows = super::query_pooled(db, sql, values, super::Rows::All).await?;
    let mut stored = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let message = message_in_order(row)?;
        stored.insert(message.id, message);
    }
    Ok(ids.iter().map(|id| stored.remove(id)).collect())
}

/// PostgreSQL: the values of [`append_all`]'s statement: the group's
/// conversations, each once, with how many messages it gets; the group's
/// columns as arrays, led by each message's place among its conversation's
/// (`k`, from 1); and the time. The planner knows how many rows arrays hold
/// (a JSON record set counts as 100 to it, and it sized its joins for that),
/// and reading them is cheaper than parsing JSON (16 senders: PostgreSQL's
/// CPU per send 4–10 % lower, and 2–9 % more sends in six of eight
/// alternated runs). Counting and numbering here leaves PostgreSQL no
/// grouping, window or sort to run. Arrays of nullable values do not bind,
/// so a missing value travels as one no message has: the nil UUID for an
/// id, the empty string for a text (client ids, digests and categories are
/// never empty).
fn postgres_group_values(
    group: &[(Uuid, &Append)],
    ids: &[Uuid],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<sea_orm::Value> {
    // A group holds at most a few dozen messages: a list beats a map.
    let mut counted: Vec<(Uuid, i32)> = Vec::new();
    let places: Vec<i32> = group
        .iter()
        .map(|(conversation_id, _)| {
            match counted.iter_mut().find(|(id, _)| id == conversation_id) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    counted.push((*conversation_id, 1));
                    1
                }
            }
        })
        .collect();
    let column = |value: fn(&Append) -> Uuid| array(group.iter().map(|(_, new)| value(new)));
    let text = |value: fn(&Append) -> String| array(group.iter().map(|(_, new)| value(new)));
    vec![
        array(counted.iter().map(|(id, _)| *id)),
        array(counted.iter().map(|(_, count)| *count)),
        places.into(),
        array(ids.iter().copied()),
        array(group.iter().map(|(conversation_id, _)| *conversation_id)),
        text(|new| new.author_kind.to_value()),
        column(|new| new.author_id.unwrap_or_default()),
        text(|new| new.kind.to_value()),
        text(|new| new.body.clone()),
        column(|new| new.product_id.unwrap_or_default()),
        column(|new| new.order_id.unwrap_or_default()),
        text(|new| new.category.map(|c| c.to_value()).unwrap_or_default()),
        text(|new| new.client_message_id.clone().unwrap_or_default()),
        text(|new| new.request_digest.clone().unwrap_or_default()),
        now.into(),
    ]
}

/// The columns of a message to append as JSON records travel them (see
/// [`append_record`]): `n` orders them. Arrays of nullable values do not
/// bind, and one JSON parameter keeps a statement the same whatever the
/// group's size.
pub(crate) const APPEND_RECORD: &str = "n int, id uuid, conversation_id uuid, author_kind text, \
    author_id uuid, kind text, body text, product_id uuid, order_id uuid, category text, \
    client_message_id text, request_digest text";

/// A message to append, as the JSON record [`APPEND_RECORD`] describes;
/// a group's records go as one array (see [`append_records_json`]).
#[derive(serde::Serialize)]
pub(crate) struct AppendRecord<'a> {
    n: usize,
    id: Uuid,
    conversation_id: Uuid,
    author_kind: String,
    author_id: Option<Uuid>,
    kind: String,
    body: &'a str,
    product_id: Option<Uuid>,
    order_id: Option<Uuid>,
    category: Option<String>,
    client_message_id: Option<&'a str>,
    request_digest: Option<&'a str>,
}

/// The record of message `n` of a group, to append with `id`.
pub(crate) fn append_record(
    n: usize,
    id: Uuid,
    conversation_id: Uuid,
    new: &Append,
) -> AppendRecord<'_> {
    AppendRecord {
        n,
        id,
        conversation_id,
        author_kind: new.author_kind.to_value(),
        author_id: new.author_id,
        kind: new.kind.to_value(),
        body: &new.body,
        product_id: new.product_id,
        order_id: new.order_id,
        category: new.category.map(|c| c.to_value()),
        client_message_id: new.client_message_id.as_deref(),
        request_digest: new.request_digest.as_deref(),
    }
}

/// A group's records as the JSON array its statement binds. Written
/// straight from the records: built as a JSON value first, a group cost its
/// writer twice the work.
pub(crate) fn append_records_json(
    records: &[AppendRecord<'_>],
) -> Result<sea_orm::Value, sea_orm::DbErr> {
    serde_json::to_string(records)
        .map(Into::into)
        .map_err(|err| sea_orm::DbErr::Custom(format!("a group's messages as JSON: {err}")))
}

/// PostgreSQL: the common table expressions that append the messages of
/// `source` (an earlier expression with the columns of [`APPEND_RECORD`]),
/// each conversation's in `n` order after its last `seq`, at the time bound
/// as `$now`; `appended` holds the stored messages. Conversations are locked
/// in one order (by id), so that groups written side by side (messages,
/// orders, payments) queue for the conversations they share instead of
/// deadlocking.
pub(crate) fn postgres_append_many(source: &str, now: usize) -> String {
    format!(
        "counts AS (SELECT conversation_id, count(*) AS k FROM {source} GROUP BY conversation_id), \
        conversations_locked AS ( \
            SELECT id FROM conversations WHERE id IN (SELECT conversation_id FROM counts) \
            ORDER BY id FOR NO KEY UPDATE), \
        bumped AS ( \
            UPDATE conversations AS c SET last_seq = c.last_seq + counts.k, \
                last_message_at = ${now}, updated_at = ${now} \
            FROM counts JOIN conversations_locked ON conversations_locked.id = counts.conversation_id \
            WHERE c.id = counts.conversation_id \
            RETURNING c.id, c.last_seq, counts.k), \
        numbered AS ( \
            SELECT {source}.*, bumped.last_seq - bumped.k \
                + row_number() OVER (PARTITION BY {source}.conversation_id ORDER BY {source}.n) AS seq \
            FROM {source} JOIN bumped ON bumped.id = {source}.conversation_id), \
        appended AS ( \
            INSERT INTO messages ({MESSAGE_COLUMNS}) \
            SELECT id, conversation_id, seq, author_kind, author_id, kind, body, product_id, \
                order_id, category, client_message_id, request_digest, '{sent}', NULL, NULL, \
                NULL, ${now} \
            FROM numbered ORDER BY n \
            RETURNING {MESSAGE_COLUMNS})",
        sent = DeliveryStatus::Sent.to_value(),
    )
}

/// The 13 values an append binds, in the order of [`postgres_append`]'s
/// parameters (and of `append_in`'s SQLite statement).
pub(crate) fn append_values(conversation_id: Uuid, new: Append) -> Vec<sea_orm::Value> {
    vec![
        chrono::Utc::now().into(),
        conversation_id.into(),
        new_id().into(),
        new.author_kind.to_value().into(),
        new.author_id.into(),
        new.kind.to_value().into(),
        new.body.into(),
        new.product_id.into(),
        new.order_id.into(),
        new.category.map(|c| c.to_value()).into(),
        new.client_message_id.into(),
        new.request_digest.into(),
        DeliveryStatus::Sent.to_value().into(),
    ]
}

/// PostgreSQL: two common table expressions that append a message, for a
/// statement that does more in the same round trip. `next_seq` takes the
/// conversation's next `seq`, `appended` inserts the message (and returns
/// it). The [`append_values`] are bound from parameter `$first` on. With a
/// `guard` (the name of an earlier expression), nothing is appended unless
/// the guard returned a row.
pub(crate) fn postgres_append(first: usize, guard: Option<&str>) -> String {
    let guard = guard.map_or_else(String::new, |g| format!(" AND EXISTS (SELECT 1 FROM {g})"));
    // `$first` is the time, then the conversation, the new id, and the
    // columns from `author_kind` to `status`.
    let (now, conversation, id) = (first, first + 1, first + 2);
    let rest = (first + 3..first + 13)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "next_seq AS ( \
            UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ${now}, \
                updated_at = ${now} \
            WHERE id = ${conversation}{guard} RETURNING last_seq), \
        appended AS ( \
            INSERT INTO messages ({MESSAGE_COLUMNS}) \
            SELECT ${id}, ${conversation}, next_seq.last_seq, {rest}, NULL, NULL, NULL, ${now} \
            FROM next_seq RETURNING {MESSAGE_COLUMNS})"
    )
}

/// The columns of [`postgres_append`]'s `appended`, each renamed with
/// `prefix`, for a statement that returns the message beside other rows
/// (read back with `message::Model::from_query_result(row, prefix)`).
pub(crate) fn appended_columns(prefix: &str) -> String {
    columns_as::<message::Entity>("appended", prefix)
}

/// The columns of `messages`, in the order [`message_in_order`] reads them
/// (the order of `message::Column`).
pub(crate) const MESSAGE_COLUMNS: &str = "id, conversation_id, seq, author_kind, author_id, kind, \
    body, product_id, order_id, category, client_message_id, request_digest, status, \
    delivered_at, read_at, redacted_at, created_at";

/// A message from a row whose columns are [`MESSAGE_COLUMNS`], in that
/// order. Read by name, as `FromQueryResult` does, each column costs a
/// `format!` and a hashed lookup: a row cost the message writer more than
/// the rest of its part in a send.
pub(crate) fn message_in_order(
    row: &sea_orm::QueryResult,
) -> Result<message::Model, sea_orm::DbErr> {
    Ok(message::Model {
        id: row.try_get_by_index(0)?,
        conversation_id: row.try_get_by_index(1)?,
        seq: row.try_get_by_index(2)?,
        author_kind: row.try_get_by_index(3)?,
        author_id: row.try_get_by_index(4)?,
        kind: row.try_get_by_index(5)?,
        body: row.try_get_by_index(6)?,
        product_id: row.try_get_by_index(7)?,
        order_id: row.try_get_by_index(8)?,
        category: row.try_get_by_index(9)?,
        client_message_id: row.try_get_by_index(10)?,
        request_digest: row.try_get_by_index(11)?,
        status: row.try_get_by_index(12)?,
        delivered_at: row.try_get_by_index(13)?,
        read_at: row.try_get_by_index(14)?,
        redacted_at: row.try_get_by_index(15)?,
        created_at: row.try_get_by_index(16)?,
    })
}

/// The messages a select of `message::Entity` finds (it lists their
/// columns in [`MESSAGE_COLUMNS`] order), read by position.
async fn all_in_order(
    select: sea_orm::Select<message::Entity>,
    db: &impl ConnectionTrait,
) -> Result<Vec<message::Model>, sea_orm::DbErr> {
    struct InOrder(message::Model);
    impl FromQueryResult for InOrder {
        fn from_query_result(row: &sea_orm::QueryResult, _: &str) -> Result<Self, sea_orm::DbErr> {
            message_in_order(row).map(Self)
        }
    }
    let found = select.into_model::<InOrder>().all(db).await?;
    Ok(found.into_iter().map(|InOrder(message)| message).collect())
}

fn request_digest(
    text: &str,
    product_id: Option<Uuid>,
    category: Option<MessageCategory>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hasher.update([0]);
    hasher.update(product_id.map(|p| p.to_string()).unwrap_or_default());
    hasher.update([0]);
    hasher.update(format!("{category:?}"));
    super::hex(&hasher.finalize())
}

fn check_text(text: Option<&str>, has_product: bool) -> Result<String, Error> {
    let text = text.unwrap_or("").trim();
    if text.is_empty() && !has_product {
        return Err(Error::invalid(
            "input.text",
            "a message needs text or a product",
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid(
            "input.text",
            format!("text must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    let allowed = |c: char| c == '\n' || c == '\t' || c == '\r';
    if text
        .chars()
        .any(|c| (c.is_control() && !allowed(c)) || ('\u{202A}'..='\u{202E}').contains(&c))
    {
        return Err(Error::invalid(
            "input.text",
            "text must not contain control characters",
        ));
    }
    Ok(text.replace("\r\n", "\n"))
}

fn check_client_id(id: &str) -> Result<String, Error> {
    let valid = !id.is_empty()
        && id.chars().count() <= MAX_CLIENT_ID_CHARS
        && id.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(Error::invalid(
            "input.clientMessageId",
            "clientMessageId must be 1 to 128 printable ASCII characters",
        ));
    }
    Ok(id.to_owned())
}

/// A page of history, newest first (`first`/`after` walk back in time).
pub async fn history(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    page: &PageRequest,
) -> Result<Page<message::Model>, Error> {
    let mut select =
        message::Entity::find().filter(message::Column::ConversationId.eq(conversation_id));
    // Cursors are message ids; "forward" here means older. A page is cut at
    // its cursor's `seq`, the order history is read in: ids are drawn before
    // a message gets its `seq`, so two sent at once can have them the other
    // way round, and cutting by id would skip or repeat one.
    if let Some(after) = page.after {
        let seq = seq_of_cursor(db, conversation_id, after, "after").await?;
        select = select.filter(message::Column::Seq.lt(seq));
    }
    if let Some(before) = page.before {
        let seq = seq_of_cursor(db, conversation_id, before, "before").await?;
        select = select.filter(message::Column::Seq.gt(seq));
    }
    select = match page.direction {
        Direction::Forward => select.order_by_desc(message::Column::Seq),
        Direction::Backward => select.order_by_asc(message::Column::Seq),
    };
    let rows = all_in_order(select.limit(page.limit.saturating_add(1)), db).await?;
    Ok(page.finish(rows))
}

/// The `seq` of the message a history cursor names.
///
/// # Errors
/// `BAD_USER_INPUT` on `field` when no message of the conversation has it.
async fn seq_of_cursor(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    cursor: Uuid,
    field: &'static str,
) -> Result<i64, Error> {
    message::Entity::find_by_id(cursor)
        .filter(message::Column::ConversationId.eq(conversation_id))
        .select_only()
        .column(message::Column::Seq)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .ok_or_else(|| Error::invalid(field, "no message of this conversation has this cursor"))
}

/// Messages with `from <= seq <= to`, oldest first, at most [`MAX_BATCH`].
pub async fn range(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    from: i64,
    to: i64,
) -> Result<Vec<message::Model>, Error> {
    Ok(all_in_order(
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.gte(from))
            .filter(message::Column::Seq.lte(to))
            .order_by_asc(message::Column::Seq)
            .limit(MAX_BATCH),
        db,
    )
    .await?)
}

/// The next batch of messages after `seq`, oldest first (for replay).
pub async fn after_seq(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    seq: i64,
) -> Result<Vec<message::Model>, Error> {
    Ok(all_in_order(
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.gt(seq))
            .order_by_asc(message::Column::Seq)
            .limit(MAX_BATCH),
        db,
    )
    .await?)
}

/// Messages of a conversation by their `seq`s.
pub async fn by_seqs(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    seqs: &[i64],
) -> Result<Vec<message::Model>, Error> {
    Ok(all_in_order(
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.is_in(seqs.iter().copied()))
            .order_by_asc(message::Column::Seq),
        db,
    )
    .await?)
}

/// A message, if the caller takes part in its conversation.
pub async fn get(
    db: &impl ConnectionTrait,
    actor: &Actor,
    message_id: Uuid,
) -> Result<Option<message::Model>, Error> {
    let Some(found) = message::Entity::find_by_id(message_id).one(db).await? else {
        return Ok(None);
    };
    Ok(conversations::get(db, actor, found.conversation_id)
        .await?
        .map(|_| found))
}

/// What a receipt marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// The recipient's device has the messages.
    Delivered,
    /// The recipient has seen them (implies delivered).
    Read,
}

/// Marks every message the caller's side received, up to `through_seq`, as
/// delivered or read (read implies delivered). Idempotent and never
/// backwards: each conditional update moves only the messages that are
/// behind and returns exactly those, so a message is first delivered once,
/// and that is when it is metered, in the same transaction.
///
/// # Errors
/// `NOT_FOUND` for non-participants, `BAD_USER_INPUT` for a negative seq.
pub async fn mark(
    db: &(impl ConnectionTrait + TransactionTrait),
    events: &dyn EventBus,
    actor: &Actor,
    conversation_id: Uuid,
    through_seq: i64,
    receipt: Receipt,
) -> Result<Vec<message::Model>, Error> {
    if through_seq < 0 {
        return Err(Error::invalid(
            "input.throughSeq",
            "throughSeq must not be negative",
        ));
    }
    let (conversation, side) = conversations::access(db, actor, conversation_id).await?;
    let now = chrono::Utc::now();
    let incoming = || {
        let mut update = Query::update();
        update
            .table(message::Entity)
            .and_where(Expr::col(message::Column::ConversationId).eq(conversation_id))
            .and_where(Expr::col(message::Column::Seq).lte(through_seq))
            .and_where(
                Expr::col(message::Column::AuthorKind)
                    .is_in(side.incoming_kinds().iter().map(|k| k.to_value())),
            )
            // In `message::Column` order, to be read by position.
            .returning(Query::returning().columns(message::Column::iter()));
        update
    };
    let txn = db.begin().await?;
    // First delivery: SENT → DELIVERED (→ READ below for a read receipt).
    let mut deliver = incoming();
    deliver
        .value(message::Column::Status, DeliveryStatus::Delivered)
        .value(message::Column::DeliveredAt, now)
        .and_where(Expr::col(message::Column::Status).eq(DeliveryStatus::Sent));
    let delivered = models(txn.query_all(&deliver).await?)?;
    crate::services::billing::meter(&txn, conversation.shop_id, &delivered).await?;
    let mut changed = delivered;
    if receipt == Receipt::Read {
        let mut read = incoming();
        read.value(message::Column::Status, DeliveryStatus::Read)
            .value(message::Column::ReadAt, now)
            .and_where(Expr::col(message::Column::Status).eq(DeliveryStatus::Delivered));
        let read = models(txn.query_all(&read).await?)?;
        changed.retain(|m| !read.iter().any(|r| r.id == m.id));
        changed.extend(read);
    }
    txn.commit().await?;
    changed.sort_by_key(|m| m.seq);
    if !changed.is_empty() {
        events
            .publish(Event::MessageStatusChanged {
                shop_id: conversation.shop_id,
                conversation_id,
                seqs: changed.iter().map(|m| m.seq).collect(),
            })
            .await;
    }
    Ok(changed)
}

fn models(rows: Vec<sea_orm::QueryResult>) -> Result<Vec<message::Model>, Error> {
    Ok(rows
        .iter()
        .map(message_in_order)
        .collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedded_append_binds_its_thirteen_values_from_where_it_is_told() {
        let sql = postgres_append(22, Some("placed"));
        for n in 22..35 {
            assert!(sql.contains(&format!("${n}")), "${n} missing from {sql}");
        }
        assert!(!sql.contains("$21") && !sql.contains("$35"), "{sql}");
        assert!(sql.contains("EXISTS (SELECT 1 FROM placed)"), "{sql}");
        assert_eq!(
            append_values(
                Uuid::nil(),
                Append {
                    author_kind: AuthorKind::System,
                    author_id: None,
                    kind: MessageKind::SystemNotice,
                    body: "x".to_owned(),
                    product_id: None,
                    order_id: None,
                    category: None,
                    client_message_id: None,
                    request_digest: None,
                }
            )
            .len(),
            13
        );
        let columns = appended_columns("card_");
        assert!(columns.starts_with("appended.id AS card_id, "), "{columns}");
        assert!(
            columns.ends_with("appended.created_at AS card_created_at"),
            "{columns}"
        );
    }

    /// A message read by position equals the same row read by name, every
    /// field told apart from the others.
    #[tokio::test]
    async fn a_message_read_by_position_is_the_message_read_by_name() {
        use sea_orm::{ActiveModelTrait, IdenStatic, IntoActiveModel};

        let minute = |m: i64| chrono::Utc::now() + chrono::Duration::minutes(m);
        let written = message::Model {
            id: Uuid::now_v7(),
            conversation_id: Uuid::now_v7(),
            seq: 42,
            author_kind: AuthorKind::Agent,
            author_id: Some(Uuid::now_v7()),
            kind: MessageKind::ProductReference,
            body: "body".to_owned(),
            product_id: Some(Uuid::now_v7()),
            order_id: Some(Uuid::now_v7()),
            category: Some(MessageCategory::Marketing),
            client_message_id: Some("client".to_owned()),
            request_digest: Some("digest".to_owned()),
            status: DeliveryStatus::Read,
            delivered_at: Some(minute(1)),
            read_at: Some(minute(2)),
            redacted_at: Some(minute(3)),
            created_at: minute(-1),
        };
        assert_eq!(
            MESSAGE_COLUMNS.split(", ").collect::<Vec<_>>(),
            message::Column::iter()
                .map(|column| column.as_str())
                .collect::<Vec<_>>()
        );
        // The model's values selected under their column names, in order.
        let active = written.clone().into_active_model();
        let values: Vec<sea_orm::Value> = message::Column::iter()
            .map(|column| active.get(column).into_value().expect("set"))
            .collect();
        let select = MESSAGE_COLUMNS
            .split(", ")
            .enumerate()
            .map(|(n, column)| format!("?{} AS {column}", n + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("SQLite in memory");
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("SELECT {select}"),
                values,
            ))
            .await
            .expect("selected")
            .expect("a row");
        assert_eq!(
            message::Model::from_query_result(&row, "").expect("by name"),
            written
        );
        assert_eq!(message_in_order(&row).expect("by position"), written);
    }

    #[test]
    fn text_is_checked() {
        assert!(check_text(None, false).is_err());
        assert!(check_text(Some("   "), false).is_err());
        assert_eq!(check_text(None, true).unwrap(), "");
        assert!(check_text(Some("bell\u{7}"), false).is_err());
        assert!(check_text(Some("rtl\u{202E}override"), false).is_err());
        assert!(check_text(Some(&"x".repeat(MAX_TEXT_CHARS + 1)), false).is_err());
        assert_eq!(
            check_text(Some(" line\r\nbreak "), false).unwrap(),
            "line\nbreak"
        );
    }

    #[test]
    fn digests_tell_inputs_apart() {
        let product = Some(Uuid::now_v7());
        assert_eq!(
            request_digest("a", None, None),
            request_digest("a", None, None)
        );
        assert_ne!(
            request_digest("a", None, None),
            request_digest("b", None, None)
        );
        assert_ne!(
            request_digest("a", None, None),
            request_digest("a", product, None)
        );
        assert_ne!(
            request_digest("a", None, None),
            request_digest("a", None, Some(MessageCategory::Marketing))
        );
        assert_eq!(request_digest("a", None, None).len(), 64);
    }
}
