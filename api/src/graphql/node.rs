//! `node(id)`: any object by its global id.

use async_graphql::{Context, ID, Object, Result};

use super::context::ContextExt;
use super::types::{Conversation, Message, Node, Order, Product, Shop, User};
use crate::domain::ids::{self, NodeKind};
use crate::services::{catalog, conversations, messages, orders, shops, users};

#[derive(Default)]
pub(crate) struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; `null` when it does not exist or the
    /// caller may not see it.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global id, as found in any object's `id` field.")] id: ID,
    ) -> Result<Option<Node>> {
        let state = ctx.state()?;
        let actor = ctx.actor();
        let (kind, uuid) = ids::decode_any("id", &id)?;
        Ok(match kind {
            NodeKind::User => users::get_visible(&state.db, actor, uuid)
                .await?
                .map(|u| Node::User(User::with_email(u))),
            NodeKind::Shop => shops::get(&state.db, uuid)
                .await?
                .map(|s| Node::Shop(Shop(s))),
            NodeKind::Conversation => conversations::get(&state.db, actor, uuid)
                .await?
                .map(|(model, side)| Node::Conversation(Conversation { model, side })),
            NodeKind::Message => messages::get(&state.db, actor, uuid)
                .await?
                .map(|message| Node::Message(Message::from(message))),
            NodeKind::Order => orders::get(&state.db, actor, uuid)
                .await?
                .map(|(model, side)| Node::Order(Order { model, side })),
            NodeKind::OrderItem | NodeKind::Invoice => None,
            NodeKind::Product => match catalog::get_product(&state.db, actor, uuid).await? {
                Some(product) => Some(Node::Product(Product::load(state, product).await?)),
                None => None,
            },
        })
    }
}
