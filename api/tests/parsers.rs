//! Property tests over the parsers that face untrusted input: money, global
//! ids, cursors and the request body. Whatever the input, they answer (no
//! panic), and what they accept round-trips exactly.

use chatshop::domain::ids::{self, NodeKind};
use chatshop::domain::money::{format_decimal, parse_decimal};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn decimals_round_trip(amount in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0)], exponent in 0_u32..=6) {
        let text = format_decimal(amount, exponent);
        prop_assert_eq!(parse_decimal(&text, exponent), Some(amount));
    }

    #[test]
    fn decimal_parsing_never_panics(text in ".{0,40}", exponent in 0_u32..=9) {
        let _ = parse_decimal(&text, exponent);
    }

    #[test]
    fn numeric_looking_text_parses_exactly_or_not_at_all(whole in "-?[0-9]{1,20}", fraction in "[0-9]{0,8}") {
        let text = if fraction.is_empty() { whole.clone() } else { format!("{whole}.{fraction}") };
        if let Some(value) = parse_decimal(&text, 6) {
            // Accepted: formatting gives back the same number.
            prop_assert_eq!(parse_decimal(&format_decimal(value, 6), 6), Some(value));
            prop_assert!(fraction.len() <= 6);
        }
    }

    #[test]
    fn global_ids_round_trip(bytes in any::<[u8; 16]>()) {
        let id = uuid::Uuid::from_bytes(bytes);
        for kind in [NodeKind::User, NodeKind::Shop, NodeKind::Product, NodeKind::Conversation, NodeKind::Message, NodeKind::Order] {
            let global = ids::encode(kind, id);
            prop_assert_eq!(ids::decode("id", kind, &global).ok(), Some(id));
        }
    }

    #[test]
    fn id_and_cursor_parsing_never_panics(text in ".{0,80}") {
        let _ = ids::decode_any("id", &text);
        let _ = ids::decode_cursor("after", &text);
    }

    #[test]
    fn cursors_round_trip(bytes in any::<[u8; 16]>()) {
        let position = uuid::Uuid::from_bytes(bytes);
        prop_assert_eq!(ids::decode_cursor("after", &ids::encode_cursor(position)).ok(), Some(position));
    }
}
