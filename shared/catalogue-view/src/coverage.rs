//! "Is this drug payable in this region on this date, under which lists, at which standard,
//! with which restriction?" — asked by patients, pharmacies, filing and settlement alike.

use crate::cache::InForce;
use rules::catalogue::{
    AdjustedStandard, CatalogueEntry, EffectiveStandard, ListEntries, ListKind, Preparation, StructuredRestriction,
    effective_standards, unpaid_reason,
};
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

    /// The official restriction text (rule C9), for national entries.
    pub fn restriction(&self) -> Option<&str> {
        match self.basis {
            Basis::NationalEdition(entry) | Basis::Transition(entry, _) => entry.restriction.as_deref(),
            Basis::HospitalPreparation(_) => None,
        }
    }
}

impl InForce {
    /// The region's version of a list in force on this date.
    fn list(&self, admdvs: &str, kind: ListKind) -> Option<&ListEntries> {
        let versions = self.snapshot.state.list_versions(admdvs, kind)?;
        versions.in_force(self.date).map(|version| &version.entries)
    }

    /// The lists of region `admdvs` that name `code` on this date.
    pub fn lists(&self, admdvs: &str, code: &str) -> Lists {
        let on = |kind| self.list(admdvs, kind).is_some_and(|entries| entries.codes().contains(&code));
        let outpatient_annual_max = match self.list(admdvs, ListKind::Outpatient) {
            Some(ListEntries::Outpatient(drugs)) => drugs.iter().find(|d| d.code == code).map(|d| d.annual_max),
            _ => None,
        };
        Lists { dual_channel: on(ListKind::DualChannel), separate_payment: on(ListKind::SeparatePayment), outpatient_annual_max }
    }

    /// The drug's coverage in region `admdvs` on this date, or `None` when neither the
    /// national edition (with its transition, C4) nor the region's preparations have it.
    pub fn coverage(&self, admdvs: &str, code: &str) -> Option<Coverage<'_>> {
        if let Some(found) = self.find(code) {
            let adjustments: Vec<&AdjustedStandard> = match self.list(admdvs, ListKind::AdjustedStandards) {
                Some(ListEntries::AdjustedStandards(all)) => all.iter().filter(|a| a.code == found.code).collect(),
                _ => Vec::new(),
            };
            return Some(Coverage {
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
            });
        }
        let Some(ListEntries::Preparations(preparations)) = self.list(admdvs, ListKind::Preparations) else {
            return None;
        };
        let preparation = preparations.iter().find(|p| p.code == code)?;
        Some(Coverage {
            code: &preparation.code,
            basis: Basis::HospitalPreparation(preparation),
            lists: self.lists(admdvs, &preparation.code),
            standards: Vec::new(),
            unpaid_reasons: Vec::new(),
            structured_restriction: None,
        })
    }
}
