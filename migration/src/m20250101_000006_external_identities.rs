//! Users who sign in through an integrator's identity provider: the
//! provider's (issuer, subject) pair names a Chatshop user.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExternalIdentities::Table)
                    .col(string_len(ExternalIdentities::Issuer, 512))
                    .col(string_len(ExternalIdentities::Subject, 512))
                    .col(uuid(ExternalIdentities::UserId))
                    .col(timestamp_with_time_zone(ExternalIdentities::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ExternalIdentities::Issuer)
                            .col(ExternalIdentities::Subject),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExternalIdentities::Table, ExternalIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExternalIdentities::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ExternalIdentities {
    Table,
    Issuer,
    Subject,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
