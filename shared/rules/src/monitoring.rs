//! Smart monitoring (智能监控, rule M3): the checks run over the dual-channel flow as its
//! events happen, each a pure function of the event, what the store already holds about it,
//! and the region's thresholds. A check that fires yields an [`Finding`]; the component that
//! saw the event raises it as an alert for the agency (`store::alerts`), it never refuses the
//! event by itself (the refusals are the other rules': P7, S1, …).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A region's thresholds for the checks (region data, published with an effective date). A
/// region that published none is checked with [`Thresholds::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Pharmacy hopping: a person's dispensings of one drug within this many days…
    pub hopping_window_days: u32,
    /// …at more than this many different pharmacies.
    pub hopping_max_pharmacies: u32,
    /// Late dispensing: more than this many days after the prescription was issued.
    pub late_dispensing_days: u32,
    /// Frequent reversals: a pharmacy's reversals in a month, at least this many…
    pub reversals_min: u32,
    /// …and at least this share of its settlements that month, in percent.
    pub reversals_percent: u32,
    /// Long unused (M1): a drug not settled in the region for this many months is flagged.
    #[serde(default = "default_unused_months")]
    pub unused_months: u32,
}

fn default_unused_months() -> u32 {
    3
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { hopping_window_days: 30, hopping_max_pharmacies: 2, late_dispensing_days: 3, reversals_min: 3, reversals_percent: 20, unused_months: default_unused_months() }
    }
}

/// A threshold out of range, by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdProblem {
    pub field: &'static str,
    pub reason: &'static str,
}

impl Thresholds {
    /// Every value out of its sensible range (a check that could never fire, or always would).
    pub fn problems(&self) -> Vec<ThresholdProblem> {
        let mut problems = Vec::new();
        if !(1..=366).contains(&self.hopping_window_days) {
            problems.push(ThresholdProblem { field: "/hopping_window_days", reason: "1 to 366 days" });
        }
        if !(1..=50).contains(&self.hopping_max_pharmacies) {
            problems.push(ThresholdProblem { field: "/hopping_max_pharmacies", reason: "1 to 50 pharmacies" });
        }
        if self.late_dispensing_days > 366 {
            problems.push(ThresholdProblem { field: "/late_dispensing_days", reason: "0 to 366 days" });
        }
        if !(1..=10_000).contains(&self.reversals_min) {
            problems.push(ThresholdProblem { field: "/reversals_min", reason: "1 to 10000 reversals" });
        }
        if !(1..=100).contains(&self.reversals_percent) {
            problems.push(ThresholdProblem { field: "/reversals_percent", reason: "1 to 100 percent" });
        }
        if !(1..=24).contains(&self.unused_months) {
            problems.push(ThresholdProblem { field: "/unused_months", reason: "1 to 24 months" });
        }
        problems
    }
}

/// What kind of irregularity a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// One person's dispensings of one drug at more pharmacies than allowed in a window.
    PharmacyHopping,
    /// A traceability code another dispensing already used (refused under P7), or a pack
    /// handed back and dispensed again.
    PackReused,
    /// Dispensed long after the prescription was issued.
    LateDispensing,
    /// A settlement line priced above the drug's payment standard (S1: the excess is the
    /// patient's; the price may not exceed the standard, C7).
    PriceAboveStandard,
    /// A pharmacy reversing an unusual share of its settlements in a month.
    FrequentReversals,
    /// A prescription attempted by a physician who is not the patient's fixed (responsible)
    /// physician for it: refused under P4, and worth the agency's look.
    PrescriberNotFixed,
    /// A dispensing refused because, with what was dispensed before under the same filing in
    /// the plan's period, it would hand out more than the treatment plan allows (E5).
    QuantityBeyondPlan,
}

