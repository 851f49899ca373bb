//! Orders: placing them with atomic stock reservation, and every transition
//! after (cancel, expire, fulfil, refund). Paying is in `payments`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chatshop_entity::enums::{AuthorKind, MessageCategory, MessageKind, OrderStatus};
use chatshop_entity::{message, order, order_item, product};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    Statement, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::conversations::{self, Participation, Participations, Side};
use super::group_writer::{GroupWriter, GroupedWrite, Posted};
use super::messages::{self, Append};
use super::shops::CurrencyCache;
use super::{Remembered, array, is_unique_violation, new_id, paginate};
use crate::Error;
use crate::auth::Actor;
use crate::auth::policy::{self, ShopPermission};
use crate::config::BillingConfig;
use crate::domain::money::{Currency, format_decimal};
use crate::domain::order::{MAX_LINES, MAX_QUANTITY, line_total, platform_fee};
use crate::domain::page::{Page, PageRequest};
use crate::events::{Event, EventBus};
use crate::payments::PaymentProvider;

/// An order to place (raw input).
#[derive(Debug)]
pub struct NewOrder {
    /// The conversation it is placed in.
    pub conversation_id: Uuid,
    /// `(product, quantity)` lines.
    pub items: Vec<(Uuid, i32)>,
    /// The placer's idempotency key.
    pub client_key: Option<String>,
}

/// What placing and paying orders need from the application.
pub struct OrderContext<'a, C> {
    /// Where writes go (see `AppState::writer`).
    pub db: &'a C,
    /// Where the reads that come before any write go, so that they do not
    /// queue behind writes for SQLite's single writer. May be `db`.
    pub reader: &'a C,
    /// Where to announce changes.
    pub events: &'a dyn EventBus,
    /// Shops' currencies (they never change).
    pub currencies: &'a CurrencyCache,
    /// Callers' places in conversations, as recently found.
    pub participations: &'a Participations,
    /// Products as recently read.
    pub products: &'a RecentProducts,
    /// Group commit for checkout steps.
    pub(crate) group_writer: &'a GroupWriter,
    /// The payment processor.
    pub provider: &'a dyn PaymentProvider,
    /// Timeouts and rates.
    pub billing: &'a BillingConfig,
}

/// Products as recently read, for placing orders: each is remembered for
/// up to [`PRODUCT_REMEMBERED_FOR`]. A stale one costs a detour, not a wrong
/// order: the statement that places an order from it writes nothing unless
/// the product is still as remembered, and the general path then reads it.
#[derive(Default)]
pub struct RecentProducts {
    known: Remembered<Uuid, product::Model>,
}

/// How long a product read is used for placing orders.
pub const PRODUCT_REMEMBERED_FOR: Duration = Duration::from_secs(1);

impl RecentProducts {
    /// The product as read at most [`PRODUCT_REMEMBERED_FOR`] ago.
    async fn get(
        &self,
        db: &impl ConnectionTrait,
        product_id: Uuid,
    ) -> Result<Option<product::Model>, Error> {
        if let Some((found, age)) = self.known.get(&product_id)
            && age < PRODUCT_REMEMBERED_FOR
        {
            return Ok(Some(found));
        }
        let Some(found) = product::Entity::find_by_id(product_id).one(db).await? else {
            return Ok(None);
        };
        self.known.remember(product_id, found.clone());
        Ok(Some(found))
    }

    fn forget(&self, product_id: Uuid) {
        self.known.forget(&product_id);
    }
}

