//! The messaging channels a shop sells on and a conversation happens on.

use crate::Error;

/// A messaging channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// WhatsApp.
    WhatsApp,
    /// Messenger.
    Messenger,
    /// Instagram direct messages.
    Instagram,
    /// The shop's own web chat.
    Web,
}

impl Channel {
    /// Every channel, in a fixed order.
    pub const ALL: [Channel; 4] = [
        Channel::WhatsApp,
        Channel::Messenger,
        Channel::Instagram,
        Channel::Web,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WhatsApp => "WHATSAPP",
            Self::Messenger => "MESSENGER",
            Self::Instagram => "INSTAGRAM",
            Self::Web => "WEB",
        }
    }

    fn from_stored(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A non-empty set of channels, stored as `WEB,WHATSAPP` (sorted, no repeats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channels(Vec<Channel>);

impl Channels {
    /// Builds the set; an empty list is refused.
    pub fn new(field: &'static str, mut channels: Vec<Channel>) -> Result<Self, Error> {
        channels.sort();
        channels.dedup();
        if channels.is_empty() {
            return Err(Error::invalid(
                field,
                "a shop sells on at least one channel",
            ));
        }
        Ok(Self(channels))
    }

    /// Reads the stored form. Unknown names are skipped, so that a channel
    /// retired in a later version does not make old rows unreadable.
    pub fn from_stored(stored: &str) -> Vec<Channel> {
        stored.split(',').filter_map(Channel::from_stored).collect()
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_sets_round_trip_sorted_without_repeats() {
        let set = Channels::new(
            "channels",
            vec![Channel::Web, Channel::WhatsApp, Channel::Web],
        )
        .unwrap();
        assert_eq!(set.to_stored(), "WHATSAPP,WEB");
        assert_eq!(
            Channels::from_stored(&set.to_stored()),
            vec![Channel::WhatsApp, Channel::Web]
        );
    }

    #[test]
    fn an_empty_channel_set_is_refused() {
        assert!(Channels::new("channels", vec![]).is_err());
    }
}
