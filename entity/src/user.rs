//! `users`: everyone who signs in, customers and shop staff alike.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Stored normalised (trimmed, lower-case); the unique index makes
    /// emails unique case-insensitively.
    #[sea_orm(unique)]
    pub email: String,
    pub name: String,
    /// PHC string of an argon2id hash; never leaves the server.
    pub password_hash: String,
    pub created_at: DateTimeUtc,
    /// Set when the user deleted their data; their tokens stop working.
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::shop_member::Entity")]
    ShopMember,
}

impl Related<super::shop_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ShopMember.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
