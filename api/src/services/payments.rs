//! Paying and refunding orders through the
//! [`PaymentProvider`](crate::payments::PaymentProvider).
//!
//! The order of operations is what makes a charge exactly-once:
//!
//! 1. The attempt is recorded (`PENDING`, with its idempotency key) and claims
//!    the order, in one transaction, *before* the provider is called. The
//!    claim means one attempt at a time per order, so two keys can never both
//!    charge; the unique key means one attempt per key.
//! 2. The provider is called outside any transaction, with the same key, and
//!    a timeout.
//! 3. The outcome is written in one transaction: on success the payment, the
//!    `PAID` order and the confirmation message together.
//!
//! If the process dies between 2 and 3, the attempt stays `PENDING` and keeps
//! its claim. The next call (same key, or a new key) reconciles it first by
//! asking the provider what became of the old key, so a charge that went
//! through is never lost and never repeated.

use std::time::Duration;

use chatshop_entity::enums::{MessageKind, OrderStatus, PaymentKind, PaymentStatus};
use chatshop_entity::{message, order, payment};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, UnionType};
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, FromQueryResult, QueryFilter, Statement, TransactionSession,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::conversations::Side;
use super::group_writer::{GroupedWrite, Posted};
use super::messages;
use super::orders::{
    self, OrderContext, check_key, post_notice, publish_with_message, reload, system_message,
};
use super::{array, columns_as, is_unique_violation, new_id};
use crate::Error;
use crate::auth::Actor;
use crate::domain::money::{Currency, format_decimal};
use crate::payments::{ChargeOutcome, ChargeRequest, ProviderError, RefundRequest};