/// Places an order: reserves the stock of every line and writes the order,
/// its items and an order-card message in one transaction. The checks
/// before it read from `cx.reader`. The reservation is a conditional
/// decrement (`stock >= quantity`), so the last unit can only go to one
/// buyer, and a `CHECK` keeps stock from ever going negative. Returns the
/// order and the caller's side of its conversation.
///
/// # Errors
/// `NOT_FOUND` for non-participants; `BAD_USER_INPUT` for empty, duplicate,
/// unknown, archived or foreign products and bad quantities; `CONFLICT` when a
/// product is out of stock, or the client key was used for another order.
pub async fn place<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    actor: &Actor,
    input: NewOrder,
) -> Result<(order::Model, Side), Error> {
    let placer = actor.user_id()?;
    let (reader, db, events) = (cx.reader, cx.db, cx.events);
    let conversation = cx
        .participations
        .participation(reader, actor, input.conversation_id)
        .await?;
    let side = conversation.side;
    check_lines(&input.items)?;
    let client_key = input
        .client_key
        .as_deref()
        .map(check_key("input.clientKey"))
        .transpose()?;
    if let Some(key) = &client_key
        && let Some(existing) = find_by_client_key(reader, placer, key).await?
    {
        return same_order_or_conflict(
            reader,
            existing,
            conversation.conversation_id,
            &input.items,
        )
        .await
        .map(|order| (order, side));
    }
    let shop_id = conversation.shop_id;
    let currency = cx
        .currencies
        .get(reader, shop_id)
        .await?
        .ok_or_else(|| Error::internal("conversation without a shop"))?;
    let placing = Placing {
        order_id: new_id(),
        conversation: &conversation,
        placer,
        currency: &currency,
        client_key: client_key.clone(),
        now: chrono::Utc::now(),
        billing: cx.billing,
    };
    let retried = |db| {
        answer_as_retry(
            db,
            placer,
            client_key.clone(),
            conversation.conversation_id,
            &input.items,
        )
    };

    // An order of one line, on PostgreSQL: the product as recently read is
    // taken from stock and the order recorded in one statement (shared with
    // other orders placed at the same moment), which writes nothing unless
    // the product is still sellable, at that price and name, with the stock
    // for it. Otherwise the general path below decides.
    if let [(product_id, quantity)] = input.items[..]
        && cx.group_writer.groups_checkout()
        && let Some(found) = cx.products.get(reader, product_id).await?
        && found.shop_id == shop_id
        && !found.archived
    {
        let quantity = i64::from(quantity);
        let draft = placing.draft(&[(found, quantity)])?;
        match cx.group_writer.place(draft).await {
            Ok(Some((placed, card))) => {
                publish_with_message(events, &placed, Some(card)).await;
                return Ok((placed, side));
            }
            // Changed since, or out of stock: read afresh next time.
            Ok(None) => cx.products.forget(product_id),
            Err(err) if is_unique_violation(&err) => {
                return retried(db).await.map(|order| (order, side));
            }
            Err(err) => return Err(err.into()),
        }
    }

    // Stock held by reservations that expired is released only when it is
    // needed: a shortfall sweeps them once and tries again.
    let mut swept = false;
    let (txn, reserved) = loop {
        let txn = db.begin().await?;
        match reserve(&txn, shop_id, &input.items).await? {
            Ok(reserved) => break (txn, reserved),
            Err(shortfall) => {
                txn.rollback().await?;
                if shortfall == Shortfall::Stock && !swept && expire_due(db, events).await? > 0 {
                    swept = true;
                    continue;
                }
                return Err(shortfall.into_error());
            }
        }
    };
    let (placed, card) = match record(&txn, placing.draft(&reserved)?).await {
        Ok(recorded) => recorded,
        Err(err) if is_unique_violation(&err) => {
            txn.rollback().await?;
            return retried(db).await.map(|order| (order, side));
        }
        Err(err) => return Err(err.into()),
    };
    txn.commit().await?;
    publish_with_message(events, &placed, Some(card)).await;
    Ok((placed, side))
}

/// The same client key won a race: answer as for a retry.
async fn answer_as_retry(
    db: &impl ConnectionTrait,
    placer: Uuid,
    client_key: Option<String>,
    conversation_id: Uuid,
    lines: &[(Uuid, i32)],
) -> Result<order::Model, Error> {
    let key = client_key.unwrap_or_default();
    let existing = find_by_client_key(db, placer, &key)
        .await?
        .ok_or_else(|| Error::internal("order vanished after a unique violation"))?;
    same_order_or_conflict(db, existing, conversation_id, lines).await
}

/// What an order being placed is, apart from its lines.
struct Placing<'a> {
    order_id: Uuid,
    conversation: &'a Participation,
    placer: Uuid,
    currency: &'a Currency,
    client_key: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
    billing: &'a BillingConfig,
}

/// An order, its lines and its order card, ready to be written.
pub(crate) struct Draft {
    order: order::Model,
    lines: Vec<order_item::Model>,
    card: Append,
}

impl GroupedWrite for Draft {
    type Written = Posted;

    /// Its names and text, and ids and numbers.
    fn statement_bytes(&self) -> usize {
        let names: usize = self.lines.iter().map(|line| line.name.len() + 200).sum();
        names + self.card.body.len() + 900
    }

    async fn write_all(
        db: &DatabaseConnection,
        group: &[Self],
    ) -> Result<Vec<Option<Posted>>, DbErr> {
        record_one_lines(db, group).await
    }
}

impl Placing<'_> {
    /// The order of these products (as they are, or as they were just read)
    /// and quantities.
    fn draft(&self, reserved: &[(product::Model, i64)]) -> Result<Draft, Error> {
        let mut subtotal: i64 = 0;
        for (found, quantity) in reserved {
            subtotal = subtotal
                .checked_add(line_total(found.price_minor, *quantity)?)
                .ok_or_else(|| Error::invalid("input.items", "the order total is too large"))?;
        }
        let fee = platform_fee(subtotal, self.billing.take_rate_bps)?;
        let ttl = chrono::Duration::seconds(
            i64::try_from(self.billing.reservation_ttl_secs).unwrap_or(i64::MAX / 1_000),
        );
        let order = order::Model {
            id: self.order_id,
            conversation_id: self.conversation.conversation_id,
            shop_id: self.conversation.shop_id,
            customer_id: self.conversation.customer_id,
            placed_by_id: self.placer,
            status: OrderStatus::PendingPayment,
            currency: self.currency.code().to_owned(),
            subtotal_minor: subtotal,
            platform_fee_minor: fee,
            total_minor: subtotal,
            refunded_minor: 0,
            client_key: self.client_key.clone(),
            reserved_until: self.now + ttl,
            payment_attempt_id: None,
            created_at: self.now,
            updated_at: self.now,
            paid_at: None,
            fulfilled_at: None,
            cancelled_at: None,
            invoice_id: None,
        };
        let lines = reserved
            .iter()
            .map(|(found, quantity)| order_item::Model {
                id: new_id(),
                order_id: self.order_id,
                product_id: Some(found.id),
                name: found.name.clone(),
                unit_price_minor: found.price_minor,
                quantity: *quantity,
                refunded_quantity: 0,
                stock_reserved: found.stock.is_some(),
            })
            .collect();
        let summary = reserved
            .iter()
            .map(|(found, quantity)| format!("{quantity} × {}", found.name))
            .collect::<Vec<_>>()
            .join(", ");
        let (author_kind, category) = match self.conversation.side {
            Side::Customer => (AuthorKind::Customer, None),
            Side::Business(_) => (AuthorKind::Agent, Some(MessageCategory::Utility)),
        };
        let card = Append {
            author_kind,
            author_id: Some(self.placer),
            kind: MessageKind::OrderCard,
            body: format!(
                "Order: {summary}. Total {} {}.",
                format_decimal(subtotal, self.currency.exponent()),
                self.currency.code()
            ),
            product_id: None,
            order_id: Some(self.order_id),
            category,
            client_message_id: None,
            request_digest: None,
        };
        Ok(Draft { order, lines, card })
    }
}

