//! Output types and enums of the schema. Each wraps an entity model and
//! exposes chosen fields; none is the model itself.

mod conversation;
mod enums;
mod message;
mod money;
mod order;
mod product;
mod shop;
mod user;

pub(crate) use conversation::Conversation;
pub(crate) use enums::{
    AuthorKind, Channel, ConversationStatus, DeliveryStatus, MessageCategory, MessageKind,
    OrderStatus, PaymentKind, PaymentStatus, ShopRole,
};
pub(crate) use message::Message;
pub(crate) use money::Money;
pub(crate) use order::Order;
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
    /// A conversation (participants only).
    Conversation(Conversation),
    /// A message (participants only).
    Message(Message),
    /// An order (its customer and the shop's members only).
    Order(Order),
}
