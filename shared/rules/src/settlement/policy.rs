//! A region's settlement policy (region data, published with an effective date by its
//! agency): per scheme, the ordinary outpatient terms by institution level, the
//! separate-payment ratio (S2), the outpatient negotiated-drug mechanism (S4), the pooled
//! fund's annual cap, class B's first self-pay, critical-illness insurance and medical
//! assistance (S7), and whether the personal account may pay the patient's share.
//!
//! The policy is plain data an agency `PUT`s as JSON; the store keeps it with its effective
//! date (`store::settlement::SettlementPolicyVersion`), so the type here is the terms only and
//! the caller picks the version in force on the settlement's date. Both schemes are fields
//! (`employee`, `resident`), so a policy cannot miss one, and every level is a field of
//! [`ByLevel`], so none can be missing either: JSON without one does not parse, naming it.
//!
//! [`SettlementPolicy::problems`] reports everything else at once: amounts from 0 to
//! 100000000 yuan in whole fen, ratios from 0 to 1 with at most 4 places, critical-illness
//! segments contiguous from 0 (they count from the deductible), each ending above where it
//! starts, only the last open-ended (a closed last segment is allowed: nothing is paid above
//! it; no segments at all means no critical-illness insurance), assistance categories as codes.

use super::mechanism::Unregistered;
use crate::registry::{FieldProblem, Insutype, Level};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest amount a policy may name, in yuan: far above any real cap, small enough that
/// no sum of them overflows.
const MAX_AMOUNT: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementPolicy {
    /// 职工基本医疗保险 (`310`).
    pub employee: SchemeTerms,
    /// 城乡居民基本医疗保险 (`390`).
    pub resident: SchemeTerms,
}

impl SettlementPolicy {
    pub fn scheme(&self, insutype: Insutype) -> &SchemeTerms {
        match insutype {
            Insutype::EmployeeBasic => &self.employee,
            Insutype::ResidentBasic => &self.resident,
        }
    }

    /// Every problem at once, each at its JSON Pointer.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        self.employee.check("/employee", &mut problems);
        self.resident.check("/resident", &mut problems);
        problems
    }
}

/// One scheme's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeTerms {
    /// Ordinary outpatient (dual-channel) drugs, by the prescribing institution's level (S3).
    pub ordinary: ByLevel<Terms>,
    /// Separate-payment drugs: the inpatient ratio by level, no deductible (S2).
    pub separate_payment: ByLevel<Decimal>,
    /// The outpatient negotiated-drug mechanism (S4); each drug's annual maximum is on the
    /// region's outpatient list, and `annual_max_basis` says what it limits.
    pub outpatient_negotiated: MechanismTerms,
    /// The most the pooled fund pays a person in a calendar year, all treatments together.
    pub annual_pooled_cap: Decimal,
    /// The share of a class-B drug's in-scope cost the patient pays first (先行自付).
    pub class_b_first_self_pay: Decimal,
    pub critical_illness: CriticalIllness,
    /// Medical assistance by the person's assistance category (e.g. `low_income`).
    #[serde(default)]
    pub assistance: BTreeMap<String, Assistance>,
    /// Whether the personal account may pay the patient's share (S7).
    pub account_may_pay: bool,
}

/// A deductible per calendar year and the ratio the pooled fund pays above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    pub deductible: Decimal,
    pub ratio: Decimal,
}

/// The outpatient negotiated-drug mechanism's terms (S4): a deductible per calendar year, the
/// ratio the pooled fund pays above it, and what each drug's annual maximum limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MechanismTerms {
    pub deductible: Decimal,
    pub ratio: Decimal,
    /// What a drug's annual maximum limits. A policy published before the basis was a field
    /// reads as `fund_payment`, which is how it was settled then.
    #[serde(default)]
    pub annual_max_basis: AnnualMaxBasis,
    /// An outpatient-list drug bought without a registration that covers it: refused (the
    /// default, and how a policy published before the field reads), or paid under ordinary terms.
    #[serde(default, skip_serializing_if = "Unregistered::is_refuse")]
    pub unregistered: Unregistered,
}

/// What a drug's annual maximum on the outpatient list limits (S4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnualMaxBasis {
    /// The drug's eligible (in-scope) cost counted in the person's year: `004_…`'s
    /// "最高支付限额按该药品说明书年度最高药品费用确定", the label's highest annual drug cost. Cost
    /// beyond it is the patient's; the fund pays its ratio of the cost within it.
    EligibleCost,
    /// The pooled fund's payments for the drug in the person's year.
    #[default]
    FundPayment,
}

impl AnnualMaxBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            AnnualMaxBasis::EligibleCost => "eligible_cost",
            AnnualMaxBasis::FundPayment => "fund_payment",
        }
    }
}

/// One value per institution level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByLevel<T> {
    pub first: T,
    pub second: T,
    pub third: T,
}

