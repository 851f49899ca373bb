//! Money: integer minor units inside, decimal strings at the edge. Never a float.

use crate::Error;

/// An ISO 4217 currency Chatshop accepts, with its number of minor-unit digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

/// The currencies shops may price in. A fixed list rather than all of ISO 4217:
/// each one here has been checked for its minor-unit exponent, which decides
/// how every amount is stored.
const CURRENCIES: &[Currency] = &[
    Currency {
        code: "AUD",
        exponent: 2,
    },
    Currency {
        code: "BRL",
        exponent: 2,
    },
    Currency {
        code: "CAD",
        exponent: 2,
    },
    Currency {
        code: "CHF",
        exponent: 2,
    },
    Currency {
        code: "CNY",
        exponent: 2,
    },
    Currency {
        code: "EUR",
        exponent: 2,
    },
    Currency {
        code: "GBP",
        exponent: 2,
    },
    Currency {
        code: "IDR",
        exponent: 2,
    },
    Currency {
        code: "INR",
        exponent: 2,
    },
    Currency {
        code: "JPY",
        exponent: 0,
    },
    Currency {
        code: "KES",
        exponent: 2,
    },
    Currency {
        code: "KRW",
        exponent: 0,
    },
    Currency {
        code: "MXN",
        exponent: 2,
    },
    Currency {
        code: "NGN",
        exponent: 2,
    },
    Currency {
        code: "SGD",
        exponent: 2,
    },
    Currency {
        code: "USD",
        exponent: 2,
    },
    Currency {
        code: "ZAR",
        exponent: 2,
    },
];

impl Currency {
    /// Looks up a currency code (case-insensitive).
    pub fn parse(field: &'static str, code: &str) -> Result<Self, Error> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .copied()
            .find(|c| c.code == upper)
            .ok_or_else(|| Error::invalid(field, format!("unsupported currency {code:?}")))
    }

    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point in this currency.
    pub fn exponent(self) -> u32 {
        self.exponent
    }

    /// Reads a stored code; an unknown one is an internal error (the database
    /// only ever receives codes that passed [`Currency::parse`]).
    pub fn from_stored(code: &str) -> Result<Self, Error> {
        CURRENCIES
            .iter()
            .copied()
            .find(|c| c.code == code)
            .ok_or_else(|| Error::internal(format!("unknown stored currency {code:?}")))
    }
}

/// The largest price a product may have, in major units (10 million). Anything
/// above is a typo, and the cap keeps every order total far from `i64::MAX`.
const MAX_PRICE_MAJOR: i64 = 10_000_000;

/// A non-negative product price in minor units of its shop's currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price(i64);

impl Price {
    /// Parses a decimal string such as `"12.50"` in `currency`.
    pub fn parse(field: &'static str, raw: &str, currency: Currency) -> Result<Self, Error> {
        let minor = parse_decimal(raw, currency.exponent()).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "price must be a decimal string like \"12.50\" with at most {} decimals",
                    currency.exponent()
                ),
            )
        })?;
        if minor < 0 {
            return Err(Error::invalid(field, "price must not be negative"));
        }
        let max = MAX_PRICE_MAJOR.saturating_mul(10_i64.pow(currency.exponent()));
        if minor > max {
            return Err(Error::invalid(
                field,
                format!(
                    "price must be at most {MAX_PRICE_MAJOR} {}",
                    currency.code()
                ),
            ));
        }
        Ok(Self(minor))
    }

    /// The price in minor units.
    pub fn minor(self) -> i64 {
        self.0
    }
}

/// Parses `-?\d+(\.\d{1,exponent})?` into an integer scaled by `10^exponent`.
/// Returns `None` for anything else, including values that overflow `i64`.
pub fn parse_decimal(raw: &str, exponent: u32) -> Option<i64> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (digits, ""),
    };
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let fraction_digits = u32::try_from(fraction.len()).ok()?;
    if whole.is_empty()
        || !is_digits(whole)
        || !is_digits(fraction)
        || fraction_digits > exponent
        || (digits.contains('.') && fraction.is_empty())
    {
        return None;
    }
    // In i128, so that the most negative i64 (whose magnitude is one more
    // than the largest positive one) parses too.
    let scale = 10_i128.checked_pow(exponent)?;
    let mut value = whole.parse::<i128>().ok()?.checked_mul(scale)?;
    if !fraction.is_empty() {
        let fraction_scale = 10_i128.checked_pow(exponent - fraction_digits)?;
        value = value.checked_add(fraction.parse::<i128>().ok()?.checked_mul(fraction_scale)?)?;
    }
    i64::try_from(if negative { -value } else { value }).ok()
}

/// Formats an integer amount scaled by `10^exponent` as a decimal string with
/// exactly `exponent` decimals (`1250`, 2 → `"12.50"`).
pub fn format_decimal(amount: i64, exponent: u32) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10_u64.pow(exponent);
    let width = usize::try_from(exponent).unwrap_or(usize::MAX);
    format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("currency", "usd").unwrap()
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal("12.50", 2), Some(1250));
        assert_eq!(parse_decimal("12.5", 2), Some(1250));
        assert_eq!(parse_decimal("12", 2), Some(1200));
        assert_eq!(parse_decimal("0.01", 2), Some(1));
        assert_eq!(parse_decimal("-3.07", 2), Some(-307));
        assert_eq!(parse_decimal("0.005", 6), Some(5000));
    }

    #[test]
    fn malformed_decimals_are_refused() {
        for raw in [
            "",
            "12.",
            ".5",
            "1.234",
            "1e3",
            "12,50",
            " 12",
            "NaN",
            "--1",
            "99999999999999999999",
        ] {
            assert_eq!(parse_decimal(raw, 2), None, "{raw:?}");
        }
    }

    #[test]
    fn decimals_format_with_fixed_places() {
        assert_eq!(format_decimal(1250, 2), "12.50");
        assert_eq!(format_decimal(5, 2), "0.05");
        assert_eq!(format_decimal(-307, 2), "-3.07");
        assert_eq!(format_decimal(5000, 6), "0.005000");
        assert_eq!(format_decimal(1500, 0), "1500");
        assert_eq!(format_decimal(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn decimal_round_trip() {
        for amount in [0, 1, 99, 100, 123_456_789, -42, i64::MIN, i64::MAX] {
            assert_eq!(parse_decimal(&format_decimal(amount, 2), 2), Some(amount));
        }
    }

    #[test]
    fn prices_are_bounded() {
        assert_eq!(Price::parse("price", "19.99", usd()).unwrap().minor(), 1999);
        assert!(Price::parse("price", "-1.00", usd()).is_err());
        assert!(Price::parse("price", "10000000.01", usd()).is_err());
        assert_eq!(
            Price::parse("price", "10000000", usd()).unwrap().minor(),
            1_000_000_000
        );
        let yen = Currency::parse("currency", "JPY").unwrap();
        assert!(Price::parse("price", "100.5", yen).is_err());
        assert_eq!(Price::parse("price", "1500", yen).unwrap().minor(), 1500);
    }

    #[test]
    fn unknown_currencies_are_refused() {
        assert!(Currency::parse("currency", "XYZ").is_err());
        assert!(Currency::parse("currency", "").is_err());
    }
}