/// Pays an order with a tokenised payment method.
///
/// # Errors
/// `NOT_FOUND` for strangers; `FORBIDDEN` for anyone but the order's
/// customer; `CONFLICT` when the order is not payable, another payment is in
/// progress, or the key was used for a different payment; `PAYMENT_FAILED`
/// (with a reason) when the provider declines, fails or times out — the order
/// then stays payable and nothing is charged.
pub async fn pay<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    actor: &Actor,
    order_id: Uuid,
    payment_method_token: &str,
    idempotency_key: &str,
) -> Result<order::Model, Error> {
    let key = check_key("input.idempotencyKey")(idempotency_key)?;
    let token = payment_method_token.trim();
    if token.is_empty() || token.len() > 256 {
        return Err(Error::invalid(
            "input.paymentMethodToken",
            "a payment method token is 1 to 256 characters",
        ));
    }
    let digest = digest(&[order_id.to_string().as_str(), token]);
    // The usual case on PostgreSQL, the customer paying their order for the
    // first time, is checked and claimed in one statement. Anything else (a
    // retry, an earlier attempt, an expired reservation, a stranger) claims
    // nothing there and is told apart by the steps below.
    if let Some(customer_id) = actor.user_id_opt()
        && cx.group_writer.groups_checkout()
    {
        let claim = ClaimRequest {
            order_id,
            customer_id,
            attempt_id: new_id(),
            idempotency_key: key.clone(),
            request_digest: digest.clone(),
        };
        match cx.group_writer.claim(claim).await {
            Ok(Some((found, attempt))) => return charge(cx, &found, attempt, token).await,
            // Not claimable that way, or the key was used before: the steps
            // below tell which.
            Ok(None) => {}
            Err(err) if is_unique_violation(&err) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let (found, side) =
        orders::access_remembered(cx.reader, cx.participations, actor, order_id).await?;
    if side != Side::Customer {
        return Err(Error::Forbidden);
    }
    // One read finds this key's attempt, if any, and the order's attempts
    // that may have charged without us knowing.
    let (existing, unsettled) = charge_attempts(cx.reader, &found, &key).await?;
    // A repeated key answers as the first time.
    if let Some(existing) = existing {
        if existing.order_id != order_id || existing.request_digest != digest {
            return Err(Error::Conflict(
                "this idempotencyKey was already used for a different payment",
            ));
        }
        return match existing.status {
            PaymentStatus::Succeeded => reload(cx.reader, order_id).await,
            PaymentStatus::Failed => Err(Error::PaymentFailed {
                reason: existing.failure_code.unwrap_or_else(|| "failed".to_owned()),
            }),
            PaymentStatus::Pending => charge(cx, &found, existing, token).await,
        };
    }

    if found.status != OrderStatus::PendingPayment {
        return Err(Error::Conflict(match found.status {
            OrderStatus::Cancelled => "this order was cancelled or expired; place it again",
            _ => "this order is already paid",
        }));
    }
    // An attempt that holds the order, or one that timed out, may have gone
    // through: settle those before taking money again.
    if let Some(paid) = reconcile_previous(cx, &found, unsettled).await? {
        return Ok(paid);
    }
    if found.reserved_until <= chrono::Utc::now() {
        orders::expire_due(cx.db, cx.events).await?;
        return Err(Error::Conflict(
            "this order's reservation expired; place it again",
        ));
    }

    let attempt = claim(cx.db, &found, &key, &digest).await?;
    match attempt {
        Claim::Ours(attempt) => charge(cx, &found, attempt, token).await,
        // The same request, sent twice at once: both ask the provider with the
        // same key, which charges once; both then settle the same outcome.
        Claim::SameKeyRunning(attempt) => charge(cx, &found, attempt, token).await,
    }
}

enum Claim {
    Ours(payment::Model),
    SameKeyRunning(payment::Model),
}

/// Claims the order for a new attempt with `key`, or says who holds it.
async fn claim(
    db: &(impl ConnectionTrait + TransactionTrait),
    found: &order::Model,
    key: &str,
    digest: &str,
) -> Result<Claim, Error> {
    match record_claim(db, found, key, digest).await {
        Ok(Some(attempt)) => return Ok(Claim::Ours(attempt)),
        Ok(None) => {}
        Err(err) if is_unique_violation(&err) => {}
        Err(err) => return Err(err.into()),
    }
    // Someone else holds the order (or took this key first).
    let current = reload(db, found.id).await?;
    if let Some(existing) = find_attempt(db, PaymentKind::Charge, key).await? {
        if existing.request_digest == digest && existing.order_id == found.id {
            return Ok(Claim::SameKeyRunning(existing));
        }
        return Err(Error::Conflict(
            "this idempotencyKey was already used for a different payment",
        ));
    }
    Err(match current.status {
        OrderStatus::PendingPayment => {
            Error::Conflict("another payment for this order is in progress")
        }
        _ => Error::Conflict("this order is already paid"),
    })
}

/// Records a `PENDING` attempt and claims the order for it, atomically;
/// `None` when the order is not payable or another attempt holds it. A key
/// already used fails with a unique violation and claims nothing.
async fn record_claim(
    db: &(impl ConnectionTrait + TransactionTrait),
    found: &order::Model,
    key: &str,
    digest: &str,
) -> Result<Option<payment::Model>, sea_orm::DbErr> {
    // One statement, so one round trip and no explicit transaction.
    const POSTGRES: &str = "WITH claimed AS ( \
            UPDATE orders SET payment_attempt_id = $1, updated_at = $2 \
            WHERE id = $3 AND status = $4 AND payment_attempt_id IS NULL RETURNING id) \
        INSERT INTO payments (id, order_id, kind, idempotency_key, request_digest, \
            amount_minor, currency, status, failure_code, provider_reference, created_at, \
            updated_at) \
        SELECT $1, id, $5, $6, $7, $8, $9, $10, NULL, NULL, $2, $2 FROM claimed \
        RETURNING *";
    let now = chrono::Utc::now();
    let attempt_id = new_id();
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let values: Vec<sea_orm::Value> = vec![
            attempt_id.into(),
            now.into(),
            found.id.into(),
            OrderStatus::PendingPayment.to_value().into(),
            PaymentKind::Charge.to_value().into(),
            key.into(),
            digest.into(),
            found.total_minor.into(),
            found.currency.clone().into(),
            PaymentStatus::Pending.to_value().into(),
        ];
        return payment::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, POSTGRES, values))
            .one(db)
            .await;
    }
    let txn = db.begin().await?;
    let mut take = Query::update();
    take.table(order::Entity)
        .value(order::Column::PaymentAttemptId, attempt_id)
        .value(order::Column::UpdatedAt, now)
        .and_where(Expr::col(order::Column::Id).eq(found.id))
        .and_where(Expr::col(order::Column::Status).eq(OrderStatus::PendingPayment))
        .and_where(Expr::col(order::Column::PaymentAttemptId).is_null());
    if txn.execute(&take).await?.rows_affected() != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    let inserted = payment::Entity::insert(pending_attempt(
        attempt_id,
        found,
        PaymentKind::Charge,
        key.to_owned(),
        digest.to_owned(),
        found.total_minor,
        now,
    ))
    .exec_with_returning(&txn)
    .await;
    match inserted {
        Ok(attempt) => {
            txn.commit().await?;
            Ok(Some(attempt))
        }
        Err(err) => {
            txn.rollback().await?;
            Err(err)
        }
    }
}

/// A first payment attempt to claim an order for (see
/// [`claim_first_attempts`]).
pub(crate) struct ClaimRequest {
    order_id: Uuid,
    customer_id: Uuid,
    attempt_id: Uuid,
    idempotency_key: String,
    request_digest: String,
}

impl GroupedWrite for ClaimRequest {
    type Written = (order::Model, payment::Model);

    fn statement_bytes(&self) -> usize {
        self.idempotency_key.len() + self.request_digest.len() + 300
    }

    async fn write_all(
        db: &DatabaseConnection,
        group: &[Self],
    ) -> Result<Vec<Option<Self::Written>>, DbErr> {
        claim_first_attempts(db, group).await
    }
}

