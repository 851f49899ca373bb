//! Chatshop's SeaORM entities: the tables, not the rules.
//!
//! Each module describes one table. Behaviour (validation, authorization,
//! state transitions) lives in the `chatshop` crate's `domain` and `services`
//! modules; the only thing an entity does on its own is describe columns.

pub mod conversation;
pub mod enums;
pub mod external_identity;
pub mod invoice;
pub mod invoice_line;
pub mod marketing_opt_out;
pub mod message;
pub mod order;
pub mod order_item;
pub mod payment;
pub mod prelude;
pub mod product;
pub mod rate_change;
pub mod shop;
pub mod shop_member;
pub mod signing_key;
pub mod usage_record;
pub mod user;