/// Where a statement that changes an order and posts a message returns the
/// message's columns, beside the order's (see [`order_with_posted`]).
pub(crate) const POSTED_PREFIX: &str = "posted_";

/// The columns of `orders`, in the order the statements below give them.
const ORDER_COLUMNS: &str = "id, conversation_id, shop_id, customer_id, placed_by_id, status, \
    currency, subtotal_minor, platform_fee_minor, total_minor, refunded_minor, client_key, \
    reserved_until, payment_attempt_id, created_at, updated_at, paid_at, fulfilled_at, \
    cancelled_at";

/// The columns of `order_items`, likewise.
const ORDER_ITEM_COLUMNS: &str =
    "id, order_id, product_id, name, unit_price_minor, quantity, refunded_quantity, stock_reserved";

/// PostgreSQL: one statement that inserts an order, its lines and its
/// card, and returns the order and the card. Parameters: the order's 15
/// values, the lines' 6 arrays, the card's 13 values (see
/// [`record_values`]).
fn postgres_record() -> String {
    format!(
        "WITH placed AS ( \
            INSERT INTO orders ({ORDER_COLUMNS}) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14, $15, \
                NULL, NULL, NULL) \
            RETURNING *), \
        lines AS ( \
            INSERT INTO order_items ({ORDER_ITEM_COLUMNS}) \
            SELECT line.id, placed.id, line.product_id, line.name, line.unit_price_minor, \
                line.quantity, 0, line.stock_reserved \
            FROM placed, unnest($16::uuid[], $17::uuid[], $18::text[], $19::bigint[], \
                $20::bigint[], $21::bool[]) \
                AS line(id, product_id, name, unit_price_minor, quantity, stock_reserved)), \
        {} \
        SELECT placed.*, {} FROM placed, appended",
        messages::postgres_append(22, Some("placed")),
        messages::appended_columns(POSTED_PREFIX),
    )
}

/// The values [`postgres_record`] binds first.
fn record_values(draft: Draft) -> Vec<sea_orm::Value> {
    let Draft { order, lines, card } = draft;
    let mut values: Vec<sea_orm::Value> = vec![
        order.id.into(),
        order.conversation_id.into(),
        order.shop_id.into(),
        order.customer_id.into(),
        order.placed_by_id.into(),
        order.status.to_value().into(),
        order.currency.into(),
        order.subtotal_minor.into(),
        order.platform_fee_minor.into(),
        order.total_minor.into(),
        order.refunded_minor.into(),
        order.client_key.into(),
        order.reserved_until.into(),
        order.created_at.into(),
        order.updated_at.into(),
        lines.iter().map(|l| l.id).collect::<Vec<_>>().into(),
        lines
            .iter()
            .map(|l| l.product_id.unwrap_or_default())
            .collect::<Vec<_>>()
            .into(),
        lines
            .iter()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>()
            .into(),
        lines
            .iter()
            .map(|l| l.unit_price_minor)
            .collect::<Vec<_>>()
            .into(),
        lines.iter().map(|l| l.quantity).collect::<Vec<_>>().into(),
        lines
            .iter()
            .map(|l| l.stock_reserved)
            .collect::<Vec<_>>()
            .into(),
    ];
    values.extend(messages::append_values(order.conversation_id, card));
    values
}

/// Runs a PostgreSQL statement that returns an order's row and, under
/// [`POSTED_PREFIX`], the message it posted (`messages::appended_columns`);
/// `None` when it returned no row (wrote nothing).
pub(crate) async fn order_with_posted(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Option<(order::Model, message::Model)>, sea_orm::DbErr> {
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    db.query_one_raw(statement)
        .await?
        .map(|row| posted(&row))
        .transpose()
}

/// As [`order_with_posted`], for a statement that returns several orders
/// each with its message.
pub(crate) async fn orders_with_posted(
    db: &DatabaseConnection,
    sql: &'static str,
    values: Vec<sea_orm::Value>,
) -> Result<Vec<(order::Model, message::Model)>, sea_orm::DbErr> {
    super::query_pooled(db, sql, values, super::Rows::All)
        .await?
        .iter()
        .map(posted)
        .collect()
}

/// An order and its message from one row, the message's columns under
/// [`POSTED_PREFIX`].
fn posted(row: &sea_orm::QueryResult) -> Result<(order::Model, message::Model), sea_orm::DbErr> {
    Ok((
        order::Model::from_query_result(row, "")?,
        message::Model::from_query_result(row, POSTED_PREFIX)?,
    ))
}

/// Writes a placed order, its lines and its order card in `txn` (after
/// the stock was taken); returns the order and the card as stored. One
/// statement on PostgreSQL, three on SQLite (where statements do not cross a
/// network).
async fn record(
    txn: &impl ConnectionTrait,
    draft: Draft,
) -> Result<(order::Model, message::Model), sea_orm::DbErr> {
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(postgres_record);
    if txn.get_database_backend() == DbBackend::Postgres {
        return order_with_posted(txn, POSTGRES.as_str(), record_values(draft))
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound("conversation".to_owned()));
    }
    let Draft { order, lines, card } = draft;
    let placed = order::Entity::insert(order::ActiveModel::from(order).reset_all())
        .exec_with_returning(txn)
        .await?;
    let lines = lines
        .into_iter()
        .map(|line| order_item::ActiveModel::from(line).reset_all());
    order_item::Entity::insert_many(lines)
        .exec_without_returning(txn)
        .await?;
    let card = messages::append(txn, placed.conversation_id, card).await?;
    Ok((placed, card))
}

