//! Stocking (配备, rules M1, M4): which institutions and dual-channel pharmacies of a city
//! stock a negotiated drug, from when, as they declare it; and each institution's formulary
//! adjustments after a new edition.
//!
//! A city's stocking of one drug is one record with numbered versions ([`crate::versions`]):
//! every party that ever declared, with its declarations in date order. Declarations are rare
//! (a party's pharmacy committee meets a few times a year), so one record per drug and city
//! keeps every question about the drug to two reads: who stocks it today (the patient's "where
//! can I get it"), how many institutions did at the end of each month (the landing trend).
//! Two declarations at once race for the next version; the loser reads again and retries.

use crate::versions::{Raced, Seen, Versions};
use crate::{KeyValue, StoreResult, keys};
use chrono::NaiveDate;
pub use crate::registry::PartyKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One declaration: stocking the drug from `on`, or no longer from `on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub on: NaiveDate,
    pub stocked: bool,
    pub declared_by: String,
    pub declared_at: String,
}

/// A party's declarations for the drug, in date order (a later declaration for the same day
/// replaces the earlier: a correction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyStock {
    pub kind: PartyKind,
    pub declarations: Vec<Declaration>,
}

impl PartyStock {
    /// Whether the party stocks the drug on `date`.
    pub fn stocked_on(&self, date: NaiveDate) -> bool {
        self.declarations.iter().rev().find(|d| d.on <= date).is_some_and(|d| d.stocked)
    }

    /// The first day it stocked the drug, if it ever did.
    pub fn first_stocked(&self) -> Option<NaiveDate> {
        self.declarations.iter().find(|d| d.stocked).map(|d| d.on)
    }
}

/// A city's stocking of one drug as of one version: every party that declared, by code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrugStocking {
    pub parties: BTreeMap<String, PartyStock>,
}

impl DrugStocking {
    /// The stocking with `declaration` of party `code` added in its place.
    pub fn declared(&self, code: &str, kind: PartyKind, declaration: Declaration) -> DrugStocking {
        let mut next = self.clone();
        let party = next.parties.entry(code.to_string()).or_insert(PartyStock { kind, declarations: Vec::new() });
        party.kind = kind;
        party.declarations.retain(|d| d.on != declaration.on);
        let at = party.declarations.partition_point(|d| d.on < declaration.on);
        party.declarations.insert(at, declaration);
        next
    }

    /// The parties of `kind` stocking the drug on `date`.
    pub fn stocking_on(&self, kind: PartyKind, date: NaiveDate) -> impl Iterator<Item = &str> {
        self.parties.iter().filter(move |(_, p)| p.kind == kind && p.stocked_on(date)).map(|(code, _)| code.as_str())
    }
}

/// An institution's formulary adjustment (M4) for the edition in force from a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormularyAdjustment {
    pub edition_effective_from: NaiveDate,
    /// The day its pharmacy committee adjusted the formulary.
    pub adjusted_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// The stocking records and formulary adjustments.
pub struct Stocking<'a, K> {
    kv: &'a K,
}

impl<'a, K: KeyValue> Stocking<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Stocking { kv }
    }

    fn versions(&self, city: &str, med_list_codg: &str) -> Versions<'a, K> {
        let id = keys::monitor_stocking(city, med_list_codg);
        Versions::new(self.kv, &id, keys::monitor_stocking_version_counter(&id), keys::monitor_stocking_version)
    }

    /// The city's stocking of the drug as it stands, and what was seen: two reads.
    pub async fn current(&self, city: &str, med_list_codg: &str) -> StoreResult<(Seen, DrugStocking)> {
        self.versions(city, med_list_codg).current_or_default().await
    }

    /// Writes `next` as the version after `seen`; refused when another declaration got there.
    pub async fn advance(&self, city: &str, med_list_codg: &str, seen: Seen, next: &DrugStocking, now: i64) -> StoreResult<Result<(), Raced>> {
        self.versions(city, med_list_codg).advance(seen, next, now).await
    }

    /// Whether a version after `seen` is written: a declaration that lost the race waits for
    /// it before reading again.
    pub async fn moved_past(&self, city: &str, med_list_codg: &str, seen: Seen) -> StoreResult<Option<()>> {
        self.versions(city, med_list_codg).moved_past::<DrugStocking>(seen).await
    }

    /// An institution's formulary adjustment for an edition, if recorded: one read.
    pub async fn formulary(&self, fixmedins_code: &str, edition_effective_from: NaiveDate) -> StoreResult<Option<FormularyAdjustment>> {
        self.kv.get_json(&keys::monitor_formulary(fixmedins_code, edition_effective_from)).await
    }

    /// Records (or corrects) an institution's adjustment for an edition: one write.
    pub async fn record_formulary(&self, fixmedins_code: &str, adjustment: &FormularyAdjustment) -> StoreResult<()> {
        self.kv.set_json(&keys::monitor_formulary(fixmedins_code, adjustment.edition_effective_from), adjustment).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::fixtures::date;

    fn said(on: NaiveDate, stocked: bool) -> Declaration {
        Declaration { on, stocked, declared_by: "office:H1".into(), declared_at: String::new() }
    }

    #[test]
    fn a_party_stocks_from_its_declaration_until_it_stops_and_corrections_replace() {
        let stocking = DrugStocking::default()
            .declared("H1", PartyKind::Institution, said(date(2026, 3, 1), true))
            .declared("P1", PartyKind::Pharmacy, said(date(2026, 2, 1), true))
            .declared("H1", PartyKind::Institution, said(date(2026, 9, 1), false));
        let on = |d| stocking.stocking_on(PartyKind::Institution, d).collect::<Vec<_>>();
        assert!(on(date(2026, 2, 28)).is_empty());
        assert_eq!(on(date(2026, 3, 1)), ["H1"]);
        assert!(on(date(2026, 9, 1)).is_empty());
        assert_eq!(stocking.stocking_on(PartyKind::Pharmacy, date(2026, 9, 1)).collect::<Vec<_>>(), ["P1"]);
        // a correction of the stop's day: the same day replaced, order kept
        let corrected = stocking.declared("H1", PartyKind::Institution, said(date(2026, 9, 1), true));
        assert_eq!(corrected.parties["H1"].declarations.len(), 2);
        assert!(corrected.parties["H1"].stocked_on(date(2026, 12, 1)));
        assert_eq!(corrected.parties["H1"].first_stocked(), Some(date(2026, 3, 1)));
    }
}
