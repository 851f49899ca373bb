//! Opaque, stable global ids (`node(id)`) and pagination cursors.
//!
//! A global id is base64url("Kind:uuid"). Clients must treat it as opaque; the
//! kind inside lets `node(id)` find the right table and lets every argument
//! refuse an id of the wrong kind with a clear message.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::Error;

/// The kinds of object that have a global id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A user account.
    User,
    /// A shop.
    Shop,
    /// A catalog product.
    Product,
    /// A conversation between a customer and a shop.
    Conversation,
    /// A message in a conversation.
    Message,
    /// An order.
    Order,
    /// A line of an order.
    OrderItem,
    /// A shop's invoice.
    Invoice,
}

impl NodeKind {
    const ALL: [NodeKind; 8] = [
        NodeKind::User,
        NodeKind::Shop,
        NodeKind::Product,
        NodeKind::Conversation,
        NodeKind::Message,
        NodeKind::Order,
        NodeKind::OrderItem,
        NodeKind::Invoice,
    ];

    fn prefix(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Shop => "Shop",
            Self::Product => "Product",
            Self::Conversation => "Conversation",
            Self::Message => "Message",
            Self::Order => "Order",
            Self::OrderItem => "OrderItem",
            Self::Invoice => "Invoice",
        }
    }

    /// A lower-case name for messages ("not a shop id").
    pub fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Shop => "shop",
            Self::Product => "product",
            Self::Conversation => "conversation",
            Self::Message => "message",
            Self::Order => "order",
            Self::OrderItem => "order line",
            Self::Invoice => "invoice",
        }
    }
}

/// Encodes the global id of a `kind` object.
pub fn encode(kind: NodeKind, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.prefix(), id.hyphenated()))
}

/// Decodes any global id into its kind and uuid.
pub fn decode_any(field: &'static str, global_id: &str) -> Result<(NodeKind, Uuid), Error> {
    let malformed = || Error::invalid(field, "malformed id");
    let bytes = URL_SAFE_NO_PAD
        .decode(global_id.as_bytes())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (prefix, raw_uuid) = text.split_once(':').ok_or_else(malformed)?;
    let kind = NodeKind::ALL
        .into_iter()
        .find(|k| k.prefix() == prefix)
        .ok_or_else(malformed)?;
    let id = Uuid::try_parse(raw_uuid).map_err(|_| malformed())?;
    Ok((kind, id))
}

/// Decodes a global id that must be of `kind`.
pub fn decode(field: &'static str, kind: NodeKind, global_id: &str) -> Result<Uuid, Error> {
    match decode_any(field, global_id)? {
        (found, id) if found == kind => Ok(id),
        _ => Err(Error::invalid(field, format!("not a {} id", kind.noun()))),
    }
}

/// Encodes a pagination cursor: the position after which (or before which) a
/// page starts. Opaque to clients, like ids.
pub fn encode_cursor(position: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

/// Decodes a pagination cursor.
pub fn decode_cursor(field: &'static str, cursor: &str) -> Result<Uuid, Error> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| Error::invalid(field, "malformed cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_stable() {
        let id = Uuid::parse_str("0191f2a4-7b3c-7d2e-9f10-1234567890ab").unwrap();
        let global = encode(NodeKind::Shop, id);
        assert_eq!(global, encode(NodeKind::Shop, id));
        assert_eq!(decode("id", NodeKind::Shop, &global).unwrap(), id);
        assert_eq!(decode_any("id", &global).unwrap(), (NodeKind::Shop, id));
    }

    #[test]
    fn an_id_of_the_wrong_kind_is_refused() {
        let global = encode(NodeKind::Product, Uuid::now_v7());
        let err = decode("shopId", NodeKind::Shop, &global).unwrap_err();
        assert_eq!(err.to_string(), "not a shop id");
    }

    #[test]
    fn malformed_ids_are_refused() {
        for raw in [
            "",
            "!!!",
            "U2hvcA",
            &URL_SAFE_NO_PAD.encode("Shop:not-a-uuid"),
            &URL_SAFE_NO_PAD.encode("Nope:0191f2a4-7b3c-7d2e-9f10-1234567890ab"),
        ] {
            assert!(decode_any("id", raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        let position = Uuid::now_v7();
        assert_eq!(
            decode_cursor("after", &encode_cursor(position)).unwrap(),
            position
        );
        assert!(decode_cursor("after", "zz").is_err());
    }
}
