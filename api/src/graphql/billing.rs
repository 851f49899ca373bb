//! `rateCard`, `billingUsage`, `invoices`, `updateRateCard`,
//! `closeBillingPeriod`, and the privacy operations `setMarketingConsent`,
//! `exportMyData`, `deleteMyData`.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chatshop_entity::invoice;
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::relay::{PageArgs, connection};
use super::types::{MessageCategory, Money, Shop};
use crate::Error;
use crate::domain::ids::{self, NodeKind};
use crate::events::Event;
use crate::services::billing::{self, RATE_CURRENCY};
use crate::services::{privacy, shops};

/// The price of one delivered business message of a category.
#[derive(SimpleObject)]
struct MessageRate {
    /// The category.
    category: MessageCategory,
    /// Price per delivered message (USD, exact to the micro-unit: `"0.005000"`).
    price: Money,
    /// When this price took effect (`null` for the default price).
    effective_from: Option<DateTime<Utc>>,
}

/// Delivered messages of one category in a period.
#[derive(SimpleObject)]
struct CategoryUsage {
    /// The category.
    category: MessageCategory,
    /// Delivered messages (each metered once, when first delivered).
    messages: i64,
    /// What they cost, at the rates in force when each was delivered.
    amount: Money,
}

/// A shop's billable usage over a period. Counts and amounts only: billing
/// never reads message content.
#[derive(SimpleObject)]
struct BillingUsage {
    /// Start, inclusive.
    from: DateTime<Utc>,
    /// End, exclusive.
    to: DateTime<Utc>,
    /// Per category, all four.
    categories: Vec<CategoryUsage>,
    /// Sum of the categories (USD).
    messages_total: Money,
    /// The platform's cut of payments on orders paid in the period (the shop's currency).
    platform_fees: Money,
    /// Orders paid in the period.
    paid_orders: i64,
    /// What refunds made in the period gave back of the platform's cut (the
    /// shop's currency): `platformFees` less this is what the period owes.
    platform_fees_returned: Money,
    /// Refunds made in the period.
    refunds: i64,
    /// Conversation hosting: free.
    hosting: Money,
}

/// What an invoice line is for.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
enum InvoiceLineKind {
    /// Delivered business messages of one category.
    Messages,
    /// The platform's cut of payments.
    PlatformFees,
    /// What refunds gave back of the platform's cut (a negative amount).
    PlatformFeesReturned,
    /// Conversation hosting (free).
    Hosting,
}

/// A line of an invoice.
#[derive(SimpleObject)]
struct InvoiceLine {
    /// What it is for.
    kind: InvoiceLineKind,
    /// The message category, for message lines.
    category: Option<MessageCategory>,
    /// Messages delivered, orders paid, refunds made, or 1 for hosting.
    quantity: i64,
    /// The amount, exact to the micro-unit.
    amount: Money,
    /// A human-readable label.
    description: String,
}

/// A shop's closed billing period. Immutable.
struct Invoice(invoice::Model);

/// A shop's closed billing period: lines per message category, platform fees
/// and hosting (free). Immutable once closed. It bills what was not billed
/// yet and was stamped before its end: a delivery or payment stamped before
/// the previous period ended but committed after that period was closed is
/// billed here.
#[Object]
impl Invoice {
    /// Global id.
    async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::Invoice, self.0.id))
    }

    /// The shop billed.
    async fn shop(&self, ctx: &Context<'_>) -> Result<Shop> {
        let state = ctx.state()?;
        Ok(Shop(
            shops::get(&state.db, self.0.shop_id)
                .await?
                .ok_or_else(|| Error::internal("invoice without a shop"))?,
        ))
    }

    /// Start of the period, inclusive.
    async fn period_start(&self) -> DateTime<Utc> {
        self.0.period_start
    }

    /// End of the period, exclusive.
    async fn period_end(&self) -> DateTime<Utc> {
        self.0.period_end
    }

    /// The lines.
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<InvoiceLine>> {
        let state = ctx.state()?;
        Ok(billing::lines_of(&state.db, self.0.id)
            .await?
            .into_iter()
            .map(invoice_line)
            .collect())
    }

    /// The total per currency (message charges are in USD, platform fees in
    /// the shop's currency); each equals the sum of its lines.
    async fn totals(&self, ctx: &Context<'_>) -> Result<Vec<Money>> {
        let state = ctx.state()?;
        let mut totals: Vec<(String, i64)> = Vec::new();
        for line in billing::lines_of(&state.db, self.0.id).await? {
            match totals.iter_mut().find(|(code, _)| *code == line.currency) {
                Some((_, sum)) => *sum += line.amount_micro,
                None => totals.push((line.currency, line.amount_micro)),
            }
        }
        Ok(totals
            .into_iter()
            .map(|(code, micro)| Money::from_micro(micro, &code))
            .collect())
    }

    /// When the period was closed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