impl AlertKind {
    pub const ALL: [AlertKind; 7] = [
        AlertKind::PharmacyHopping,
        AlertKind::PackReused,
        AlertKind::LateDispensing,
        AlertKind::PriceAboveStandard,
        AlertKind::FrequentReversals,
        AlertKind::PrescriberNotFixed,
        AlertKind::QuantityBeyondPlan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PharmacyHopping => "pharmacy_hopping",
            AlertKind::PackReused => "pack_reused",
            AlertKind::LateDispensing => "late_dispensing",
            AlertKind::PriceAboveStandard => "price_above_standard",
            AlertKind::FrequentReversals => "frequent_reversals",
            AlertKind::PrescriberNotFixed => "prescriber_not_fixed",
            AlertKind::QuantityBeyondPlan => "quantity_beyond_plan",
        }
    }

    /// The rules the irregularity touches, M3 first.
    pub fn rules(self) -> &'static [&'static str] {
        match self {
            AlertKind::PharmacyHopping => &["M3", "I4"],
            AlertKind::PackReused => &["M3", "P7"],
            AlertKind::LateDispensing => &["M3", "P8"],
            AlertKind::PriceAboveStandard => &["M3", "C7", "S1"],
            AlertKind::FrequentReversals => &["M3", "S8"],
            AlertKind::PrescriberNotFixed => &["M3", "P4"],
            AlertKind::QuantityBeyondPlan => &["M3", "E5"],
        }
    }
}

/// What a check found: the kind, the words an officer reads, and the subject that makes two
/// findings the same alert (the same pack twice is one alert, not two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: AlertKind,
    pub subject: String,
    pub summary: String,
}

/// Pharmacy hopping: `dispensings` are a person's dispensings of one drug as (pharmacy, day),
/// the new one included; fires when those within the window ending `today` were at more
/// different pharmacies than the threshold allows. The subject is the person, drug and window
/// start, so one burst is one alert.
pub fn pharmacy_hopping(thresholds: &Thresholds, psn_no: &str, med_list_codg: &str, dispensings: &[(String, NaiveDate)], today: NaiveDate) -> Option<Finding> {
    let window_start = today - chrono::Days::new(u64::from(thresholds.hopping_window_days.saturating_sub(1)));
    let pharmacies: BTreeSet<&str> = dispensings.iter().filter(|(_, day)| *day >= window_start && *day <= today).map(|(p, _)| p.as_str()).collect();
    if pharmacies.len() <= thresholds.hopping_max_pharmacies as usize {
        return None;
    }
    let first = dispensings.iter().filter(|(_, day)| *day >= window_start).map(|(_, day)| *day).min().unwrap_or(today);
    Some(Finding {
        kind: AlertKind::PharmacyHopping,
        subject: format!("{psn_no}:{med_list_codg}:{first}"),
        summary: format!(
            "参保人 {psn_no} 的药品 {med_list_codg} 在 {} 天内于 {} 家药店取药（上限 {}）：{}",
            thresholds.hopping_window_days,
            pharmacies.len(),
            thresholds.hopping_max_pharmacies,
            pharmacies.into_iter().collect::<Vec<_>>().join("、")
        ),
    })
}

/// Late dispensing: dispensed more days after the prescription's issue than the threshold.
pub fn late_dispensing(thresholds: &Thresholds, hi_rxno: &str, issued: NaiveDate, dispensed: NaiveDate) -> Option<Finding> {
    let days = (dispensed - issued).num_days();
    (days > i64::from(thresholds.late_dispensing_days)).then(|| Finding {
        kind: AlertKind::LateDispensing,
        subject: hi_rxno.to_string(),
        summary: format!("处方 {hi_rxno} 开具于 {issued}，{days} 天后（{dispensed}）才调剂（阈值 {} 天）", thresholds.late_dispensing_days),
    })
}

/// A pack's traceability code met again: already used by another dispensing (`returned`
/// false: the dispensing was refused under P7), or handed back and now dispensed again.
pub fn pack_reused(code: &str, first_rxno: &str, first_pharmacy: &str, again_rxno: &str, again_pharmacy: &str, returned: bool) -> Finding {
    let how = if returned { "退药后再次调剂" } else { "已被其他调剂使用，本次调剂被拒" };
    Finding {
        kind: AlertKind::PackReused,
        subject: format!("{code}:{again_rxno}"),
        summary: format!("追溯码 {code}：首次用于处方 {first_rxno}（{first_pharmacy}），又出现在处方 {again_rxno}（{again_pharmacy}）：{how}"),
    }
}

