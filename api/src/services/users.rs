//! Accounts: sign-up, sign-in, and who may see whom.

use chatshop_entity::{shop_member, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::new_id;
use crate::Error;
use crate::auth::Actor;
use crate::auth::password::PasswordHasher;
use crate::domain::email::Email;
use crate::domain::password::Password;
use crate::domain::text;
use crate::error::on_unique_violation;

/// What a new account is made of (raw input).
#[derive(Debug)]
pub struct NewAccount {
    /// Email address; unique case-insensitively.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Password in clear, hashed before it is stored.
    pub password: String,
}

/// Longest display name.
const MAX_USER_NAME_CHARS: usize = 100;

/// Creates an account.
///
/// # Errors
/// `BAD_USER_INPUT` for an invalid email, name or weak password; `CONFLICT`
/// when the email is already registered (decided by the unique index).
pub async fn sign_up(
    db: &impl ConnectionTrait,
    hasher: &PasswordHasher,
    input: NewAccount,
) -> Result<user::Model, Error> {
    let email = Email::parse("input.email", &input.email)?;
    let name = text::name("input.name", &input.name, MAX_USER_NAME_CHARS)?;
    let password = Password::parse_new("input.password", &input.password, email.as_str())?;
    let password_hash = hasher.hash(password.expose()).await?;
    insert_account(db, &email, name, password_hash).await
}

/// Stores an account from checked input and a password already hashed.
///
/// # Errors
/// `CONFLICT` when the email is already registered.
pub(crate) async fn insert_account(
    db: &impl ConnectionTrait,
    email: &Email,
    name: String,
    password_hash: String,
) -> Result<user::Model, Error> {
    let account = user::ActiveModel {
        id: Set(new_id()),
        email: Set(email.as_str().to_owned()),
        name: Set(name),
        password_hash: Set(password_hash),
        created_at: Set(chrono::Utc::now()),
        deleted_at: Set(None),
    };
    user::Entity::insert(account)
        .exec_with_returning(db)
        .await
        .map_err(on_unique_violation(
            "an account with this email already exists",
        ))
}

/// Checks credentials.
///
/// # Errors
/// `UNAUTHENTICATED` when the email is unknown or the password wrong, without
/// saying which, and in the same time either way.
pub async fn sign_in(
    db: &impl ConnectionTrait,
    hasher: &PasswordHasher,
    email: &str,
    password: &str,
) -> Result<user::Model, Error> {
    let account = match Email::parse("input.email", email) {
        Ok(email) => {
            user::Entity::find()
                .filter(user::Column::Email.eq(email.as_str()))
                .one(db)
                .await?
        }
        Err(_) => None,
    };
    let stored_hash = account.as_ref().map(|a| a.password_hash.as_str());
    if hasher.verify(password, stored_hash).await? {
        account.ok_or(Error::InvalidCredentials)
    } else {
        Err(Error::InvalidCredentials)
    }
}

/// The caller's own account (`None` when anonymous or deleted).
pub async fn me(db: &impl ConnectionTrait, actor: &Actor) -> Result<Option<user::Model>, Error> {
    match actor.user_id_opt() {
        Some(id) => Ok(user::Entity::find_by_id(id).one(db).await?),
        None => Ok(None),
    }
}

/// A user, if the caller may see them: themselves, or someone who works in a
/// shop the caller works in. Everyone else is invisible (`None`).
pub async fn get_visible(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<user::Model>, Error> {
    let Some(caller) = actor.user_id_opt() else {
        return Ok(None);
    };
    if caller != id {
        let caller_shops: Vec<Uuid> = shop_member::Entity::find()
            .select_only()
            .column(shop_member::Column::ShopId)
            .filter(shop_member::Column::UserId.eq(caller))
            .into_tuple()
            .all(db)
            .await?;
        let shares_a_shop = shop_member::Entity::find()
            .filter(shop_member::Column::UserId.eq(id))
            .filter(shop_member::Column::ShopId.is_in(caller_shops))
            .one(db)
            .await?
            .is_some();
        if !shares_a_shop {
            return Ok(None);
        }
    }
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

/// The Chatshop user behind an identity provider's subject, created on first
/// sight. The provider's email is used when it is free; an email that
/// belongs to a local account is never linked (the provider may not have
/// verified it), and the new user gets a placeholder address instead.
pub async fn from_external(
    db: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    identity: &crate::auth::identity_provider::ExternalIdentity,
) -> Result<Uuid, Error> {
    use chatshop_entity::external_identity;
    use sea_orm::TransactionSession;

    let known = |db| async move {
        Ok::<_, Error>(
            external_identity::Entity::find_by_id((
                identity.issuer.clone(),
                identity.subject.clone(),
            ))
            .one(db)
            .await?
            .map(|found| found.user_id),
        )
    };
    if let Some(user_id) = known(db).await? {
        return Ok(user_id);
    }
    let placeholder = {
        use sha2::{Digest, Sha256};
        let digest =
            Sha256::digest(format!("{}\0{}", identity.issuer, identity.subject).as_bytes());
        let short = super::hex(digest.get(..10).unwrap_or_default());
        format!("{short}@external.invalid")
    };
    let email = match identity.email.as_deref().map(|e| Email::parse("email", e)) {
        Some(Ok(email))
            if user::Entity::find()
                .filter(user::Column::Email.eq(email.as_str()))
                .one(db)
                .await?
                .is_none() =>
        {
            email.as_str().to_owned()
        }
        _ => placeholder,
    };
    let name = identity
        .name
        .as_deref()
        .and_then(|n| text::name("name", n, MAX_USER_NAME_CHARS).ok())
        .unwrap_or_else(|| "User".to_owned());
    let user_id = new_id();
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let created = user::Entity::insert(user::ActiveModel {
        id: Set(user_id),
        email: Set(email),
        name: Set(name),
        // Not a PHC string: this account signs in through its provider only.
        password_hash: Set("!external".to_owned()),
        created_at: Set(now),
        deleted_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await;
    let linked = match created {
        Ok(_) => {
            external_identity::Entity::insert(external_identity::ActiveModel {
                issuer: Set(identity.issuer.clone()),
                subject: Set(identity.subject.clone()),
                user_id: Set(user_id),
                created_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await
        }
        Err(err) => Err(err),
    };
    match linked {
        Ok(_) => {
            txn.commit().await?;
            Ok(user_id)
        }
        // A concurrent first request created the user: use theirs.
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            txn.rollback().await?;
            known(db).await?.ok_or_else(|| {
                Error::internal("external identity vanished after a unique violation")
            })
        }
        Err(err) => Err(err.into()),
    }
}
