//! Chatshop: an embeddable GraphQL API for shopping inside conversations.
//!
//! Mount [`Chatshop::router`] in your own axum app, or run the `chatshop`
//! binary. SQLite is the embedded default; PostgreSQL is for production.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let chatshop = chatshop::Chatshop::connect(chatshop::Config::default()).await?;
//! let app = axum::Router::new().nest("/shop-api", chatshop.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! * [`domain`]: pure types and rules (money, ids, slugs, pagination); no I/O.
//! * `auth`: who is calling: tokens, password hashing, shop permissions.
//! * `services`: the use cases; the only code that talks to the database.
//! * `graphql`: the schema; resolvers translate between the wire and services.
//! * `http`: the HTTP surface: the GraphQL-over-HTTP handler, health, playground.
//! * [`events`]: live events after commit, in-process or through PostgreSQL.
//! * `app`: [`Chatshop`] and its builder: wiring, no logic.
//! * [`config`]: every setting, with its flag and environment variable.
//! * `error`: the one [`Error`] type and the choke point that gives every
//!   GraphQL error its `extensions.code`.

/// A running instance and its builder.
mod app;
/// Who is calling: tokens, passwords, permissions.
mod auth;
/// Every setting, with its flag and environment variable.
pub mod config;
/// Pure types and rules.
pub mod domain;
/// The error type and the `extensions.code` choke point.
mod error;
/// Live events between instances.
pub mod events;
/// The GraphQL schema.
mod graphql;
/// The HTTP surface.
mod http;
/// Prometheus metrics.
mod metrics;
/// Payment providers and the built-in test provider.
pub mod payments;
/// The demo shop for `cargo run`.
mod seed;
/// Use cases over the database.
mod services;
/// Logging setup for the binary.
pub mod telemetry;
/// Values for unit tests.
#[cfg(test)]
mod test_support;

pub use app::{Chatshop, ChatshopBuilder, connect_database};
pub use chatshop_migration::Migrator;
pub use config::{AuthConfig, BillingConfig, Config, Limits, PrivacyConfig};
pub use error::{Error, ErrorCode};
pub use events::{Event, EventBus};
pub use graphql::{ChatshopSchema, sdl};
pub use payments::{
    ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError, RefundRequest,
    TestPaymentProvider,
};