/// A settlement line priced above the payment standard: `excess` is what the engine left to
/// the patient above the standard (`overlmt_selfpay`, S1). The summary names the price only,
/// never the excess, from which a confidential standard (C6) could be derived.
pub fn price_above_standard(setl_id: &str, med_list_codg: &str, unit_price: Decimal, excess: Decimal) -> Option<Finding> {
    (excess > Decimal::ZERO).then(|| Finding {
        kind: AlertKind::PriceAboveStandard,
        subject: format!("{setl_id}:{med_list_codg}"),
        summary: format!("结算 {setl_id} 的药品 {med_list_codg} 单价 {unit_price} 高于支付标准，超出部分由参保人自付"),
    })
}

/// A settlement or pre-settlement refused because a negotiated drug was priced above its
/// payment standard (C7), at party `fixmedins_code` on `day`: one alert per party, drug and
/// day however often it is tried. The summary names neither the price nor the standard (C6).
pub fn price_above_standard_attempted(fixmedins_code: &str, med_list_codg: &str, day: NaiveDate) -> Finding {
    Finding {
        kind: AlertKind::PriceAboveStandard,
        subject: format!("{fixmedins_code}:{med_list_codg}:{day}"),
        summary: format!("{fixmedins_code} 于 {day} 以高于支付标准的价格申报谈判药品 {med_list_codg} 的结算，已被拒绝（C7）"),
    }
}

/// Frequent reversals: a pharmacy's `reversed` settlements in `month` (`YYYYMM`) out of the
/// `settled` it made that month (reversed ones included), at least the minimum and the share.
pub fn frequent_reversals(thresholds: &Thresholds, fixmedins_code: &str, month: &str, settled: u64, reversed: u64) -> Option<Finding> {
    let enough = reversed >= u64::from(thresholds.reversals_min);
    let share = settled > 0 && reversed * 100 >= u64::from(thresholds.reversals_percent) * settled;
    (enough && share).then(|| Finding {
        kind: AlertKind::FrequentReversals,
        subject: format!("{fixmedins_code}:{month}"),
        summary: format!("药店 {fixmedins_code} 在 {month} 月冲正 {reversed} 笔，占结算 {settled} 笔的 {}%（阈值 {} 笔且 {}%）", reversed * 100 / settled.max(1), thresholds.reversals_min, thresholds.reversals_percent),
    })
}

/// A prescription refused because its physician is not the one P4 requires (the patient's
/// filing's responsible physician, or any responsible physician): `refused_on_prescriber` says
/// whether the pre-check found that. One alert per person, physician and day, however often
/// the physician tries.
pub fn prescriber_not_fixed(refused_on_prescriber: bool, psn_no: &str, dr_code: &str, fixmedins_code: &str, day: NaiveDate) -> Option<Finding> {
    refused_on_prescriber.then(|| Finding {
        kind: AlertKind::PrescriberNotFixed,
        subject: format!("{psn_no}:{dr_code}:{day}"),
        summary: format!("医师 {dr_code}（{fixmedins_code}）于 {day} 为参保人 {psn_no} 开具处方，但并非其备案的责任医师，已被拒绝"),
    })
}