/// PostgreSQL: claims each customer's order for a first attempt with its
/// key, in one statement for the lot, where the order is payable (not held
/// by an attempt, its reservation not expired) and no earlier attempt may
/// have charged without us knowing (see [`charge_attempts`]). Returns the
/// order as claimed and the `PENDING` attempt, or `None` where nothing was
/// claimed. Fails as a whole when a key was used before.
pub(crate) async fn claim_first_attempts(
    db: &DatabaseConnection,
    claims: &[ClaimRequest],
) -> Result<Vec<Option<(order::Model, payment::Model)>>, sea_orm::DbErr> {
    const ATTEMPT_PREFIX: &str = "attempt_";
    // Orders and their payments are found by id. The checks on their state
    // are wrapped in `IS TRUE` so that the planner never finds rows through
    // an index on that state instead: with young statistics it takes
    // pending orders (or charges) to be few, but under churn the status
    // index also holds every order's dead pending versions (measured: 1.8
    // ms a claim, against 0.3 ms).
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], \
                $4::text[], $5::text[]) \
                AS i(order_id, customer_id, attempt_id, idempotency_key, request_digest)), \
            claimed AS ( \
                UPDATE orders AS o SET payment_attempt_id = input.attempt_id, updated_at = $6 \
                FROM input \
                WHERE o.id = input.order_id AND o.customer_id = input.customer_id \
                    AND (o.status = $7 AND o.payment_attempt_id IS NULL \
                        AND o.reserved_until > $6) IS TRUE \
                    AND NOT EXISTS (SELECT 1 FROM payments AS p WHERE p.order_id = o.id \
                        AND (p.kind = $8 AND (p.status = $9 OR p.failure_code = 'timeout')) \
                            IS TRUE) \
                RETURNING o.*), \
            attempt AS ( \
                INSERT INTO payments (id, order_id, kind, idempotency_key, request_digest, \
                    amount_minor, currency, status, failure_code, provider_reference, \
                    created_at, updated_at) \
                SELECT input.attempt_id, claimed.id, $8, input.idempotency_key, \
                    input.request_digest, claimed.total_minor, claimed.currency, $9, NULL, \
                    NULL, $6, $6 \
                FROM claimed JOIN input ON input.attempt_id = claimed.payment_attempt_id \
                RETURNING *) \
            SELECT claimed.*, {} FROM claimed JOIN attempt ON attempt.order_id = claimed.id",
            columns_as::<payment::Entity>("attempt", ATTEMPT_PREFIX)
        )
    });
    let values: Vec<sea_orm::Value> = vec![
        array(claims.iter().map(|claim| claim.order_id)),
        array(claims.iter().map(|claim| claim.customer_id)),
        array(claims.iter().map(|claim| claim.attempt_id)),
        array(claims.iter().map(|claim| claim.idempotency_key.clone())),
        array(claims.iter().map(|claim| claim.request_digest.clone())),
        chrono::Utc::now().into(),
        OrderStatus::PendingPayment.to_value().into(),
        PaymentKind::Charge.to_value().into(),
        PaymentStatus::Pending.to_value().into(),
    ];
    let mut claimed = std::collections::HashMap::new();
    for row in super::query_pooled(db, POSTGRES.as_str(), values, super::Rows::All).await? {
        let attempt = payment::Model::from_query_result(&row, ATTEMPT_PREFIX)?;
        claimed.insert(
            attempt.id,
            (order::Model::from_query_result(&row, "")?, attempt),
        );
    }
    Ok(claims
        .iter()
        .map(|claim| claimed.remove(&claim.attempt_id))
        .collect())
}

