//! The `Product` type.

use async_graphql::{Context, ID, Object, Result};
use chatshop_entity::product;
use chrono::{DateTime, Utc};

use super::{Money, Shop};
use crate::Error;
use crate::app::AppState;
use crate::domain::ids::{self, NodeKind};
use crate::domain::money::Currency;
use crate::graphql::context::ContextExt;
use crate::services::shops;

/// A product in a shop's catalog.
pub(crate) struct Product {
    model: product::Model,
    currency: Currency,
}

impl Product {
    /// Wraps a product whose shop's currency is known.
    pub fn new(model: product::Model, currency: Currency) -> Self {
        Self { model, currency }
    }

    /// Wraps a product, looking up its shop's currency.
    pub async fn load(state: &AppState, model: product::Model) -> Result<Self, Error> {
        let currency = state
            .currencies
            .get(&state.db, model.shop_id)
            .await?
            .ok_or_else(|| Error::internal("product without a shop"))?;
        Ok(Self::new(model, currency))
    }
}

/// A product in a shop's catalog.
#[Object]
impl Product {
    /// Global id.
    pub async fn id(&self) -> ID {
        ID(ids::encode(NodeKind::Product, self.model.id))
    }

    /// The shop whose catalog holds this product.
    async fn shop(&self, ctx: &Context<'_>) -> Result<Shop> {
        let state = ctx.state()?;
        let shop = shops::get(&state.db, self.model.shop_id)
            .await?
            .ok_or_else(|| Error::internal("product without a shop"))?;
        Ok(Shop(shop))
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Free text.
    async fn description(&self) -> &str {
        &self.model.description
    }

    /// Unit price, in the shop's currency.
    async fn price(&self) -> Money {
        Money::from_minor(self.model.price_minor, self.currency)
    }

    /// Units in stock; `null` means unlimited.
    async fn stock(&self) -> Option<i32> {
        self.model
            .stock
            .map(|s| i32::try_from(s).unwrap_or(i32::MAX))
    }

    /// Whether at least one unit can be bought.
    async fn in_stock(&self) -> bool {
        self.model.stock.is_none_or(|s| s > 0)
    }

    /// Stock-keeping unit, unique within the shop.
    async fn sku(&self) -> Option<&str> {
        self.model.sku.as_deref()
    }

    /// Picture of the product.
    async fn image_url(&self) -> Option<&str> {
        self.model.image_url.as_deref()
    }

    /// Archived products are hidden from customers but kept for order history.
    async fn archived(&self) -> bool {
        self.model.archived
    }

    /// When the product was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    /// When the product last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}
