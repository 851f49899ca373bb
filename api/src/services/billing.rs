//! Billing: the rate card, exactly-once metering of delivered business
//! messages, usage, and immutable invoices.
//!
//! Money here is in micro-units (a millionth of the major unit), so a rate of
//! half a US cent is exactly 5 000. Message charges are in US dollars, as the
//! rate card is; platform fees are in each shop's own currency. Billing reads
//! counts and amounts only, never message content.

use std::collections::BTreeMap;

use chatshop_entity::enums::{MessageCategory, OrderStatus, PaymentKind, PaymentStatus, ShopRole};
use chatshop_entity::{invoice, invoice_line, message, order, payment, rate_change, usage_record};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::{new_id, shops};
use crate::Error;
use crate::auth::Actor;
use crate::auth::policy::{self, ShopPermission};
use crate::domain::money::Currency;

/// The currency of the rate card and of message charges.
pub const RATE_CURRENCY: &str = "USD";

/// Micro-units in one major unit.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// Every billable category, in display order.
pub const CATEGORIES: [MessageCategory; 4] = [
    MessageCategory::Service,
    MessageCategory::Utility,
    MessageCategory::Authentication,
    MessageCategory::Marketing,
];

/// The default price per delivered message, in micro-USD, before any change:
/// from half a cent (service replies) to nine cents (marketing).
pub fn default_rate(category: MessageCategory) -> i64 {
    match category {
        MessageCategory::Service => 5_000,
        MessageCategory::Utility => 15_000,
        MessageCategory::Authentication => 30_000,
        MessageCategory::Marketing => 90_000,
    }
}

/// The most a message may cost (1 USD): a typo guard for rate changes.
const MAX_RATE_MICRO: i64 = MICROS_PER_UNIT;

/// One category's current price.
#[derive(Clone, Debug)]
pub struct Rate {
    /// The category.
    pub category: MessageCategory,
    /// Micro-USD per delivered message.
    pub rate_micro: i64,
    /// When this rate took effect (`None`: the default, always in force).
    pub effective_from: Option<chrono::DateTime<chrono::Utc>>,
}