/// PostgreSQL, orders of one line each (drafted from products as recently
/// read): takes each line's quantity from stock and records the orders with
/// their cards, in one statement, so one round trip and one commit for the
/// lot. An order is written only if its product is still sellable at the
/// price and name it was drafted with, and still counted (with stock for
/// every order of the group that wants it) or still uncounted; the others
/// get `None`. Fails as a whole when any insert fails (a client key used
/// before). Counted products are locked in one order (by id), so that two
/// groups wanting the same ones queue instead of deadlocking.
pub(crate) async fn record_one_lines(
    db: &DatabaseConnection,
    drafts: &[Draft],
) -> Result<Vec<Option<(order::Model, message::Model)>>, sea_orm::DbErr> {
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH input AS (SELECT id, conversation_id, shop_id, customer_id, placed_by_id, \
                    status, currency, subtotal_minor, platform_fee_minor, total_minor, \
                    NULLIF(client_key, '') AS client_key, reserved_until, created_at, line_id, \
                    product_id, name, unit_price_minor, quantity, counted \
                FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], \
                    $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], \
                    $11::text[], $12::timestamptz[], $13::timestamptz[], $14::uuid[], \
                    $15::uuid[], $16::text[], $17::bigint[], $18::bigint[], $19::bool[]) \
                AS i(id, conversation_id, shop_id, customer_id, placed_by_id, status, \
                    currency, subtotal_minor, platform_fee_minor, total_minor, client_key, \
                    reserved_until, created_at, line_id, product_id, name, unit_price_minor, \
                    quantity, counted)), \
            wanted AS ( \
                SELECT product_id, shop_id, name, unit_price_minor, sum(quantity) AS quantity \
                FROM input WHERE counted GROUP BY product_id, shop_id, name, unit_price_minor), \
            locked AS ( \
                SELECT id FROM products WHERE id IN (SELECT product_id FROM wanted) \
                ORDER BY id FOR NO KEY UPDATE), \
            taken AS ( \
                UPDATE products AS p SET stock = p.stock - wanted.quantity \
                FROM wanted JOIN locked ON locked.id = wanted.product_id \
                WHERE p.id = wanted.product_id AND p.shop_id = wanted.shop_id \
                    AND p.archived = false AND p.stock >= wanted.quantity \
                    AND p.price_minor = wanted.unit_price_minor AND p.name = wanted.name \
                RETURNING p.id, wanted.shop_id, wanted.name, wanted.unit_price_minor), \
            placeable AS ( \
                SELECT input.* FROM input JOIN taken ON taken.id = input.product_id \
                    AND taken.shop_id = input.shop_id AND taken.name = input.name \
                    AND taken.unit_price_minor = input.unit_price_minor \
                WHERE input.counted \
                UNION ALL \
                SELECT input.* FROM input JOIN products AS p ON p.id = input.product_id \
                    AND p.shop_id = input.shop_id AND p.archived = false AND p.stock IS NULL \
                    AND p.price_minor = input.unit_price_minor AND p.name = input.name \
                WHERE NOT input.counted), \
            placed AS ( \
                INSERT INTO orders ({ORDER_COLUMNS}) \
                SELECT id, conversation_id, shop_id, customer_id, placed_by_id, status, \
                    currency, subtotal_minor, platform_fee_minor, total_minor, 0, client_key, \
                    reserved_until, NULL, created_at, created_at, NULL, NULL, NULL \
                FROM placeable \
                RETURNING *), \
            lines AS ( \
                INSERT INTO order_items ({ORDER_ITEM_COLUMNS}) \
                SELECT line_id, id, product_id, name, unit_price_minor, quantity, 0, counted \
                FROM placeable), \
            {}",
            postgres_post_cards("placeable.id", "placed", 20, 21),
        )
    });
    let mut lines = Vec::with_capacity(drafts.len());
    let mut cards = Vec::with_capacity(drafts.len());
    for (n, draft) in drafts.iter().enumerate() {
        let [line] = &draft.lines[..] else {
            return Err(sea_orm::DbErr::Custom(
                "an order of one line has one line".to_owned(),
            ));
        };
        lines.push(line);
        cards.push(messages::append_record(
            n,
            new_id(),
            draft.order.conversation_id,
            &draft.card,
        ));
    }
    let orders = || drafts.iter().map(|draft| &draft.order);
    let values: Vec<sea_orm::Value> = vec![
        array(orders().map(|order| order.id)),
        array(orders().map(|order| order.conversation_id)),
        array(orders().map(|order| order.shop_id)),
        array(orders().map(|order| order.customer_id)),
        array(orders().map(|order| order.placed_by_id)),
        array(orders().map(|order| order.status.to_value())),
        array(orders().map(|order| order.currency.clone())),
        array(orders().map(|order| order.subtotal_minor)),
        array(orders().map(|order| order.platform_fee_minor)),
        array(orders().map(|order| order.total_minor)),
        // Keys are never empty (see `check_key`): empty stands for none.
        array(orders().map(|order| order.client_key.clone().unwrap_or_default())),
        array(orders().map(|order| order.reserved_until)),
        array(orders().map(|order| order.created_at)),
        array(lines.iter().map(|line| line.id)),
        array(lines.iter().map(|line| line.product_id.unwrap_or_default())),
        array(lines.iter().map(|line| line.name.clone())),
        array(lines.iter().map(|line| line.unit_price_minor)),
        array(lines.iter().map(|line| line.quantity)),
        array(lines.iter().map(|line| line.stock_reserved)),
        messages::append_records_json(&cards)?,
        chrono::Utc::now().into(),
    ];
    let rows = orders_with_posted(db, POSTGRES.as_str(), values).await?;
    Ok(by_order(drafts.iter().map(|draft| draft.order.id), rows))
}