/// A dispensing under filing `filing_id` refused for exceeding its treatment plan's quantity
/// (`reason`: the plan, what was drawn and what was asked). One alert per prescription,
/// however often the pharmacy tries.
pub fn quantity_beyond_plan(filing_id: &str, hi_rxno: &str, psn_no: &str, med_list_codg: &str, reason: &str) -> Finding {
    Finding {
        kind: AlertKind::QuantityBeyondPlan,
        subject: format!("{filing_id}:{hi_rxno}"),
        summary: format!("参保人 {psn_no} 的药品 {med_list_codg}：处方 {hi_rxno} 的调剂超出备案 {filing_id} 治疗方案的用量，已被拒绝（{reason}）"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::date;
    use rust_decimal_macros::dec;

    fn at(pharmacy: &str, day: NaiveDate) -> (String, NaiveDate) {
        (pharmacy.to_string(), day)
    }

    #[test]
    fn hopping_fires_past_the_pharmacies_allowed_within_the_window_only() {
        let t = Thresholds::default();
        let today = date(2026, 12, 20);
        // two pharmacies: allowed
        let two = [at("P1", date(2026, 12, 1)), at("P2", date(2026, 12, 10)), at("P1", today)];
        assert_eq!(pharmacy_hopping(&t, "N1", "X", &two, today), None);
        // a third within 30 days fires, once per burst (the subject is the window's first day)
        let three = [at("P1", date(2026, 12, 1)), at("P2", date(2026, 12, 10)), at("P3", today)];
        let found = pharmacy_hopping(&t, "N1", "X", &three, today).expect("fires");
        assert_eq!((found.kind, found.subject.as_str()), (AlertKind::PharmacyHopping, "N1:X:2026-12-01"));
        assert!(found.summary.contains("P1、P2、P3"), "{}", found.summary);
        // the same three spread over more than the window do not
        let spread = [at("P1", date(2026, 10, 1)), at("P2", date(2026, 11, 10)), at("P3", today)];
        assert_eq!(pharmacy_hopping(&t, "N1", "X", &spread, today), None);
        // a region allowing one pharmacy fires at the second
        let strict = Thresholds { hopping_max_pharmacies: 1, ..t };
        assert!(pharmacy_hopping(&strict, "N1", "X", &two[1..], today).is_some());
        assert_eq!(pharmacy_hopping(&strict, "N1", "X", &spread[1..], today), None);
    }

    #[test]
    fn late_dispensing_fires_after_the_days_allowed() {
        let t = Thresholds::default();
        assert_eq!(late_dispensing(&t, "RX1", date(2026, 12, 1), date(2026, 12, 4)), None);
        let late = late_dispensing(&t, "RX1", date(2026, 12, 1), date(2026, 12, 5)).expect("fires");
        assert_eq!((late.kind, late.subject.as_str()), (AlertKind::LateDispensing, "RX1"));
    }

    #[test]
    fn a_price_above_the_standard_fires_and_never_names_the_excess() {
        assert_eq!(price_above_standard("S1", "X", dec!(63.00), dec!(0)), None);
        let found = price_above_standard("S1", "X", dec!(70.00), dec!(14.00)).expect("fires");
        assert!(found.summary.contains("70.00") && !found.summary.contains("14"), "{}", found.summary);
    }

    #[test]
    fn a_price_above_the_standard_attempted_is_one_alert_a_day_and_names_no_amount() {
        let found = price_above_standard_attempted("P1", "X", date(2026, 12, 1));
        assert_eq!((found.kind, found.subject.as_str()), (AlertKind::PriceAboveStandard, "P1:X:2026-12-01"));
        assert!(!found.summary.chars().any(|c| c == '.'), "no amount: {}", found.summary);
    }

    #[test]
    fn frequent_reversals_need_both_the_count_and_the_share() {
        let t = Thresholds::default();
        assert_eq!(frequent_reversals(&t, "P1", "202612", 100, 3), None, "3% of settlements");
        assert_eq!(frequent_reversals(&t, "P1", "202612", 5, 2), None, "40% but only 2");
        let found = frequent_reversals(&t, "P1", "202612", 10, 3).expect("3 of 10");
        assert_eq!(found.subject, "P1:202612");
    }

    #[test]
    fn a_prescriber_refused_under_p4_is_one_alert_a_day() {
        assert_eq!(prescriber_not_fixed(false, "N1", "D2", "H1", date(2026, 12, 1)), None);
        let found = prescriber_not_fixed(true, "N1", "D2", "H1", date(2026, 12, 1)).expect("fires");
        assert_eq!((found.kind.rules(), found.subject.as_str()), (&["M3", "P4"][..], "N1:D2:2026-12-01"));
    }

    #[test]
    fn a_dispensing_beyond_the_plan_is_one_alert_per_prescription() {
        let found = quantity_beyond_plan("FL1", "RX1", "N1", "X", "30 支 in 30 days");
        assert_eq!((found.kind.as_str(), found.kind.rules(), found.subject.as_str()), ("quantity_beyond_plan", &["M3", "E5"][..], "FL1:RX1"));
    }

    #[test]
    fn thresholds_out_of_range_are_named() {
        assert!(Thresholds::default().problems().is_empty());
        let bad = Thresholds { hopping_window_days: 0, hopping_max_pharmacies: 0, late_dispensing_days: 400, reversals_min: 0, reversals_percent: 101, unused_months: 0 };
        assert_eq!(bad.problems().len(), 6);
    }
}
