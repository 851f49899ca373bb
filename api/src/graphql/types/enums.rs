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