impl<T> ByLevel<T> {
    pub fn at(&self, level: Level) -> &T {
        match level {
            Level::First => &self.first,
            Level::Second => &self.second,
            Level::Third => &self.third,
        }
    }

    fn each(&self) -> [(&'static str, &T); 3] {
        [("first", &self.first), ("second", &self.second), ("third", &self.third)]
    }
}

/// Critical-illness insurance (大病保险): over a calendar year, the compliant self-paid costs
/// above the deductible are paid by segment, up to an annual cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalIllness {
    pub deductible: Decimal,
    /// Contiguous from 0 (amounts above the deductible); only the last is open-ended.
    pub segments: Vec<Segment>,
    pub annual_cap: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub from: Decimal,
    pub to: Option<Decimal>,
    pub ratio: Decimal,
}

/// Medical assistance (医疗救助) for one category: a ratio of what remains, up to a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assistance {
    pub ratio: Decimal,
    pub annual_cap: Decimal,
}

fn amount(problems: &mut Vec<FieldProblem>, field: String, value: Decimal) {
    if value < Decimal::ZERO || value > MAX_AMOUNT || value.normalize().scale() > 2 {
        problems.push(FieldProblem::new(field, format!("an amount from 0 to {MAX_AMOUNT} yuan, to 2 decimal places")));
    }
}

fn ratio(problems: &mut Vec<FieldProblem>, field: String, value: Decimal) {
    if value < Decimal::ZERO || value > Decimal::ONE || value.normalize().scale() > 4 {
        problems.push(FieldProblem::new(field, "a ratio from 0 to 1, to 4 decimal places"));
    }
}

impl SchemeTerms {
    fn check(&self, at: &str, problems: &mut Vec<FieldProblem>) {
        for (level, terms) in self.ordinary.each() {
            amount(problems, format!("{at}/ordinary/{level}/deductible"), terms.deductible);
            ratio(problems, format!("{at}/ordinary/{level}/ratio"), terms.ratio);
        }
        for (level, value) in self.separate_payment.each() {
            ratio(problems, format!("{at}/separate_payment/{level}"), *value);
        }
        amount(problems, format!("{at}/outpatient_negotiated/deductible"), self.outpatient_negotiated.deductible);
        ratio(problems, format!("{at}/outpatient_negotiated/ratio"), self.outpatient_negotiated.ratio);
        amount(problems, format!("{at}/annual_pooled_cap"), self.annual_pooled_cap);
        ratio(problems, format!("{at}/class_b_first_self_pay"), self.class_b_first_self_pay);
        let illness = &self.critical_illness;
        amount(problems, format!("{at}/critical_illness/deductible"), illness.deductible);
        amount(problems, format!("{at}/critical_illness/annual_cap"), illness.annual_cap);
        let mut expected_from = Some(Decimal::ZERO);
        for (n, segment) in illness.segments.iter().enumerate() {
            let field = format!("{at}/critical_illness/segments/{n}");
            ratio(problems, format!("{field}/ratio"), segment.ratio);
            if Some(segment.from) != expected_from {
                let reason = match expected_from {
                    Some(from) => format!("segments are contiguous from 0: this one must start at {from}"),
                    None => "only the last segment is open-ended".to_string(),
                };
                problems.push(FieldProblem::new(format!("{field}/from"), reason));
            }
            if let Some(to) = segment.to {
                amount(problems, format!("{field}/to"), to);
                if to <= segment.from {
                    problems.push(FieldProblem::new(format!("{field}/to"), "a segment ends above where it starts"));
                }
            }
            expected_from = segment.to;
        }
        for (category, assistance) in &self.assistance {
            if !crate::role::is_code(category) {
                problems.push(FieldProblem::new(format!("{at}/assistance/{category}"), "a category is a code"));
            }
            ratio(problems, format!("{at}/assistance/{category}/ratio"), assistance.ratio);
            amount(problems, format!("{at}/assistance/{category}/annual_cap"), assistance.annual_cap);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// The example policy of `docs/examples/settlement-policy.json` (a plausible city's), the
    /// one the worked examples in `engine.rs` derive their figures from.
    pub(crate) fn wuhan() -> SettlementPolicy {
        let mut published: serde_json::Value = serde_json::from_str(include_str!("../../../../docs/examples/settlement-policy.json")).expect("JSON");
        published.as_object_mut().expect("an object").remove("effective_from");
        serde_json::from_value(published).expect("the example policy reads as a SettlementPolicy")
    }

    #[test]
    fn the_example_policy_is_valid() {
        assert_eq!(wuhan().problems(), []);
    }

    #[test]
    fn every_problem_is_reported_at_its_pointer_at_once() {
        let mut policy = wuhan();
        policy.employee.ordinary.third.ratio = dec!(1.2);
        policy.employee.separate_payment.first = dec!(-0.1);
        policy.resident.annual_pooled_cap = dec!(-1);
        policy.resident.class_b_first_self_pay = dec!(0.12345);
        policy.employee.critical_illness.segments = vec![
            Segment { from: dec!(0), to: Some(dec!(30000)), ratio: dec!(0.6) },
            Segment { from: dec!(35000), to: Some(dec!(20000)), ratio: dec!(0.7) },
            Segment { from: dec!(20000), to: None, ratio: dec!(0.8) },
            Segment { from: dec!(50000), to: None, ratio: dec!(0.9) },
        ];
        policy.employee.assistance.insert("low income".into(), Assistance { ratio: dec!(0.5), annual_cap: dec!(1.001) });
        let fields: Vec<String> = policy.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "/employee/ordinary/third/ratio",
                "/employee/separate_payment/first",
                "/employee/critical_illness/segments/1/from",
                "/employee/critical_illness/segments/1/to",
                "/employee/critical_illness/segments/3/from",
                "/employee/assistance/low income",
                "/employee/assistance/low income/annual_cap",
                "/resident/annual_pooled_cap",
                "/resident/class_b_first_self_pay",
            ]
        );
    }

