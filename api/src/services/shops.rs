//! Shops and their members.

use chatshop_entity::enums::ShopRole;
use chatshop_entity::{shop, shop_member, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::{new_id, paginate};
use crate::Error;
use crate::auth::Actor;
use crate::auth::policy::{self, ShopPermission};
use crate::domain::channel::{Channel, Channels};
use crate::domain::email::Email;
use crate::domain::money::Currency;
use crate::domain::page::{Page, PageRequest};
use crate::domain::slug::Slug;
use crate::domain::text::{self, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::error::on_unique_violation;

/// What a new shop is made of (raw input).
#[derive(Debug)]
pub struct NewShop {
    /// Unique short name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Free text shown to customers.
    pub description: String,
    /// ISO 4217 code of every price in the catalog.
    pub currency: String,
    /// Whether the platform hosts the shop's conversations.
    pub hosted: bool,
    /// Channels the shop sells on.
    pub channels: Vec<Channel>,
}

/// Changes to a shop; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct ShopChanges {
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New hosting mode.
    pub hosted: Option<bool>,
    /// New channel set.
    pub channels: Option<Vec<Channel>>,
}

/// Creates a shop; the caller becomes its owner.
///
/// # Errors
/// `UNAUTHENTICATED` when anonymous, `BAD_USER_INPUT` for invalid fields,
/// `CONFLICT` when the slug is taken.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &Actor,
    input: NewShop,
) -> Result<shop::Model, Error> {
    let owner = actor.user_id()?;
    let slug = Slug::parse("input.slug", &input.slug)?;
    let name = text::name("input.name", &input.name, MAX_NAME_CHARS)?;
    let description = text::description(
        "input.description",
        &input.description,
        MAX_DESCRIPTION_CHARS,
    )?;
    let currency = Currency::parse("input.currencyCode", &input.currency)?;
    let channels = Channels::new("input.channels", input.channels)?;
    let now = chrono::Utc::now();
    let shop_id = new_id();

    let txn = db.begin().await?;
    let shop = shop::Entity::insert(shop::ActiveModel {
        id: Set(shop_id),
        slug: Set(slug.as_str().to_owned()),
        name: Set(name),
        description: Set(description),
        currency: Set(currency.code().to_owned()),
        hosted: Set(input.hosted),
        channels: Set(channels.to_stored()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(&txn)
    .await
    .map_err(on_unique_violation("a shop with this slug already exists"))?;
    shop_member::Entity::insert(shop_member::ActiveModel {
        shop_id: Set(shop_id),
        user_id: Set(owner),
        role: Set(ShopRole::Owner),
        created_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(shop)
}

/// Changes a shop's settings (owners only).
///
/// # Errors
/// `BAD_USER_INPUT` for an unknown shop or invalid fields, `FORBIDDEN` for
/// anyone but an owner.
pub async fn update(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
    changes: ShopChanges,
) -> Result<shop::Model, Error> {
    let shop = require(db, actor, shop_id, "input.shopId", ShopPermission::Manage).await?;
    let mut active = shop.into_active_model();
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
    if let Some(hosted) = changes.hosted {
        active.hosted = Set(hosted);
    }
    if let Some(channels) = changes.channels {
        active.channels = Set(Channels::new("input.channels", channels)?.to_stored());
    }
    active.updated_at = Set(chrono::Utc::now());
    Ok(active.update(db).await?)
}

/// Adds a signed-up user to a shop with a role (owners only).
///
/// # Errors
/// `FORBIDDEN` for agents and strangers, `BAD_USER_INPUT` for an unknown shop
/// or an email nobody signed up with, `CONFLICT` for an existing member.
pub async fn add_member(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
    email: &str,
    role: ShopRole,
) -> Result<(shop_member::Model, user::Model), Error> {
    require(db, actor, shop_id, "input.shopId", ShopPermission::Manage).await?;
    let email = Email::parse("input.email", email)?;
    let member = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "input.email",
                "no account with this email; they must sign up first",
            )
        })?;
    let membership = shop_member::Entity::insert(shop_member::ActiveModel {
        shop_id: Set(shop_id),
        user_id: Set(member.id),
        role: Set(role),
        created_at: Set(chrono::Utc::now()),
    })
    .exec_with_returning(db)
    .await
    .map_err(on_unique_violation(
        "this user is already a member of the shop",
    ))?;
    Ok((membership, member))
}

/// A shop by id. Shops are public storefronts: anyone may see one.
pub async fn get(db: &impl ConnectionTrait, shop_id: Uuid) -> Result<Option<shop::Model>, Error> {
    Ok(shop::Entity::find_by_id(shop_id).one(db).await?)
}

/// A shop by slug.
pub async fn get_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<shop::Model>, Error> {
    let Ok(slug) = Slug::parse("slug", slug) else {
        return Ok(None);
    };
    Ok(shop::Entity::find()
        .filter(shop::Column::Slug.eq(slug.as_str()))
        .one(db)
        .await?)
}

/// Lists shops, oldest first; with `member_only`, only the caller's shops.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    member_only: bool,
    page: &PageRequest,
) -> Result<Page<shop::Model>, Error> {
    let mut select = shop::Entity::find();
    if member_only {
        let caller = actor.user_id()?;
        select = select
            .inner_join(shop_member::Entity)
            .filter(shop_member::Column::UserId.eq(caller));
    }
    paginate(db, select, shop::Column::Id, page).await
}

/// The caller's role in a shop, if any.
pub async fn role_of(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
) -> Result<Option<ShopRole>, Error> {
    let Some(caller) = actor.user_id_opt() else {
        return Ok(None);
    };
    Ok(shop_member::Entity::find_by_id((shop_id, caller))
        .one(db)
        .await?
        .map(|m| m.role))
}

/// A shop's members with their accounts, oldest first (members only).
pub async fn members(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
) -> Result<Vec<(shop_member::Model, user::Model)>, Error> {
    policy::require(role_of(db, actor, shop_id).await?, ShopPermission::Work)?;
    let rows = shop_member::Entity::find()
        .filter(shop_member::Column::ShopId.eq(shop_id))
        .find_also_related(user::Entity)
        .order_by_asc(shop_member::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(member, account)| account.map(|account| (member, account)))
        .collect())
}

