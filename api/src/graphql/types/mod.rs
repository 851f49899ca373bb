//! Output types and enums of the schema. Each wraps an entity model and
//! exposes chosen fields; none is the model itself.

mod enums;
mod money;
mod product;
mod shop;
mod user;

pub(crate) use enums::{Channel, ShopRole};
pub(crate) use money::Money;
pub(crate) use product::Product;
pub(crate) use shop::{Shop, ShopMember};
pub(crate) use user::User;

/// An object with a stable, opaque global id, fetchable with `node(id)`.
#[derive(async_graphql::Interface)]
#[graphql(field(
    name = "id",
    ty = "async_graphql::ID",
    desc = "The object's global id: opaque and stable."
))]
pub(crate) enum Node {
    /// A user account.
    User(User),
    /// A shop.
    Shop(Shop),
    /// A catalog product.
    Product(Product),
}
