//! "Is this drug payable in this region on this date, under which lists, at which standard,
//! with which restriction?" — asked by patients, pharmacies, filing and settlement alike.

use crate::cache::InForce;
use store::StoreResult;
use rules::catalogue::{
    AdjustedStandard, CatalogueEntry, EffectiveStandard, ListEntries, ListKind, LocalRestriction, Preparation, StandardAmount, StructuredRestriction,
    effective_standards, unpaid_reason,
};
use rules::settlement::{LineCoverage, StandardBasis, Treatment, standard_unit, unit_of_specification};
use rust_decimal::Decimal;

/// On what grounds a drug is paid.
#[derive(Debug, Clone, Copy)]
pub enum Basis<'a> {
    /// An entry of the national edition in force.
    NationalEdition(&'a CatalogueEntry),
    /// An entry the edition in force dropped, paid at its old standard until the date (C4).
    Transition(&'a CatalogueEntry, chrono::NaiveDate),
    /// A hospital preparation on the region's list, paid only at its institution.
    HospitalPreparation(&'a Preparation),
}

/// The region's lists a drug is on, as of the date (rule C2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lists {
    pub dual_channel: bool,
    pub separate_payment: bool,
    /// The outpatient mechanism's annual maximum (yuan), when the drug is on that list (S4).
    pub outpatient_annual_max: Option<Decimal>,
}

/// A drug's coverage in a region on a date.
#[derive(Debug, Clone)]
pub struct Coverage<'a> {
    pub code: &'a str,
    pub basis: Basis<'a>,
    pub lists: Lists,
    /// The standards paid against in the region: national or the region's (rule C5). Empty
    /// for a preparation without a standard.
    pub standards: Vec<EffectiveStandard>,
    /// Why the drug is not payable on the date; empty when it is.
    pub unpaid_reasons: Vec<String>,
    /// The region's encoding of the restriction as checkable conditions, if it has one (C9).
    pub structured_restriction: Option<&'a StructuredRestriction>,
    /// The outpatient list's own restriction of the mechanism's payment, when the drug is on
    /// that list with one (C9, S4): settlement checks it before the mechanism pays.
    pub outpatient_restriction: Option<&'a LocalRestriction>,
}

