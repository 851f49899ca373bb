//! The catalog: products of a shop.

use chatshop_entity::product;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use uuid::Uuid;

use super::{Change, new_id, paginate, shops};
use crate::Error;
use crate::auth::Actor;
use crate::auth::policy::{self, ShopPermission};
use crate::domain::money::{Currency, Price};
use crate::domain::page::{Page, PageRequest};
use crate::domain::text::{self, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::error::on_unique_violation;

/// What a new product is made of (raw input).
#[derive(Debug)]
pub struct NewProduct {
    /// The shop whose catalog gets the product.
    pub shop_id: Uuid,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Decimal string in the shop's currency.
    pub price: String,
    /// Units in stock; `None` for unlimited.
    pub stock: Option<i32>,
    /// Stock-keeping unit, unique within the shop.
    pub sku: Option<String>,
    /// Picture of the product.
    pub image_url: Option<String>,
}

/// Changes to a product.
#[derive(Debug, Default)]
pub struct ProductChanges {
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price (decimal string).
    pub price: Option<String>,
    /// New stock; `Clear` makes it unlimited.
    pub stock: Change<i32>,
    /// New SKU.
    pub sku: Change<String>,
    /// New picture.
    pub image_url: Change<String>,
}

/// Filters of a catalog listing.
#[derive(Debug, Default)]
pub struct ProductFilter<'a> {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Include archived products, for this caller (shop members only). The
    /// caller is asked for only here: the public listing is the same for
    /// everyone, which lets it be shared (see `graphql::response_cache`).
    pub include_archived_for: Option<&'a Actor>,
}

/// Most units a product may hold in stock; above is a typo.
const MAX_STOCK: i32 = 1_000_000_000;
/// Longest search string; a name is at most 200 characters anyway.
const MAX_SEARCH_CHARS: usize = 200;

/// Adds a product to a shop's catalog (shop members only).
///
/// # Errors
/// `FORBIDDEN` for non-members; `BAD_USER_INPUT` for an unknown shop or invalid
/// fields; `CONFLICT` for a SKU already used in the shop.
pub async fn create_product(
    db: &impl ConnectionTrait,
    actor: &Actor,
    input: NewProduct,
) -> Result<product::Model, Error> {
    let shop = shops::require(
        db,
        actor,
        input.shop_id,
        "input.shopId",
        ShopPermission::Work,
    )
    .await?;
    let currency = Currency::from_stored(&shop.currency)?;
    let now = chrono::Utc::now();
    let product = product::ActiveModel {
        id: Set(new_id()),
        shop_id: Set(shop.id),
        name: Set(text::name("input.name", &input.name, MAX_NAME_CHARS)?),
        description: Set(text::description(
            "input.description",
            &input.description,
            MAX_DESCRIPTION_CHARS,
        )?),
        price_minor: Set(Price::parse("input.price", &input.price, currency)?.minor()),
        stock: Set(input.stock.map(check_stock).transpose()?),
        sku: Set(input.sku.as_deref().map(check_sku).transpose()?),
        image_url: Set(input
            .image_url
            .as_deref()
            .map(check_image_url)
            .transpose()?),
        archived: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    };
    product::Entity::insert(product)
        .exec_with_returning(db)
        .await
        .map_err(on_unique_violation(
            "another product of this shop has this SKU",
        ))
}

/// Changes a product (shop members only).
///
/// # Errors
/// As [`create_product`], with `BAD_USER_INPUT` for an unknown product.
pub async fn update_product(
    db: &impl ConnectionTrait,
    actor: &Actor,
    product_id: Uuid,
    changes: ProductChanges,
) -> Result<product::Model, Error> {
    let (existing, currency) = require_product(db, actor, product_id).await?;
    let mut active = existing.into_active_model();
    if let Some(name) = changes.name {
        active.name = Set(text::name("input.name", &name, MAX_NAME_CHARS)?);
    }
    if let Some(description) = changes.description {
        active.description = Set(text::description(
            "input.description",
            &description,
            MAX_DESCRIPTION_CHARS,
        )?);
    }
    if let Some(price) = changes.price {
        active.price_minor = Set(Price::parse("input.price", &price, currency)?.minor());
    }
    match changes.stock {
        Change::Keep => {}
        Change::Clear => active.stock = Set(None),
        Change::Set(stock) => active.stock = Set(Some(check_stock(stock)?)),
    }
    match changes.sku {
        Change::Keep => {}
        Change::Clear => active.sku = Set(None),
        Change::Set(sku) => active.sku = Set(Some(check_sku(&sku)?)),
    }
    match changes.image_url {
        Change::Keep => {}
        Change::Clear => active.image_url = Set(None),
        Change::Set(url) => active.image_url = Set(Some(check_image_url(&url)?)),
    }
    active.updated_at = Set(chrono::Utc::now());
    active.update(db).await.map_err(on_unique_violation(
        "another product of this shop has this SKU",
    ))
}

