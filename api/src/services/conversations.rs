//! Conversations: starting them, who may see them, the shop's inbox.

use chatshop_entity::enums::{AuthorKind, Channel, ConversationStatus, DeliveryStatus, ShopRole};
use chatshop_entity::{conversation, message, shop, shop_member};
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition, Query};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait,
    IntoActiveModel, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Remembered, new_id, paginate, shops};
use crate::Error;
use crate::auth::Actor;
use crate::auth::policy::{self, ShopPermission};
use crate::domain::channel::Channels;
use crate::domain::page::{Page, PageRequest};
use crate::events::{Event, EventBus};

/// Which side of a conversation the caller is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The conversation's customer.
    Customer,
    /// A member of the conversation's shop.
    Business(ShopRole),
}

impl Side {
    /// Messages this side receives (written by the other side).
    pub fn incoming_kinds(self) -> &'static [AuthorKind] {
        match self {
            Self::Customer => &[AuthorKind::Agent, AuthorKind::System],
            Self::Business(_) => &[AuthorKind::Customer],
        }
    }
}

/// Starts (or finds) the caller's conversation with a shop on a channel.
/// Idempotent: the customer has one conversation per shop and channel; a
/// resolved one is reopened.
///
/// # Errors
/// `UNAUTHENTICATED`; `BAD_USER_INPUT` for an unknown shop or a channel the
/// shop does not sell on.
pub async fn start(
    db: &impl ConnectionTrait,
    events: &dyn EventBus,
    actor: &Actor,
    shop_id: Uuid,
    channel: Channel,
) -> Result<conversation::Model, Error> {
    let customer = actor.user_id()?;
    let shop = shops::get(db, shop_id)
        .await?
        .ok_or_else(|| Error::invalid("input.shopId", "no shop with this id"))?;
    let sells_on = Channels::from_stored(&shop.channels)
        .into_iter()
        .any(|c| c.as_str() == channel_name(channel));
    if !sells_on {
        return Err(Error::invalid(
            "input.channel",
            "the shop does not sell on this channel",
        ));
    }
    if let Some(existing) = find(db, customer, shop_id, channel).await? {
        return reopen(db, events, existing).await;
    }
    let now = chrono::Utc::now();
    let inserted = conversation::Entity::insert(conversation::ActiveModel {
        id: Set(new_id()),
        shop_id: Set(shop_id),
        customer_id: Set(customer),
        channel: Set(channel),
        hosted: Set(shop.hosted),
        status: Set(ConversationStatus::Open),
        assigned_agent_id: Set(None),
        last_seq: Set(0),
        last_message_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(db)
    .await;
    match inserted {
        Ok(conversation) => {
            events
                .publish(Event::ConversationChanged {
                    shop_id,
                    conversation_id: conversation.id,
                })
                .await;
            Ok(conversation)
        }
        // A concurrent start won the unique index: the thread exists now.
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            find(db, customer, shop_id, channel)
                .await?
                .ok_or_else(|| Error::internal("conversation vanished after a unique violation"))
        }
        Err(err) => Err(err.into()),
    }
}

async fn find(
    db: &impl ConnectionTrait,
    customer: Uuid,
    shop_id: Uuid,
    channel: Channel,
) -> Result<Option<conversation::Model>, Error> {
    Ok(conversation::Entity::find()
        .filter(conversation::Column::CustomerId.eq(customer))
        .filter(conversation::Column::ShopId.eq(shop_id))
        .filter(conversation::Column::Channel.eq(channel))
        .one(db)
        .await?)
}

async fn reopen(
    db: &impl ConnectionTrait,
    events: &dyn EventBus,
    existing: conversation::Model,
) -> Result<conversation::Model, Error> {
    if existing.status != ConversationStatus::Resolved {
        return Ok(existing);
    }
    let (shop_id, conversation_id) = (existing.shop_id, existing.id);
    let mut active = existing.into_active_model();
    active.status = Set(ConversationStatus::Open);
    active.updated_at = Set(chrono::Utc::now());
    let reopened = active.update(db).await?;
    events
        .publish(Event::ConversationChanged {
            shop_id,
            conversation_id,
        })
        .await;
    Ok(reopened)
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::WhatsApp => "WHATSAPP",
        Channel::Messenger => "MESSENGER",
        Channel::Instagram => "INSTAGRAM",
        Channel::Web => "WEB",
    }
}

