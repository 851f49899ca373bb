//! `conversation`, `conversations`, `startConversation`, `sendMessage`,
//! `markDelivered`, `markRead`, `updateConversation`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use super::context::ContextExt;
use super::relay::{PageArgs, connection};
use super::types::{Channel, Conversation, ConversationStatus, Message, MessageCategory};
use crate::domain::ids::{self, NodeKind};
use crate::services::Change;
use crate::services::conversations::{self, ConversationFilter};
use crate::services::messages::{self, NewMessage, Receipt};

#[derive(Default)]
pub(crate) struct ConversationsQuery;

#[Object]
impl ConversationsQuery {
    /// A conversation the caller takes part in; `null` otherwise.
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation's global id.")] id: ID,
    ) -> Result<Option<Conversation>> {
        let state = ctx.state()?;
        let conversation_id = ids::decode("id", NodeKind::Conversation, &id)?;
        Ok(conversations::get(&state.db, ctx.actor(), conversation_id)
            .await?
            .map(|(model, side)| Conversation { model, side }))
    }

    /// The caller's conversations as a customer, or with `shopId` the shop's
    /// inbox (members only); oldest first.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::relay::page_weight(first, last, child_complexity)")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "List this shop's inbox instead of the caller's own conversations.")]
        shop_id: Option<ID>,
        #[graphql(desc = "Only conversations in this status.")] status: Option<ConversationStatus>,
        #[graphql(desc = "Only conversations assigned to this agent.")] assigned_agent_id: Option<
            ID,
        >,
        #[graphql(
            desc = "Only conversations with messages the caller has not read (default false)."
        )]
        unread_only: Option<bool>,
        #[graphql(desc = "Page size from the start (or from `after`).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (or from `before`).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> Result<Connection<String, Conversation>> {
        let state = ctx.state()?;
        let page = PageArgs {
            first,
            after,
            last,
            before,
        }
        .into_request(state)?;
        let filter = ConversationFilter {
            shop_id: shop_id
                .map(|id| ids::decode("shopId", NodeKind::Shop, &id))
                .transpose()?,
            status: status.map(Into::into),
            assigned_agent_id: assigned_agent_id
                .map(|id| ids::decode("assignedAgentId", NodeKind::User, &id))
                .transpose()?,
            unread_only: unread_only.unwrap_or(false),
        };
        let side = match filter.shop_id {
            Some(shop_id) => crate::services::shops::role_of(&state.db, ctx.actor(), shop_id)
                .await?
                .map(conversations::Side::Business),
            None => Some(conversations::Side::Customer),
        };
        let rows = conversations::list(&state.db, ctx.actor(), filter, &page).await?;
        let side = side.unwrap_or(conversations::Side::Customer);
        Ok(connection(
            rows,
            |c| c.id,
            |model| Conversation { model, side },
        ))
    }
}

/// A conversation to start (or find).
#[derive(InputObject)]
struct StartConversationInput {
    /// The shop to talk to.
    shop_id: ID,
    /// The channel, one the shop sells on. Defaults to `WEB`.
    #[graphql(default_with = "Channel::Web")]
    channel: Channel,
}

/// A message to send.
#[derive(InputObject)]
struct SendMessageInput {
    /// The conversation.
    conversation_id: ID,
    /// An id of the client's choosing (1 to 128 printable ASCII characters)
    /// that makes sending idempotent: resending the same message with the same
    /// id returns the original; reusing it for another message is `CONFLICT`.
    client_message_id: Option<String>,
    /// The text, up to 4096 characters; optional when a product is given.
    text: Option<String>,
    /// A product of the conversation's shop to show as a card ("is this in stock?").
    product_id: Option<ID>,
    /// Billing category of a business message (default `SERVICE`). Customers
    /// cannot set one: their messages are free.
    category: Option<MessageCategory>,
}

/// A read or delivery receipt.
#[derive(InputObject)]
struct ReceiptInput {
    /// The conversation.
    conversation_id: ID,
    /// Every message the caller's side received up to this `seq` is marked.
    through_seq: i64,
}

/// Inbox changes to a conversation (shop members only).
#[derive(InputObject)]
struct UpdateConversationInput {
    /// The conversation.
    conversation_id: ID,
    /// New inbox status.
    status: Option<ConversationStatus>,
    /// The member to assign it to; `null` unassigns.
    assigned_agent_id: MaybeUndefined<ID>,
}

/// The conversation started, found or changed.
#[derive(SimpleObject)]
struct ConversationPayload {
    /// The conversation as it is now.
    conversation: Conversation,
}