/// A new `PENDING` attempt to move `amount_minor` of `order`'s currency.
fn pending_attempt(
    id: Uuid,
    order: &order::Model,
    kind: PaymentKind,
    idempotency_key: String,
    request_digest: String,
    amount_minor: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> payment::ActiveModel {
    payment::ActiveModel {
        id: Set(id),
        order_id: Set(order.id),
        kind: Set(kind),
        idempotency_key: Set(idempotency_key),
        request_digest: Set(request_digest),
        amount_minor: Set(amount_minor),
        currency: Set(order.currency.clone()),
        status: Set(PaymentStatus::Pending),
        failure_code: Set(None),
        provider_reference: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        invoice_id: Set(None),
    }
}

/// The charge attempt made with `key` (for any order), and the attempts on
/// `found` that may have charged without us knowing: the one holding the
/// order, and earlier ones that timed out.
async fn charge_attempts(
    db: &impl ConnectionTrait,
    found: &order::Model,
    key: &str,
) -> Result<(Option<payment::Model>, Vec<payment::Model>), Error> {
    // Two lookups in one statement, each by its own index: a single filter
    // with OR lets the planner scan every charge by `kind` alone while the
    // table's statistics are young.
    let mut by_key = Query::select();
    by_key
        .column(Asterisk)
        .from(payment::Entity)
        .and_where(Expr::col(payment::Column::Kind).eq(PaymentKind::Charge))
        .and_where(Expr::col(payment::Column::IdempotencyKey).eq(key));
    let mut of_order = Query::select();
    of_order
        .column(Asterisk)
        .from(payment::Entity)
        .and_where(Expr::col(payment::Column::OrderId).eq(found.id));
    by_key.union(UnionType::All, of_order);
    let statement = db.get_database_backend().build(&by_key);
    let found_attempts = payment::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?;
    let mut with_key = None;
    let mut others = Vec::with_capacity(found_attempts.len());
    for attempt in found_attempts {
        if attempt.kind != PaymentKind::Charge {
            continue;
        }
        if attempt.idempotency_key == key {
            with_key = Some(attempt);
        } else if attempt.order_id == found.id
            && (attempt.status == PaymentStatus::Pending
                || attempt.failure_code.as_deref() == Some("timeout"))
        {
            others.push(attempt);
        }
    }
    Ok((with_key, others))
}

/// Settles `candidates`, attempts that may have charged without us knowing
/// (see [`charge_attempts`]). Returns the paid order if one of them went
/// through.
async fn reconcile_previous<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    found: &order::Model,
    candidates: Vec<payment::Model>,
) -> Result<Option<order::Model>, Error> {
    let timeout = Duration::from_millis(cx.billing.payment_timeout_ms);
    for attempt in candidates {
        let known =
            tokio::time::timeout(timeout, cx.provider.lookup(&attempt.idempotency_key)).await;
        match known {
            Ok(Ok(Some(ChargeOutcome::Succeeded { reference }))) => {
                return settle_success(cx, found, &attempt, &reference)
                    .await
                    .map(Some);
            }
            Ok(Ok(Some(ChargeOutcome::Declined { code }))) => {
                settle_failure(cx, found, &attempt, &code).await?
            }
            Ok(Ok(None)) if attempt.status == PaymentStatus::Pending => {
                // Never reached the provider, or still in flight: only give
                // up on it once it is older than a whole provider timeout.
                let age = chrono::Utc::now() - attempt.created_at;
                if age.to_std().unwrap_or_default() > timeout {
                    settle_failure(cx, found, &attempt, "abandoned").await?;
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Calls the provider for an attempt and settles the outcome.
async fn charge<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    found: &order::Model,
    attempt: payment::Model,
    token: &str,
) -> Result<order::Model, Error> {
    let currency = Currency::from_stored(&found.currency)?;
    let request = ChargeRequest {
        idempotency_key: attempt.idempotency_key.clone(),
        amount_minor: attempt.amount_minor,
        currency: found.currency.clone(),
        payment_method_token: token.to_owned(),
        description: format!(
            "Chatshop order {} ({} {})",
            found.id,
            format_decimal(attempt.amount_minor, currency.exponent()),
            currency.code()
        ),
    };
    let outcome = match ask_provider(
        cx,
        cx.provider.charge(request),
        &attempt.idempotency_key,
        found.id,
    )
    .await
    {
        Answer::Known(outcome) => outcome,
        Answer::NeverSeen(reason) | Answer::Unknown(reason) => ChargeOutcome::Declined {
            code: reason.to_owned(),
        },
    };
    match outcome {
        ChargeOutcome::Succeeded { reference } => {
            settle_success(cx, found, &attempt, &reference).await
        }
        ChargeOutcome::Declined { code } => {
            settle_failure(cx, found, &attempt, &code).await?;
            Err(Error::PaymentFailed { reason: code })
        }
    }
}

/// What the provider said of a charge or refund.
enum Answer {
    /// Its outcome.
    Known(ChargeOutcome),
    /// Its answer was lost (the reason), and it never saw the key: nothing
    /// moved.
    NeverSeen(&'static str),
    /// Its answer was lost (the reason), and so was its answer about the key.
    Unknown(&'static str),
}

/// Makes `call` to the provider within the payment timeout; when its answer
/// is lost (an error, or the timeout), asks once what became of `key`.
async fn ask_provider<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    call: impl Future<Output = Result<ChargeOutcome, ProviderError>>,
    key: &str,
    order_id: Uuid,
) -> Answer {
    let timeout = Duration::from_millis(cx.billing.payment_timeout_ms);
    let reason = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(outcome)) => return Answer::Known(outcome),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, order = %order_id, "payment provider failed");
            "provider_error"
        }
        Err(_) => "timeout",
    };
    match tokio::time::timeout(timeout, cx.provider.lookup(key)).await {
        Ok(Ok(Some(outcome))) => Answer::Known(outcome),
        Ok(Ok(None)) => Answer::NeverSeen(reason),
        _ => Answer::Unknown(reason),
    }
}

/// Records a successful charge: payment, `PAID` order and confirmation
/// message in one transaction; then tells everyone. Safe to run twice.
/// Returns the order as it is now.
async fn settle_success<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    found: &order::Model,
    attempt: &payment::Model,
    reference: &str,
) -> Result<order::Model, Error> {
    let currency = Currency::from_stored(&found.currency)?;
    let text = format!(
        "Payment received: {} {}. Your order is confirmed.",
        format_decimal(attempt.amount_minor, currency.exponent()),
        currency.code()
    );
    let confirmation = system_message(found, MessageKind::OrderConfirmation, &text);
    let settled = if cx.group_writer.groups_checkout() {
        let settlement = Settlement {
            order_id: found.id,
            conversation_id: found.conversation_id,
            attempt_id: attempt.id,
            reference: reference.to_owned(),
            confirmation,
        };
        cx.group_writer.settle(settlement).await?
    } else {
        settle_in_steps(cx.db, found, attempt, reference, confirmation).await?
    };
    let Some((updated, confirmation)) = settled else {
        // Settled already by a concurrent request with the same key, or the
        // order stopped being payable while the provider was charging.
        let current = reload(cx.db, found.id).await?;
        if current.status != OrderStatus::Paid {
            tracing::error!(order = %found.id, payment = %attempt.id, "a charge succeeded for an order that is no longer payable; refund it");
        }
        return Ok(current);
    };
    publish_with_message(cx.events, &updated, Some(confirmation)).await;
    Ok(updated)
}