/// The rate of every category in force at `at`.
pub async fn rate_card(
    db: &impl ConnectionTrait,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Rate>, Error> {
    let mut rates = Vec::with_capacity(CATEGORIES.len());
    for category in CATEGORIES {
        let latest = rate_change::Entity::find()
            .filter(rate_change::Column::Category.eq(category))
            .filter(rate_change::Column::EffectiveFrom.lte(at))
            .order_by_desc(rate_change::Column::EffectiveFrom)
            .one(db)
            .await?;
        rates.push(match latest {
            Some(change) => Rate {
                category,
                rate_micro: change.rate_micro,
                effective_from: Some(change.effective_from),
            },
            None => Rate {
                category,
                rate_micro: default_rate(category),
                effective_from: None,
            },
        });
    }
    Ok(rates)
}

/// Changes the price of a category from now on (platform administrators only).
/// Deliveries already metered keep the rate they were metered at.
///
/// # Errors
/// `FORBIDDEN` for anyone but an administrator; `BAD_USER_INPUT` for a
/// malformed or absurd rate.
pub async fn set_rate(
    db: &impl ConnectionTrait,
    actor: &Actor,
    admin_emails: &[String],
    category: MessageCategory,
    rate: &str,
) -> Result<Rate, Error> {
    let caller = actor.user_id()?;
    let account = chatshop_entity::user::Entity::find_by_id(caller)
        .one(db)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if !admin_emails
        .iter()
        .any(|admin| admin.trim().eq_ignore_ascii_case(&account.email))
    {
        return Err(Error::Forbidden);
    }
    let rate_micro = crate::domain::money::parse_decimal(rate, 6)
        .filter(|r| (0..=MAX_RATE_MICRO).contains(r))
        .ok_or_else(|| {
            Error::invalid(
                "input.rate",
                "a rate is a decimal amount of USD between 0 and 1, at most 6 decimals",
            )
        })?;
    let now = chrono::Utc::now();
    rate_change::Entity::insert(rate_change::ActiveModel {
        id: Set(new_id()),
        category: Set(category),
        rate_micro: Set(rate_micro),
        effective_from: Set(now),
        changed_by: Set(caller),
    })
    .exec_without_returning(db)
    .await?;
    Ok(Rate {
        category,
        rate_micro,
        effective_from: Some(now),
    })
}

/// Meters messages that were just delivered for the first time: one usage
/// record per billable (business) message at the rate in force now. Runs in
/// the transaction that moved them to delivered; the unique message id makes
/// a second record impossible even if a caller got that wrong.
pub(crate) async fn meter(
    txn: &impl ConnectionTrait,
    shop_id: Uuid,
    delivered: &[message::Model],
) -> Result<(), Error> {
    let billable: Vec<(&message::Model, MessageCategory)> = delivered
        .iter()
        .filter_map(|m| m.category.map(|c| (m, c)))
        .collect();
    if billable.is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let rates = rate_card(txn, now).await?;
    let rate_of = |category: MessageCategory| {
        rates
            .iter()
            .find(|r| r.category == category)
            .map_or_else(|| default_rate(category), |r| r.rate_micro)
    };
    let records = billable
        .into_iter()
        .map(|(message, category)| usage_record::ActiveModel {
            id: Set(new_id()),
            message_id: Set(message.id),
            shop_id: Set(shop_id),
            category: Set(category),
            rate_micro: Set(rate_of(category)),
            delivered_at: Set(message.delivered_at.unwrap_or(now)),
            invoice_id: Set(None),
        });
    usage_record::Entity::insert_many(records)
        .on_conflict_do_nothing_on([usage_record::Column::MessageId])
        .exec(txn)
        .await?;
    Ok(())
}

/// Delivered messages and their cost in one category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryUsage {
    /// The category.
    pub category: MessageCategory,
    /// Delivered messages.
    pub messages: i64,
    /// Their cost, micro-USD.
    pub amount_micro: i64,
}

/// A shop's usage over a period.
#[derive(Clone, Debug)]
pub struct Usage {
    /// Start, inclusive.
    pub from: chrono::DateTime<chrono::Utc>,
    /// End, exclusive.
    pub to: chrono::DateTime<chrono::Utc>,
    /// Per category (all four, zeros included).
    pub categories: Vec<CategoryUsage>,
    /// Platform fees on orders paid in the period, micro-units of `currency`.
    pub platform_fees_micro: i64,
    /// Orders paid in the period.
    pub paid_orders: i64,
    /// What refunds made in the period gave back of the platform fees,
    /// micro-units of `currency`.
    pub platform_fees_returned_micro: i64,
    /// Refunds made in the period.
    pub refunds: i64,
    /// The shop's currency.
    pub currency: Currency,
}

impl Usage {
    /// Total message charges, micro-USD.
    pub fn messages_total_micro(&self) -> i64 {
        self.categories.iter().map(|c| c.amount_micro).sum()
    }
}

