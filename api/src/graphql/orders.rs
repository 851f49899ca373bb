//! `order`, `orders`, `placeOrder`, `payOrder`, `cancelOrder`,
//! `fulfillOrder`, `refundOrder`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::context::ContextExt;
use super::relay::{PageArgs, connection};
use super::types::{Order, OrderStatus};
use crate::domain::ids::{self, NodeKind};
use crate::services::conversations::Side;
use crate::services::orders::{self, NewOrder, OrderFilter};
use crate::services::payments;
use crate::services::shops;

#[derive(Default)]
pub(crate) struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// An order, for its customer and the shop's members; `null` otherwise.
    async fn order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's global id.")] id: ID,
    ) -> Result<Option<Order>> {
        let state = ctx.state()?;
        let order_id = ids::decode("id", NodeKind::Order, &id)?;
        Ok(orders::get(&state.db, ctx.actor(), order_id)
            .await?
            .map(|(model, side)| Order { model, side }))
    }

    /// The caller's orders as a customer, or with `shopId` the shop's orders
    /// (members only); oldest first.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::relay::page_weight(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "List this shop's orders instead of the caller's own.")] shop_id: Option<
            ID,
        >,
        #[graphql(desc = "Only orders of this conversation.")] conversation_id: Option<ID>,
        #[graphql(desc = "Only orders in this status.")] status: Option<OrderStatus>,
        #[graphql(desc = "Page size from the start (or from `after`).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (or from `before`).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> Result<Connection<String, Order>> {
        let state = ctx.state()?;
        let page = PageArgs {
            first,
            after,
            last,
            before,
        }
        .into_request(state)?;
        let filter = OrderFilter {
            shop_id: shop_id
                .map(|id| ids::decode("shopId", NodeKind::Shop, &id))
                .transpose()?,
            conversation_id: conversation_id
                .map(|id| ids::decode("conversationId", NodeKind::Conversation, &id))
                .transpose()?,
            status: status.map(Into::into),
        };
        let side = match filter.shop_id {
            Some(shop_id) => shops::role_of(&state.db, ctx.actor(), shop_id)
                .await?
                .map_or(Side::Customer, Side::Business),
            None => Side::Customer,
        };
        let rows = orders::list(&state.db, ctx.actor(), filter, &page).await?;
        Ok(connection(rows, |o| o.id, |model| Order { model, side }))
    }
}

/// A line to order.
#[derive(InputObject)]
struct OrderLineInput {
    /// An active product of the conversation's shop.
    product_id: ID,
    /// Units, 1 to 1000.
    quantity: i32,
}

/// An order to place in a conversation.
#[derive(InputObject)]
struct PlaceOrderInput {
    /// The conversation (its customer pays).
    conversation_id: ID,
    /// 1 to 50 lines, each product once.
    items: Vec<OrderLineInput>,
    /// An id of the client's choosing that makes placing idempotent: the same
    /// key and items return the first order; other items with it are `CONFLICT`.
    client_key: Option<String>,
}

/// A payment for an order.
#[derive(InputObject)]
struct PayOrderInput {
    /// The order.
    order_id: ID,
    /// The payment method as tokenised by the provider's client (with the
    /// built-in test provider: `tok_success`, `tok_decline`,
    /// `tok_insufficient_funds`, `tok_error`, `tok_slow`).
    payment_method_token: String,
    /// Required. The same key never charges twice: a retry returns the first
    /// result; the same key for another payment is `CONFLICT`.
    idempotency_key: String,
}

/// A line to refund.
#[derive(InputObject)]
struct RefundLineInput {
    /// The order line (`OrderItem.id`).
    order_item_id: ID,
    /// Units to refund.
    quantity: i32,
}

/// A refund.
#[derive(InputObject)]
struct RefundOrderInput {
    /// The order.
    order_id: ID,
    /// Lines to refund; omit to refund everything not refunded yet.
    items: Option<Vec<RefundLineInput>>,
    /// Required; the same key never refunds twice.
    idempotency_key: String,
}

/// The order as it is now.
#[derive(SimpleObject)]
struct OrderPayload {
    /// The order.
    order: Order,
}