/// A successful charge to record (see [`settle_all`]).
pub(crate) struct Settlement {
    order_id: Uuid,
    conversation_id: Uuid,
    attempt_id: Uuid,
    reference: String,
    confirmation: messages::Append,
}

impl GroupedWrite for Settlement {
    type Written = Posted;

    fn statement_bytes(&self) -> usize {
        self.reference.len() + self.confirmation.body.len() + 700
    }

    async fn write_all(
        db: &DatabaseConnection,
        group: &[Self],
    ) -> Result<Vec<Option<Posted>>, DbErr> {
        settle_all(db, group).await
    }
}

/// [`settle_success`]'s writes on PostgreSQL, for several payments in one
/// statement (so one round trip and one commit): each order taken first
/// (its row lock orders concurrent settlements), then its payment and its
/// confirmation. Nothing is written for a payment unless its order was still
/// payable and the attempt not yet settled; it gets `None`. (Orders are
/// found by id, as in [`claim_first_attempts`].)
pub(crate) async fn settle_all(
    db: &DatabaseConnection,
    settlements: &[Settlement],
) -> Result<Vec<Option<(order::Model, message::Model)>>, sea_orm::DbErr> {
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]) \
                AS i(order_id, attempt_id, reference)), \
            paid AS ( \
                UPDATE orders AS o SET status = $6, paid_at = $5, updated_at = $5, \
                    payment_attempt_id = NULL \
                FROM input \
                WHERE o.id = input.order_id AND (o.status = $7) IS TRUE \
                    AND EXISTS (SELECT 1 FROM payments AS p WHERE p.id = input.attempt_id \
                        AND p.status <> $8) \
                RETURNING o.*, input.attempt_id AS settled_attempt_id, \
                    input.reference AS settled_reference), \
            succeeded AS ( \
                UPDATE payments AS p SET status = $8, provider_reference = paid.settled_reference, \
                    failure_code = NULL, updated_at = $5 \
                FROM paid WHERE p.id = paid.settled_attempt_id AND p.status <> $8 \
                RETURNING p.order_id), \
            {}",
            orders::postgres_post_cards("succeeded.order_id", "paid", 4, 5),
        )
    });
    let cards: Vec<messages::AppendRecord<'_>> = settlements
        .iter()
        .enumerate()
        .map(|(n, settlement)| {
            messages::append_record(
                n,
                new_id(),
                settlement.conversation_id,
                &settlement.confirmation,
            )
        })
        .collect();
    let values: Vec<sea_orm::Value> = vec![
        array(settlements.iter().map(|settlement| settlement.order_id)),
        array(settlements.iter().map(|settlement| settlement.attempt_id)),
        array(
            settlements
                .iter()
                .map(|settlement| settlement.reference.clone()),
        ),
        messages::append_records_json(&cards)?,
        chrono::Utc::now().into(),
        OrderStatus::Paid.to_value().into(),
        OrderStatus::PendingPayment.to_value().into(),
        PaymentStatus::Succeeded.to_value().into(),
    ];
    let rows = orders::orders_with_posted(db, POSTGRES.as_str(), values).await?;
    Ok(orders::by_order(
        settlements.iter().map(|settlement| settlement.order_id),
        rows,
    ))
}

/// [`settle_success`]'s writes elsewhere, in one transaction.
async fn settle_in_steps(
    db: &(impl ConnectionTrait + TransactionTrait),
    found: &order::Model,
    attempt: &payment::Model,
    reference: &str,
    confirmation: messages::Append,
) -> Result<Option<(order::Model, message::Model)>, Error> {
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let mut succeed = Query::update();
    succeed
        .table(payment::Entity)
        .value(payment::Column::Status, PaymentStatus::Succeeded)
        .value(payment::Column::ProviderReference, reference)
        .value(payment::Column::FailureCode, Option::<String>::None)
        .value(payment::Column::UpdatedAt, now)
        .and_where(Expr::col(payment::Column::Id).eq(attempt.id))
        .and_where(Expr::col(payment::Column::Status).ne(PaymentStatus::Succeeded));
    let first_time = txn.execute(&succeed).await?.rows_affected() == 1;
    let paid = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(OrderStatus::Paid))
        .col_expr(order::Column::PaidAt, Expr::value(now))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            order::Column::PaymentAttemptId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(order::Column::Id.eq(found.id))
        .filter(order::Column::Status.eq(OrderStatus::PendingPayment))
        .exec_with_returning(&txn)
        .await?
        .into_iter()
        .next();
    let (true, Some(updated)) = (first_time, paid) else {
        txn.rollback().await?;
        return Ok(None);
    };
    let confirmation = messages::append(&txn, found.conversation_id, confirmation).await?;
    txn.commit().await?;
    Ok(Some((updated, confirmation)))
}

