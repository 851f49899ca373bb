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

/// The part of a platform fee given back once `refunded_minor` of the
/// order's `total_minor` has been refunded: in proportion, rounded down.
/// Taken on the refunded amount so far, it gives back the whole fee with
/// a whole refund, and the refunds of an order in several parts give back
/// exactly what one refund of their sum would.
pub fn fee_returned(fee_minor: i64, total_minor: i64, refunded_minor: i64) -> i64 {
    if total_minor <= 0 {
        return 0;
    }
    let refunded = refunded_minor.clamp(0, total_minor);
    let returned = i128::from(fee_minor) * i128::from(refunded) / i128::from(total_minor);
    i64::try_from(returned).unwrap_or(fee_minor)
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
    fn refunds_give_back_the_fee_in_proportion_and_whole_at_the_end() {
        // 2.5 % of 27.00 is 0.68 (rounded half up).
        assert_eq!(fee_returned(68, 2_700, 0), 0);
        assert_eq!(fee_returned(68, 2_700, 900), 22); // 22.67 → 22
        assert_eq!(fee_returned(68, 2_700, 1_800), 45); // 45.33 → 45
        assert_eq!(fee_returned(68, 2_700, 2_700), 68);
        // Three refunds of 9.00 give back 22 + 23 + 23: the whole fee.
        let parts: Vec<i64> = [0, 900, 1_800, 2_700]
            .windows(2)
            .map(|w| fee_returned(68, 2_700, w[1]) - fee_returned(68, 2_700, w[0]))
            .collect();
        assert_eq!(parts, [22, 23, 23]);
        assert_eq!(
            fee_returned(68, 2_700, 5_000),
            68,
            "never more than the fee"
        );
        assert_eq!(fee_returned(0, 0, 0), 0);
    }

    #[test]
    fn line_totals_refuse_overflow() {
        assert_eq!(line_total(1_250, 3).unwrap(), 3_750);
        assert!(line_total(i64::MAX, 2).is_err());
    }
}