impl Coverage<'_> {
    pub fn payable(&self) -> bool {
        self.unpaid_reasons.is_empty()
    }

    /// The drug's name: the national entry's, or the hospital preparation's.
    pub fn name(&self) -> &str {
        match self.basis {
            Basis::NationalEdition(entry) | Basis::Transition(entry, _) => &entry.name,
            Basis::HospitalPreparation(preparation) => &preparation.name,
        }
    }

    /// Whether it is a negotiated drug (rule C7: its price may not exceed its standard), also
    /// during its transition (C4).
    pub fn negotiated(&self) -> bool {
        match self.basis {
            Basis::NationalEdition(entry) | Basis::Transition(entry, _) => entry.category == rules::catalogue::Category::Negotiated,
            Basis::HospitalPreparation(_) => false,
        }
    }

    /// Whether the drug is paid when bought at `fixmedins_code` (a pharmacy, or an institution
    /// of a visit): everywhere, but a hospital preparation only at its institution and its
    /// group's (issue 14 item 4). `Err` says where it is paid.
    pub fn paid_at(&self, fixmedins_code: &str) -> Result<(), String> {
        match self.basis {
            Basis::HospitalPreparation(preparation) => preparation.paid_at(fixmedins_code),
            Basis::NationalEdition(_) | Basis::Transition(..) => Ok(()),
        }
    }

    /// The official restriction text (rule C9), for national entries.
    /// The line's coverage as settlement computes it (rules S1–S4, C4, C6), for a line of
    /// specification `drug_spec`: the standard of that specification (the only one when the
    /// drug has one), the class, and the treatment its lists give it. `Err` when the drug is
    /// payable but its standard cannot be known here (a `*` amount not supplied yet, a note to
    /// read, several specifications and none named): settling it on a guess would be wrong.
    pub fn for_settlement(&self, drug_spec: &str) -> Result<LineCoverage, String> {
        if !self.payable() {
            return Ok(LineCoverage::NotCovered { reason: self.unpaid_reasons.join("; ") });
        }
        let treatment = match self.lists {
            Lists { separate_payment: true, .. } => Treatment::SeparatePayment,
            Lists { outpatient_annual_max: Some(annual_max), .. } => Treatment::OutpatientNegotiated { annual_max },
            _ => Treatment::Ordinary,
        };
        let (class, standard, basis) = match self.basis {
            Basis::HospitalPreparation(preparation) => (preparation.insurance_class, preparation.payment_standard, StandardBasis::Published),
            Basis::NationalEdition(entry) | Basis::Transition(entry, _) => {
                let basis = match self.basis {
                    Basis::Transition(_, until) => StandardBasis::Transition { until },
                    _ => StandardBasis::Published,
                };
                let chosen = self.chosen_standard(drug_spec)?;
                match chosen.map(|s| &s.standard.amount) {
                    None => (entry.insurance_class, None, basis),
                    Some(StandardAmount::Published { amount }) => (entry.insurance_class, Some(*amount), basis),
                    Some(StandardAmount::Confidential { amount: Some(amount) }) => (entry.insurance_class, Some(amount.for_settlement()), StandardBasis::Confidential),
                    Some(StandardAmount::Confidential { amount: None }) => return Err("the drug's confidential payment standard has not been supplied".into()),
                    Some(StandardAmount::SeeNote { note }) => return Err(format!("the drug's payment standard is in a note of the edition ({note}) and has not been supplied")),
                }
            }
        };
        Ok(LineCoverage::Covered { standard, basis, class, treatment })
    }

    /// The standard a line of specification `drug_spec` is paid against: the only one, or the
    /// one of that specification among several (`Err` when none is).
    fn chosen_standard(&self, drug_spec: &str) -> Result<Option<&EffectiveStandard>, String> {
        Ok(match self.standards.as_slice() {
            [] => None,
            [only] => Some(only),
            several => Some(
                several
                    .iter()
                    .find(|s| s.standard.specification.as_deref() == Some(drug_spec))
                    .ok_or_else(|| format!("the drug has several payment standards and none for specification {drug_spec:?}"))?,
            ),
        })
    }

    /// The unit the standard [`Self::for_settlement`] picks for `drug_spec` is quoted per (C3,
    /// S1): its cell's pack unit, else its specification's (`10mg/支` → 支); a hospital
    /// preparation's standard is per its specification's unit. `None` when it cannot be read,
    /// or there is no standard (see `rules::settlement::units`).
    pub fn standard_unit(&self, drug_spec: &str) -> Option<&str> {
        match self.basis {
            Basis::HospitalPreparation(preparation) => preparation.payment_standard.and(preparation.specification.as_deref()).and_then(unit_of_specification),
            Basis::NationalEdition(_) | Basis::Transition(..) => {
                let chosen = self.chosen_standard(drug_spec).ok()??;
                standard_unit(chosen.standard.specification.as_deref(), chosen.standard.per.as_deref())
            }
        }
    }

    pub fn restriction(&self) -> Option<&str> {
        match self.basis {
            Basis::NationalEdition(entry) | Basis::Transition(entry, _) => entry.restriction.as_deref(),
            Basis::HospitalPreparation(_) => None,
        }
    }
}

impl InForce {
    /// The region's list in force on this date: its own, else its city's, else its province's.
    fn list(&self, admdvs: &str, kind: ListKind) -> Option<&ListEntries> {
        self.snapshot.state.list_in_force(admdvs, kind, self.date).map(|version| &version.entries)
    }