/// Archives a product: it leaves customer listings but stays for history.
/// Archiving twice is harmless.
pub async fn archive_product(
    db: &impl ConnectionTrait,
    actor: &Actor,
    product_id: Uuid,
) -> Result<product::Model, Error> {
    let (existing, _) = require_product(db, actor, product_id).await?;
    if existing.archived {
        return Ok(existing);
    }
    let mut active = existing.into_active_model();
    active.archived = Set(true);
    active.updated_at = Set(chrono::Utc::now());
    Ok(active.update(db).await?)
}

/// A product, if the caller may see it: active products are public; archived
/// ones are visible to the shop's members only.
pub async fn get_product(
    db: &impl ConnectionTrait,
    actor: &Actor,
    product_id: Uuid,
) -> Result<Option<product::Model>, Error> {
    let Some(found) = product::Entity::find_by_id(product_id).one(db).await? else {
        return Ok(None);
    };
    if found.archived && shops::role_of(db, actor, found.shop_id).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(found))
}

/// A page of a shop's catalog, oldest first.
///
/// # Errors
/// `BAD_USER_INPUT` for an unknown shop or an overlong search; `FORBIDDEN` when
/// a non-member asks for archived products.
pub async fn list_products(
    db: &impl ConnectionTrait,
    shop_id: Uuid,
    filter: ProductFilter<'_>,
    page: &PageRequest,
) -> Result<Page<product::Model>, Error> {
    let mut select = product::Entity::find().filter(product::Column::ShopId.eq(shop_id));
    if let Some(actor) = filter.include_archived_for {
        policy::require(
            shops::role_of(db, actor, shop_id).await?,
            ShopPermission::Work,
        )?;
    } else {
        select = select.filter(product::Column::Archived.eq(false));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if search.chars().count() > MAX_SEARCH_CHARS {
            return Err(Error::invalid(
                "search",
                format!("search must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        // LOWER(name) LIKE '%term%' behaves the same on SQLite and PostgreSQL
        // (PostgreSQL's LIKE is case-sensitive); the term's own wildcards are escaped.
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = LikeExpr::new(format!("%{escaped}%")).escape('\\');
        select =
            select.filter(Expr::expr(Func::lower(Expr::col(product::Column::Name))).like(pattern));
    }
    let found = paginate(db, select, product::Column::Id, page).await?;
    // An empty page may mean there is no such shop: only then look.
    if found.items.is_empty() && shops::get(db, shop_id).await?.is_none() {
        return Err(Error::invalid("shopId", "no shop with this id"));
    }
    Ok(found)
}

/// Loads a product the caller may edit, with its shop's currency.
async fn require_product(
    db: &impl ConnectionTrait,
    actor: &Actor,
    product_id: Uuid,
) -> Result<(product::Model, Currency), Error> {
    actor.user_id()?;
    let found = product::Entity::find_by_id(product_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::invalid("input.productId", "no product with this id"))?;
    let shop = shops::require(
        db,
        actor,
        found.shop_id,
        "input.productId",
        ShopPermission::Work,
    )
    .await?;
    Ok((found, Currency::from_stored(&shop.currency)?))
}

fn check_stock(stock: i32) -> Result<i64, Error> {
    if !(0..=MAX_STOCK).contains(&stock) {
        return Err(Error::invalid(
            "input.stock",
            format!("stock must be between 0 and {MAX_STOCK}"),
        ));
    }
    Ok(i64::from(stock))
}

fn check_sku(sku: &str) -> Result<String, Error> {
    let sku = sku.trim();
    let valid = (1..=64).contains(&sku.len())
        && sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(Error::invalid(
            "input.sku",
            "SKU must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' and '.'",
        ));
    }
    Ok(sku.to_owned())
}

fn check_image_url(url: &str) -> Result<String, Error> {
    let url = url.trim();
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let valid = url.len() <= 2048
        && host.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(Error::invalid(
            "input.imageUrl",
            "image URL must be an http(s) URL of at most 2048 characters",
        ));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_is_bounded() {
        assert!(check_stock(-1).is_err());
        assert!(check_stock(MAX_STOCK + 1).is_err());
        assert_eq!(check_stock(0).unwrap(), 0);
    }

    #[test]
    fn skus_are_plain() {
        assert_eq!(check_sku(" MUG-01 ").unwrap(), "MUG-01");
        assert!(check_sku("").is_err());
        assert!(check_sku("with space").is_err());
    }

    #[test]
    fn image_urls_are_http() {
        assert!(check_image_url("https://cdn.example.com/mug.png").is_ok());
        for bad in [
            "javascript:alert(1)",
            "https://",
            "ftp://x/y",
            "https://a b",
        ] {
            assert!(check_image_url(bad).is_err(), "{bad}");
        }
    }
}