/// A shop's usage between `from` (inclusive) and `to` (exclusive). Owners only.
///
/// # Errors
/// `FORBIDDEN` for agents, customers and strangers; `BAD_USER_INPUT` when
/// `from` is not before `to`.
pub async fn usage(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<Usage, Error> {
    let shop = require_owner(db, actor, shop_id).await?;
    if from >= to {
        return Err(Error::invalid("from", "from must be before to"));
    }
    compute_usage(
        db,
        shop_id,
        Currency::from_stored(&shop.currency)?,
        Billed::Between(from, to),
    )
    .await
}

/// What a usage figure covers.
#[derive(Clone, Copy, Debug)]
enum Billed {
    /// Everything stamped in `[from, to)`, billed yet or not: the live view.
    Between(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    /// What an invoice billed, over its period.
    By {
        invoice: Uuid,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    },
}

impl Billed {
    /// The usage records covered.
    fn records(self, shop_id: Uuid) -> sea_orm::Select<usage_record::Entity> {
        let all = usage_record::Entity::find();
        match self {
            Self::Between(from, to) => all
                .filter(usage_record::Column::ShopId.eq(shop_id))
                .filter(usage_record::Column::DeliveredAt.gte(from))
                .filter(usage_record::Column::DeliveredAt.lt(to)),
            Self::By { invoice, .. } => all.filter(usage_record::Column::InvoiceId.eq(invoice)),
        }
    }

    /// The orders whose platform fee is covered.
    fn paid_orders(self, shop_id: Uuid) -> sea_orm::Select<order::Entity> {
        let all = order::Entity::find();
        match self {
            Self::Between(from, to) => all
                .filter(order::Column::ShopId.eq(shop_id))
                .filter(order::Column::PaidAt.gte(from))
                .filter(order::Column::PaidAt.lt(to))
                .filter(order::Column::Status.ne(OrderStatus::PendingPayment)),
            Self::By { invoice, .. } => all.filter(order::Column::InvoiceId.eq(invoice)),
        }
    }

    /// The refunds whose share of the platform fee is covered.
    fn refunds(self, shop_id: Uuid) -> sea_orm::Select<payment::Entity> {
        let all = payment::Entity::find();
        match self {
            Self::Between(from, to) => all
                .filter(payment::Column::Kind.eq(PaymentKind::Refund))
                .filter(payment::Column::Status.eq(PaymentStatus::Succeeded))
                .filter(payment::Column::UpdatedAt.gte(from))
                .filter(payment::Column::UpdatedAt.lt(to))
                .filter(payment::Column::OrderId.in_subquery(orders_of(shop_id))),
            Self::By { invoice, .. } => all.filter(payment::Column::InvoiceId.eq(invoice)),
        }
    }
}

/// `SELECT id FROM orders WHERE shop_id = …`.
fn orders_of(shop_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(order::Column::Id)
        .from(order::Entity)
        .and_where(order::Column::ShopId.eq(shop_id))
        .to_owned()
}

/// `SUM` of a `bigint` column as a `bigint` (PostgreSQL widens it to
/// `numeric`); `NULL` over no rows.
fn sum_of(column: impl sea_orm::sea_query::IntoColumnRef) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait};
    Expr::col(column).sum().cast_as("bigint")
}

async fn compute_usage(
    db: &impl ConnectionTrait,
    shop_id: Uuid,
    currency: Currency,
    billed: Billed,
) -> Result<Usage, Error> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let counted: Vec<(MessageCategory, i64, Option<i64>)> = billed
        .records(shop_id)
        .select_only()
        .column(usage_record::Column::Category)
        .column_as(Expr::col(usage_record::Column::Id).count(), "messages")
        .column_as(sum_of(usage_record::Column::RateMicro), "amount_micro")
        .group_by(usage_record::Column::Category)
        .into_tuple()
        .all(db)
        .await?;
    let categories = CATEGORIES
        .iter()
        .map(|category| {
            let (messages, amount_micro) = counted
                .iter()
                .find(|(counted, _, _)| counted == category)
                .map_or((0, 0), |(_, messages, amount)| {
                    (*messages, amount.unwrap_or(0))
                });
            CategoryUsage {
                category: *category,
                messages,
                amount_micro,
            }
        })
        .collect();
    let (paid_orders, fees_minor): (i64, Option<i64>) = billed
        .paid_orders(shop_id)
        .select_only()
        .column_as(Expr::col(order::Column::Id).count(), "orders")
        .column_as(sum_of(order::Column::PlatformFeeMinor), "fees")
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or((0, None));
    let scale = 10_i64.pow(6_u32.saturating_sub(currency.exponent()));
    let (refunds, returned_minor) = fees_returned(db, billed.refunds(shop_id)).await?;
    let (from, to) = match billed {
        Billed::Between(from, to)
        | Billed::By {
            start: from,
            end: to,
            ..
        } => (from, to),
    };
    Ok(Usage {
        from,
        to,
        categories,
        platform_fees_micro: fees_minor.unwrap_or(0).saturating_mul(scale),
        paid_orders,
        platform_fees_returned_micro: returned_minor.saturating_mul(scale),
        refunds,
        currency,
    })
}