/// Records a failed attempt and frees the order for the next one.
async fn settle_failure<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    found: &order::Model,
    attempt: &payment::Model,
    code: &str,
) -> Result<(), Error> {
    let now = chrono::Utc::now();
    let txn = cx.db.begin().await?;
    let mut fail = Query::update();
    fail.table(payment::Entity)
        .value(payment::Column::Status, PaymentStatus::Failed)
        .value(payment::Column::FailureCode, code)
        .value(payment::Column::UpdatedAt, now)
        .and_where(Expr::col(payment::Column::Id).eq(attempt.id))
        .and_where(Expr::col(payment::Column::Status).eq(PaymentStatus::Pending));
    txn.execute(&fail).await?;
    let mut free = Query::update();
    free.table(order::Entity)
        .value(order::Column::PaymentAttemptId, Option::<Uuid>::None)
        .value(order::Column::UpdatedAt, now)
        .and_where(Expr::col(order::Column::Id).eq(found.id))
        .and_where(Expr::col(order::Column::PaymentAttemptId).eq(attempt.id));
    txn.execute(&free).await?;
    txn.commit().await?;
    publish_with_message(cx.events, found, None).await;
    Ok(())
}

async fn find_attempt(
    db: &impl ConnectionTrait,
    kind: PaymentKind,
    key: &str,
) -> Result<Option<payment::Model>, Error> {
    Ok(payment::Entity::find()
        .filter(payment::Column::Kind.eq(kind))
        .filter(payment::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    super::hex(&hasher.finalize())
}

/// Refunds a paid (or fulfilled) order, fully or by line, through the
/// provider. Units of an order that was not fulfilled go back to stock.
///
/// One refund of an order runs at a time: it claims the order (the column
/// a charge claims while the order is unpaid) in the transaction that
/// checks what is left and records the attempt, and gives it back when the
/// provider has answered. Two refunds sent at once with different keys can
/// then never both pay out, nor restock, the same units: the second gets
/// `CONFLICT`. When the provider's answer is lost and it cannot say what
/// became of the key, the claim stays with the attempt, which its key
/// completes when retried.
///
/// # Errors
/// `NOT_FOUND` for strangers, `FORBIDDEN` for the customer, `BAD_USER_INPUT`
/// for unknown lines or quantities above what is left, `CONFLICT` when
/// nothing is left to refund, another refund of the order is under way or
/// the key was used for another refund, `PAYMENT_FAILED` when the provider
/// refuses (and again for a retry with the same key).
pub async fn refund<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    actor: &Actor,
    order_id: Uuid,
    lines: Option<Vec<(Uuid, i64)>>,
    idempotency_key: &str,
) -> Result<order::Model, Error> {
    let key = check_key("input.idempotencyKey")(idempotency_key)?;
    let (found, side) = orders::access(cx.db, actor, order_id).await?;
    if side == Side::Customer {
        return Err(Error::Forbidden);
    }
    let digest = digest(&[order_id.to_string().as_str(), &format!("{lines:?}")]);
    let earlier = find_attempt(cx.db, PaymentKind::Refund, &key).await?;
    if let Some(earlier) = &earlier {
        if earlier.order_id != order_id || earlier.request_digest != digest {
            return Err(Error::Conflict(
                "this idempotencyKey was already used for a different refund",
            ));
        }
        match earlier.status {
            PaymentStatus::Succeeded => return reload(cx.db, order_id).await,
            PaymentStatus::Failed => {
                return Err(Error::PaymentFailed {
                    reason: earlier
                        .failure_code
                        .clone()
                        .unwrap_or_else(|| "declined".to_owned()),
                });
            }
            PaymentStatus::Pending => {}
        }
    }
    if !matches!(found.status, OrderStatus::Paid | OrderStatus::Fulfilled) {
        return Err(Error::Conflict(
            "only a paid or fulfilled order can be refunded",
        ));
    }
    let charge = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .filter(payment::Column::Kind.eq(PaymentKind::Charge))
        .filter(payment::Column::Status.eq(PaymentStatus::Succeeded))
        .one(cx.db)
        .await?
        .ok_or_else(|| Error::internal("paid order without a successful charge"))?;
    let (attempt, units) = claim_for_refund(cx, &found, earlier, lines, key, digest).await?;
    let request = RefundRequest {
        idempotency_key: attempt.idempotency_key.clone(),
        charge_reference: charge.provider_reference.unwrap_or_default(),
        amount_minor: attempt.amount_minor,
        currency: found.currency.clone(),
    };
    let outcome = match ask_provider(
        cx,
        cx.provider.refund(request),
        &attempt.idempotency_key,
        order_id,
    )
    .await
    {
        Answer::Known(outcome) => outcome,
        // Nothing moved.
        Answer::NeverSeen(reason) => ChargeOutcome::Declined {
            code: reason.to_owned(),
        },
        // The attempt keeps the order until its key is sent again.
        Answer::Unknown(reason) => {
            return Err(Error::PaymentFailed {
                reason: reason.to_owned(),
            });
        }
    };
    match outcome {
        ChargeOutcome::Succeeded { reference } => {
            record_refund(cx, &found, &attempt, &units, &reference).await
        }
        ChargeOutcome::Declined { code } => {
            let now = chrono::Utc::now();
            let txn = cx.db.begin().await?;
            let mut fail = Query::update();
            fail.table(payment::Entity)
                .value(payment::Column::Status, PaymentStatus::Failed)
                .value(payment::Column::FailureCode, code.as_str())
                .value(payment::Column::UpdatedAt, now)
                .and_where(Expr::col(payment::Column::Id).eq(attempt.id))
                .and_where(Expr::col(payment::Column::Status).eq(PaymentStatus::Pending));
            txn.execute(&fail).await?;
            txn.execute(&release_claim(order_id, attempt.id)).await?;
            txn.commit().await?;
            Err(Error::PaymentFailed { reason: code })
        }
    }
}

/// Claims `found` for a refund and checks what it asks against what is
/// left, in one transaction: the units to refund and the attempt (`earlier`,
/// when the same key is retried) that holds the claim.
async fn claim_for_refund<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    found: &order::Model,
    earlier: Option<payment::Model>,
    lines: Option<Vec<(Uuid, i64)>>,
    key: String,
    digest: String,
) -> Result<(payment::Model, Vec<(Uuid, i64)>), Error> {
    let attempt_id = earlier.as_ref().map_or_else(new_id, |attempt| attempt.id);
    let txn = cx.db.begin().await?;
    // On PostgreSQL the update locks the order's row: a refund that comes
    // second waits for this transaction, then finds the order claimed.
    let mut claim = Query::update();
    claim
        .table(order::Entity)
        .value(order::Column::PaymentAttemptId, attempt_id)
        .and_where(Expr::col(order::Column::Id).eq(found.id))
        .and_where(
            Expr::col(order::Column::Status).is_in([OrderStatus::Paid, OrderStatus::Fulfilled]),
        )
        .and_where(
            Expr::col(order::Column::PaymentAttemptId)
                .is_null()
                .or(Expr::col(order::Column::PaymentAttemptId).eq(attempt_id)),
        );
    if txn.execute(&claim).await?.rows_affected() != 1 {
        txn.rollback().await?;
        let current = reload(cx.db, found.id).await?;
        return Err(Error::Conflict(
            if matches!(current.status, OrderStatus::Paid | OrderStatus::Fulfilled) {
                "another refund of this order is under way; try again once it is done"
            } else {
                "only a paid or fulfilled order can be refunded"
            },
        ));
    }
    let items = orders::items_of(&txn, found.id).await?;
    let checked = units_to_refund(&items, lines).and_then(|(units, amount)| match &earlier {
        // Nothing else could refund the order while this attempt held it.
        Some(earlier) if earlier.amount_minor != amount => Err(Error::internal(
            "a pending refund no longer matches what is left of its order",
        )),
        _ => Ok((units, amount)),
    });
    let (units, amount) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            txn.rollback().await?;
            return Err(err);
        }
    };
    let attempt = match earlier {
        Some(earlier) => earlier,
        None => payment::Entity::insert(pending_attempt(
            attempt_id,
            found,
            PaymentKind::Refund,
            key,
            digest,
            amount,
            chrono::Utc::now(),
        ))
        .exec_with_returning(&txn)
        .await
        .map_err(crate::error::on_unique_violation(
            "a refund with this idempotencyKey is in progress",
        ))?,
    };
    txn.commit().await?;
    Ok((attempt, units))
}

