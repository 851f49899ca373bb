//! `shop`, `shops`, `createShop`, `updateShop`, `addShopMember`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::context::ContextExt;
use super::relay::{PageArgs, connection};
use super::types::{Channel, Shop, ShopMember, ShopRole};
use crate::Error;
use crate::domain::ids::{self, NodeKind};
use crate::services::shops::{self, NewShop, ShopChanges};

#[derive(Default)]
pub(crate) struct ShopsQuery;

#[Object]
impl ShopsQuery {
    /// A shop by global id or by slug (give exactly one); `null` if there is none.
    async fn shop(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop's global id.")] id: Option<ID>,
        #[graphql(desc = "The shop's slug.")] slug: Option<String>,
    ) -> Result<Option<Shop>> {
        let state = ctx.state()?;
        let found = match (id, slug) {
            (Some(id), None) => {
                shops::get(&state.db, ids::decode("id", NodeKind::Shop, &id)?).await?
            }
            (None, Some(slug)) => shops::get_by_slug(&state.db, &slug).await?,
            _ => return Err(Error::invalid("id", "give exactly one of id and slug").into()),
        };
        Ok(found.map(Shop))
    }

    /// All shops, oldest first; with `memberOnly`, only the shops the caller works in.
    #[graphql(complexity = "super::relay::page_weight(first, last, child_complexity)")]
    async fn shops(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only shops the caller is a member of (requires a token); default false."
        )]
        member_only: Option<bool>,
        #[graphql(desc = "Page size from the start (or from `after`).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (or from `before`).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> Result<Connection<String, Shop>> {
        let state = ctx.state()?;
        let page = PageArgs {
            first,
            after,
            last,
            before,
        }
        .into_request(state)?;
        let rows = shops::list(&state.db, ctx.actor(), member_only.unwrap_or(false), &page).await?;
        Ok(connection(rows, |s| s.id, Shop))
    }
}

/// A new shop; the caller becomes its owner.
#[derive(InputObject)]
struct CreateShopInput {
    /// Unique short name: 3 to 64 characters of a-z, 0-9 and inner hyphens.
    slug: String,
    /// Display name, 1 to 200 characters.
    name: String,
    /// Free text shown to customers, up to 5000 characters.
    #[graphql(default)]
    description: String,
    /// ISO 4217 code of every price in the shop, e.g. `USD`.
    currency_code: String,
    /// Whether the platform hosts the shop's conversations (free; they are
    /// then not end-to-end encrypted and customers are told so).
    #[graphql(default = false)]
    hosted: bool,
    /// Channels the shop sells on (at least one).
    #[graphql(default_with = "vec![Channel::Web]")]
    channels: Vec<Channel>,
}

/// Changes to a shop; omitted fields keep their value.
#[derive(InputObject)]
struct UpdateShopInput {
    /// The shop to change.
    shop_id: ID,
    /// New display name.
    name: Option<String>,
    /// New description.
    description: Option<String>,
    /// New hosting mode.
    hosted: Option<bool>,
    /// New set of channels (at least one).
    channels: Option<Vec<Channel>>,
}

/// A new member of a shop.
#[derive(InputObject)]
struct AddShopMemberInput {
    /// The shop.
    shop_id: ID,
    /// Email of the person to add; they must have signed up.
    email: String,
    /// Their role.
    role: ShopRole,
}

/// The shop that was created or changed.
#[derive(SimpleObject)]
struct ShopPayload {
    /// The shop as it is now.
    shop: Shop,
}

/// The membership that was created.
#[derive(SimpleObject)]
struct AddShopMemberPayload {
    /// The new member.
    member: ShopMember,
}

#[derive(Default)]
pub(crate) struct ShopsMutation;

#[Object]
impl ShopsMutation {
    /// Creates a shop owned by the caller.
    /// Errors: `UNAUTHENTICATED`, `BAD_USER_INPUT`, `CONFLICT` (slug taken).
    async fn create_shop(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new shop.")] input: CreateShopInput,
    ) -> Result<ShopPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let new_shop = NewShop {
                slug: input.slug,
                name: input.name,
                description: input.description,
                currency: input.currency_code,
                hosted: input.hosted,
                channels: input.channels.into_iter().map(Into::into).collect(),
            };
            let shop = shops::create(&state.writer, ctx.actor(), new_shop).await?;
            Ok(ShopPayload { shop: Shop(shop) })
        })
        .await
    }

    /// Changes a shop's settings. Owners only.
    /// Errors: `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`.
    async fn update_shop(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop and its changes.")] input: UpdateShopInput,
    ) -> Result<ShopPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let shop_id = ids::decode("input.shopId", NodeKind::Shop, &input.shop_id)?;
            let changes = ShopChanges {
                name: input.name,
                description: input.description,
                hosted: input.hosted,
                channels: input
                    .channels
                    .map(|c| c.into_iter().map(Into::into).collect()),
            };
            let shop = shops::update(&state.writer, ctx.actor(), shop_id, changes).await?;
            Ok(ShopPayload { shop: Shop(shop) })
        })
        .await
    }

    /// Adds a signed-up user to a shop. Owners only.
    /// Errors: `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT` (unknown shop or
    /// email), `CONFLICT` (already a member).
    async fn add_shop_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop, the person and their role.")] input: AddShopMemberInput,
    ) -> Result<AddShopMemberPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let shop_id = ids::decode("input.shopId", NodeKind::Shop, &input.shop_id)?;
            let (member, account) = shops::add_member(
                &state.writer,
                ctx.actor(),
                shop_id,
                &input.email,
                input.role.into(),
            )
            .await?;
            Ok(AddShopMemberPayload {
                member: ShopMember { member, account },
            })
        })
        .await
    }
}
