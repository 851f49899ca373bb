//! Products: one catalog per shop, prices in integer minor units, stock that
//! the database itself refuses to take below zero.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(uuid(Products::Id).primary_key())
                    .col(uuid(Products::ShopId))
                    .col(string_len(Products::Name, 200))
                    .col(text(Products::Description))
                    .col(
                        big_integer(Products::PriceMinor)
                            .check(Expr::col(Products::PriceMinor).gte(0)),
                    )
                    // NULL stock means unlimited; a CHECK keeps a racing decrement
                    // from ever taking it below zero.
                    .col(big_integer_null(Products::Stock).check(Expr::col(Products::Stock).gte(0)))
                    .col(string_len_null(Products::Sku, 64))
                    .col(string_len_null(Products::ImageUrl, 2048))
                    .col(boolean(Products::Archived))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Products::Table, Products::ShopId)
                            .to(Shops::Table, Shops::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Catalog pages are keyset-paginated by id within a shop.
        manager
            .create_index(
                Index::create()
                    .name("idx_products_shop_id")
                    .table(Products::Table)
                    .col(Products::ShopId)
                    .col(Products::Id)
                    .to_owned(),
            )
            .await?;

        // SKUs are unique within a shop; several products may have none.
        manager
            .create_index(
                Index::create()
                    .name("uq_products_shop_sku")
                    .table(Products::Table)
                    .col(Products::ShopId)
                    .col(Products::Sku)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    ShopId,
    Name,
    Description,
    PriceMinor,
    Stock,
    Sku,
    ImageUrl,
    Archived,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    Id,
}
