//! Billing (rate changes, usage records, invoices), marketing consent, and
//! the columns privacy needs: when a message body was erased, when a user
//! deleted their data.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateChanges::Table)
                    .col(uuid(RateChanges::Id).primary_key())
                    .col(string_len(RateChanges::Category, 16))
                    .col(
                        big_integer(RateChanges::RateMicro)
                            .check(Expr::col(RateChanges::RateMicro).gte(0)),
                    )
                    .col(timestamp_with_time_zone(RateChanges::EffectiveFrom))
                    .col(uuid(RateChanges::ChangedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rate_changes_category_effective")
                    .table(RateChanges::Table)
                    .col(RateChanges::Category)
                    .col(RateChanges::EffectiveFrom)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UsageRecords::Table)
                    .col(uuid(UsageRecords::Id).primary_key())
                    // Exactly one record per message: the database says so.
                    .col(uuid(UsageRecords::MessageId).unique_key())
                    .col(uuid(UsageRecords::ShopId))
                    .col(string_len(UsageRecords::Category, 16))
                    .col(big_integer(UsageRecords::RateMicro))
                    .col(timestamp_with_time_zone(UsageRecords::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UsageRecords::Table, UsageRecords::ShopId)
                            .to(Shops::Table, Shops::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_usage_records_shop_delivered")
                    .table(UsageRecords::Table)
                    .col(UsageRecords::ShopId)
                    .col(UsageRecords::DeliveredAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Invoices::Table)
                    .col(uuid(Invoices::Id).primary_key())
                    .col(uuid(Invoices::ShopId))
                    .col(timestamp_with_time_zone(Invoices::PeriodStart))
                    .col(timestamp_with_time_zone(Invoices::PeriodEnd))
                    .col(timestamp_with_time_zone(Invoices::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invoices::Table, Invoices::ShopId)
                            .to(Shops::Table, Shops::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_invoices_shop_period_end")
                    .table(Invoices::Table)
                    .col(Invoices::ShopId)
                    .col(Invoices::PeriodEnd)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(InvoiceLines::Table)
                    .col(uuid(InvoiceLines::Id).primary_key())
                    .col(uuid(InvoiceLines::InvoiceId))
                    .col(string_len(InvoiceLines::Kind, 24))
                    .col(string_len_null(InvoiceLines::Category, 16))
                    .col(big_integer(InvoiceLines::Quantity))
                    .col(big_integer(InvoiceLines::AmountMicro))
                    .col(string_len(InvoiceLines::Currency, 3))
                    .col(string_len(InvoiceLines::Description, 200))
                    .foreign_key(
                        ForeignKey::create()
                            .from(InvoiceLines::Table, InvoiceLines::InvoiceId)
                            .to(Invoices::Table, Invoices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MarketingOptOuts::Table)
                    .col(uuid(MarketingOptOuts::CustomerId))
                    .col(uuid(MarketingOptOuts::ShopId))
                    .col(timestamp_with_time_zone(MarketingOptOuts::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(MarketingOptOuts::CustomerId)
                            .col(MarketingOptOuts::ShopId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(timestamp_with_time_zone_null(Messages::RedactedAt))
                    .to_owned(),
            )
            .await?;
        // Retention looks for old hosted messages by age.
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_created_at")
                    .table(Messages::Table)
                    .col(Messages::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::DeletedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MarketingOptOuts::Table.into_iden(),
            InvoiceLines::Table.into_iden(),
            Invoices::Table.into_iden(),
            UsageRecords::Table.into_iden(),
            RateChanges::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::RedactedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::DeletedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RateChanges {
    Table,
    Id,
    Category,
    RateMicro,
    EffectiveFrom,
    ChangedBy,
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    Id,
    MessageId,
    ShopId,
    Category,
    RateMicro,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    ShopId,
    PeriodStart,
    PeriodEnd,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InvoiceLines {
    Table,
    Id,
    InvoiceId,
    Kind,
    Category,
    Quantity,
    AmountMicro,
    Currency,
    Description,
}

#[derive(DeriveIden)]
enum MarketingOptOuts {
    Table,
    CustomerId,
    ShopId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    RedactedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    Id,
}
