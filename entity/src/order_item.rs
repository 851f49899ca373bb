//! `order_items`: what was bought, as it was at the time.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    /// `None` once the product is gone; the snapshot below remains.
    pub product_id: Option<Uuid>,
    /// The product's name when ordered.
    pub name: String,
    /// The product's price when ordered, in minor units.
    pub unit_price_minor: i64,
    pub quantity: i64,
    pub refunded_quantity: i64,
    /// Whether this line took units from a limited stock (and gives them
    /// back when the order is cancelled).
    pub stock_reserved: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::order::Entity",
        from = "Column::OrderId",
        to = "super::order::Column::Id"
    )]
    Order,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
