//! `shops`: a business's storefront and its one catalog.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shops")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub description: String,
    /// ISO 4217 code; every price in the catalog is in this currency.
    pub currency: String,
    /// Whether the platform hosts this shop's conversations (which means they
    /// are not end-to-end encrypted, and customers are told so).
    pub hosted: bool,
    /// The channels the shop sells on, as a comma-separated set of channel
    /// names (`WEB,WHATSAPP`). A fixed set of four values that is always read
    /// with the shop does not earn a table of its own.
    pub channels: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::shop_member::Entity")]
    ShopMember,
    #[sea_orm(has_many = "super::product::Entity")]
    Product,
}

impl Related<super::shop_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ShopMember.def()
    }
}

impl Related<super::product::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Product.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
