//! Users, shops and shop membership, plus the table where the server keeps the
//! token-signing key it generates for itself.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    // Stored lower-cased: this unique index is the case-insensitive
                    // uniqueness guarantee.
                    .col(string_len(Users::Email, 254).unique_key())
                    .col(string_len(Users::Name, 200))
                    .col(string(Users::PasswordHash))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Shops::Table)
                    .col(uuid(Shops::Id).primary_key())
                    .col(string_len(Shops::Slug, 64).unique_key())
                    .col(string_len(Shops::Name, 200))
                    .col(text(Shops::Description))
                    .col(string_len(Shops::Currency, 3))
                    .col(boolean(Shops::Hosted))
                    .col(string_len(Shops::Channels, 64))
                    .col(timestamp_with_time_zone(Shops::CreatedAt))
                    .col(timestamp_with_time_zone(Shops::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ShopMembers::Table)
                    .col(uuid(ShopMembers::ShopId))
                    .col(uuid(ShopMembers::UserId))
                    .col(string_len(ShopMembers::Role, 16))
                    .col(timestamp_with_time_zone(ShopMembers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ShopMembers::ShopId)
                            .col(ShopMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ShopMembers::Table, ShopMembers::ShopId)
                            .to(Shops::Table, Shops::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ShopMembers::Table, ShopMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // "Which shops am I a member of" is asked on every authorised request.
        manager
            .create_index(
                Index::create()
                    .name("idx_shop_members_user")
                    .table(ShopMembers::Table)
                    .col(ShopMembers::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Purpose, 64).primary_key())
                    .col(string(SigningKeys::Secret))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SigningKeys::Table.into_iden(),
            ShopMembers::Table.into_iden(),
            Shops::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    Id,
    Slug,
    Name,
    Description,
    Currency,
    Hosted,
    Channels,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ShopMembers {
    Table,
    ShopId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Purpose,
    Secret,
    CreatedAt,
}
