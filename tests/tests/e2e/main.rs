//! End-to-end tests: the real router on a real socket, SQLite or PostgreSQL.
//! One binary with a module per area, so the suite links once.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod accounts;
mod billing;
mod catalog;
mod embedding;
mod faults;
mod graphql_http;
mod identity_provider;
mod live;
mod orders;
mod shops;
mod tokens;
mod ws_protocol;
