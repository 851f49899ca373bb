//! Values for unit tests.

use chatshop_entity::enums::{AuthorKind, DeliveryStatus, MessageKind};
use chatshop_entity::message;
use uuid::Uuid;

/// A customer's text message, as stored, sent now.
pub(crate) fn text_message(conversation_id: Uuid, seq: i64, body: &str) -> message::Model {
    message::Model {
        id: Uuid::new_v4(),
        conversation_id,
        seq,
        author_kind: AuthorKind::Customer,
        author_id: None,
        kind: MessageKind::Text,
        body: body.to_owned(),
        product_id: None,
        order_id: None,
        category: None,
        client_message_id: None,
        request_digest: None,
        status: DeliveryStatus::Sent,
        delivered_at: None,
        read_at: None,
        redacted_at: None,
        created_at: chrono::Utc::now(),
    }
}
