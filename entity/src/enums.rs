//! Enumerations stored in the database as short upper-case strings, so that a
//! row read by hand (or by another tool) is self-explanatory.

use sea_orm::entity::prelude::*;

/// A user's role in a shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ShopRole {
    /// Manages the shop, its catalog, its members and its billing.
    #[sea_orm(string_value = "OWNER")]
    Owner,
    /// Answers customers and handles orders; cannot manage members or billing.
    #[sea_orm(string_value = "AGENT")]
    Agent,
}

/// A messaging channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Channel {
    /// WhatsApp.
    #[sea_orm(string_value = "WHATSAPP")]
    WhatsApp,
    /// Messenger.
    #[sea_orm(string_value = "MESSENGER")]
    Messenger,
    /// Instagram direct messages.
    #[sea_orm(string_value = "INSTAGRAM")]
    Instagram,
    /// The shop's own web chat.
    #[sea_orm(string_value = "WEB")]
    Web,
}

/// Where a conversation stands in the shop's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ConversationStatus {
    /// Waiting for the shop.
    #[sea_orm(string_value = "OPEN")]
    Open,
    /// Waiting for the customer or a third party.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Done; a new message from the customer reopens it.
    #[sea_orm(string_value = "RESOLVED")]
    Resolved,
}

/// Who wrote a message.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AuthorKind {
    /// The conversation's customer.
    #[sea_orm(string_value = "CUSTOMER")]
    Customer,
    /// A member of the shop.
    #[sea_orm(string_value = "AGENT")]
    Agent,
    /// The platform, on the shop's behalf (order confirmations, notices).
    #[sea_orm(string_value = "SYSTEM")]
    System,
}

/// What a message is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum MessageKind {
    /// Plain text.
    #[sea_orm(string_value = "TEXT")]
    Text,
    /// Refers to a product ("is this in stock?"), optionally with text.
    #[sea_orm(string_value = "PRODUCT_REFERENCE")]
    ProductReference,
    /// An order proposed or placed in the conversation.
    #[sea_orm(string_value = "ORDER_CARD")]
    OrderCard,
    /// The confirmation of a paid order.
    #[sea_orm(string_value = "ORDER_CONFIRMATION")]
    OrderConfirmation,
    /// A notice from the platform.
    #[sea_orm(string_value = "SYSTEM_NOTICE")]
    SystemNotice,
}

/// The billing category of a business-authored message.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MessageCategory {
    /// Replies to the customer.
    #[sea_orm(string_value = "SERVICE")]
    Service,
    /// Updates about an order or account (confirmations, shipping).
    #[sea_orm(string_value = "UTILITY")]
    Utility,
    /// One-time codes.
    #[sea_orm(string_value = "AUTHENTICATION")]
    Authentication,
    /// Promotions.
    #[sea_orm(string_value = "MARKETING")]
    Marketing,
}

/// How far a message got to its recipient.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DeliveryStatus {
    /// Stored by the server.
    #[sea_orm(string_value = "SENT")]
    Sent,
    /// Received by the recipient's device.
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Seen by the recipient.
    #[sea_orm(string_value = "READ")]
    Read,
}

/// Where an order stands: `PENDING_PAYMENT → PAID → FULFILLED`, or
/// `CANCELLED` / `REFUNDED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum OrderStatus {
    /// Placed, stock reserved, waiting for payment.
    #[sea_orm(string_value = "PENDING_PAYMENT")]
    PendingPayment,
    /// Paid.
    #[sea_orm(string_value = "PAID")]
    Paid,
    /// Handed over to the customer.
    #[sea_orm(string_value = "FULFILLED")]
    Fulfilled,
    /// Cancelled (or expired) before fulfilment; stock released.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    /// Fully refunded.
    #[sea_orm(string_value = "REFUNDED")]
    Refunded,
}

/// Where a payment attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PaymentStatus {
    /// Recorded before the provider was called; outcome not known yet.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The provider took the money (or gave it back, for a refund).
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    /// Declined, failed or timed out; no money moved.
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

/// Which way money moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PaymentKind {
    /// From the customer.
    #[sea_orm(string_value = "CHARGE")]
    Charge,
    /// Back to the customer.
    #[sea_orm(string_value = "REFUND")]
    Refund,
}