/// The units a refund asks for (`lines`, or all that is left) and what
/// they cost, checked against what is left of each line of `items`.
fn units_to_refund(
    items: &[chatshop_entity::order_item::Model],
    lines: Option<Vec<(Uuid, i64)>>,
) -> Result<(Vec<(Uuid, i64)>, i64), Error> {
    let units: Vec<(Uuid, i64)> = match lines {
        None => items
            .iter()
            .map(|i| (i.id, i.quantity - i.refunded_quantity))
            .filter(|(_, q)| *q > 0)
            .collect(),
        Some(lines) => lines,
    };
    let mut amount: i64 = 0;
    for (item_id, quantity) in &units {
        let item = items
            .iter()
            .find(|i| i.id == *item_id)
            .ok_or_else(|| Error::invalid("input.items", "no line of this order with this id"))?;
        if *quantity <= 0 || *quantity > item.quantity - item.refunded_quantity {
            return Err(Error::invalid(
                "input.items",
                "refund quantities must be positive and at most what is left",
            ));
        }
        amount = amount
            .checked_add(crate::domain::order::line_total(
                item.unit_price_minor,
                *quantity,
            )?)
            .ok_or_else(|| Error::invalid("input.items", "refund too large"))?;
    }
    if amount == 0 {
        return Err(Error::Conflict("nothing is left to refund"));
    }
    Ok((units, amount))
}

