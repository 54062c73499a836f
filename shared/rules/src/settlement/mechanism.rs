//! Rule S4's gate: the outpatient mechanism's terms (its deductible, ratio and each drug's
//! annual maximum) are for a registered patient only (`004_…` 诊断登记, 三定): a valid
//! registration for the drug, the purchase prescribed at the registered institution (or
//! bought at a dual-channel pharmacy linked to it) by a physician the registration names.
//! Otherwise the region's policy decides: refused (the default), or paid under ordinary terms.

use super::engine::Step;
use super::input::{LineCoverage, Treatment};
use crate::filing::Standing;
use serde::{Deserialize, Serialize};

/// What a settlement does with an outpatient-list drug bought without a valid registration
/// (region policy, S4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unregistered {
    /// The settlement is refused, saying what the registration lacks.
    #[default]
    Refuse,
    /// The line is paid as an ordinary outpatient drug (S3), as if it were not on the list.
    OrdinaryTerms,
}

impl Unregistered {
    pub fn is_refuse(&self) -> bool {
        *self == Unregistered::Refuse
    }
}

/// The person's registration for the drug, as the gate needs it.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub id: &'a str,
    /// On the purchase's date (S4 as E5: a year of validity, reassessed at most six months apart).
    pub standing: Standing,
    /// The registered institution (定医院).
    pub fixmedins_code: &'a str,
    /// The named physicians (定医师).
    pub physicians: &'a [&'a str],
}

/// The dispensing pharmacy of a purchase made at a pharmacy, as the registry has it.
#[derive(Debug, Clone, Copy)]
pub struct DispensingPharmacy<'a> {
    pub fixmedins_code: &'a str,
    pub dual_channel: bool,
    pub linked_institutions: &'a [String],
}

/// Where and by whom a mechanism drug is bought.
#[derive(Debug, Clone, Copy)]
pub struct MechanismPurchase<'a> {
    /// The prescribing institution, or the institution of the visit.
    pub institution: &'a str,
    /// The prescribing physician, where stated.
    pub prescriber: Option<&'a str>,
    /// The pharmacy, for a purchase at one.
    pub pharmacy: Option<DispensingPharmacy<'a>>,
}

/// What keeps `registration` from covering `purchase`, or `None` where it covers it.
pub fn unmet(registration: Option<&Registration<'_>>, purchase: &MechanismPurchase<'_>) -> Option<String> {
    let Some(registration) = registration else {
        return Some("the person has no registration (诊断登记) for this drug".into());
    };
    let id = registration.id;
    let standing = match registration.standing {
        Standing::Valid => None,
        Standing::NotApproved => Some(format!("registration {id} is not approved")),
        Standing::NotYetValid => Some(format!("registration {id} is not valid yet")),
        Standing::Expired => Some(format!("registration {id} expired: register anew")),
        Standing::ReassessmentOverdue => Some(format!("registration {id} is overdue for its six-monthly reassessment: payment stops until the physician reassesses")),
    };
    if standing.is_some() {
        return standing;
    }
    if purchase.institution != registration.fixmedins_code {
        return Some(format!("registration {id} fixes institution {}, not {} (三定)", registration.fixmedins_code, purchase.institution));
    }
    if let Some(pharmacy) = purchase.pharmacy
        && !(pharmacy.dual_channel && pharmacy.linked_institutions.iter().any(|l| l == registration.fixmedins_code))
    {
        return Some(format!("pharmacy {} is not a dual-channel pharmacy linked to the registered institution {}", pharmacy.fixmedins_code, registration.fixmedins_code));
    }
    match purchase.prescriber {
        None => Some("the prescribing physician (dr_code) is not stated".into()),
        Some(dr_code) if !registration.physicians.contains(&dr_code) => Some(format!("physician {dr_code} is not named in registration {id} (三定)")),
        Some(_) => None,
    }
}

