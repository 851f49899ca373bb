//! Money on the wire: a decimal string and a currency code.

use crate::domain::money::{Currency, format_decimal};

/// An amount of money. `amount` is a decimal string (never a float) with
/// exactly as many decimals as the currency has minor units: `"12.50"` USD,
/// `"1500"` JPY. GraphQL's `Int` is 32-bit and `Float` inexact, so neither is used.
#[derive(async_graphql::SimpleObject, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Money {
    /// The amount as a decimal string, e.g. `"12.50"`.
    pub amount: String,
    /// ISO 4217 currency code, e.g. `"USD"`.
    pub currency_code: String,
}

impl Money {
    /// From micro-units (millionths of the major unit) of `currency_code`:
    /// exact for per-message rates such as half a cent (`"0.005000"`).
    pub fn from_micro(micro: i64, currency_code: &str) -> Self {
        Self {
            amount: format_decimal(micro, 6),
            currency_code: currency_code.to_owned(),
        }
    }

    /// From minor units of `currency`.
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self {
            amount: format_decimal(minor, currency.exponent()),
            currency_code: currency.code().to_owned(),
        }
    }
}