    #[test]
    fn segments_start_at_0_and_each_ends_above_where_it_starts() {
        let mut policy = wuhan();
        policy.resident.critical_illness.segments = vec![
            Segment { from: dec!(100), to: Some(dec!(100)), ratio: dec!(0.6) },
            Segment { from: dec!(100), to: Some(dec!(-5)), ratio: dec!(-0.1) },
        ];
        let problems = policy.problems();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "/resident/critical_illness/segments/0/from",
                "/resident/critical_illness/segments/0/to",
                "/resident/critical_illness/segments/1/ratio",
                "/resident/critical_illness/segments/1/to",
                "/resident/critical_illness/segments/1/to",
            ]
        );
        assert!(problems[0].reason.contains("start at 0"), "{:?}", problems[0]);
        // a closed last segment, or none, is a region's choice
        policy.resident.critical_illness.segments = vec![Segment { from: dec!(0), to: Some(dec!(50000)), ratio: dec!(0.5) }];
        assert_eq!(policy.problems(), []);
        policy.resident.critical_illness.segments = vec![];
        assert_eq!(policy.problems(), []);
    }

    #[test]
    fn the_annual_maximums_basis_is_explicit_and_a_policy_stored_without_it_reads_as_fund_payment() {
        // rule S4: the example (the seed city's, 004_…) limits each drug's eligible cost
        assert_eq!(wuhan().employee.outpatient_negotiated.annual_max_basis, AnnualMaxBasis::EligibleCost);
        assert_eq!(wuhan().resident.outpatient_negotiated.annual_max_basis, AnnualMaxBasis::EligibleCost);
        // a policy published before the basis existed was settled on the fund's payments
        let mut stored = serde_json::to_value(wuhan()).unwrap();
        stored["employee"]["outpatient_negotiated"].as_object_mut().unwrap().remove("annual_max_basis");
        let read: SettlementPolicy = serde_json::from_value(stored).unwrap();
        assert_eq!(read.employee.outpatient_negotiated.annual_max_basis, AnnualMaxBasis::FundPayment);
        // the wire names, and nothing else
        assert_eq!(serde_json::to_value(AnnualMaxBasis::EligibleCost).unwrap(), AnnualMaxBasis::EligibleCost.as_str());
        assert_eq!(serde_json::to_value(AnnualMaxBasis::FundPayment).unwrap(), "fund_payment");
        let mut typo = serde_json::to_value(wuhan()).unwrap();
        typo["resident"]["outpatient_negotiated"]["annual_max_basis"] = serde_json::json!("payment");
        assert!(serde_json::from_value::<SettlementPolicy>(typo).is_err());
    }

    #[test]
    fn a_policy_missing_a_level_does_not_read() {
        let mut json = serde_json::to_value(wuhan()).unwrap();
        json["employee"]["separate_payment"].as_object_mut().unwrap().remove("third");
        let error = serde_json::from_value::<SettlementPolicy>(json).unwrap_err();
        assert!(error.to_string().contains("missing field `third`"), "{error}");
        let mut json = serde_json::to_value(wuhan()).unwrap();
        json.as_object_mut().unwrap().remove("resident");
        let error = serde_json::from_value::<SettlementPolicy>(json).unwrap_err();
        assert!(error.to_string().contains("missing field `resident`"), "{error}");
    }

    #[test]
    fn a_policy_reads_from_json_and_refuses_unknown_fields() {
        let json = serde_json::to_value(wuhan()).unwrap();
        let back: SettlementPolicy = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, wuhan());
        let mut typo = json;
        typo["employee"]["anual_pooled_cap"] = serde_json::json!("1");
        assert!(serde_json::from_value::<SettlementPolicy>(typo).is_err());
    }
}
