//! The `Order`, `OrderItem` and `Payment` types.

use async_graphql::{Context, ID, Object, Result};
use chatshop_entity::enums::PaymentKind as StoredPaymentKind;
use chatshop_entity::{order, order_item, payment};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Conversation, Money, OrderStatus, PaymentKind, PaymentStatus, Product, Shop};
use crate::Error;
use crate::domain::ids::{self, NodeKind};
use crate::domain::money::Currency;
use crate::graphql::context::ContextExt;
use crate::services::conversations::{self, Side};
use crate::services::{catalog, orders, shops};

/// An order, as seen by one of its conversation's participants.
pub(crate) struct Order {
    pub model: order::Model,
    pub side: Side,
}

impl Order {
    fn money(&self, minor: i64) -> Result<Money> {
        Ok(Money::from_minor(
            minor,
            Currency::from_stored(&self.model.currency)?,
        ))
    }

    /// The platform fee less what refunds gave back of it.
    fn platform_fee_kept(&self) -> i64 {
        let order = &self.model;
        order.platform_fee_minor
            - crate::domain::order::fee_returned(
                order.platform_fee_minor,
                order.total_minor,
                order.refunded_minor,
            )
    }
}

/// An order placed in a conversation and paid in the chat. Amounts are in the
/// shop's currency; the customer pays `total`; the platform's fee is taken
/// from the shop's proceeds.
#[Object]
impl Order {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::Order, self.model.id))
    }

    /// Where it stands.
    async fn status(&self) -> OrderStatus {
        self.model.status.into()
    }

    /// The conversation it was placed in.
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Option<Conversation>> {
        let state = ctx.state()?;
        Ok(
            conversations::get(&state.db, ctx.actor(), self.model.conversation_id)
                .await?
                .map(|(model, side)| Conversation { model, side }),
        )
    }

    /// The shop that sells.
    async fn shop(&self, ctx: &Context<'_>) -> Result<Shop> {
        let state = ctx.state()?;
        let shop = shops::get(&state.db, self.model.shop_id)
            .await?
            .ok_or_else(|| Error::internal("order without a shop"))?;
        Ok(Shop(shop))
    }

    /// What was bought, with names and prices as they were.
    async fn items(&self, ctx: &Context<'_>) -> Result<Vec<OrderItem>> {
        let state = ctx.state()?;
        let currency = Currency::from_stored(&self.model.currency)?;
        Ok(orders::items_of(&state.db, self.model.id)
            .await?
            .into_iter()
            .map(|model| OrderItem { model, currency })
            .collect())
    }

    /// Sum of the lines.
    async fn subtotal(&self) -> Result<Money> {
        self.money(self.model.subtotal_minor)
    }

    /// What the customer pays.
    async fn total(&self) -> Result<Money> {
        self.money(self.model.total_minor)
    }

    /// The platform's cut, taken from the shop's proceeds; a refund gives
    /// back its part of it (in proportion, rounded down; all of it with a
    /// whole refund). Shop members only (`null` for the customer).
    async fn platform_fee(&self) -> Result<Option<Money>> {
        match self.side {
            Side::Business(_) => Ok(Some(self.money(self.platform_fee_kept())?)),
            Side::Customer => Ok(None),
        }
    }

    /// What the shop keeps: the total, less what was refunded and the
    /// platform fee. Shop members only.
    async fn shop_payout(&self) -> Result<Option<Money>> {
        match self.side {
            Side::Business(_) => Ok(Some(self.money(
                self.model.total_minor - self.model.refunded_minor - self.platform_fee_kept(),
            )?)),
            Side::Customer => Ok(None),
        }
    }

    /// Refunded so far.
    async fn refunded(&self) -> Result<Money> {
        self.money(self.model.refunded_minor)
    }

    /// Payment attempts and refunds, oldest first.
    async fn payments(&self, ctx: &Context<'_>) -> Result<Vec<Payment>> {
        let state = ctx.state()?;
        let rows = payment::Entity::find()
            .filter(payment::Column::OrderId.eq(self.model.id))
            .order_by_asc(payment::Column::CreatedAt)
            .all(&state.db)
            .await
            .map_err(Error::from)?;
        let currency = Currency::from_stored(&self.model.currency)?;
        Ok(rows
            .into_iter()
            .map(|model| Payment { model, currency })
            .collect())
    }

    /// Unpaid orders keep their stock reserved until then, and expire after.
    async fn reserved_until(&self) -> DateTime<Utc> {
        self.model.reserved_until
    }

    /// When it was placed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    /// When it was paid.
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.model.paid_at
    }

    /// When it was fulfilled.
    async fn fulfilled_at(&self) -> Option<DateTime<Utc>> {
        self.model.fulfilled_at
    }

    /// When it was cancelled or expired.
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.model.cancelled_at
    }

    /// When anything in it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}

/// A line of an order.
pub(crate) struct OrderItem {
    model: order_item::Model,
    currency: Currency,
}

/// A line of an order: a product, its name and unit price as they were when
/// ordered, and the quantity.
#[Object]
impl OrderItem {
    /// Global id (used to refund by line).
    async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::OrderItem, self.model.id))
    }

    /// The product as it is now (`null` if it is gone or archived).
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        let Some(product_id) = self.model.product_id else {
            return Ok(None);
        };
        let state = ctx.state()?;
        Ok(catalog::get_product(&state.db, ctx.actor(), product_id)
            .await?
            .map(|p| Product::new(p, self.currency)))
    }

    /// The product's name when ordered.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// The unit price when ordered.
    async fn unit_price(&self) -> Money {
        Money::from_minor(self.model.unit_price_minor, self.currency)
    }

    /// Units ordered.
    async fn quantity(&self) -> i64 {
        self.model.quantity
    }

    /// Units refunded so far.
    async fn refunded_quantity(&self) -> i64 {
        self.model.refunded_quantity
    }

    /// Unit price × quantity.
    async fn line_total(&self) -> Money {
        Money::from_minor(
            self.model
                .unit_price_minor
                .saturating_mul(self.model.quantity),
            self.currency,
        )
    }
}

/// A payment attempt or refund.
pub(crate) struct Payment {
    model: payment::Model,
    currency: Currency,
}

/// One attempt to move money for an order. No card data is ever stored.
#[Object]
impl Payment {
    /// Charge or refund.
    async fn kind(&self) -> PaymentKind {
        self.model.kind.into()
    }

    /// Where it stands.
    async fn status(&self) -> PaymentStatus {
        self.model.status.into()
    }

    /// The amount.
    async fn amount(&self) -> Money {
        Money::from_minor(self.model.amount_minor, self.currency)
    }

    /// Why it failed: `card_declined`, `insufficient_funds`, `provider_error`,
    /// `timeout`, …
    async fn failure_code(&self) -> Option<&str> {
        self.model.failure_code.as_deref()
    }

    /// The client's idempotency key.
    async fn idempotency_key(&self) -> &str {
        &self.model.idempotency_key
    }

    /// When it was attempted.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    /// Whether this is money in (charge) rather than out (refund).
    async fn is_charge(&self) -> bool {
        self.model.kind == StoredPaymentKind::Charge
    }
}