/// PostgreSQL: the end of a statement that wrote some orders of a group
/// (returned by the expression `orders`) and posts a card for each order
/// written. The group's cards (JSON records of [`messages::APPEND_RECORD`],
/// bound as `$cards`) whose `order_id` is among `written` (a column of an
/// earlier expression) are appended at the time bound as `$now`; each
/// order returns with its card, under [`POSTED_PREFIX`].
pub(crate) fn postgres_post_cards(written: &str, orders: &str, cards: usize, now: usize) -> String {
    let (source, column) = written.split_once('.').unwrap_or((written, "id"));
    format!(
        "card_input AS (SELECT * FROM json_to_recordset(${cards}::json) AS c({record})), \
        cards AS ( \
            SELECT card_input.* FROM card_input \
            JOIN {source} ON {source}.{column} = card_input.order_id), \
        {append} \
        SELECT {orders}.*, {columns} FROM {orders} JOIN appended ON appended.order_id = {orders}.id",
        record = messages::APPEND_RECORD,
        append = messages::postgres_append_many("cards", now),
        columns = messages::appended_columns(POSTED_PREFIX),
    )
}

/// Each of `order_ids`' row among `rows`, in that order; `None` where there
/// is none.
pub(crate) fn by_order<T>(
    order_ids: impl Iterator<Item = Uuid>,
    rows: Vec<(order::Model, T)>,
) -> Vec<Option<(order::Model, T)>> {
    let mut rows: HashMap<Uuid, (order::Model, T)> =
        rows.into_iter().map(|row| (row.0.id, row)).collect();
    order_ids.map(|id| rows.remove(&id)).collect()
}

/// Why stock could not be reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shortfall {
    /// Not enough stock for a line.
    Stock,
    /// The line at this index names no product of this shop.
    UnknownProduct(usize),
}

impl Shortfall {
    fn into_error(self) -> Error {
        match self {
            Self::Stock => Error::Conflict("not enough stock for this order"),
            Self::UnknownProduct(index) => Error::InvalidInput {
                field: Some("input.items"),
                message: format!("item {}: no product of this shop with this id", index + 1),
            },
        }
    }
}

/// Takes each line's quantity from stock, in `txn`, and returns the products
/// as they are now. A counted stock is taken by a conditional write, which
/// holds the write lock (SQLite) or the row lock (PostgreSQL) until commit.
async fn reserve(
    txn: &impl ConnectionTrait,
    shop_id: Uuid,
    items: &[(Uuid, i32)],
) -> Result<Result<Vec<(product::Model, i64)>, Shortfall>, Error> {
    let mut reserved = Vec::with_capacity(items.len());
    for (index, (product_id, quantity)) in items.iter().enumerate() {
        let quantity = i64::from(*quantity);
        if let Some(product) = take_stock(txn, shop_id, *product_id, quantity).await? {
            reserved.push((product, quantity));
            continue;
        }
        // Nothing taken: say whether the product or the stock is missing.
        let sellable = product::Entity::find_by_id(*product_id)
            .one(txn)
            .await?
            .is_some_and(|p| p.shop_id == shop_id && !p.archived);
        return Ok(Err(if sellable {
            Shortfall::Stock
        } else {
            Shortfall::UnknownProduct(index)
        }));
    }
    Ok(Ok(reserved))
}

