//! Orders, their items and payments. Idempotency keys are unique indexes, so a
//! retried request can never create a second order or a second charge.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(uuid(Orders::Id).primary_key())
                    .col(uuid(Orders::ConversationId))
                    .col(uuid(Orders::ShopId))
                    .col(uuid(Orders::CustomerId))
                    .col(uuid(Orders::PlacedById))
                    .col(string_len(Orders::Status, 24))
                    .col(string_len(Orders::Currency, 3))
                    .col(
                        big_integer(Orders::SubtotalMinor)
                            .check(Expr::col(Orders::SubtotalMinor).gte(0)),
                    )
                    .col(
                        big_integer(Orders::PlatformFeeMinor)
                            .check(Expr::col(Orders::PlatformFeeMinor).gte(0)),
                    )
                    .col(
                        big_integer(Orders::TotalMinor).check(Expr::col(Orders::TotalMinor).gte(0)),
                    )
                    .col(big_integer(Orders::RefundedMinor).default(0))
                    .col(string_len_null(Orders::ClientKey, 128))
                    .col(timestamp_with_time_zone(Orders::ReservedUntil))
                    .col(uuid_null(Orders::PaymentAttemptId))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Orders::PaidAt))
                    .col(timestamp_with_time_zone_null(Orders::FulfilledAt))
                    .col(timestamp_with_time_zone_null(Orders::CancelledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Orders::Table, Orders::ConversationId)
                            .to(Conversations::Table, Conversations::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Orders::Table, Orders::ShopId)
                            .to(Shops::Table, Shops::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            (
                "uq_orders_placer_client_key",
                vec![Orders::PlacedById, Orders::ClientKey],
                true,
            ),
            ("idx_orders_shop", vec![Orders::ShopId, Orders::Id], false),
            (
                "idx_orders_customer",
                vec![Orders::CustomerId, Orders::Id],
                false,
            ),
            (
                "idx_orders_status_reserved",
                vec![Orders::Status, Orders::ReservedUntil],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Orders::Table);
            for column in columns {
                index.col(column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .col(uuid(OrderItems::Id).primary_key())
                    .col(uuid(OrderItems::OrderId))
                    .col(uuid_null(OrderItems::ProductId))
                    .col(string_len(OrderItems::Name, 200))
                    .col(big_integer(OrderItems::UnitPriceMinor))
                    .col(
                        big_integer(OrderItems::Quantity)
                            .check(Expr::col(OrderItems::Quantity).gt(0)),
                    )
                    .col(big_integer(OrderItems::RefundedQuantity).default(0))
                    .col(boolean(OrderItems::StockReserved))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrderItems::Table, OrderItems::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrderItems::Table, OrderItems::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_items_order")
                    .table(OrderItems::Table)
                    .col(OrderItems::OrderId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .col(uuid(Payments::Id).primary_key())
                    .col(uuid(Payments::OrderId))
                    .col(string_len(Payments::Kind, 16))
                    .col(string_len(Payments::IdempotencyKey, 128))
                    .col(string_len(Payments::RequestDigest, 64))
                    .col(big_integer(Payments::AmountMinor))
                    .col(string_len(Payments::Currency, 3))
                    .col(string_len(Payments::Status, 16))
                    .col(string_len_null(Payments::FailureCode, 64))
                    .col(string_len_null(Payments::ProviderReference, 128))
                    .col(timestamp_with_time_zone(Payments::CreatedAt))
                    .col(timestamp_with_time_zone(Payments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Payments::Table, Payments::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The same key never charges (or refunds) twice.
        manager
            .create_index(
                Index::create()
                    .name("uq_payments_kind_key")
                    .table(Payments::Table)
                    .col(Payments::Kind)
                    .col(Payments::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_payments_order")
                    .table(Payments::Table)
                    .col(Payments::OrderId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Payments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OrderItems::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Orders::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    ConversationId,
    ShopId,
    CustomerId,
    PlacedById,
    Status,
    Currency,
    SubtotalMinor,
    PlatformFeeMinor,
    TotalMinor,
    RefundedMinor,
    ClientKey,
    ReservedUntil,
    PaymentAttemptId,
    CreatedAt,
    UpdatedAt,
    PaidAt,
    FulfilledAt,
    CancelledAt,
}

#[derive(DeriveIden)]
enum OrderItems {
    Table,
    Id,
    OrderId,
    ProductId,
    Name,
    UnitPriceMinor,
    Quantity,
    RefundedQuantity,
    StockReserved,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    Id,
    OrderId,
    Kind,
    IdempotencyKey,
    RequestDigest,
    AmountMinor,
    Currency,
    Status,
    FailureCode,
    ProviderReference,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
}
