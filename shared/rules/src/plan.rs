//! The quantity a filing's treatment plan allows (rules E5 and M3: "more than the filing
//! allows" is fraud the rules over the flow must stop). A plan may bound the drug to at most
//! `max_cnt` units (`drug_dosunt`, the prescription line's unit) in any `period_days`
//! consecutive days. A dispensing under the filing is refused when what was already drawn in
//! the period ending on its day, plus what it hands out, would exceed that.
//!
//! The period is a sliding window, not a calendar month: 30 units per 30 days lets a patient
//! collect a month's supply every 30 days, never two supplies a day apart across a month end.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The longest period a plan may count over: a filing's validity year (and a leap day).
pub const LONGEST_PERIOD_DAYS: u32 = 366;

/// The most of the drug a treatment plan allows in a period (E5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanQuantity {
    /// The most units in any `period_days` consecutive days.
    pub max_cnt: Decimal,
    /// The unit it counts in: a prescription line in another unit cannot be compared with it
    /// and is refused, never converted by guess.
    pub drug_dosunt: String,
    pub period_days: u32,
}

impl PlanQuantity {
    /// Every problem with the plan's own fields, as (JSON pointer under `at`, reason).
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.max_cnt <= Decimal::ZERO || self.max_cnt > Decimal::from(99_999) || self.max_cnt.scale() > 3 {
            problems.push((format!("{at}/max_cnt"), "more than 0 and at most 99999, to 3 decimal places".into()));
        }
        let unit = self.drug_dosunt.trim().chars().count();
        if unit == 0 || unit > 20 {
            problems.push((format!("{at}/drug_dosunt"), "the unit the plan counts in (支, 片, 盒…), 1 to 20 characters".into()));
        }
        if !(1..=LONGEST_PERIOD_DAYS).contains(&self.period_days) {
            problems.push((format!("{at}/period_days"), format!("1 to {LONGEST_PERIOD_DAYS} days")));
        }
        problems
    }

    /// The first day of the period that ends on `day`.
    pub fn window_start(&self, day: NaiveDate) -> NaiveDate {
        day - chrono::Days::new(u64::from(self.period_days.max(1) - 1))
    }
}

/// A quantity drawn against a filing's plan: one dispensing of its drug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    pub hi_rxno: String,
    pub dispensing_no: String,
    /// The day it was dispensed.
    pub on: NaiveDate,
    /// Units handed out (less any handed back, once known), in the plan's unit.
    pub drug_cnt: Decimal,
}

/// Why a quantity does not fit the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanRefusal {
    /// The line counts in another unit than the plan.
    Unit { plan: String, line: String },
    /// Beyond the plan: `drawn` already in the period from `since`, `asked` more.
    Beyond { max_cnt: Decimal, unit: String, period_days: u32, since: NaiveDate, drawn: Decimal, asked: Decimal },
}

impl PlanRefusal {
    pub fn rule(&self) -> &'static str {
        "M3"
    }

    pub fn reason(&self) -> String {
        match self {
            PlanRefusal::Unit { plan, line } => format!("the filing's treatment plan counts in {plan}; the line is in {line}"),
            PlanRefusal::Beyond { max_cnt, unit, period_days, since, drawn, asked } => format!(
                "the filing's treatment plan allows {max_cnt} {unit} in {period_days} days; {drawn} were dispensed since {since} and this asks {asked} more"
            ),
        }
    }
}