/// Takes `quantity` of a sellable product from its stock, and returns the
/// product as it is now; `None` if it is not sellable or short of stock.
///
/// A product without a stock count is not written at all on PostgreSQL:
/// every order of a popular product would otherwise update, and lock until
/// commit, the same row, and each index lookup of it would walk the chain of
/// its dead versions. SQLite writes one transaction at a time anyway.
async fn take_stock(
    txn: &impl ConnectionTrait,
    shop_id: Uuid,
    product_id: Uuid,
    quantity: i64,
) -> Result<Option<product::Model>, Error> {
    const POSTGRES: &str = "WITH taken AS ( \
            UPDATE products SET stock = stock - $3 \
            WHERE id = $1 AND shop_id = $2 AND archived = false AND stock >= $3 \
            RETURNING *) \
        SELECT * FROM taken \
        UNION ALL \
        SELECT * FROM products \
        WHERE id = $1 AND shop_id = $2 AND archived = false AND stock IS NULL";
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        let values: Vec<sea_orm::Value> = vec![product_id.into(), shop_id.into(), quantity.into()];
        return Ok(product::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, POSTGRES, values))
            .one(txn)
            .await?);
    }
    let taken = product::Entity::update_many()
        .col_expr(
            product::Column::Stock,
            Expr::col(product::Column::Stock).sub(quantity),
        )
        .filter(product::Column::Id.eq(product_id))
        .filter(product::Column::ShopId.eq(shop_id))
        .filter(product::Column::Archived.eq(false))
        .filter(
            Condition::any()
                .add(product::Column::Stock.is_null())
                .add(product::Column::Stock.gte(quantity)),
        )
        .exec_with_returning(txn)
        .await?;
    Ok(taken.into_iter().next())
}

fn check_lines(items: &[(Uuid, i32)]) -> Result<(), Error> {
    if items.is_empty() {
        return Err(Error::invalid(
            "input.items",
            "an order needs at least one item",
        ));
    }
    if items.len() > MAX_LINES {
        return Err(Error::invalid(
            "input.items",
            format!("an order has at most {MAX_LINES} lines"),
        ));
    }
    let mut seen = HashSet::new();
    for (index, (product_id, quantity)) in items.iter().enumerate() {
        if !(1..=MAX_QUANTITY).contains(quantity) {
            return Err(Error::InvalidInput {
                field: Some("input.items"),
                message: format!(
                    "item {}: quantity must be between 1 and {MAX_QUANTITY}",
                    index + 1
                ),
            });
        }
        if !seen.insert(*product_id) {
            return Err(Error::invalid(
                "input.items",
                "each product appears once; set its quantity instead",
            ));
        }
    }
    Ok(())
}

/// Checks an idempotency key: 1 to 128 printable ASCII characters.
pub(crate) fn check_key(field: &'static str) -> impl Fn(&str) -> Result<String, Error> {
    move |key| {
        let valid =
            !key.is_empty() && key.len() <= 128 && key.chars().all(|c| c.is_ascii_graphic());
        if !valid {
            return Err(Error::invalid(
                field,
                "keys are 1 to 128 printable ASCII characters",
            ));
        }
        Ok(key.to_owned())
    }
}

async fn find_by_client_key(
    db: &impl ConnectionTrait,
    placer: Uuid,
    key: &str,
) -> Result<Option<order::Model>, Error> {
    Ok(order::Entity::find()
        .filter(order::Column::PlacedById.eq(placer))
        .filter(order::Column::ClientKey.eq(key))
        .one(db)
        .await?)
}

async fn same_order_or_conflict(
    db: &impl ConnectionTrait,
    existing: order::Model,
    conversation_id: Uuid,
    lines: &[(Uuid, i32)],
) -> Result<order::Model, Error> {
    let items = items_of(db, existing.id).await?;
    let mut stored: Vec<(Option<Uuid>, i64)> =
        items.iter().map(|i| (i.product_id, i.quantity)).collect();
    let mut asked: Vec<(Option<Uuid>, i64)> = lines
        .iter()
        .map(|(p, q)| (Some(*p), i64::from(*q)))
        .collect();
    stored.sort();
    asked.sort();
    if existing.conversation_id == conversation_id && stored == asked {
        Ok(existing)
    } else {
        Err(Error::Conflict(
            "this clientKey was already used for a different order",
        ))
    }
}

/// An order's lines.
pub async fn items_of(
    db: &impl ConnectionTrait,
    order_id: Uuid,
) -> Result<Vec<order_item::Model>, Error> {
    Ok(order_item::Entity::find()
        .filter(order_item::Column::OrderId.eq(order_id))
        .order_by_asc(order_item::Column::Id)
        .all(db)
        .await?)
}

/// Loads an order and the caller's side in its conversation. Anyone else
/// gets `NOT_FOUND`.
pub async fn access(
    db: &impl ConnectionTrait,
    actor: &Actor,
    order_id: Uuid,
) -> Result<(order::Model, Side), Error> {
    access_to(db, actor, find(db, order_id).await?).await
}

/// As [`access`], for an order already read with [`find`].
pub async fn access_to(
    db: &impl ConnectionTrait,
    actor: &Actor,
    found: order::Model,
) -> Result<(order::Model, Side), Error> {
    let side = conversations::access(db, actor, found.conversation_id)
        .await
        .map(|(_, side)| side);
    visible_to(actor, found, side)
}

/// As [`access`], with the caller's place in the conversation as
/// `participations` remembers it (a shop member's for up to a second).
pub async fn access_remembered(
    db: &impl ConnectionTrait,
    participations: &Participations,
    actor: &Actor,
    order_id: Uuid,
) -> Result<(order::Model, Side), Error> {
    let found = find(db, order_id).await?;
    let side = participations
        .participation(db, actor, found.conversation_id)
        .await
        .map(|place| place.side);
    visible_to(actor, found, side)
}

