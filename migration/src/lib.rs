//! Chatshop's schema history.
//!
//! Each migration is self-contained: it names its own tables and columns and
//! never imports the entity crate, so that old migrations keep compiling (and
//! meaning the same thing) after the entities move on. Seed data is not a
//! migration; the server seeds its demo shop as an explicit step.

pub use sea_orm_migration::prelude::*;

mod m20250101_000001_users_and_shops;
mod m20250101_000002_catalog;
mod m20250101_000003_conversations_messages;
mod m20250101_000004_orders_payments;
mod m20250101_000005_billing_privacy;
mod m20250101_000006_external_identities;
mod m20250101_000007_message_seq_trigger;
mod m20250101_000008_client_id_index_partial;
mod m20250101_000009_message_conversation_check;
mod m20250101_000010_invoice_period_start_unique;
mod m20250101_000011_billed_by_invoice;

/// Runs Chatshop's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_users_and_shops::Migration),
            Box::new(m20250101_000002_catalog::Migration),
            Box::new(m20250101_000003_conversations_messages::Migration),
            Box::new(m20250101_000004_orders_payments::Migration),
            Box::new(m20250101_000005_billing_privacy::Migration),
            Box::new(m20250101_000006_external_identities::Migration),
            Box::new(m20250101_000007_message_seq_trigger::Migration),
            Box::new(m20250101_000008_client_id_index_partial::Migration),
            Box::new(m20250101_000009_message_conversation_check::Migration),
            Box::new(m20250101_000010_invoice_period_start_unique::Migration),
            Box::new(m20250101_000011_billed_by_invoice::Migration),
        ]
    }
}