    /// The outpatient list's own restriction of `code` in region `admdvs` on this date (C9).
    pub fn outpatient_restriction(&self, admdvs: &str, code: &str) -> Option<&LocalRestriction> {
        match self.list(admdvs, ListKind::Outpatient) {
            Some(ListEntries::Outpatient(drugs)) => drugs.iter().find(|d| d.code == code).and_then(|d| d.local_restriction.as_ref()),
            _ => None,
        }
    }

    /// The lists of region `admdvs` that name `code` on this date.
    pub fn lists(&self, admdvs: &str, code: &str) -> Lists {
        let on = |kind| self.list(admdvs, kind).is_some_and(|entries| entries.contains(code));
        let outpatient_annual_max = match self.list(admdvs, ListKind::Outpatient) {
            Some(ListEntries::Outpatient(drugs)) => drugs.iter().find(|d| d.code == code).map(|d| d.annual_max),
            _ => None,
        };
        Lists { dual_channel: on(ListKind::DualChannel), separate_payment: on(ListKind::SeparatePayment), outpatient_annual_max }
    }

    /// The drug's coverage in region `admdvs` on this date, or `None` when neither the
    /// national edition (with its transition, C4) nor the region's preparations have it.
    /// `Err` only for an edition the store holds unreadable.
    pub fn coverage(&self, admdvs: &str, code: &str) -> StoreResult<Option<Coverage<'_>>> {
        if let Some(found) = self.find(code)? {
            let adjustments: Vec<&AdjustedStandard> = match self.list(admdvs, ListKind::AdjustedStandards) {
                Some(ListEntries::AdjustedStandards(all)) => all.iter().filter(|a| a.code == found.code).collect(),
                _ => Vec::new(),
            };
            return Ok(Some(Coverage {
                code: found.code,
                basis: match found.transition_until {
                    Some(until) => Basis::Transition(found.entry, until),
                    None => Basis::NationalEdition(found.entry),
                },
                lists: self.lists(admdvs, found.code),
                standards: effective_standards(found.entry, &adjustments),
                unpaid_reasons: unpaid_reason(found.entry, self.date, found.transition_until.is_some()).into_iter().collect(),
                structured_restriction: match self.list(admdvs, ListKind::Restrictions) {
                    Some(ListEntries::Restrictions(all)) => all.iter().find(|r| r.code == found.code),
                    _ => None,
                },
                outpatient_restriction: self.outpatient_restriction(admdvs, found.code),
            }));
        }
        let Some(ListEntries::Preparations(preparations)) = self.list(admdvs, ListKind::Preparations) else {
            return Ok(None);
        };
        let Some(preparation) = preparations.iter().find(|p| p.code == code) else { return Ok(None) };
        Ok(Some(Coverage {
            code: &preparation.code,
            basis: Basis::HospitalPreparation(preparation),
            lists: self.lists(admdvs, &preparation.code),
            standards: Vec::new(),
            unpaid_reasons: Vec::new(),
            structured_restriction: None,
            outpatient_restriction: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::catalogue::{ConfidentialAmount, InsuranceClass, StandardSource};
    use rules::fixtures::{date, negotiated, regular};
    use rust_decimal::Decimal;

    fn coverage<'a>(entry: &'a CatalogueEntry, lists: Lists) -> Coverage<'a> {
        Coverage {
            code: "X1",
            basis: Basis::NationalEdition(entry),
            lists,
            standards: entry.payment_standards.iter().map(|s| EffectiveStandard { standard: s.clone(), source: StandardSource::National }).collect(),
            unpaid_reasons: Vec::new(),
            structured_restriction: None,
            outpatient_restriction: None,
        }
    }

    const ORDINARY: Lists = Lists { dual_channel: true, separate_payment: false, outpatient_annual_max: None };

    #[test]
    fn settlement_sees_the_standard_class_and_treatment() {
        let entry = negotiated("某药", StandardAmount::Published { amount: Decimal::new(6300, 2) });
        let separate = Lists { separate_payment: true, ..ORDINARY };
        assert_eq!(
            coverage(&entry, separate).for_settlement("20mg/片"),
            Ok(LineCoverage::Covered { standard: Some(Decimal::new(6300, 2)), basis: StandardBasis::Published, class: InsuranceClass::B, treatment: Treatment::SeparatePayment })
        );
        let outpatient = Lists { outpatient_annual_max: Some(Decimal::new(10000, 0)), ..ORDINARY };
        let found = coverage(&entry, outpatient).for_settlement("20mg/片").unwrap();
        assert!(matches!(found, LineCoverage::Covered { treatment: Treatment::OutpatientNegotiated { .. }, .. }));
        // a regular drug has no standard: paid on its price
        let plain = regular("阿司匹林肠溶片");
        assert!(matches!(coverage(&plain, ORDINARY).for_settlement("100mg"), Ok(LineCoverage::Covered { standard: None, treatment: Treatment::Ordinary, .. })));
    }

    #[test]
    fn a_confidential_standard_is_used_only_when_supplied_and_a_transition_says_until_when() {
        // rule C6
        let secret = negotiated("某药", StandardAmount::Confidential { amount: Some(ConfidentialAmount::new(Decimal::new(4321, 0))) });
        let found = coverage(&secret, ORDINARY).for_settlement("20mg/片").unwrap();
        assert!(matches!(found, LineCoverage::Covered { standard: Some(s), basis: StandardBasis::Confidential, .. } if s == Decimal::new(4321, 0)));
        let missing = negotiated("某药", StandardAmount::Confidential { amount: None });
        assert!(coverage(&missing, ORDINARY).for_settlement("20mg/片").is_err());
        // rule C4
        let entry = negotiated("某药", StandardAmount::Published { amount: Decimal::ONE });
        let mut dropped = coverage(&entry, ORDINARY);
        dropped.basis = Basis::Transition(&entry, date(2026, 6, 30));
        assert!(matches!(dropped.for_settlement("20mg/片"), Ok(LineCoverage::Covered { basis: StandardBasis::Transition { .. }, .. })));
    }

    #[test]
    fn the_standard_is_quoted_per_its_specifications_unit_or_its_cells_pack_unit() {
        // rules C3, S1 (issue 14 item 3)
        let mut entry = negotiated("某药", StandardAmount::Published { amount: Decimal::new(6300, 2) });
        entry.payment_standards[0].specification = Some("10mg/支".into());
        assert_eq!(coverage(&entry, ORDINARY).standard_unit("10mg/支"), Some("支"));
        entry.payment_standards[0].per = Some("盒".into());
        assert_eq!(coverage(&entry, ORDINARY).standard_unit("10mg/支"), Some("盒"));
        // several standards: the line's specification picks one, or none is known
        let mut several = entry.clone();
        let mut other = entry.payment_standards[0].clone();
        (other.specification, other.per) = (Some("100ml/瓶".into()), None);
        several.payment_standards.push(other);
        assert_eq!(coverage(&several, ORDINARY).standard_unit("100ml/瓶"), Some("瓶"));
        assert_eq!(coverage(&several, ORDINARY).standard_unit("20mg/袋"), None);
        assert_eq!(coverage(&regular("阿司匹林肠溶片"), ORDINARY).standard_unit("100mg/片"), None);
    }

    #[test]
    fn an_unpaid_drug_is_not_covered_and_an_unknown_specification_is_refused() {
        let entry = negotiated("某药", StandardAmount::Published { amount: Decimal::ONE });
        let mut lapsed = coverage(&entry, ORDINARY);
        lapsed.unpaid_reasons = vec!["the agreement ended".into()];
        assert_eq!(lapsed.for_settlement("20mg/片"), Ok(LineCoverage::NotCovered { reason: "the agreement ended".into() }));
        let mut several = entry.clone();
        let mut other = several.payment_standards[0].clone();
        other.specification = Some("40mg/片".into());
        several.payment_standards.push(other);
        assert!(coverage(&several, ORDINARY).for_settlement("10mg/片").is_err());
        assert!(coverage(&several, ORDINARY).for_settlement("40mg/片").is_ok());
    }
}
