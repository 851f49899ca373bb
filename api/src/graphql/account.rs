//! `me`, `signUp`, `signIn`.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::types::User;
use crate::Error;
use crate::app::AppState;
use crate::services::users::{self, NewAccount};

#[derive(Default)]
pub(crate) struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in user; `null` when the request carries no token.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let state = ctx.state()?;
        Ok(users::me(&state.db, ctx.actor())
            .await?
            .map(User::with_email))
    }
}

/// A new account.
#[derive(InputObject)]
struct SignUpInput {
    /// Email address; unique, case-insensitively.
    email: String,
    /// Display name, 1 to 100 characters.
    name: String,
    /// At least 8 characters, and not a commonly used password.
    password: String,
}

/// Credentials.
#[derive(InputObject)]
struct SignInInput {
    /// Email address the account was created with (any case).
    email: String,
    /// The account's password.
    password: String,
}

/// A signed-in session.
#[derive(SimpleObject)]
struct AuthPayload {
    /// Access token: send it as `Authorization: Bearer <token>`, or as
    /// `{"token": …}` in the WebSocket `connection_init` payload.
    token: String,
    /// When the token stops being accepted.
    expires_at: DateTime<Utc>,
    /// The signed-in user.
    user: User,
}

#[derive(Default)]
pub(crate) struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates an account and signs it in.
    /// Errors: `BAD_USER_INPUT` (invalid email or name, weak password),
    /// `CONFLICT` (email already registered).
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account.")] input: SignUpInput,
    ) -> Result<AuthPayload> {
        crate::graphql::boxed(async move {
            let state = ctx.state()?;
            let account = NewAccount {
                email: input.email,
                name: input.name,
                password: input.password,
            };
            let user = users::sign_up(&state.writer, &state.passwords, account).await?;
            Ok(session(state, user)?)
        })
        .await
    }

    /// Signs in with email and password.
    /// Errors: `UNAUTHENTICATED` (unknown email or wrong password; which one is not said).
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The credentials.")] input: SignInInput,
    ) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let user = users::sign_in(
            &state.writer,
            &state.passwords,
            &input.email,
            &input.password,
        )
        .await?;
        Ok(session(state, user)?)
    }
}

fn session(state: &AppState, user: chatshop_entity::user::Model) -> Result<AuthPayload, Error> {
    let issued = state.tokens.issue(user.id)?;
    let expires_at = i64::try_from(issued.expires_at)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| Error::internal("token expiry out of range"))?;
    Ok(AuthPayload {
        token: issued.token,
        expires_at,
        user: User::with_email(user),
    })
}
