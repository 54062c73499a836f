//! Money: `rust_decimal::Decimal` yuan, rounded half-up to 2 places only where a rule says a
//! result is final (rule S8), and integer fen for the atomic counters in the store.

use rust_decimal::{Decimal, RoundingStrategy};

/// Rounds a yuan amount to 2 places, half away from zero (rule S8: "yuan to 2 places").
/// Call it only at the points a rule defines as final, never on intermediate results.
pub fn round_yuan(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Error for a yuan amount that cannot be held as whole fen in an `i64` counter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenError {
    #[error("amount {0} has more than 2 decimal places")]
    NotWholeFen(Decimal),
    #[error("amount {0} is too large for a fen counter")]
    Overflow(Decimal),
}

/// Converts a yuan amount that is already final (2 places) to integer fen.
/// Counters in the key-value store hold fen because `increment` works on integers.
pub fn to_fen(yuan: Decimal) -> Result<i64, FenError> {
    let fen = yuan.checked_mul(Decimal::ONE_HUNDRED).ok_or(FenError::Overflow(yuan))?;
    if !fen.fract().is_zero() {
        return Err(FenError::NotWholeFen(yuan));
    }
    i64::try_from(fen).map_err(|_| FenError::Overflow(yuan))
}

/// Converts integer fen back to yuan with exactly 2 places.
pub fn from_fen(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounds_half_up_at_the_third_place() {
        assert_eq!(round_yuan(dec!(1.005)), dec!(1.01));
        assert_eq!(round_yuan(dec!(1.004)), dec!(1.00));
        assert_eq!(round_yuan(dec!(2.675)), dec!(2.68));
        assert_eq!(round_yuan(dec!(-1.005)), dec!(-1.01));
    }

    #[test]
    fn refuses_fractions_of_a_fen() {
        assert_eq!(to_fen(dec!(1.005)), Err(FenError::NotWholeFen(dec!(1.005))));
        assert_eq!(to_fen(dec!(63.00)), Ok(6300));
    }

    #[test]
    fn refuses_amounts_beyond_the_counter() {
        let huge = Decimal::MAX;
        assert!(matches!(to_fen(huge), Err(FenError::Overflow(_))));
    }

    proptest! {
        #[test]
        fn fen_round_trips(fen in -1_000_000_000_000i64..1_000_000_000_000i64) {
            prop_assert_eq!(to_fen(from_fen(fen)), Ok(fen));
        }

        #[test]
        fn rounding_is_idempotent_and_within_half_a_fen(units in any::<i64>(), scale in 0u32..8) {
            let amount = Decimal::new(units, scale);
            let rounded = round_yuan(amount);
            prop_assert_eq!(round_yuan(rounded), rounded);
            prop_assert!((rounded - amount).abs() <= dec!(0.005));
        }
    }
}