fn invoice_line(line: chatshop_entity::invoice_line::Model) -> InvoiceLine {
    let kind = match line.kind.as_str() {
        "MESSAGES" => InvoiceLineKind::Messages,
        "PLATFORM_FEES" => InvoiceLineKind::PlatformFees,
        "PLATFORM_FEES_RETURNED" => InvoiceLineKind::PlatformFeesReturned,
        _ => InvoiceLineKind::Hosting,
    };
    let category = line.category.as_deref().and_then(|name| {
        billing::CATEGORIES
            .into_iter()
            .find(|c| billing::category_name(*c) == name)
            .map(MessageCategory::from)
    });
    InvoiceLine {
        kind,
        category,
        quantity: line.quantity,
        amount: Money::from_micro(line.amount_micro, &line.currency),
        description: line.description,
    }
}

#[derive(Default)]
pub(crate) struct BillingQuery;

#[Object]
impl BillingQuery {
    /// The price per delivered business message, by category, in force now.
    /// Customer messages are free; so is hosting.
    async fn rate_card(&self, ctx: &Context<'_>) -> Result<Vec<MessageRate>> {
        let state = ctx.state()?;
        let rates = billing::rate_card(&state.db, Utc::now()).await?;
        Ok(rates
            .into_iter()
            .map(|r| MessageRate {
                category: r.category.into(),
                price: Money::from_micro(r.rate_micro, RATE_CURRENCY),
                effective_from: r.effective_from,
            })
            .collect())
    }

    /// A shop's usage between `from` (inclusive) and `to` (exclusive). Owners only.
    async fn billing_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop.")] shop_id: ID,
        #[graphql(desc = "Start, inclusive.")] from: DateTime<Utc>,
        #[graphql(desc = "End, exclusive.")] to: DateTime<Utc>,
    ) -> Result<BillingUsage> {
        let state = ctx.state()?;
        let shop_id = ids::decode("shopId", NodeKind::Shop, &shop_id)?;
        let usage = billing::usage(&state.db, ctx.actor(), shop_id, from, to).await?;
        let messages_total = Money::from_micro(usage.messages_total_micro(), RATE_CURRENCY);
        Ok(BillingUsage {
            from: usage.from,
            to: usage.to,
            categories: usage
                .categories
                .iter()
                .map(|c| CategoryUsage {
                    category: c.category.into(),
                    messages: c.messages,
                    amount: Money::from_micro(c.amount_micro, RATE_CURRENCY),
                })
                .collect(),
            messages_total,
            platform_fees: Money::from_micro(usage.platform_fees_micro, usage.currency.code()),
            paid_orders: usage.paid_orders,
            platform_fees_returned: Money::from_micro(
                usage.platform_fees_returned_micro,
                usage.currency.code(),
            ),
            refunds: usage.refunds,
            hosting: Money::from_micro(0, RATE_CURRENCY),
        })
    }

    /// A shop's invoices, oldest first. Owners only.
    #[graphql(complexity = "super::relay::page_weight(first, last, child_complexity)")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop.")] shop_id: ID,
        #[graphql(desc = "Page size from the start (or from `after`).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (or from `before`).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> Result<Connection<String, Invoice>> {
        let state = ctx.state()?;
        let shop_id = ids::decode("shopId", NodeKind::Shop, &shop_id)?;
        let page = PageArgs {
            first,
            after,
            last,
            before,
        }
        .into_request(state)?;
        let rows = billing::invoices(&state.db, ctx.actor(), shop_id, &page).await?;
        Ok(connection(rows, |i| i.id, Invoice))
    }
}

/// A new price for a category.
#[derive(InputObject)]
struct UpdateRateCardInput {
    /// The category.
    category: MessageCategory,
    /// Price per delivered message in USD, as a decimal string with up to 6
    /// decimals (`"0.005"` is half a cent), at most `"1"`.
    rate: String,
}

