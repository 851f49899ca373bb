//! Conversations and messages: one thread per customer, shop and channel, and
//! a per-conversation `seq` that the database keeps unique.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .col(uuid(Conversations::Id).primary_key())
                    .col(uuid(Conversations::ShopId))
                    .col(uuid(Conversations::CustomerId))
                    .col(string_len(Conversations::Channel, 16))
                    .col(boolean(Conversations::Hosted))
                    .col(string_len(Conversations::Status, 16))
                    .col(uuid_null(Conversations::AssignedAgentId))
                    .col(big_integer(Conversations::LastSeq).default(0))
                    .col(timestamp_with_time_zone_null(Conversations::LastMessageAt))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversations::Table, Conversations::ShopId)
                            .to(Shops::Table, Shops::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversations::Table, Conversations::CustomerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversations::Table, Conversations::AssignedAgentId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        // One thread per customer, shop and channel: starting a conversation
        // twice (even concurrently) finds the same one.
        manager
            .create_index(
                Index::create()
                    .name("uq_conversations_customer_shop_channel")
                    .table(Conversations::Table)
                    .col(Conversations::CustomerId)
                    .col(Conversations::ShopId)
                    .col(Conversations::Channel)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // The shop's inbox lists conversations by shop.
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_shop")
                    .table(Conversations::Table)
                    .col(Conversations::ShopId)
                    .col(Conversations::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(uuid(Messages::Id).primary_key())
                    .col(uuid(Messages::ConversationId))
                    .col(big_integer(Messages::Seq))
                    .col(string_len(Messages::AuthorKind, 16))
                    .col(uuid_null(Messages::AuthorId))
                    .col(string_len(Messages::Kind, 24))
                    .col(text(Messages::Body))
                    .col(uuid_null(Messages::ProductId))
                    // The order an order card or confirmation shows (orders come
                    // in a later migration, so no foreign key here).
                    .col(uuid_null(Messages::OrderId))
                    .col(string_len_null(Messages::Category, 16))
                    .col(string_len_null(Messages::ClientMessageId, 128))
                    .col(string_len_null(Messages::RequestDigest, 64))
                    .col(string_len(Messages::Status, 16))
                    .col(timestamp_with_time_zone_null(Messages::DeliveredAt))
                    .col(timestamp_with_time_zone_null(Messages::ReadAt))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        // The seq invariant: no two messages of a conversation share a seq.
        // Also the index for replay (`seq > n` in order) and history pages.
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_conversation_seq")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // Idempotent sending: a client id is used once per conversation.
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_conversation_client_id")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::ClientMessageId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Conversations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    ShopId,
    CustomerId,
    Channel,
    Hosted,
    Status,
    AssignedAgentId,
    LastSeq,
    LastMessageAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    Seq,
    AuthorKind,
    AuthorId,
    Kind,
    Body,
    ProductId,
    OrderId,
    Category,
    ClientMessageId,
    RequestDigest,
    Status,
    DeliveredAt,
    ReadAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
}