/// Loads a shop and checks that the caller may act on it: an unknown shop is
/// bad input in `field`; a known one the caller may not touch is `FORBIDDEN`.
pub(crate) async fn require(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
    field: &'static str,
    permission: ShopPermission,
) -> Result<shop::Model, Error> {
    actor.user_id()?;
    let shop = get(db, shop_id)
        .await?
        .ok_or_else(|| Error::invalid(field, "no shop with this id"))?;
    policy::require(role_of(db, actor, shop_id).await?, permission)?;
    Ok(shop)
}

/// Whether any shop exists (the demo seed runs only on an empty database).
pub async fn any_exists(db: &impl ConnectionTrait) -> Result<bool, Error> {
    Ok(shop::Entity::find()
        .select_only()
        .column(shop::Column::Id)
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some())
}

/// The currencies of shops, remembered: a shop's currency is fixed at
/// creation (no operation changes it), so every instance may keep it, and a
/// catalog page then needs no shop lookup at all.
#[derive(Default)]
pub struct CurrencyCache {
    known: super::Remembered<Uuid, Currency>,
}

impl CurrencyCache {
    /// The currency of a shop; `None` when there is no such shop.
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        shop_id: Uuid,
    ) -> Result<Option<Currency>, Error> {
        if let Some((currency, _)) = self.known.get(&shop_id) {
            return Ok(Some(currency));
        }
        let Some(found) = get(db, shop_id).await? else {
            return Ok(None);
        };
        let currency = Currency::from_stored(&found.currency)?;
        self.known.remember(shop_id, currency);
        Ok(Some(currency))
    }
}
