//! The `Shop` and `ShopMember` types.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Result};
use chatshop_entity::{shop, shop_member, user};
use chrono::{DateTime, Utc};

use super::{Channel, Product, ShopRole, User};
use crate::domain::channel::Channels;
use crate::domain::ids::{self, NodeKind};
use crate::domain::money::Currency;
use crate::graphql::context::ContextExt;
use crate::graphql::relay::{PageArgs, connection};
use crate::services::catalog::{self, ProductFilter};
use crate::services::shops;

/// A business's storefront, with its one catalog shared across channels.
/// Shops are public: anyone may browse them.
pub(crate) struct Shop(pub shop::Model);

/// A business's storefront, with its one catalog shared across channels.
/// Shops are public: anyone may browse them.
#[Object]
impl Shop {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::Shop, self.0.id))
    }

    /// Unique short name, usable in addresses and with `shop(slug:)`.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Free text shown to customers.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// ISO 4217 code of every price in this shop.
    async fn currency_code(&self) -> &str {
        &self.0.currency
    }

    /// Whether the platform hosts this shop's conversations. Hosted
    /// conversations are stored on the platform's servers and are not
    /// end-to-end encrypted; customers are told so before they write.
    async fn hosted(&self) -> bool {
        self.0.hosted
    }

    /// The channels this shop sells on.
    async fn channels(&self) -> Vec<Channel> {
        Channels::from_stored(&self.0.channels)
            .into_iter()
            .map(Channel::from)
            .collect()
    }

    /// When the shop was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the shop's settings last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The caller's role in this shop; `null` for customers and anonymous callers.
    async fn viewer_role(&self, ctx: &Context<'_>) -> Result<Option<ShopRole>> {
        let state = ctx.state()?;
        Ok(shops::role_of(&state.db, ctx.actor(), self.0.id)
            .await?
            .map(ShopRole::from))
    }

    /// Whether the caller accepts this shop's `MARKETING` messages (`null`
    /// when anonymous); change it with `setMarketingConsent`.
    async fn viewer_accepts_marketing(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let state = ctx.state()?;
        Ok(crate::services::privacy::marketing_consent(&state.db, ctx.actor(), self.0.id).await?)
    }

    /// The people who work in this shop, oldest first. Members only.
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<ShopMember>> {
        let state = ctx.state()?;
        let rows = shops::members(&state.db, ctx.actor(), self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|(member, account)| ShopMember { member, account })
            .collect())
    }

    /// The catalog, oldest first. Archived products are left out unless
    /// `includeArchived` is set, which only the shop's members may do.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::graphql::relay::page_weight(first, last, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Case-insensitive part of the product name.")] search: Option<String>,
        #[graphql(desc = "Include archived products (shop members only); default false.")]
        include_archived: Option<bool>,
        #[graphql(desc = "Page size from the start (or from `after`).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (or from `before`).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> Result<Connection<String, Product>> {
        let state = ctx.state()?;
        let page = PageArgs {
            first,
            after,
            last,
            before,
        }
        .into_request(state)?;
        let filter = ProductFilter {
            search,
            include_archived_for: include_archived.unwrap_or(false).then(|| ctx.actor()),
        };
        let currency = Currency::from_stored(&self.0.currency)?;
        let rows = catalog::list_products(&state.db, self.0.id, filter, &page).await?;
        Ok(connection(rows, |p| p.id, |p| Product::new(p, currency)))
    }
}

/// A person's membership of a shop.
pub(crate) struct ShopMember {
    pub member: shop_member::Model,
    pub account: user::Model,
}

/// A person's membership of a shop.
#[Object]
impl ShopMember {
    /// The member.
    async fn user(&self) -> User {
        User::with_email(self.account.clone())
    }

    /// What they may do in the shop.
    async fn role(&self) -> ShopRole {
        self.member.role.into()
    }

    /// When they joined the shop.
    async fn joined_at(&self) -> DateTime<Utc> {
        self.member.created_at
    }
}