/// How many of `covered` (succeeded refunds) there are, and what they gave
/// back of the platform's fees, in minor units. Each refund gives back the
/// growth of its order's [`fee_returned`] from before it to after it, so an
/// order's refunds over every period add up to what `Order.platformFee`
/// shows was given back.
///
/// [`fee_returned`]: crate::domain::order::fee_returned
async fn fees_returned(
    db: &impl ConnectionTrait,
    covered: sea_orm::Select<payment::Entity>,
) -> Result<(i64, i64), Error> {
    let covered: Vec<(Uuid, Uuid)> = covered
        .select_only()
        .column(payment::Column::Id)
        .column(payment::Column::OrderId)
        .into_tuple()
        .all(db)
        .await?;
    if covered.is_empty() {
        return Ok((0, 0));
    }
    let refunded_orders: std::collections::BTreeSet<Uuid> =
        covered.iter().map(|(_, order)| *order).collect();
    let covered: std::collections::BTreeSet<Uuid> = covered.iter().map(|(id, _)| *id).collect();
    let orders: BTreeMap<Uuid, order::Model> = order::Entity::find()
        .filter(order::Column::Id.is_in(refunded_orders.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    // Every refund of those orders in the order they went through: what an
    // order had refunded before says what a refund gives back.
    let history = payment::Entity::find()
        .filter(payment::Column::Kind.eq(PaymentKind::Refund))
        .filter(payment::Column::Status.eq(PaymentStatus::Succeeded))
        .filter(payment::Column::OrderId.is_in(refunded_orders))
        .order_by_asc(payment::Column::UpdatedAt)
        .order_by_asc(payment::Column::Id)
        .all(db)
        .await?;
    let mut refunded_before: BTreeMap<Uuid, i64> = BTreeMap::new();
    let (mut refunds, mut returned) = (0_i64, 0_i64);
    for refund in history {
        let Some(order) = orders.get(&refund.order_id) else {
            continue;
        };
        let before = refunded_before.entry(order.id).or_insert(0);
        let after = before.saturating_add(refund.amount_minor);
        if covered.contains(&refund.id) {
            let given_back = |refunded| {
                crate::domain::order::fee_returned(
                    order.platform_fee_minor,
                    order.total_minor,
                    refunded,
                )
            };
            refunds += 1;
            returned += given_back(after) - given_back(*before);
        }
        *before = after;
    }
    Ok((refunds, returned))
}

/// Closes a shop's billing period at `period_end`: an immutable invoice of
/// everything not billed yet that was stamped before `period_end`. The
/// period runs from the previous invoice's end (or the shop's opening); a
/// delivery, payment or refund stamped before that end but committed after
/// that close is billed by this invoice. Closing
/// at the same end again returns the same invoice. Owners only. Periods
/// closed at once, at different ends, follow one another: the later end
/// gets the period after the earlier's, or an earlier end that comes second
/// is refused.
///
/// # Errors
/// `FORBIDDEN` for anyone but an owner; `BAD_USER_INPUT` when `period_end` is
/// in the future or not after the previous period's end; `CONFLICT` when
/// other closes kept colliding with this one.
pub async fn close_period(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &Actor,
    shop_id: Uuid,
    period_end: chrono::DateTime<chrono::Utc>,
) -> Result<invoice::Model, Error> {
    let shop = require_owner(db, actor, shop_id).await?;
    // A close that collides with another (the same start) tries again after
    // it: the other's invoice is then the previous period, or this one.
    let mut tries = 0;
    loop {
        tries += 1;
        match close_after_last(db, &shop, period_end).await? {
            Closed::Invoice(invoice) => return Ok(invoice),
            Closed::Collided if tries < 3 => {}
            Closed::Collided => {
                return Err(Error::Conflict(
                    "the period is being closed by another request; try again",
                ));
            }
        }
    }
}

/// What one try at closing a period came to.
enum Closed {
    /// The invoice: new, or the one an earlier close at that end made.
    Invoice(invoice::Model),
    /// Another close committed an invoice with the same start first.
    Collided,
}

/// Closes `shop`'s period from the end of its last invoice to `period_end`.
async fn close_after_last(
    db: &(impl ConnectionTrait + TransactionTrait),
    shop: &chatshop_entity::shop::Model,
    period_end: chrono::DateTime<chrono::Utc>,
) -> Result<Closed, Error> {
    let shop_id = shop.id;
    let at_this_end = || {
        invoice::Entity::find()
            .filter(invoice::Column::ShopId.eq(shop_id))
            .filter(invoice::Column::PeriodEnd.eq(period_end))
    };
    if let Some(existing) = at_this_end().one(db).await? {
        return Ok(Closed::Invoice(existing));
    }
    if period_end > chrono::Utc::now() {
        return Err(Error::invalid(
            "periodEnd",
            "a period can only be closed once it has ended",
        ));
    }
    let previous = invoice::Entity::find()
        .filter(invoice::Column::ShopId.eq(shop_id))
        .order_by_desc(invoice::Column::PeriodEnd)
        .one(db)
        .await?;
    let period_start = previous.map_or(shop.created_at, |p| p.period_end);
    if period_end <= period_start {
        return Err(Error::invalid(
            "periodEnd",
            "periodEnd must be after the end of the previous period",
        ));
    }
    let currency = Currency::from_stored(&shop.currency)?;

    let txn = db.begin().await?;
    let invoice_id = new_id();
    let inserted = invoice::Entity::insert(invoice::ActiveModel {
        id: Set(invoice_id),
        shop_id: Set(shop_id),
        period_start: Set(period_start),
        period_end: Set(period_end),
        created_at: Set(chrono::Utc::now()),
    })
    .exec_with_returning(&txn)
    .await;
    let created = match inserted {
        Ok(created) => created,
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            // Closed concurrently: at this end, the other close's invoice
            // is the one; from this start, this close goes after it.
            txn.rollback().await?;
            return Ok(match at_this_end().one(db).await? {
                Some(invoice) => Closed::Invoice(invoice),
                None => Closed::Collided,
            });
        }
        Err(err) => return Err(err.into()),
    };
    bill_unbilled(&txn, shop_id, invoice_id, period_end).await?;
    let billed = Billed::By {
        invoice: invoice_id,
        start: period_start,
        end: period_end,
    };
    let usage = compute_usage(&txn, shop_id, currency, billed).await?;
    let mut lines: Vec<invoice_line::ActiveModel> = usage
        .categories
        .iter()
        .map(|c| {
            line(
                invoice_id,
                "MESSAGES",
                Some(category_name(c.category)),
                c.messages,
                c.amount_micro,
                RATE_CURRENCY,
                &format!(
                    "Delivered {} messages",
                    category_name(c.category).to_lowercase()
                ),
            )
        })
        .collect();
    lines.push(line(
        invoice_id,
        "PLATFORM_FEES",
        None,
        usage.paid_orders,
        usage.platform_fees_micro,
        currency.code(),
        "Platform fees on payments",
    ));
    if usage.refunds > 0 {
        lines.push(line(
            invoice_id,
            "PLATFORM_FEES_RETURNED",
            None,
            usage.refunds,
            -usage.platform_fees_returned_micro,
            currency.code(),
            "Platform fees given back with refunds",
        ));
    }
    lines.push(line(
        invoice_id,
        "HOSTING",
        None,
        1,
        0,
        RATE_CURRENCY,
        "Conversation hosting (free)",
    ));
    invoice_line::Entity::insert_many(lines)
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(Closed::Invoice(created))
}

/// Marks with `invoice_id` what `shop_id` has not been billed for and that
/// was stamped before `end`: deliveries, payments and refunds. Stamped
/// before the end of the previous period but committed after its close,
/// they are billed here, not lost.
async fn bill_unbilled(
    txn: &impl ConnectionTrait,
    shop_id: Uuid,
    invoice_id: Uuid,
    end: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    usage_record::Entity::update_many()
        .col_expr(usage_record::Column::InvoiceId, invoice_id.into())
        .filter(usage_record::Column::ShopId.eq(shop_id))
        .filter(usage_record::Column::InvoiceId.is_null())
        .filter(usage_record::Column::DeliveredAt.lt(end))
        .exec(txn)
        .await?;
    order::Entity::update_many()
        .col_expr(order::Column::InvoiceId, invoice_id.into())
        .filter(order::Column::ShopId.eq(shop_id))
        .filter(order::Column::InvoiceId.is_null())
        .filter(order::Column::PaidAt.lt(end))
        .filter(order::Column::Status.ne(OrderStatus::PendingPayment))
        .exec(txn)
        .await?;
    payment::Entity::update_many()
        .col_expr(payment::Column::InvoiceId, invoice_id.into())
        .filter(payment::Column::Kind.eq(PaymentKind::Refund))
        .filter(payment::Column::Status.eq(PaymentStatus::Succeeded))
        .filter(payment::Column::InvoiceId.is_null())
        .filter(payment::Column::UpdatedAt.lt(end))
        .filter(payment::Column::OrderId.in_subquery(orders_of(shop_id)))
        .exec(txn)
        .await?;
    Ok(())
}

fn line(
    invoice_id: Uuid,
    kind: &str,
    category: Option<&str>,
    quantity: i64,
    amount_micro: i64,
    currency: &str,
    description: &str,
) -> invoice_line::ActiveModel {
    invoice_line::ActiveModel {
        id: Set(new_id()),
        invoice_id: Set(invoice_id),
        kind: Set(kind.to_owned()),
        category: Set(category.map(str::to_owned)),
        quantity: Set(quantity),
        amount_micro: Set(amount_micro),
        currency: Set(currency.to_owned()),
        description: Set(description.to_owned()),
    }
}

/// The stored name of a category.
pub fn category_name(category: MessageCategory) -> &'static str {
    match category {
        MessageCategory::Service => "SERVICE",
        MessageCategory::Utility => "UTILITY",
        MessageCategory::Authentication => "AUTHENTICATION",
        MessageCategory::Marketing => "MARKETING",
    }
}

