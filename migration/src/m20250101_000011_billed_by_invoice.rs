//! What an invoice bills is marked with it: each usage record, each order
//! whose platform fee it charges, each refund whose share of that fee it
//! gives back (`invoice_id`, `NULL` until billed).
//!
//! Invoices used to bill by time range alone, and a delivery, payment or
//! refund stamped just before a period's end but committed just after its
//! close fell between two invoices. A close now bills everything not yet
//! billed that was stamped before its end, whenever it committed.
//!
//! Rows of periods closed before this migration are marked with the invoice
//! whose period holds their stamp, so that no later invoice bills them again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    InvoiceId,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    InvoiceId,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    InvoiceId,
}

/// Each table and its new column.
fn columns() -> [(DynIden, DynIden); 3] {
    [
        (
            UsageRecords::Table.into_iden(),
            UsageRecords::InvoiceId.into_iden(),
        ),
        (Orders::Table.into_iden(), Orders::InvoiceId.into_iden()),
        (Payments::Table.into_iden(), Payments::InvoiceId.into_iden()),
    ]
}

/// Marks the rows of the periods already closed (see the module's comment).
const BACKFILL: [&str; 3] = [
    "UPDATE usage_records SET invoice_id = (SELECT i.id FROM invoices i \
        WHERE i.shop_id = usage_records.shop_id \
        AND i.period_start <= usage_records.delivered_at \
        AND usage_records.delivered_at < i.period_end)",
    "UPDATE orders SET invoice_id = (SELECT i.id FROM invoices i \
        WHERE i.shop_id = orders.shop_id \
        AND i.period_start <= orders.paid_at AND orders.paid_at < i.period_end) \
        WHERE paid_at IS NOT NULL AND status <> 'PENDING_PAYMENT'",
    "UPDATE payments SET invoice_id = (SELECT i.id FROM invoices i \
        JOIN orders o ON o.shop_id = i.shop_id \
        WHERE o.id = payments.order_id \
        AND i.period_start <= payments.updated_at AND payments.updated_at < i.period_end) \
        WHERE kind = 'REFUND' AND status = 'SUCCEEDED'",
];

/// Indexes for a close: what is left to bill, and what an invoice billed.
/// Partial, so that a row costs no index entry it does not need: unbilled
/// records are found by shop and time; billed rows by their invoice.
const INDEXES: [(&str, &str); 4] = [
    (
        "idx_usage_records_unbilled",
        "ON usage_records (shop_id, delivered_at) WHERE invoice_id IS NULL",
    ),
    (
        "idx_usage_records_invoice",
        "ON usage_records (invoice_id) WHERE invoice_id IS NOT NULL",
    ),
    (
        "idx_orders_invoice",
        "ON orders (invoice_id) WHERE invoice_id IS NOT NULL",
    ),
    (
        "idx_payments_invoice",
        "ON payments (invoice_id) WHERE invoice_id IS NOT NULL",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One statement each: SQLite alters one column at a time.
        for (table, column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(ColumnDef::new(column).uuid().null())
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        for statement in BACKFILL {
            db.execute_unprepared(statement).await?;
        }
        for (name, definition) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} {definition}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        for (table, column) in columns() {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