/// Loads a conversation and the caller's side in it. Anyone else gets
/// `NOT_FOUND`, as if it did not exist: hosted message data is reachable only
/// by the conversation's participants, and its existence is theirs too.
pub async fn access(
    db: &impl ConnectionTrait,
    actor: &Actor,
    conversation_id: Uuid,
) -> Result<(conversation::Model, Side), Error> {
    let caller = actor.user_id()?;
    let not_found = || Error::NotFound {
        entity: "conversation",
    };
    // One round trip: the conversation with the caller's membership of its
    // shop, if any.
    let callers_membership = conversation::Entity::belongs_to(shop_member::Entity)
        .from(conversation::Column::ShopId)
        .to(shop_member::Column::ShopId)
        .on_condition(move |_, member| {
            Expr::col((member, shop_member::Column::UserId))
                .eq(caller)
                .into_condition()
        })
        .into();
    let (found, membership) = conversation::Entity::find_by_id(conversation_id)
        .select_also(shop_member::Entity)
        .join(JoinType::LeftJoin, callers_membership)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    if found.customer_id == caller {
        return Ok((found, Side::Customer));
    }
    match membership {
        Some(member) => Ok((found, Side::Business(member.role))),
        None => Err(not_found()),
    }
}

/// The caller's place in a conversation: what sending a message needs.
#[derive(Clone, Copy, Debug)]
pub struct Participation {
    pub conversation_id: Uuid,
    pub shop_id: Uuid,
    pub customer_id: Uuid,
    pub side: Side,
}

/// Who takes part in which conversation, remembered for sends. A
/// conversation's customer and shop never change and conversations are
/// never deleted, so a customer's place, once found, stays true. A shop
/// member's place is remembered for [`MEMBERSHIP_FOR`]: members leave only
/// by erasing their account, which closes it on every instance at once (see
/// `auth::accounts`), and a membership changed behind Chatshop's back shows
/// within that time.
#[derive(Default)]
pub struct Participations {
    /// `(caller, conversation) → place`.
    known: Remembered<(Uuid, Uuid), Participation>,
}

/// How long a shop member's place in a conversation is taken as found.
pub const MEMBERSHIP_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl Participations {
    /// The caller's place in a conversation, as [`access`] finds it.
    ///
    /// # Errors
    /// As [`access`].
    pub async fn participation(
        &self,
        db: &impl ConnectionTrait,
        actor: &Actor,
        conversation_id: Uuid,
    ) -> Result<Participation, Error> {
        let caller = actor.user_id()?;
        if let Some((place, age)) = self.known.get(&(caller, conversation_id))
            && (place.side == Side::Customer || age < MEMBERSHIP_FOR)
        {
            return Ok(place);
        }
        let (found, side) = access(db, actor, conversation_id).await?;
        let place = Participation {
            conversation_id,
            shop_id: found.shop_id,
            customer_id: found.customer_id,
            side,
        };
        self.known.remember((caller, conversation_id), place);
        Ok(place)
    }
}