/// A page of a shop's invoices, oldest first. Owners only.
pub async fn invoices(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
    page: &crate::domain::page::PageRequest,
) -> Result<crate::domain::page::Page<invoice::Model>, Error> {
    require_owner(db, actor, shop_id).await?;
    super::paginate(
        db,
        invoice::Entity::find().filter(invoice::Column::ShopId.eq(shop_id)),
        invoice::Column::Id,
        page,
    )
    .await
}

/// An invoice's lines, in the order they were written.
pub async fn lines_of(
    db: &impl ConnectionTrait,
    invoice_id: Uuid,
) -> Result<Vec<invoice_line::Model>, Error> {
    Ok(invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(invoice_id))
        .order_by_asc(invoice_line::Column::Id)
        .all(db)
        .await?)
}

async fn require_owner(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
) -> Result<chatshop_entity::shop::Model, Error> {
    actor.user_id()?;
    let shop = shops::get(db, shop_id)
        .await?
        .ok_or_else(|| Error::invalid("shopId", "no shop with this id"))?;
    let role = policy::require(
        shops::role_of(db, actor, shop_id).await?,
        ShopPermission::Manage,
    )?;
    debug_assert_eq!(role, ShopRole::Owner);
    Ok(shop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rates_span_half_a_cent_to_nine_cents() {
        let rates: Vec<i64> = CATEGORIES.iter().map(|c| default_rate(*c)).collect();
        assert_eq!(rates.iter().min(), Some(&5_000));
        assert_eq!(rates.iter().max(), Some(&90_000));
    }
}