/// Whether `asked` units of `unit` dispensed on `day` fit the plan beside `draws` (the other
/// dispensings under the filing; those outside the period ending on `day` do not count).
pub fn check<'d>(plan: &PlanQuantity, draws: impl IntoIterator<Item = &'d Draw>, day: NaiveDate, unit: &str, asked: Decimal) -> Result<(), PlanRefusal> {
    if unit.trim() != plan.drug_dosunt.trim() {
        return Err(PlanRefusal::Unit { plan: plan.drug_dosunt.clone(), line: unit.to_string() });
    }
    let since = plan.window_start(day);
    let drawn: Decimal = draws.into_iter().filter(|d| d.on >= since && d.on <= day).map(|d| d.drug_cnt).sum();
    if drawn + asked > plan.max_cnt {
        return Err(PlanRefusal::Beyond { max_cnt: plan.max_cnt, unit: plan.drug_dosunt.clone(), period_days: plan.period_days, since, drawn, asked });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::date;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn plan(max_cnt: Decimal, period_days: u32) -> PlanQuantity {
        PlanQuantity { max_cnt, drug_dosunt: "支".into(), period_days }
    }

    fn draw(n: u32, on: NaiveDate, drug_cnt: Decimal) -> Draw {
        Draw { hi_rxno: format!("RX{n}"), dispensing_no: format!("D{n}"), on, drug_cnt }
    }

    #[test]
    fn a_dispensing_fits_the_period_ending_on_its_day_and_no_more() {
        // rule M3: 30 支 in any 30 days
        let plan = plan(dec!(30), 30);
        let first = [draw(1, date(2026, 1, 1), dec!(20))];
        assert_eq!(check(&plan, &first, date(2026, 1, 15), "支", dec!(10)), Ok(()));
        let beyond = check(&plan, &first, date(2026, 1, 15), "支", dec!(11)).unwrap_err();
        assert_eq!(beyond, PlanRefusal::Beyond { max_cnt: dec!(30), unit: "支".into(), period_days: 30, since: date(2025, 12, 17), drawn: dec!(20), asked: dec!(11) });
        assert!(beyond.reason().contains("allows 30 支 in 30 days; 20 were dispensed since 2025-12-17"), "{}", beyond.reason());
        // the 30th day still counts the first dispensing; the 31st no longer does
        assert!(check(&plan, &first, date(2026, 1, 30), "支", dec!(11)).is_err());
        assert_eq!(check(&plan, &first, date(2026, 1, 31), "支", dec!(30)), Ok(()));
        // one line alone beyond the plan never fits
        assert!(check(&plan, &[], date(2026, 1, 1), "支", dec!(31)).is_err());
    }

    #[test]
    fn another_unit_is_refused_not_converted() {
        // rule M3 with issue 14's units: like with like only
        let refused = check(&plan(dec!(30), 30), &[], date(2026, 1, 1), "盒", dec!(1)).unwrap_err();
        assert_eq!(refused, PlanRefusal::Unit { plan: "支".into(), line: "盒".into() });
        assert_eq!(refused.rule(), "M3");
    }

    #[test]
    fn a_plan_names_its_problems() {
        assert!(plan(dec!(30), 30).problems("/plan_quantity").is_empty());
        let bad = PlanQuantity { max_cnt: dec!(0), drug_dosunt: " ".into(), period_days: 400 };
        let fields: Vec<String> = bad.problems("/plan_quantity").into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["/plan_quantity/max_cnt", "/plan_quantity/drug_dosunt", "/plan_quantity/period_days"]);
        assert_eq!(plan(dec!(0.0001), 1).problems("").len(), 1, "at most 3 decimal places");
    }

    proptest! {
        /// The law: dispensings admitted one after another by `check` never put more than the
        /// plan's maximum into any period, whatever their days and sizes.
        #[test]
        fn admitted_dispensings_never_exceed_the_plan_in_any_period(
            max in 1u32..60,
            period in 1u32..40,
            asks in proptest::collection::vec((0u32..3, 1u32..25), 1..40),
        ) {
            let plan = plan(Decimal::from(max), period);
            let mut day = date(2026, 1, 1);
            let mut admitted: Vec<Draw> = Vec::new();
            for (n, (gap, cnt)) in asks.into_iter().enumerate() {
                day = day + chrono::Days::new(u64::from(gap));
                if check(&plan, &admitted, day, "支", Decimal::from(cnt)).is_ok() {
                    admitted.push(draw(n as u32, day, Decimal::from(cnt)));
                }
            }
            for end in admitted.iter().map(|d| d.on) {
                let since = plan.window_start(end);
                let total: Decimal = admitted.iter().filter(|d| d.on >= since && d.on <= end).map(|d| d.drug_cnt).sum();
                prop_assert!(total <= plan.max_cnt, "{} in the period ending {}", total, end);
            }
        }
    }
}