/// An order, whoever asks: `NOT_FOUND` when there is none, as for one the
/// caller may not see (check with [`access_to`] before showing it).
pub async fn find(db: &impl ConnectionTrait, order_id: Uuid) -> Result<order::Model, Error> {
    order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "order" })
}

/// The order and the caller's side, if their place in its conversation
/// (`side`) lets them see it.
fn visible_to(
    actor: &Actor,
    found: order::Model,
    side: Result<Side, Error>,
) -> Result<(order::Model, Side), Error> {
    let side = match side {
        Ok(side) => side,
        Err(Error::NotFound { .. }) => return Err(Error::NotFound { entity: "order" }),
        Err(err) => return Err(err),
    };
    // A customer sees their own orders only, even in a shared conversation.
    if side == Side::Customer && actor.user_id_opt() != Some(found.customer_id) {
        return Err(Error::NotFound { entity: "order" });
    }
    Ok((found, side))
}

/// An order, if the caller may see it.
pub async fn get(
    db: &impl ConnectionTrait,
    actor: &Actor,
    order_id: Uuid,
) -> Result<Option<(order::Model, Side)>, Error> {
    match access(db, actor, order_id).await {
        Ok(found) => Ok(Some(found)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The ids of a conversation's orders, the last changed first, at most
/// `limit`: what a subscriber that fell behind is sent again.
pub(crate) async fn last_changed_in(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    limit: u64,
) -> Result<Vec<Uuid>, Error> {
    Ok(order::Entity::find()
        .filter(order::Column::ConversationId.eq(conversation_id))
        .order_by_desc(order::Column::UpdatedAt)
        .limit(limit)
        .select_only()
        .column(order::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

/// Filters of an order listing.
#[derive(Debug, Default)]
pub struct OrderFilter {
    /// A shop's orders (members only); `None` lists the caller's own.
    pub shop_id: Option<Uuid>,
    /// Only orders of this conversation.
    pub conversation_id: Option<Uuid>,
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
}

/// The caller's orders as a customer, or a shop's orders, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: OrderFilter,
    page: &PageRequest,
) -> Result<Page<order::Model>, Error> {
    let caller = actor.user_id()?;
    let mut select = order::Entity::find();
    match filter.shop_id {
        Some(shop_id) => {
            policy::require(
                super::shops::role_of(db, actor, shop_id).await?,
                ShopPermission::Work,
            )?;
            select = select.filter(order::Column::ShopId.eq(shop_id));
        }
        None => select = select.filter(order::Column::CustomerId.eq(caller)),
    }
    if let Some(conversation_id) = filter.conversation_id {
        select = select.filter(order::Column::ConversationId.eq(conversation_id));
    }
    if let Some(status) = filter.status {
        select = select.filter(order::Column::Status.eq(status));
    }
    paginate(db, select, order::Column::Id, page).await
}

/// Cancels an unpaid order and releases its stock. The customer and the
/// shop's members may cancel; a paid order is refunded instead.
///
/// # Errors
/// `NOT_FOUND` for strangers; `CONFLICT` unless the order is unpaid with no
/// payment in progress.
pub async fn cancel(
    db: &(impl ConnectionTrait + TransactionTrait),
    events: &dyn EventBus,
    actor: &Actor,
    order_id: Uuid,
) -> Result<order::Model, Error> {
    let (found, _) = access(db, actor, order_id).await?;
    if found.status == OrderStatus::Paid || found.status == OrderStatus::Fulfilled {
        return Err(Error::Conflict(
            "a paid order is refunded, not cancelled: use refundOrder",
        ));
    }
    release(
        db,
        events,
        &found,
        "Order cancelled. Reserved items were released.",
    )
    .await?
    .ok_or(Error::Conflict(
        "only an unpaid order with no payment in progress can be cancelled",
    ))
}

/// Moves an unpaid, unclaimed order to `CANCELLED`, gives its stock back and
/// posts a notice, in one transaction. `None` when the order was not in that
/// state (someone else moved it first).
async fn release(
    db: &(impl ConnectionTrait + TransactionTrait),
    events: &dyn EventBus,
    found: &order::Model,
    notice: &str,
) -> Result<Option<order::Model>, Error> {
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let mut cancel = Query::update();
    cancel
        .table(order::Entity)
        .value(order::Column::Status, OrderStatus::Cancelled)
        .value(order::Column::CancelledAt, now)
        .value(order::Column::UpdatedAt, now)
        .and_where(Expr::col(order::Column::Id).eq(found.id))
        .and_where(Expr::col(order::Column::Status).eq(OrderStatus::PendingPayment))
        .and_where(Expr::col(order::Column::PaymentAttemptId).is_null());
    if txn.execute(&cancel).await?.rows_affected() != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    restock(&txn, found.id, None).await?;
    let posted = post_notice(&txn, found, notice).await?;
    txn.commit().await?;
    let updated = reload(db, found.id).await?;
    publish_with_message(events, &updated, Some(posted)).await;
    Ok(Some(updated))
}

/// Gives reserved units back to stock: all remaining units, or per line.
async fn restock(
    txn: &impl ConnectionTrait,
    order_id: Uuid,
    lines: Option<&[(Uuid, i64)]>,
) -> Result<(), Error> {
    for item in items_of(txn, order_id).await? {
        let Some(product_id) = item.product_id.filter(|_| item.stock_reserved) else {
            continue;
        };
        let units = match lines {
            None => item.quantity - item.refunded_quantity,
            Some(lines) => lines
                .iter()
                .find(|(id, _)| *id == item.id)
                .map_or(0, |(_, q)| *q),
        };
        if units <= 0 {
            continue;
        }
        let mut give_back = Query::update();
        give_back
            .table(product::Entity)
            .value(
                product::Column::Stock,
                Expr::col(product::Column::Stock).add(units),
            )
            .and_where(Expr::col(product::Column::Id).eq(product_id))
            .and_where(Expr::col(product::Column::Stock).is_not_null());
        txn.execute(&give_back).await?;
    }
    Ok(())
}

/// Posts a system notice about an order in its conversation.
pub(crate) async fn post_notice(
    txn: &(impl ConnectionTrait + TransactionTrait),
    found: &order::Model,
    text: &str,
) -> Result<message::Model, Error> {
    post_system_message(txn, found, MessageKind::SystemNotice, text).await
}

/// Posts a system message about an order (billed as `UTILITY`).
pub(crate) async fn post_system_message(
    txn: &(impl ConnectionTrait + TransactionTrait),
    found: &order::Model,
    kind: MessageKind,
    text: &str,
) -> Result<message::Model, Error> {
    let message = messages::append(
        txn,
        found.conversation_id,
        system_message(found, kind, text),
    )
    .await?;
    Ok(message)
}

/// A system message about an order (billed as `UTILITY`), to append.
pub(crate) fn system_message(found: &order::Model, kind: MessageKind, text: &str) -> Append {
    Append {
        author_kind: AuthorKind::System,
        author_id: None,
        kind,
        body: text.to_owned(),
        product_id: None,
        order_id: Some(found.id),
        category: Some(MessageCategory::Utility),
        client_message_id: None,
        request_digest: None,
    }
}

/// Publishes an order change and the message it posted, if any (in the
/// event, so up-to-date subscribers need not read it back).
pub(crate) async fn publish_with_message(
    events: &dyn EventBus,
    found: &order::Model,
    posted: Option<message::Model>,
) {
    let changed = Event::OrderChanged {
        shop_id: found.shop_id,
        conversation_id: found.conversation_id,
        order_id: found.id,
    };
    match posted {
        Some(message) => {
            let appended = Event::appended(found.shop_id, message);
            events.publish_all(vec![appended, changed]).await;
        }
        None => events.publish(changed).await,
    }
}

/// Reads an order again.
pub(crate) async fn reload(
    db: &impl ConnectionTrait,
    order_id: Uuid,
) -> Result<order::Model, Error> {
    order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("order vanished"))
}

/// Expires unpaid orders whose reservation ran out and that no payment is
/// working on: their stock goes back. Returns how many expired.
pub async fn expire_due(
    db: &(impl ConnectionTrait + TransactionTrait),
    events: &dyn EventBus,
) -> Result<usize, Error> {
    let due = order::Entity::find()
        .filter(order::Column::Status.eq(OrderStatus::PendingPayment))
        .filter(order::Column::ReservedUntil.lte(chrono::Utc::now()))
        .filter(order::Column::PaymentAttemptId.is_null())
        .limit(100)
        .all(db)
        .await?;
    let mut expired = 0;
    for found in due {
        if release(
            db,
            events,
            &found,
            "This order expired before it was paid. Reserved items were released.",
        )
        .await?
        .is_some()
        {
            expired += 1;
        }
    }
    Ok(expired)
}

/// Marks a paid order as handed over (shop members only).
///
/// # Errors
/// `NOT_FOUND` for strangers, `FORBIDDEN` for the customer, `CONFLICT` unless paid.
pub async fn fulfill(
    db: &(impl ConnectionTrait + TransactionTrait),
    events: &dyn EventBus,
    actor: &Actor,
    order_id: Uuid,
) -> Result<order::Model, Error> {
    let (found, side) = access(db, actor, order_id).await?;
    if side == Side::Customer {
        return Err(Error::Forbidden);
    }
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let mut fulfil = Query::update();
    fulfil
        .table(order::Entity)
        .value(order::Column::Status, OrderStatus::Fulfilled)
        .value(order::Column::FulfilledAt, now)
        .value(order::Column::UpdatedAt, now)
        .and_where(Expr::col(order::Column::Id).eq(order_id))
        .and_where(Expr::col(order::Column::Status).eq(OrderStatus::Paid));
    if txn.execute(&fulfil).await?.rows_affected() != 1 {
        txn.rollback().await?;
        return Err(Error::Conflict("only a paid order can be fulfilled"));
    }
    let notice = post_notice(&txn, &found, "Your order is on its way. Thank you!").await?;
    txn.commit().await?;
    let updated = reload(db, order_id).await?;
    publish_with_message(events, &updated, Some(notice)).await;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked() {
        let product = Uuid::now_v7();
        assert!(check_lines(&[]).is_err());
        assert!(check_lines(&[(product, 0)]).is_err());
        assert!(check_lines(&[(product, -1)]).is_err());
        assert!(check_lines(&[(product, MAX_QUANTITY + 1)]).is_err());
        assert!(check_lines(&[(product, 1), (product, 2)]).is_err());
        assert!(check_lines(&[(product, 1)]).is_ok());
        let many: Vec<_> = (0..=MAX_LINES).map(|_| (Uuid::now_v7(), 1)).collect();
        assert!(check_lines(&many).is_err());
    }
}
