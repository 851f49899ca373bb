//! Pure types and rules: no database, no GraphQL, no I/O.
//!
//! Input is parsed into these types at the edge ("parse, don't validate"), so a
//! service that holds a [`Slug`](slug::Slug) or a [`Price`](money::Price) knows
//! it is valid without checking again.

pub mod channel;
pub mod email;
pub mod ids;
pub mod money;
pub mod order;
pub mod page;
pub mod password;
pub mod slug;
pub mod text;
