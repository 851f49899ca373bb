//! The one error type of Chatshop, and the choke point that turns every GraphQL
//! error into a response with a stable `extensions.code`.
//!
//! Services return [`Error`]. Resolvers use `?` on it, which keeps it as the
//! `source` of the `async_graphql::Error` (async-graphql's blanket `From<T:
//! Display>`). The [`ErrorCodes`] schema extension then looks at every error in
//! every response and decides its code from that source:
//!
//! * our [`Error`]: its [`ErrorCode`], and for bad input the offending field;
//! * any other source (a resolver that let a driver error through): `INTERNAL`,
//!   the message replaced and the original logged;
//! * no source: async-graphql's own parse, validation and limit errors, which
//!   are the client's doing: `BAD_USER_INPUT`.
//!
//! So a forgotten conversion can neither drop a code nor leak a driver message.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// A boxed internal cause: database, I/O, task failures. Never shown to clients.
pub type InternalError = Box<dyn std::error::Error + Send + Sync>;

/// Every failure a Chatshop operation can report.
///
/// [`Error::code`] is the stable contract with clients. Messages are written
/// for humans and never contain internal details; causes sit in `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No valid credentials were presented, or the ones presented are invalid.
    #[error("authentication required")]
    Unauthenticated,
    /// Sign-in failed: unknown email or wrong password (deliberately not saying which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The caller is known but may not do this.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `shop`.
        entity: &'static str,
    },
    /// The input is invalid; `field` names the offending input field.
    #[error("{message}")]
    InvalidInput {
        /// The input field at fault, as named in the schema (`input.price`).
        field: Option<&'static str>,
        /// What is wrong with it, in plain words.
        message: String,
    },
    /// The request conflicts with the current state, e.g. a taken email.
    #[error("{0}")]
    Conflict(&'static str),
    /// The payment did not go through; nothing was charged.
    #[error("payment failed: {reason}")]
    PaymentFailed {
        /// Machine-readable reason: `card_declined`, `insufficient_funds`,
        /// `provider_error`, `timeout`, …
        reason: String,
    },
    /// Too many requests; retry after the given number of seconds.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// The database cannot be reached right now; retrying later may work.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable(#[source] InternalError),
    /// Something failed on our side. Logged, never described to the client.
    #[error("internal error")]
    Internal(#[source] InternalError),
}

/// The stable error codes, exposed as `extensions.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, invalid, expired or forged credentials.
    Unauthenticated,
    /// Authenticated, but not allowed.
    Forbidden,
    /// No such thing (visible to the caller).
    NotFound,
    /// Invalid input: arguments, variables, or the query itself.
    BadUserInput,
    /// Conflicts with the current state (duplicates, stale transitions).
    Conflict,
    /// A payment was declined or could not be made.
    PaymentFailed,
    /// A rate or abuse limit was hit.
    RateLimited,
    /// A failure on the server side.
    Internal,
}

impl ErrorCode {
    /// The code as it appears in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
        }
    }
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => ErrorCode::Unauthenticated,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::InvalidInput { .. } => ErrorCode::BadUserInput,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PaymentFailed { .. } => ErrorCode::PaymentFailed,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Internal(_) | Self::Unavailable(_) => ErrorCode::Internal,
        }
    }

    /// Bad input in a named field.
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: Some(field),
            message: message.into(),
        }
    }

    /// Wraps an internal cause.
    pub(crate) fn internal(cause: impl Into<InternalError>) -> Self {
        Self::Internal(cause.into())
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        match err {
            sea_orm::DbErr::RecordNotFound(_) => Self::NotFound { entity: "record" },
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                Self::Unavailable(Box::new(err))
            }
            // A pooled connection that broke under the statement (pooled
            // connections are not pinged before each use).
            sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(ref cause))
            | sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(ref cause))
                if matches!(
                    **cause,
                    sea_orm::sqlx::Error::Io(_)
                        | sea_orm::sqlx::Error::PoolTimedOut
                        | sea_orm::sqlx::Error::PoolClosed
                        | sea_orm::sqlx::Error::WorkerCrashed
                ) =>
            {
                Self::Unavailable(Box::new(err))
            }
            other => Self::internal(other),
        }
    }
}

