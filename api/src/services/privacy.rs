//! The promises Chatshop keeps to the people in the chats: marketing
//! consent, export, deletion, and retention of hosted message bodies.

use chatshop_entity::enums::{OrderStatus, ShopRole};
use chatshop_entity::{
    conversation, external_identity, invoice, marketing_opt_out, message, order, payment, shop,
    shop_member, user,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionSession, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{orders, shops};
use crate::Error;
use crate::auth::Actor;
use crate::domain::ids::{self, NodeKind};
use crate::domain::money::{Currency, format_decimal};

/// Opts the caller in to or out of a shop's marketing messages. Opted-out
/// customers are never sent (nor billed for) a `MARKETING` message.
pub async fn set_marketing_consent(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
    opted_in: bool,
) -> Result<bool, Error> {
    let customer = actor.user_id()?;
    shops::get(db, shop_id)
        .await?
        .ok_or_else(|| Error::invalid("shopId", "no shop with this id"))?;
    if opted_in {
        marketing_opt_out::Entity::delete_by_id((customer, shop_id))
            .exec(db)
            .await?;
    } else {
        marketing_opt_out::Entity::insert(marketing_opt_out::ActiveModel {
            customer_id: Set(customer),
            shop_id: Set(shop_id),
            created_at: Set(chrono::Utc::now()),
        })
        .on_conflict_do_nothing_on([
            marketing_opt_out::Column::CustomerId,
            marketing_opt_out::Column::ShopId,
        ])
        .exec(db)
        .await?;
    }
    Ok(opted_in)
}

/// Whether the caller accepts a shop's marketing messages.
pub async fn marketing_consent(
    db: &impl ConnectionTrait,
    actor: &Actor,
    shop_id: Uuid,
) -> Result<Option<bool>, Error> {
    let Some(customer) = actor.user_id_opt() else {
        return Ok(None);
    };
    Ok(Some(
        marketing_opt_out::Entity::find_by_id((customer, shop_id))
            .one(db)
            .await?
            .is_none(),
    ))
}

/// Everything Chatshop holds about the caller, as one JSON document: the
/// account, shop memberships, conversations with their messages, orders
/// (theirs, and those they placed for a shop's customers) with their
/// payments, the messages they wrote for a shop, marketing opt-outs,
/// linked sign-in identities, and for shops they own, invoices. Nobody
/// else's personal data is in it beyond what the conversations themselves
/// contain.
pub async fn export(db: &impl ConnectionTrait, actor: &Actor) -> Result<Value, Error> {
    let caller = actor.user_id()?;
    let account = user::Entity::find_by_id(caller)
        .one(db)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let memberships = shop_member::Entity::find()
        .filter(shop_member::Column::UserId.eq(caller))
        .all(db)
        .await?;
    let mut shops_json = Vec::new();
    for membership in &memberships {
        let Some(found) = shop::Entity::find_by_id(membership.shop_id).one(db).await? else {
            continue;
        };
        let mut entry = json!({
            "id": ids::encode(NodeKind::Shop, found.id),
            "slug": found.slug,
            "name": found.name,
            "role": format!("{:?}", membership.role).to_uppercase(),
            "joinedAt": membership.created_at,
        });
        if membership.role == ShopRole::Owner {
            let invoices = invoice::Entity::find()
                .filter(invoice::Column::ShopId.eq(found.id))
                .all(db)
                .await?;
            let mut invoices_json = Vec::new();
            for invoice in invoices {
                let lines = super::billing::lines_of(db, invoice.id).await?;
                invoices_json.push(json!({
                    "periodStart": invoice.period_start,
                    "periodEnd": invoice.period_end,
                    "lines": lines.iter().map(|l| json!({
                        "kind": l.kind,
                        "category": l.category,
                        "quantity": l.quantity,
                        "amount": format_decimal(l.amount_micro, 6),
                        "currencyCode": l.currency,
                    })).collect::<Vec<_>>(),
                }));
            }
            if let Some(fields) = entry.as_object_mut() {
                fields.insert("invoices".to_owned(), Value::Array(invoices_json));
            }
        }
        shops_json.push(entry);
    }

    let conversations = conversation::Entity::find()
        .filter(conversation::Column::CustomerId.eq(caller))
        .order_by_asc(conversation::Column::Id)
        .all(db)
        .await?;
    let mut conversations_json = Vec::new();
    for found in conversations {
        let messages = message::Entity::find()
            .filter(message::Column::ConversationId.eq(found.id))
            .order_by_asc(message::Column::Seq)
            .all(db)
            .await?;
        conversations_json.push(json!({
            "id": ids::encode(NodeKind::Conversation, found.id),
            "shopId": ids::encode(NodeKind::Shop, found.shop_id),
            "channel": format!("{:?}", found.channel).to_uppercase(),
            "hosted": found.hosted,
            "startedAt": found.created_at,
            "messages": messages.iter().map(|m| json!({
                "seq": m.seq,
                "author": format!("{:?}", m.author_kind).to_uppercase(),
                "mine": m.author_id == Some(caller),
                "text": m.body,
                "sentAt": m.created_at,
                "status": format!("{:?}", m.status).to_uppercase(),
            })).collect::<Vec<_>>(),
        }));
    }

    // Orders of the caller's as a customer, and those they placed for a
    // customer of a shop they work in.
    let orders = order::Entity::find()
        .filter(
            order::Column::CustomerId
                .eq(caller)
                .or(order::Column::PlacedById.eq(caller)),
        )
        .order_by_asc(order::Column::Id)
        .all(db)
        .await?;
    let mut orders_json = Vec::new();
    for found in orders {
        let currency = Currency::from_stored(&found.currency)?;
        let items = orders::items_of(db, found.id).await?;
        let payments = payment::Entity::find()
            .filter(payment::Column::OrderId.eq(found.id))
            .order_by_asc(payment::Column::Id)
            .all(db)
            .await?;
        orders_json.push(json!({
            "id": ids::encode(NodeKind::Order, found.id),
            "mine": found.customer_id == caller,
            "placedByMe": found.placed_by_id == caller,
            "status": format!("{:?}", found.status),
            "total": format_decimal(found.total_minor, currency.exponent()),
            "refunded": format_decimal(found.refunded_minor, currency.exponent()),
            "currencyCode": currency.code(),
            "placedAt": found.created_at,
            "items": items.iter().map(|i| json!({ "name": i.name, "quantity": i.quantity, "unitPrice": format_decimal(i.unit_price_minor, currency.exponent()) })).collect::<Vec<_>>(),
            // What moved and when; never card data, which Chatshop never holds.
            "payments": payments.iter().map(|p| json!({
                "kind": format!("{:?}", p.kind).to_uppercase(),
                "status": format!("{:?}", p.status).to_uppercase(),
                "amount": format_decimal(p.amount_minor, currency.exponent()),
                "failureCode": p.failure_code,
                "at": p.created_at,
            })).collect::<Vec<_>>(),
        }));
    }

    // What the caller wrote for a shop, in conversations of its customers.
    let written = message::Entity::find()
        .filter(message::Column::AuthorId.eq(caller))
        .filter(
            message::Column::ConversationId.not_in_subquery(
                Query::select()
                    .column(conversation::Column::Id)
                    .from(conversation::Entity)
                    .and_where(conversation::Column::CustomerId.eq(caller))
                    .to_owned(),
            ),
        )
        .order_by_asc(message::Column::Id)
        .all(db)
        .await?;
    let written_json: Vec<Value> = written
        .iter()
        .map(|m| {
            json!({
                "conversationId": ids::encode(NodeKind::Conversation, m.conversation_id),
                "seq": m.seq,
                "text": m.body,
                "sentAt": m.created_at,
            })
        })
        .collect();

    let opted_out = marketing_opt_out::Entity::find()
        .filter(marketing_opt_out::Column::CustomerId.eq(caller))
        .all(db)
        .await?;
    let identities = external_identity::Entity::find()
        .filter(external_identity::Column::UserId.eq(caller))
        .all(db)
        .await?;

    Ok(json!({
        "exportedAt": chrono::Utc::now(),
        "account": {
            "id": ids::encode(NodeKind::User, account.id),
            "email": account.email,
            "name": account.name,
            "createdAt": account.created_at,
        },
        "shops": shops_json,
        "conversations": conversations_json,
        "orders": orders_json,
        "messagesWrittenForShops": written_json,
        "marketingOptOuts": opted_out.iter().map(|o| json!({
            "shopId": ids::encode(NodeKind::Shop, o.shop_id),
            "since": o.created_at,
        })).collect::<Vec<_>>(),
        "signInIdentities": identities.iter().map(|i| json!({
            "issuer": i.issuer,
            "subject": i.subject,
            "linkedAt": i.created_at,
        })).collect::<Vec<_>>(),
    }))
}

/// Erases the caller's personal data: their email and name, the bodies of
/// messages they wrote, their memberships and consents. Orders and invoices
/// stay (they are financial records) but point at an anonymous account. The
/// caller's tokens stop working at once.
///
/// # Errors
/// `CONFLICT` when the caller is the only owner of a shop (ownership must be
/// handed over first), or has an order with a payment in progress.
pub async fn delete(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &Actor,
) -> Result<(), Error> {
    let caller = actor.user_id()?;
    let owned = shop_member::Entity::find()
        .filter(shop_member::Column::UserId.eq(caller))
        .filter(shop_member::Column::Role.eq(ShopRole::Owner))
        .all(db)
        .await?;
    for membership in owned {
        let owners = shop_member::Entity::find()
            .filter(shop_member::Column::ShopId.eq(membership.shop_id))
            .filter(shop_member::Column::Role.eq(ShopRole::Owner))
            .count(db)
            .await?;
        if owners <= 1 {
            return Err(Error::Conflict(
                "you are the only owner of a shop; add another owner before deleting your data",
            ));
        }
    }
    let paying = order::Entity::find()
        .filter(order::Column::CustomerId.eq(caller))
        .filter(order::Column::Status.eq(OrderStatus::PendingPayment))
        .filter(order::Column::PaymentAttemptId.is_not_null())
        .count(db)
        .await?;
    if paying > 0 {
        return Err(Error::Conflict(
            "a payment of yours is in progress; try again in a minute",
        ));
    }

    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let mut anonymise = Query::update();
    anonymise
        .table(user::Entity)
        .value(
            user::Column::Email,
            format!("deleted-{}@users.invalid", caller.simple()),
        )
        .value(user::Column::Name, "Deleted user")
        // Not a PHC string: no password ever verifies against it.
        .value(user::Column::PasswordHash, "!deleted")
        .value(user::Column::DeletedAt, now)
        .and_where(Expr::col(user::Column::Id).eq(caller));
    if txn.execute(&anonymise).await?.rows_affected() != 1 {
        return Err(Error::internal("account to anonymise not found"));
    }
    let mut erase = Query::update();
    erase
        .table(message::Entity)
        .value(message::Column::Body, "")
        .value(message::Column::RedactedAt, now)
        .and_where(Expr::col(message::Column::AuthorId).eq(caller))
        .and_where(Expr::col(message::Column::RedactedAt).is_null());
    txn.execute(&erase).await?;
    shop_member::Entity::delete_many()
        .filter(shop_member::Column::UserId.eq(caller))
        .exec(&txn)
        .await?;
    marketing_opt_out::Entity::delete_many()
        .filter(marketing_opt_out::Column::CustomerId.eq(caller))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Whether a user may still act (exists and has not deleted their data).
pub async fn is_active(db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool, Error> {
    Ok(user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .is_some_and(|u| u.deleted_at.is_none()))
}

/// Erases the bodies of hosted messages older than `retention_days` (order
/// and billing metadata stay). Returns how many were erased.
pub async fn purge_expired_messages(
    db: &impl ConnectionTrait,
    retention_days: u32,
) -> Result<u64, Error> {
    if retention_days == 0 {
        return Ok(0);
    }
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days));
    let hosted = Query::select()
        .column(conversation::Column::Id)
        .from(conversation::Entity)
        .and_where(Expr::col(conversation::Column::Hosted).eq(true))
        .to_owned();
    let mut purge = Query::update();
    purge
        .table(message::Entity)
        .value(message::Column::Body, "")
        .value(message::Column::RedactedAt, chrono::Utc::now())
        .and_where(Expr::col(message::Column::CreatedAt).lt(cutoff))
        .and_where(Expr::col(message::Column::RedactedAt).is_null())
        .and_where(Expr::col(message::Column::ConversationId).in_subquery(hosted));
    Ok(db.execute(&purge).await?.rows_affected())
}
