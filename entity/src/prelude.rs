//! The entities under short names, for `use chatshop_entity::prelude::*`.

pub use super::conversation::Entity as Conversation;
pub use super::external_identity::Entity as ExternalIdentity;
pub use super::invoice::Entity as Invoice;
pub use super::invoice_line::Entity as InvoiceLine;
pub use super::marketing_opt_out::Entity as MarketingOptOut;
pub use super::message::Entity as Message;
pub use super::order::Entity as Order;
pub use super::order_item::Entity as OrderItem;
pub use super::payment::Entity as Payment;
pub use super::product::Entity as Product;
pub use super::rate_change::Entity as RateChange;
pub use super::shop::Entity as Shop;
pub use super::shop_member::Entity as ShopMember;
pub use super::signing_key::Entity as SigningKey;
pub use super::usage_record::Entity as UsageRecord;
pub use super::user::Entity as User;