/// The price now in force.
#[derive(SimpleObject)]
struct UpdateRateCardPayload {
    /// The category's new rate.
    rate: MessageRate,
}

/// A billing period to close.
#[derive(InputObject)]
struct CloseBillingPeriodInput {
    /// The shop.
    shop_id: ID,
    /// End of the period (exclusive), in the past; the period starts where
    /// the previous one ended (or when the shop opened).
    period_end: DateTime<Utc>,
}

/// The invoice of the closed period.
#[derive(SimpleObject)]
struct CloseBillingPeriodPayload {
    /// The invoice (the same one when the period was already closed).
    invoice: Invoice,
}

/// A marketing preference.
#[derive(InputObject)]
struct SetMarketingConsentInput {
    /// The shop.
    shop_id: ID,
    /// `false` to stop receiving (and the shop from sending) its `MARKETING` messages.
    opted_in: bool,
}

/// The marketing preference now in force.
#[derive(SimpleObject)]
struct SetMarketingConsentPayload {
    /// Whether the caller accepts the shop's marketing messages.
    opted_in: bool,
}

/// Everything Chatshop holds about the caller.
#[derive(SimpleObject)]
struct ExportMyDataPayload {
    /// A JSON document: account, shops, conversations with messages, orders,
    /// and invoices of owned shops.
    data: Json<serde_json::Value>,
}

/// The outcome of a deletion.
#[derive(SimpleObject)]
struct DeleteMyDataPayload {
    /// Always `true`: the account is anonymised and its tokens no longer work.
    deleted: bool,
}

#[derive(Default)]
pub(crate) struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Changes the price of a message category from now on. Platform
    /// administrators only (`--admin-emails`). Past usage keeps its price.
    async fn update_rate_card(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The category and price.")] input: UpdateRateCardInput,
    ) -> Result<UpdateRateCardPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let rate = billing::set_rate(
                &state.writer,
                ctx.actor(),
                &state.config.auth.admin_emails,
                input.category.into(),
                &input.rate,
            )
            .await?;
            Ok(UpdateRateCardPayload {
                rate: MessageRate {
                    category: rate.category.into(),
                    price: Money::from_micro(rate.rate_micro, RATE_CURRENCY),
                    effective_from: rate.effective_from,
                },
            })
        })
        .await
    }

    /// Closes a billing period into an immutable invoice. Owners only.
    /// Closing at the same `periodEnd` again returns the same invoice.
    async fn close_billing_period(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop and period end.")] input: CloseBillingPeriodInput,
    ) -> Result<CloseBillingPeriodPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let shop_id = ids::decode("input.shopId", NodeKind::Shop, &input.shop_id)?;
            let invoice =
                billing::close_period(&state.writer, ctx.actor(), shop_id, input.period_end)
                    .await?;
            Ok(CloseBillingPeriodPayload {
                invoice: Invoice(invoice),
            })
        })
        .await
    }

    /// Opts the caller in to or out of a shop's marketing messages.
    async fn set_marketing_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop and preference.")] input: SetMarketingConsentInput,
    ) -> Result<SetMarketingConsentPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let shop_id = ids::decode("input.shopId", NodeKind::Shop, &input.shop_id)?;
            let opted_in =
                privacy::set_marketing_consent(&state.writer, ctx.actor(), shop_id, input.opted_in)
                    .await?;
            Ok(SetMarketingConsentPayload { opted_in })
        })
        .await
    }

    /// Returns everything Chatshop holds about the caller, as JSON.
    async fn export_my_data(&self, ctx: &Context<'_>) -> Result<ExportMyDataPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            Ok(ExportMyDataPayload {
                data: Json(privacy::export(&state.writer, ctx.actor()).await?),
            })
        })
        .await
    }

    /// Erases the caller's personal data (email, name, the messages they
    /// wrote) and ends their sessions. Orders and invoices stay, anonymised.
    /// Errors: `CONFLICT` for the only owner of a shop.
    async fn delete_my_data(&self, ctx: &Context<'_>) -> Result<DeleteMyDataPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            privacy::delete(&state.writer, ctx.actor()).await?;
            let user_id = ctx.actor().user_id()?;
            state.accounts.close(user_id);
            state.events.publish(Event::AccountClosed { user_id }).await;
            Ok(DeleteMyDataPayload { deleted: true })
        })
        .await
    }
}