#[derive(Default)]
pub(crate) struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Places an order in a conversation (the customer, or an agent proposing
    /// it for the customer to pay), reserving its stock. An order card message
    /// appears in the conversation.
    /// Errors: `NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT` (out of stock, key reuse).
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: PlaceOrderInput,
    ) -> Result<OrderPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let mut items = Vec::with_capacity(input.items.len());
            for line in input.items {
                items.push((
                    ids::decode("input.items", NodeKind::Product, &line.product_id)?,
                    line.quantity,
                ));
            }
            let new = NewOrder {
                conversation_id: ids::decode(
                    "input.conversationId",
                    NodeKind::Conversation,
                    &input.conversation_id,
                )?,
                items,
                client_key: input.client_key,
            };
            let (model, side) = orders::place(&state.order_context(), ctx.actor(), new).await?;
            Ok(OrderPayload {
                order: Order { model, side },
            })
        })
        .await
    }

    /// Pays an order (its customer only). On success the order is `PAID` and a
    /// confirmation message reaches the customer and the shop live.
    /// Errors: `FORBIDDEN`, `CONFLICT`, `PAYMENT_FAILED` (with
    /// `extensions.reason`; the order stays payable).
    async fn pay_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The payment.")] input: PayOrderInput,
    ) -> Result<OrderPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let order_id = ids::decode("input.orderId", NodeKind::Order, &input.order_id)?;
            let cx = state.order_context();
            let paid = payments::pay(
                &cx,
                ctx.actor(),
                order_id,
                &input.payment_method_token,
                &input.idempotency_key,
            )
            .await;
            match &paid {
                Ok(_) => {
                    state.metrics.orders_paid.inc();
                }
                Err(crate::Error::PaymentFailed { reason }) => state.metrics.payment_failed(reason),
                Err(_) => {}
            }
            let model = paid?;
            Ok(OrderPayload {
                order: Order {
                    model,
                    side: Side::Customer,
                },
            })
        })
        .await
    }

    /// Cancels an unpaid order and releases its stock (the customer or the
    /// shop). Paid orders are refunded instead.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
    ) -> Result<OrderPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let order_id = ids::decode("orderId", NodeKind::Order, &order_id)?;
            let model =
                orders::cancel(&state.writer, state.events.as_ref(), ctx.actor(), order_id).await?;
            let (_, side) = orders::access(&state.writer, ctx.actor(), order_id).await?;
            Ok(OrderPayload {
                order: Order { model, side },
            })
        })
        .await
    }

    /// Marks a paid order as handed over (shop members only).
    async fn fulfill_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] order_id: ID,
    ) -> Result<OrderPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let order_id = ids::decode("orderId", NodeKind::Order, &order_id)?;
            let model =
                orders::fulfill(&state.writer, state.events.as_ref(), ctx.actor(), order_id)
                    .await?;
            let (_, side) = orders::access(&state.writer, ctx.actor(), order_id).await?;
            Ok(OrderPayload {
                order: Order { model, side },
            })
        })
        .await
    }

    /// Refunds a paid or fulfilled order, fully or by line, through the
    /// payment provider (shop members only). Units of an unfulfilled order go
    /// back to stock.
    async fn refund_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refund.")] input: RefundOrderInput,
    ) -> Result<OrderPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let order_id = ids::decode("input.orderId", NodeKind::Order, &input.order_id)?;
            let lines = match input.items {
                None => None,
                Some(items) => {
                    let mut lines = Vec::with_capacity(items.len());
                    for line in items {
                        lines.push((
                            ids::decode("input.items", NodeKind::OrderItem, &line.order_item_id)?,
                            i64::from(line.quantity),
                        ));
                    }
                    Some(lines)
                }
            };
            let cx = state.order_context();
            let model =
                payments::refund(&cx, ctx.actor(), order_id, lines, &input.idempotency_key).await?;
            let (_, side) = orders::access(&state.writer, ctx.actor(), order_id).await?;
            Ok(OrderPayload {
                order: Order { model, side },
            })
        })
        .await
    }
}
