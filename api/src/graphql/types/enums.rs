//! Schema enums and their conversions to the stored and domain forms.

use crate::domain::channel;
use chatshop_entity::enums as stored;

/// A user's role in a shop.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShopRole {
    /// Manages the shop, its catalog, its members and its billing.
    Owner,
    /// Answers customers and handles orders; cannot manage members or billing.
    Agent,
}

impl From<stored::ShopRole> for ShopRole {
    fn from(role: stored::ShopRole) -> Self {
        match role {
            stored::ShopRole::Owner => Self::Owner,
            stored::ShopRole::Agent => Self::Agent,
        }
    }
}

impl From<ShopRole> for stored::ShopRole {
    fn from(role: ShopRole) -> Self {
        match role {
            ShopRole::Owner => Self::Owner,
            ShopRole::Agent => Self::Agent,
        }
    }
}

/// A messaging channel a shop sells on.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    /// WhatsApp.
    Whatsapp,
    /// Messenger.
    Messenger,
    /// Instagram direct messages.
    Instagram,
    /// The shop's own web chat.
    Web,
}

impl From<channel::Channel> for Channel {
    fn from(value: channel::Channel) -> Self {
        match value {
            channel::Channel::WhatsApp => Self::Whatsapp,
            channel::Channel::Messenger => Self::Messenger,
            channel::Channel::Instagram => Self::Instagram,
            channel::Channel::Web => Self::Web,
        }
    }
}

impl From<Channel> for channel::Channel {
    fn from(value: Channel) -> Self {
        match value {
            Channel::Whatsapp => Self::WhatsApp,
            Channel::Messenger => Self::Messenger,
            Channel::Instagram => Self::Instagram,
            Channel::Web => Self::Web,
        }
    }
}

/// Where a conversation stands in the shop's inbox.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::ConversationStatus")]
pub(crate) enum ConversationStatus {
    /// Waiting for the shop.
    Open,
    /// Waiting for the customer or a third party.
    Pending,
    /// Done; starting the conversation again reopens it.
    Resolved,
}

/// Who wrote a message.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::AuthorKind")]
pub(crate) enum AuthorKind {
    /// The conversation's customer.
    Customer,
    /// A member of the shop.
    Agent,
    /// The platform, on the shop's behalf (order confirmations, notices).
    System,
}

/// What a message is.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::MessageKind")]
pub(crate) enum MessageKind {
    /// Plain text.
    Text,
    /// Refers to a product ("is this in stock?"), optionally with text.
    ProductReference,
    /// An order proposed or placed in the conversation.
    OrderCard,
    /// The confirmation of a paid order.
    OrderConfirmation,
    /// A notice from the platform.
    SystemNotice,
}

/// The billing category of a business message; customer messages have none.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::MessageCategory")]
pub(crate) enum MessageCategory {
    /// Replies to the customer (the default for agents' messages).
    Service,
    /// Updates about an order or account (confirmations, shipping).
    Utility,
    /// One-time codes.
    Authentication,
    /// Promotions.
    Marketing,
}

/// How far a message got: `SENT → DELIVERED → READ`, never backwards.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::DeliveryStatus")]
pub(crate) enum DeliveryStatus {
    /// Stored by the server.
    Sent,
    /// Received by the recipient's device.
    Delivered,
    /// Seen by the recipient.
    Read,
}

impl From<Channel> for stored::Channel {
    fn from(value: Channel) -> Self {
        match value {
            Channel::Whatsapp => Self::WhatsApp,
            Channel::Messenger => Self::Messenger,
            Channel::Instagram => Self::Instagram,
            Channel::Web => Self::Web,
        }
    }
}

impl From<stored::Channel> for Channel {
    fn from(value: stored::Channel) -> Self {
        match value {
            stored::Channel::WhatsApp => Self::Whatsapp,
            stored::Channel::Messenger => Self::Messenger,
            stored::Channel::Instagram => Self::Instagram,
            stored::Channel::Web => Self::Web,
        }
    }
}

/// Where an order stands: `PENDING_PAYMENT → PAID → FULFILLED`, or
/// `CANCELLED` (before payment, or expired) / `REFUNDED` (fully).
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::OrderStatus")]
pub(crate) enum OrderStatus {
    /// Placed, stock reserved until `reservedUntil`, waiting for payment.
    PendingPayment,
    /// Paid.
    Paid,
    /// Handed over to the customer.
    Fulfilled,
    /// Cancelled or expired before payment; stock released.
    Cancelled,
    /// Fully refunded.
    Refunded,
}

/// Where a payment attempt stands.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::PaymentStatus")]
pub(crate) enum PaymentStatus {
    /// Sent to the provider; outcome not known yet.
    Pending,
    /// The money moved.
    Succeeded,
    /// Declined, failed or timed out; no money moved.
    Failed,
}

/// Which way money moves.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "chatshop_entity::enums::PaymentKind")]
pub(crate) enum PaymentKind {
    /// From the customer.
    Charge,
    /// Back to the customer.
    Refund,
}