impl From<sea_orm::TransactionError<Error>> for Error {
    fn from(err: sea_orm::TransactionError<Error>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(inner) => inner,
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::internal(err)
    }
}

/// Maps a unique-constraint violation to a `CONFLICT` naming what clashed, and
/// any other database error to [`Error::from`]. Use at the call site that knows
/// which constraint an insert can hit (uniqueness is enforced by the database,
/// never by a check-then-insert).
pub(crate) fn on_unique_violation(message: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Error {
    move |err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(message),
        _ => Error::from(err),
    }
}

/// The schema extension that gives every error an `extensions.code`.
pub(crate) struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        classify_all(&mut response.errors);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                classify_all(&mut response.errors);
                response
            })
            .boxed()
    }
}

/// Gives each error its code (see the module documentation). Idempotent: an
/// error that already carries a code keeps it.
pub(crate) fn classify_all(errors: &mut [ServerError]) {
    for error in errors {
        classify(error);
    }
}

fn classify(error: &mut ServerError) {
    if error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
    {
        return;
    }
    let (code, field, reason) = if let Some(ours) = error.source::<Error>() {
        if let Error::Internal(cause) | Error::Unavailable(cause) = ours {
            tracing::error!(error = %error_chain(cause.as_ref()), path = ?error.path, "internal error");
        }
        let field = match ours {
            Error::InvalidInput { field, .. } => *field,
            _ => None,
        };
        let reason = match ours {
            Error::PaymentFailed { reason } => Some(reason.clone()),
            _ => None,
        };
        (ours.code(), field, reason)
    } else if error.source.is_some() {
        tracing::error!(message = %error.message, path = ?error.path, "unclassified resolver error");
        error.message = "internal error".to_owned();
        (ErrorCode::Internal, None, None)
    } else {
        (ErrorCode::BadUserInput, None, None)
    };
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    extensions.set("code", Value::from(code.as_str()));
    if let Some(field) = field {
        extensions.set("field", Value::from(field));
    }
    if let Some(reason) = reason {
        extensions.set("reason", Value::from(reason));
    }
}

/// A cause chain on one line, for the log.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error_from(err: impl Into<async_graphql::Error>) -> ServerError {
        err.into().into_server_error(async_graphql::Pos::default())
    }

    fn code_of(error: &ServerError) -> Option<String> {
        match error.extensions.as_ref()?.get("code")? {
            Value::String(code) => Some(code.clone()),
            _ => None,
        }
    }

    #[test]
    fn our_errors_keep_their_code_and_field() {
        let mut errors = vec![server_error_from(Error::invalid(
            "input.price",
            "price must not be negative",
        ))];
        classify_all(&mut errors);
        assert_eq!(code_of(&errors[0]).as_deref(), Some("BAD_USER_INPUT"));
        assert_eq!(errors[0].message, "price must not be negative");
        let field = errors[0]
            .extensions
            .as_ref()
            .and_then(|e| e.get("field"))
            .cloned();
        assert_eq!(field, Some(Value::from("input.price")));
    }

    #[test]
    fn foreign_errors_become_internal_without_leaking_their_text() {
        let driver = std::io::Error::other("connection to 10.0.0.7 refused: password for postgres");
        let mut errors = vec![server_error_from(driver)];
        classify_all(&mut errors);
        assert_eq!(code_of(&errors[0]).as_deref(), Some("INTERNAL"));
        assert_eq!(errors[0].message, "internal error");
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let mut errors = vec![server_error_from(Error::internal(std::io::Error::other(
            "secret detail",
        )))];
        classify_all(&mut errors);
        assert_eq!(code_of(&errors[0]).as_deref(), Some("INTERNAL"));
        assert!(!errors[0].message.contains("secret"));
    }

    #[test]
    fn errors_without_a_source_are_the_clients_doing() {
        let mut errors = vec![ServerError::new("Unknown field \"nope\"", None)];
        classify_all(&mut errors);
        assert_eq!(code_of(&errors[0]).as_deref(), Some("BAD_USER_INPUT"));
    }
}
