//! `product`, `products`, `createProduct`, `updateProduct`, `archiveProduct`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use super::context::ContextExt;
use super::relay::{PageArgs, connection};
use super::types::Product;
use crate::Error;
use crate::domain::ids::{self, NodeKind};
use crate::services::Change;
use crate::services::catalog::{self, NewProduct, ProductChanges, ProductFilter};

#[derive(Default)]
pub(crate) struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// A product by global id; `null` if there is none, or if it is archived
    /// and the caller is not a member of its shop.
    async fn product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product's global id.")] id: ID,
    ) -> Result<Option<Product>> {
        let state = ctx.state()?;
        let product_id = ids::decode("id", NodeKind::Product, &id)?;
        match catalog::get_product(&state.db, ctx.actor(), product_id).await? {
            Some(found) => Ok(Some(Product::load(state, found).await?)),
            None => Ok(None),
        }
    }

    /// A shop's catalog, oldest first. Archived products are left out unless
    /// `includeArchived` is set, which only the shop's members may do.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::relay::page_weight(first, last, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop whose catalog to list.")] shop_id: ID,
        #[graphql(desc = "Case-insensitive part of the product name.")] search: Option<String>,
        #[graphql(desc = "Include archived products (shop members only); default false.")]
        include_archived: Option<bool>,
        #[graphql(desc = "Page size from the start (or from `after`).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (or from `before`).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> Result<Connection<String, Product>> {
        let state = ctx.state()?;
        let shop_id = ids::decode("shopId", NodeKind::Shop, &shop_id)?;
        let page = PageArgs {
            first,
            after,
            last,
            before,
        }
        .into_request(state)?;
        let currency = state
            .currencies
            .get(&state.db, shop_id)
            .await?
            .ok_or_else(|| Error::invalid("shopId", "no shop with this id"))?;
        let filter = ProductFilter {
            search,
            include_archived_for: include_archived.unwrap_or(false).then(|| ctx.actor()),
        };
        let rows = catalog::list_products(&state.db, shop_id, filter, &page).await?;
        Ok(connection(rows, |p| p.id, |p| Product::new(p, currency)))
    }
}

/// A new product.
#[derive(InputObject)]
struct CreateProductInput {
    /// The shop whose catalog gets the product.
    shop_id: ID,
    /// Display name, 1 to 200 characters.
    name: String,
    /// Free text, up to 5000 characters.
    #[graphql(default)]
    description: String,
    /// Unit price as a decimal string in the shop's currency, e.g. `"12.50"`.
    price: String,
    /// Units in stock, 0 to 1000000000; omit or `null` for unlimited.
    stock: Option<i32>,
    /// Stock-keeping unit, unique within the shop.
    sku: Option<String>,
    /// Picture of the product (http or https URL).
    image_url: Option<String>,
}

/// Changes to a product: omitted fields keep their value; `null` clears
/// `stock` (unlimited), `sku` and `imageUrl`.
#[derive(InputObject)]
struct UpdateProductInput {
    /// The product to change.
    product_id: ID,
    /// New display name.
    name: Option<String>,
    /// New description.
    description: Option<String>,
    /// New unit price (decimal string in the shop's currency).
    price: Option<String>,
    /// New stock; `null` makes it unlimited.
    stock: MaybeUndefined<i32>,
    /// New SKU; `null` removes it.
    sku: MaybeUndefined<String>,
    /// New picture; `null` removes it.
    image_url: MaybeUndefined<String>,
}

/// The product that was created or changed.
#[derive(SimpleObject)]
struct ProductPayload {
    /// The product as it is now.
    product: Product,
}

#[derive(Default)]
pub(crate) struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Adds a product to a shop's catalog. Shop members only.
    /// Errors: `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`, `CONFLICT` (SKU taken).
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new product.")] input: CreateProductInput,
    ) -> Result<ProductPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let new_product = NewProduct {
                shop_id: ids::decode("input.shopId", NodeKind::Shop, &input.shop_id)?,
                name: input.name,
                description: input.description,
                price: input.price,
                stock: input.stock,
                sku: input.sku,
                image_url: input.image_url,
            };
            let product = catalog::create_product(&state.writer, ctx.actor(), new_product).await?;
            Ok(ProductPayload {
                product: Product::load(state, product).await?,
            })
        })
        .await
    }

    /// Changes a product. Shop members only.
    /// Errors: `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`, `CONFLICT` (SKU taken).
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product and its changes.")] input: UpdateProductInput,
    ) -> Result<ProductPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let product_id = ids::decode("input.productId", NodeKind::Product, &input.product_id)?;
            let changes = ProductChanges {
                name: input.name,
                description: input.description,
                price: input.price,
                stock: change(input.stock),
                sku: change(input.sku),
                image_url: change(input.image_url),
            };
            let product =
                catalog::update_product(&state.writer, ctx.actor(), product_id, changes).await?;
            Ok(ProductPayload {
                product: Product::load(state, product).await?,
            })
        })
        .await
    }

    /// Archives a product: customers no longer see it; orders keep it.
    /// Shop members only. Archiving an archived product changes nothing.
    async fn archive_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product to archive.")] product_id: ID,
    ) -> Result<ProductPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let product_id = ids::decode("productId", NodeKind::Product, &product_id)?;
            let product = catalog::archive_product(&state.writer, ctx.actor(), product_id).await?;
            Ok(ProductPayload {
                product: Product::load(state, product).await?,
            })
        })
        .await
    }
}

fn change<T>(value: MaybeUndefined<T>) -> Change<T> {
    match value {
        MaybeUndefined::Undefined => Change::Keep,
        MaybeUndefined::Null => Change::Clear,
        MaybeUndefined::Value(v) => Change::Set(v),
    }
}