/// A conversation if the caller takes part in it.
pub async fn get(
    db: &impl ConnectionTrait,
    actor: &Actor,
    conversation_id: Uuid,
) -> Result<Option<(conversation::Model, Side)>, Error> {
    match access(db, actor, conversation_id).await {
        Ok(found) => Ok(Some(found)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Filters of a conversation listing.
#[derive(Debug, Default)]
pub struct ConversationFilter {
    /// A shop's inbox (members only); `None` lists the caller's own
    /// conversations as a customer.
    pub shop_id: Option<Uuid>,
    /// Only conversations in this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations assigned to this agent.
    pub assigned_agent_id: Option<Uuid>,
    /// Only conversations with messages the caller's side has not read.
    pub unread_only: bool,
}

/// The caller's conversations as a customer, or a shop's inbox, newest first
/// by creation.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: ConversationFilter,
    page: &PageRequest,
) -> Result<Page<conversation::Model>, Error> {
    let caller = actor.user_id()?;
    let mut select = conversation::Entity::find();
    match filter.shop_id {
        Some(shop_id) => {
            policy::require(
                shops::role_of(db, actor, shop_id).await?,
                ShopPermission::Work,
            )?;
            select = select.filter(conversation::Column::ShopId.eq(shop_id));
        }
        None => select = select.filter(conversation::Column::CustomerId.eq(caller)),
    }
    if let Some(status) = filter.status {
        select = select.filter(conversation::Column::Status.eq(status));
    }
    if let Some(agent) = filter.assigned_agent_id {
        select = select.filter(conversation::Column::AssignedAgentId.eq(agent));
    }
    if filter.unread_only {
        // The caller's side receives what the other side writes.
        let side = if filter.shop_id.is_some() {
            Side::Business(ShopRole::Agent)
        } else {
            Side::Customer
        };
        let unread = Query::select()
            .column(message::Column::ConversationId)
            .from(message::Entity)
            .and_where(
                Expr::col(message::Column::AuthorKind)
                    .is_in(side.incoming_kinds().iter().map(|k| k.to_value())),
            )
            .and_where(Expr::col(message::Column::Status).ne(DeliveryStatus::Read.to_value()))
            .to_owned();
        select = select.filter(Expr::col(conversation::Column::Id).in_subquery(unread));
    }
    paginate(db, select, conversation::Column::Id, page).await
}

/// Changes a conversation's inbox status and assignment (shop members only).
///
/// # Errors
/// `NOT_FOUND` for non-participants, `FORBIDDEN` for the customer,
/// `BAD_USER_INPUT` when the assignee is not a member of the shop.
pub async fn update(
    db: &impl ConnectionTrait,
    events: &dyn EventBus,
    actor: &Actor,
    conversation_id: Uuid,
    status: Option<ConversationStatus>,
    assign: super::Change<Uuid>,
) -> Result<conversation::Model, Error> {
    let (found, side) = access(db, actor, conversation_id).await?;
    if side == Side::Customer {
        return Err(Error::Forbidden);
    }
    let shop_id = found.shop_id;
    let mut active = found.into_active_model();
    if let Some(status) = status {
        active.status = Set(status);
    }
    match assign {
        super::Change::Keep => {}
        super::Change::Clear => active.assigned_agent_id = Set(None),
        super::Change::Set(agent) => {
            let member = shop_member::Entity::find_by_id((shop_id, agent))
                .one(db)
                .await?;
            if member.is_none() {
                return Err(Error::invalid(
                    "input.assignedAgentId",
                    "the assignee is not a member of this shop",
                ));
            }
            active.assigned_agent_id = Set(Some(agent));
        }
    }
    active.updated_at = Set(chrono::Utc::now());
    let updated = active.update(db).await?;
    events
        .publish(Event::ConversationChanged {
            shop_id,
            conversation_id,
        })
        .await;
    Ok(updated)
}

/// Messages the caller's side has received and not yet read.
pub async fn unread_count(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    side: Side,
) -> Result<u64, Error> {
    Ok(message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::AuthorKind.is_in(side.incoming_kinds().iter().copied()))
        .filter(message::Column::Status.ne(DeliveryStatus::Read))
        .count(db)
        .await?)
}

/// The newest message of a conversation.
pub async fn last_message(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<Option<message::Model>, Error> {
    Ok(message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .order_by_desc(message::Column::Seq)
        .one(db)
        .await?)
}

/// The shop of a conversation (for display).
pub async fn shop_of(
    db: &impl ConnectionTrait,
    conversation: &conversation::Model,
) -> Result<shop::Model, Error> {
    shops::get(db, conversation.shop_id)
        .await?
        .ok_or_else(|| Error::internal("conversation without a shop"))
}