/// The message sent (or, for a retry, the one sent the first time).
#[derive(SimpleObject)]
struct SendMessagePayload {
    /// The message.
    message: Message,
}

/// The messages a receipt moved forward.
#[derive(SimpleObject)]
struct ReceiptPayload {
    /// Messages whose status changed, oldest first; empty when nothing was behind.
    messages: Vec<Message>,
}

#[derive(Default)]
pub(crate) struct ConversationsMutation;

#[Object]
impl ConversationsMutation {
    /// Starts a conversation with a shop, or returns the one the caller
    /// already has on that channel (reopening it if it was resolved).
    /// Errors: `UNAUTHENTICATED`, `BAD_USER_INPUT`.
    async fn start_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop and channel.")] input: StartConversationInput,
    ) -> Result<ConversationPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let shop_id = ids::decode("input.shopId", NodeKind::Shop, &input.shop_id)?;
            let model = conversations::start(
                &state.writer,
                state.events.as_ref(),
                ctx.actor(),
                shop_id,
                input.channel.into(),
            )
            .await?;
            Ok(ConversationPayload {
                conversation: Conversation {
                    model,
                    side: conversations::Side::Customer,
                },
            })
        })
        .await
    }

    /// Sends a message; participants receive it live.
    /// Errors: `UNAUTHENTICATED`, `NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT`.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message.")] input: SendMessageInput,
    ) -> Result<SendMessagePayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let new = NewMessage {
                conversation_id: ids::decode(
                    "input.conversationId",
                    NodeKind::Conversation,
                    &input.conversation_id,
                )?,
                client_message_id: input.client_message_id,
                text: input.text,
                product_id: input
                    .product_id
                    .map(|id| ids::decode("input.productId", NodeKind::Product, &id))
                    .transpose()?,
                category: input.category.map(Into::into),
            };
            let message = messages::send(
                &state.db,
                &state.group_writer,
                &state.participations,
                ctx.actor(),
                new,
            )
            .await?;
            state.metrics.messages_sent.inc();
            Ok(SendMessagePayload {
                message: Message::from(message),
            })
        })
        .await
    }

    /// Marks what the caller's side received, up to `throughSeq`, as
    /// delivered. Idempotent; never moves a status backwards.
    async fn mark_delivered(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation and seq.")] input: ReceiptInput,
    ) -> Result<ReceiptPayload> {
        crate::graphql::boxed(async move { receipt(ctx, input, Receipt::Delivered).await }).await
    }

    /// Marks what the caller's side received, up to `throughSeq`, as read
    /// (and delivered). Idempotent; never moves a status backwards.
    async fn mark_read(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation and seq.")] input: ReceiptInput,
    ) -> Result<ReceiptPayload> {
        crate::graphql::boxed(async move { receipt(ctx, input, Receipt::Read).await }).await
    }

    /// Changes a conversation's inbox status or assignee. Shop members only.
    async fn update_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateConversationInput,
    ) -> Result<ConversationPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let conversation_id = ids::decode(
                "input.conversationId",
                NodeKind::Conversation,
                &input.conversation_id,
            )?;
            let assign = match input.assigned_agent_id {
                MaybeUndefined::Undefined => Change::Keep,
                MaybeUndefined::Null => Change::Clear,
                MaybeUndefined::Value(id) => {
                    Change::Set(ids::decode("input.assignedAgentId", NodeKind::User, &id)?)
                }
            };
            let model = conversations::update(
                &state.writer,
                state.events.as_ref(),
                ctx.actor(),
                conversation_id,
                input.status.map(Into::into),
                assign,
            )
            .await?;
            let (_, side) =
                conversations::access(&state.writer, ctx.actor(), conversation_id).await?;
            Ok(ConversationPayload {
                conversation: Conversation { model, side },
            })
        })
        .await
    }
}

async fn receipt(ctx: &Context<'_>, input: ReceiptInput, kind: Receipt) -> Result<ReceiptPayload> {
    let state = ctx.state()?;
    let conversation_id = ids::decode(
        "input.conversationId",
        NodeKind::Conversation,
        &input.conversation_id,
    )?;
    let changed = messages::mark(
        &state.db,
        state.events.as_ref(),
        ctx.actor(),
        conversation_id,
        input.through_seq,
        kind,
    )
    .await?;
    Ok(ReceiptPayload {
        messages: changed.into_iter().map(Message::from).collect(),
    })
}
