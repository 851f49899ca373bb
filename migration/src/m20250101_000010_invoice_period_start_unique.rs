//! A shop's invoices never share a start: two periods closed at once, at
//! different ends, both began where the last invoice ended, and each got
//! an invoice of its own over the same usage. With this index the second
//! to commit fails, and closes again after the first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "uq_invoices_shop_period_start";

#[derive(DeriveIden)]
enum Invoices {
    Table,
    ShopId,
    PeriodStart,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Invoices::Table)
                    .col(Invoices::ShopId)
                    .col(Invoices::PeriodStart)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Invoices::Table).to_owned())
            .await
    }
}