/// Gives back the claim `attempt_id` holds on an order.
fn release_claim(order_id: Uuid, attempt_id: Uuid) -> sea_orm::sea_query::UpdateStatement {
    let mut release = Query::update();
    release
        .table(order::Entity)
        .value(order::Column::PaymentAttemptId, Option::<Uuid>::None)
        .and_where(Expr::col(order::Column::Id).eq(order_id))
        .and_where(Expr::col(order::Column::PaymentAttemptId).eq(attempt_id));
    release
}

/// Records a refund the provider made: the attempt, the refunded units and
/// amount, the order's status, the stock of an order not yet handed over,
/// a notice in the conversation; then tells everyone. A second caller with
/// the same key finds the attempt recorded and gets the order as it is.
async fn record_refund<C: ConnectionTrait + TransactionTrait>(
    cx: &OrderContext<'_, C>,
    found: &order::Model,
    attempt: &payment::Model,
    units: &[(Uuid, i64)],
    reference: &str,
) -> Result<order::Model, Error> {
    let now = chrono::Utc::now();
    let txn = cx.db.begin().await?;
    let mut succeed = Query::update();
    succeed
        .table(payment::Entity)
        .value(payment::Column::Status, PaymentStatus::Succeeded)
        .value(payment::Column::ProviderReference, reference)
        .value(payment::Column::UpdatedAt, now)
        .and_where(Expr::col(payment::Column::Id).eq(attempt.id))
        .and_where(Expr::col(payment::Column::Status).eq(PaymentStatus::Pending));
    if txn.execute(&succeed).await?.rows_affected() != 1 {
        txn.rollback().await?;
        return reload(cx.db, found.id).await;
    }
    for (item_id, quantity) in units {
        let mut line = Query::update();
        line.table(chatshop_entity::order_item::Entity)
            .value(
                chatshop_entity::order_item::Column::RefundedQuantity,
                Expr::col(chatshop_entity::order_item::Column::RefundedQuantity).add(*quantity),
            )
            .and_where(Expr::col(chatshop_entity::order_item::Column::Id).eq(*item_id));
        txn.execute(&line).await?;
    }
    // Written first so that, on PostgreSQL, the row is locked before it is
    // read below: a fulfilment cannot slip in between.
    let mut refunded = release_claim(found.id, attempt.id);
    refunded
        .value(
            order::Column::RefundedMinor,
            Expr::col(order::Column::RefundedMinor).add(attempt.amount_minor),
        )
        .value(order::Column::UpdatedAt, now);
    txn.execute(&refunded).await?;
    let current = reload(&txn, found.id).await?;
    if current.refunded_minor >= current.total_minor {
        let mut done = Query::update();
        done.table(order::Entity)
            .value(order::Column::Status, OrderStatus::Refunded)
            .and_where(Expr::col(order::Column::Id).eq(found.id));
        txn.execute(&done).await?;
    }
    if current.status == OrderStatus::Paid {
        // Not handed over yet: the units can be sold again.
        restock_lines(&txn, units).await?;
    }
    let currency = Currency::from_stored(&found.currency)?;
    let notice = post_notice(
        &txn,
        found,
        &format!(
            "Refunded {} {}.",
            format_decimal(attempt.amount_minor, currency.exponent()),
            currency.code()
        ),
    )
    .await?;
    txn.commit().await?;
    let updated = reload(cx.db, found.id).await?;
    publish_with_message(cx.events, &updated, Some(notice)).await;
    Ok(updated)
}

async fn restock_lines(txn: &impl ConnectionTrait, units: &[(Uuid, i64)]) -> Result<(), Error> {
    for (item_id, quantity) in units {
        let Some(item) = chatshop_entity::order_item::Entity::find_by_id(*item_id)
            .one(txn)
            .await?
        else {
            continue;
        };
        let Some(product_id) = item.product_id.filter(|_| item.stock_reserved) else {
            continue;
        };
        let mut give_back = Query::update();
        give_back
            .table(chatshop_entity::product::Entity)
            .value(
                chatshop_entity::product::Column::Stock,
                Expr::col(chatshop_entity::product::Column::Stock).add(*quantity),
            )
            .and_where(Expr::col(chatshop_entity::product::Column::Id).eq(product_id))
            .and_where(Expr::col(chatshop_entity::product::Column::Stock).is_not_null());
        txn.execute(&give_back).await?;
    }
    Ok(())
}