/// Rule S4 for one line the catalogue gives the mechanism: kept, with a step naming the
/// registration that covers it; else, as `unregistered` says, paid as an ordinary outpatient
/// drug (with the step saying why) or refused (`Err`, the reason). Lines of other treatments
/// pass unchanged, with no step.
pub fn registration_gate(code: &str, coverage: LineCoverage, registration: Option<&Registration<'_>>, purchase: &MechanismPurchase<'_>, unregistered: Unregistered) -> Result<(LineCoverage, Option<Step>), String> {
    let LineCoverage::Covered { standard, basis, class, treatment: Treatment::OutpatientNegotiated { .. } } = coverage else {
        return Ok((coverage, None));
    };
    let Some(reason) = unmet(registration, purchase) else {
        let id = registration.map_or("", |r| r.id);
        let step = Step {
            rule: "S4".into(),
            what: "the patient's registration covers the drug here: the outpatient mechanism pays".into(),
            input: format!("{code}: registration {id} at {} by {}", purchase.institution, purchase.prescriber.unwrap_or_default()),
            output: "outpatient_negotiated".into(),
        };
        return Ok((coverage, Some(step)));
    };
    match unregistered {
        Unregistered::Refuse => Err(format!("{code}: the outpatient mechanism pays only a registered patient (S4): {reason}")),
        Unregistered::OrdinaryTerms => {
            let step = Step {
                rule: "S4".into(),
                what: "no registration covers the drug here: the region's policy pays it as an ordinary outpatient drug (S3)".into(),
                input: format!("{code}: {reason}"),
                output: "ordinary".into(),
            };
            Ok((LineCoverage::Covered { standard, basis, class, treatment: Treatment::Ordinary }, Some(step)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::InsuranceClass;
    use crate::settlement::StandardBasis;
    use rust_decimal_macros::dec;

    fn mechanism() -> LineCoverage {
        LineCoverage::Covered { standard: Some(dec!(100)), basis: StandardBasis::Published, class: InsuranceClass::B, treatment: Treatment::OutpatientNegotiated { annual_max: dec!(281000) } }
    }

    const PHYSICIANS: &[&str] = &["D1", "D2"];

    fn registration(standing: Standing) -> Registration<'static> {
        Registration { id: "RG1", standing, fixmedins_code: "H1", physicians: PHYSICIANS }
    }

    fn at_institution(institution: &'static str, prescriber: Option<&'static str>) -> MechanismPurchase<'static> {
        MechanismPurchase { institution, prescriber, pharmacy: None }
    }

    #[test]
    fn a_valid_registration_at_its_institution_by_its_physician_keeps_the_mechanism() {
        let valid = registration(Standing::Valid);
        for prescriber in ["D1", "D2"] {
            let (kept, step) = registration_gate("X", mechanism(), Some(&valid), &at_institution("H1", Some(prescriber)), Unregistered::Refuse).unwrap();
            assert_eq!((kept, step.unwrap().output.as_str()), (mechanism(), "outpatient_negotiated"));
        }
        // a dual-channel pharmacy linked to the registered institution fills it
        let linked = ["H1".to_string()];
        let pharmacy = DispensingPharmacy { fixmedins_code: "P1", dual_channel: true, linked_institutions: &linked };
        let at_pharmacy = MechanismPurchase { pharmacy: Some(pharmacy), ..at_institution("H1", Some("D1")) };
        assert!(unmet(Some(&valid), &at_pharmacy).is_none());
        let unlinked = MechanismPurchase { pharmacy: Some(DispensingPharmacy { linked_institutions: &[], ..pharmacy }), ..at_pharmacy };
        assert!(unmet(Some(&valid), &unlinked).unwrap().contains("linked"));
        let not_dual = MechanismPurchase { pharmacy: Some(DispensingPharmacy { dual_channel: false, ..pharmacy }), ..at_pharmacy };
        assert!(unmet(Some(&valid), &not_dual).is_some());
    }

    #[test]
    fn each_missing_condition_is_named_and_refused_by_default() {
        let here = at_institution("H1", Some("D1"));
        let cases = [
            (None, here, "no registration"),
            (Some(registration(Standing::ReassessmentOverdue)), here, "reassessment"),
            (Some(registration(Standing::Expired)), here, "expired"),
            (Some(registration(Standing::NotApproved)), here, "not approved"),
            (Some(registration(Standing::Valid)), at_institution("H2", Some("D1")), "fixes institution H1, not H2"),
            (Some(registration(Standing::Valid)), at_institution("H1", Some("D9")), "D9 is not named"),
            (Some(registration(Standing::Valid)), at_institution("H1", None), "not stated"),
        ];
        for (registration, purchase, expected) in cases {
            let refused = registration_gate("X", mechanism(), registration.as_ref(), &purchase, Unregistered::default()).unwrap_err();
            assert!(refused.contains(expected) && refused.contains("S4"), "{refused}");
            let (ordinary, step) = registration_gate("X", mechanism(), registration.as_ref(), &purchase, Unregistered::OrdinaryTerms).unwrap();
            let LineCoverage::Covered { treatment, standard, .. } = ordinary else { panic!("covered") };
            assert_eq!((treatment, standard, step.unwrap().output), (Treatment::Ordinary, Some(dec!(100)), "ordinary".to_string()));
        }
    }

    #[test]
    fn other_treatments_pass_untouched() {
        let separate = LineCoverage::Covered { standard: None, basis: StandardBasis::Published, class: InsuranceClass::A, treatment: Treatment::SeparatePayment };
        assert_eq!(registration_gate("X", separate.clone(), None, &at_institution("H1", None), Unregistered::Refuse), Ok((separate, None)));
    }
}
