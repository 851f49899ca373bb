//! Order arithmetic and the order state machine.

use crate::Error;

/// Most lines in one order.
pub const MAX_LINES: usize = 50;
/// Most units of one product in one order.
pub const MAX_QUANTITY: i32 = 1_000;

/// The platform's cut of `amount_minor` at `take_rate_bps` basis points,
/// rounded half up to the minor unit. Integer math only.
pub fn platform_fee(amount_minor: i64, take_rate_bps: u32) -> Result<i64, Error> {
    let numerator = i128::from(amount_minor) * i128::from(take_rate_bps);
    let fee = (numerator + 5_000) / 10_000;
    i64::try_from(fee).map_err(|_| Error::internal("platform fee out of range"))
}

/// `unit_price × quantity`, or an error when it would overflow.
pub fn line_total(unit_price_minor: i64, quantity: i64) -> Result<i64, Error> {
    unit_price_minor
        .checked_mul(quantity)
        .ok_or_else(|| Error::invalid("input.items", "the order total is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_in_integer_math() {
        assert_eq!(platform_fee(10_000, 250).unwrap(), 250);
        assert_eq!(platform_fee(1_999, 250).unwrap(), 50); // 49.975 → 50
        assert_eq!(platform_fee(1_980, 250).unwrap(), 50); // 49.5 → 50
        assert_eq!(platform_fee(1_979, 250).unwrap(), 49); // 49.475 → 49
        assert_eq!(platform_fee(0, 250).unwrap(), 0);
        assert_eq!(platform_fee(i64::MAX, 10_000).unwrap(), i64::MAX);
    }

    #[test]
    fn line_totals_refuse_overflow() {
        assert_eq!(line_total(1_250, 3).unwrap(), 3_750);
        assert!(line_total(i64::MAX, 2).is_err());
    }
}
