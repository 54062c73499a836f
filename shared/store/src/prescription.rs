//! E-prescriptions in the store (rules P1–P8, E6), without compare-and-swap:
//!
//! - A pre-check stores the checked prescription under its trace code, a digest of the
//!   prescription and the day, so the same pre-check repeated gives the same code.
//! - An uploaded prescription's id (`hi_rxno`) is derived from the institution and its own
//!   prescription number, so a retried upload lands on the same prescription.
//! - Its versions are numbered snapshots (see [`crate::versions`]): upload, review, dispensing
//!   and revocation each claim the next version, then write the whole prescription with the
//!   trace entry that made it. The claim is what makes a prescription dispensed at most once:
//!   of pharmacists racing from the same version, exactly one claims the next.
//! - A traceability code belongs to the first dispensing that claims it (`increment` → 1),
//!   which then records itself as the owner; a later claim is refused unless it is the owner's
//!   own retry. An instance dying between those two writes leaves the pack owned by no one:
//!   refused to everyone, the safe side for a code that must never be used twice.
//! - The person's, institution's and pharmacy's prescriptions are logs of ids (see
//!   [`crate::log`]) appended after the version is written; readers show an id once.

use crate::log::Log;
use crate::versions::{Claim, Latest, Raced, Seen, Slots, Versions};
use crate::{KeyValue, StoreResult, derived_id, keys};
use chrono::{NaiveDate, NaiveDateTime};
use rules::prescription::returns::ReturnedLine;
use rules::prescription::{Dispensing, LineKind, Prescription, RegionPolicy, Stage};
use serde::{Deserialize, Serialize};

/// A prescription that passed the pre-check, waiting for its upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreChecked {
    pub rx_trace_code: String,
    pub checked_on: NaiveDate,
    pub prescription: Prescription,
    /// The region of the prescribing institution.
    pub admdvs: String,
    /// Each line's payment route (P3) and drug name, as the catalogue said.
    pub kinds: Vec<LineKind>,
    pub drug_names: Vec<String>,
    /// The pharmacy it goes to, if bound (I4).
    pub pharmacy: Option<String>,
}

/// One step of a prescription's trace (P7): who did what, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// `upload`, `approve`, `reject`, `dispense` or `revoke`.
    pub step: String,
    /// The acting principal (`physician:D1`, `pharmacist:F1@Y1`).
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The pharmacist's review (P6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub fixmedins_code: String,
    pub phar_code: String,
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opinion: Option<String>,
    pub at: String,
}

/// A dispensing as recorded (P7): by which pharmacy and pharmacist, what was handed out, and
/// the packs handed back since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispensingRecord {
    pub fixmedins_code: String,
    pub phar_code: String,
    #[serde(flatten)]
    pub dispensing: Dispensing,
    pub at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returns: Vec<ReturnRecord>,
}

impl DispensingRecord {
    /// Every line handed back so far.
    pub fn returned(&self) -> Vec<ReturnedLine> {
        self.returns.iter().flat_map(|r| r.lines.iter().cloned()).collect()
    }

    /// What is kept of each line (code, quantity): what a settlement pays for.
    pub fn kept(&self) -> Vec<(String, rust_decimal::Decimal)> {
        rules::prescription::returns::kept(&self.dispensing, &self.returned())
    }
}

/// A return (退药) as recorded: by whom, when, why, and what each line took back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRecord {
    pub return_no: String,
    pub phar_code: String,
    pub reason: String,
    pub at: String,
    pub lines: Vec<ReturnedLine>,
}

/// One version of an uploaded prescription: the whole prescription and its stage as of that
/// step, and the trace entry that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxVersion {
    pub hi_rxno: String,
    pub rx_trace_code: String,
    pub prescription: Prescription,
    pub admdvs: String,
    pub kinds: Vec<LineKind>,
    pub drug_names: Vec<String>,
    pub pharmacy: Option<String>,
    pub uploaded_at: NaiveDateTime,
    pub vali_end_time: NaiveDateTime,
    #[serde(flatten)]
    pub stage: Stage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispensing: Option<DispensingRecord>,
    pub trace: TraceEntry,
}

/// The latest written version of a prescription.
pub type RxLatest = Latest<RxVersion>;

/// The center's prescription number for an institution's prescription: derived, so a retried
/// upload finds what its first attempt wrote.
pub fn hi_rxno(fixmedins_code: &str, hosp_rxno: &str) -> String {
    derived_id("RX", &[fixmedins_code, hosp_rxno])
}

/// The trace code a pre-check gives: a digest of the prescription (as JSON) and the day.
pub fn rx_trace_code(prescription_json: &str, day: NaiveDate) -> String {
    derived_id("TC", &[prescription_json, &day.to_string()])
}

/// Who a prescription is listed under, so their lists need no scan of all prescriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxIndex<'c> {
    Person(&'c str),
    Institution(&'c str),
    Physician(&'c str),
    Pharmacy(&'c str),
    /// The dispensings a pharmacy began on a day (`{fixmedins_code}:day:{YYYYMMDD}`), listed
    /// before each claims its prescription, so that an agency finds one left unfinished.
    Dispensing(&'c str),
}

impl<'c> RxIndex<'c> {
    /// The index's kind and whose it is, as its keys name them.
    fn kind_and_code(self) -> (&'static str, &'c str) {
        match self {
            RxIndex::Person(code) => ("person", code),
            RxIndex::Institution(code) => ("institution", code),
            RxIndex::Physician(code) => ("physician", code),
            RxIndex::Pharmacy(code) => ("pharmacy", code),
            RxIndex::Dispensing(code) => ("dispensing", code),
        }
    }
}

/// One record of an index log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub hi_rxno: String,
}

/// The owner of a traceability code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackOwner {
    pub hi_rxno: String,
    pub fixmedins_code: String,
    pub dispensing_no: String,
    /// The return (its number) that handed the pack back, or `released` when an agency released
    /// the unfinished dispensing that claimed it: it may then be dispensed again (the audit of
    /// where it went stays in this slot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<String>,
}

/// A traceability code another dispensing owns (or whose owner is unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackTaken {
    pub drug_trac_codg: String,
    pub owner: Option<PackOwner>,
}

/// One dispensing of a drug in a pharmacy's medication record for a person (E6), or one return
/// of it (`dispensing_no` the return's number, `drug_cnt` negative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicationEntry {
    pub med_list_codg: String,
    pub drug_name: String,
    pub hi_rxno: String,
    pub dispensing_no: String,
    pub drug_cnt: rust_decimal::Decimal,
    pub dispensed_on: NaiveDate,
}

/// A region's prescription policy from a date on.
pub type PolicyVersion = crate::dated::Dated<RegionPolicy>;

pub struct Prescriptions<'a, K> {
    kv: &'a K,
}

/// How many of a prescription's versions a read-ahead fetches with its head ([`latest_keys`]):
/// those of its ordinary life (uploaded, approved, being dispensed, dispensed). A prescription
/// that went back and forth costs one read more.
const VERSIONS_READ_AHEAD: i64 = 4;

/// What [`Prescriptions::latest`] reads, to read ahead (issue 19, `ReadAhead`): the head and
/// the first versions.
pub fn latest_keys(hi_rxno: &str) -> Vec<String> {
    crate::versions::latest_keys(keys::rx_version_counter(hi_rxno), |n| keys::rx_version(hi_rxno, n), VERSIONS_READ_AHEAD)
}

impl<'a, K: KeyValue> Prescriptions<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Self { kv }
    }

    pub async fn prechecked(&self, rx_trace_code: &str) -> StoreResult<Option<PreChecked>> {
        self.kv.get_json(&keys::rx_prechecked(rx_trace_code)).await
    }

    pub async fn save_prechecked(&self, prechecked: &PreChecked) -> StoreResult<()> {
        self.kv.set_json(&keys::rx_prechecked(&prechecked.rx_trace_code), prechecked).await
    }

    /// A prescription's versions.
    pub fn versions(&self, hi_rxno: &str) -> Versions<'a, K> {
        Versions::new(self.kv, hi_rxno, keys::rx_version_counter(hi_rxno), keys::rx_version)
    }

    /// The latest written version: two reads.
    pub async fn latest(&self, hi_rxno: &str) -> StoreResult<Option<RxLatest>> {
        self.versions(hi_rxno).latest().await
    }

    /// Claims the version after the one `seen` read for a step; refused when another step
    /// claimed it first.
    pub async fn claim(&self, hi_rxno: &str, seen: Seen, now: i64) -> StoreResult<Result<Claim, Raced>> {
        self.versions(hi_rxno).claim(seen, now).await
    }

    pub async fn write(&self, claim: Claim, record: &RxVersion) -> StoreResult<()> {
        self.versions(&record.hi_rxno).write(claim, record).await
    }

    /// The log of prescriptions of a person, an institution or a pharmacy.
    pub fn index(&self, index: RxIndex<'_>) -> Log<'a, K> {
        let (kind, code) = index.kind_and_code();
        Log::new(self.kv, keys::rx_index(kind, code))
    }

    /// Lists `hi_rxno` in each of `indexes` unless it already is (a retried step), in a bounded
    /// number of operations; a log may name it twice after a crash, which its readers skip. All
    /// at once ([`crate::log::append_once_each`]).
    pub async fn ensure_listed(&self, indexes: &[RxIndex<'_>], hi_rxno: &str) -> StoreResult<()> {
        let appends: Vec<_> = indexes
            .iter()
            .map(|&index| {
                let (kind, code) = index.kind_and_code();
                (self.index(index), keys::rx_listed(hi_rxno, kind, code), Listed { hi_rxno: hi_rxno.to_string() })
            })
            .collect();
        crate::log::append_once_each(self.kv, &appends).await
    }

    /// Appends the medication record's entry for one dispensed line unless it already is.
    pub async fn record_medication(&self, pharmacy: &str, psn_no: &str, entry: &MedicationEntry) -> StoreResult<()> {
        let marker = keys::rx_medication_recorded(&entry.hi_rxno, &entry.med_list_codg);
        self.medication_record(pharmacy, psn_no).append_once(&marker, entry).await
    }

    /// The owners of a traceability code, one at a time.
    fn pack_owners(&self, code: &str) -> Slots<'a, K> {
        let code = code.to_string();
        Slots::new(self.kv, keys::rx_trace_code_owners(&code), move |n| keys::rx_trace_code_owner(&code, n))
    }

    /// Claims every code for `owner`, in order; stops at the first code owned by another
    /// dispensing (or claimed by one not yet named, until its lease ran out) and returns it. A
    /// retry of the same dispensing finds its own codes and goes on. Four operations per new
    /// code, two per retried one.
    pub async fn claim_packs<'c>(&self, codes: impl IntoIterator<Item = &'c str>, owner: &PackOwner, now: i64) -> StoreResult<Result<(), PackTaken>> {
        for code in codes {
            let owners = self.pack_owners(code);
            let (seen, known) = owners.newest::<PackOwner>().await?;
            let taken_by = match known {
                Some(known) if known == *owner => continue,
                Some(other) if other.returned.is_none() => Some(other),
                // never owned, or handed back: the next owner slot
                _ => match owners.claim(seen, now).await? {
                    Ok(claim) => {
                        owners.write(claim, owner).await?;
                        continue;
                    }
                    // claimed at the same time (or by a dispensing that died, within its
                    // lease): by this dispensing's own retry, or by another
                    Err(Raced) => match owners.newest::<PackOwner>().await?.1 {
                        Some(found) if found == *owner => continue,
                        found => found,
                    },
                },
            };
            return Ok(Err(PackTaken { drug_trac_codg: code.to_string(), owner: taken_by }));
        }
        Ok(Ok(()))
    }

    /// Who owns a traceability code, if anyone (a pack handed back is owned by no one).
    pub async fn pack_owner(&self, code: &str) -> StoreResult<Option<PackOwner>> {
        Ok(self.pack_last_owner(code).await?.filter(|owner| owner.returned.is_none()))
    }

    /// Who took a traceability code last, owning it still or having handed it back. Two reads.
    pub async fn pack_last_owner(&self, code: &str) -> StoreResult<Option<PackOwner>> {
        Ok(self.pack_owners(code).newest::<PackOwner>().await?.1)
    }

    /// Marks pack `code` as handed back by return `return_no` of its owner `hi_rxno`, unless it
    /// already is (a retried return). Two reads, one write.
    pub async fn mark_returned(&self, code: &str, hi_rxno: &str, return_no: &str) -> StoreResult<()> {
        let owners = self.pack_owners(code);
        let (seen, owner) = owners.newest::<PackOwner>().await?;
        if let Some(owner) = owner.filter(|o| o.hi_rxno == hi_rxno && o.returned.is_none()) {
            owners.rewrite(seen.written, &PackOwner { returned: Some(return_no.to_string()), ..owner }).await?;
        }
        Ok(())
    }

    /// Appends a return's entry for one line to the medication record unless it already is.
    pub async fn record_return(&self, pharmacy: &str, psn_no: &str, return_no: &str, entry: &MedicationEntry) -> StoreResult<()> {
        let marker = keys::rx_medication_return_recorded(&entry.hi_rxno, return_no, &entry.med_list_codg);
        self.medication_record(pharmacy, psn_no).append_once(&marker, entry).await
    }

    /// A pharmacy's medication record for a person (E6).
    pub fn medication_record(&self, pharmacy: &str, psn_no: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::rx_medication_record(pharmacy, psn_no))
    }

    /// The log of a region's prescription policies.
    pub fn region_policy(&self, admdvs: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::rx_region_policy(admdvs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;
    use rules::fixtures::date;

    const NOW: i64 = 1_750_000_000;

    fn owner(dispensing_no: &str) -> PackOwner {
        PackOwner { hi_rxno: "RX1".into(), fixmedins_code: "Y1".into(), dispensing_no: dispensing_no.into(), returned: None }
    }

    #[test]
    fn ids_are_derived_from_what_names_the_record() {
        assert_eq!(hi_rxno("H1", "R-1"), hi_rxno("H1", "R-1"));
        assert_ne!(hi_rxno("H1", "R-1"), hi_rxno("H2", "R-1"));
        // the separator keeps ("H1", "2R") and ("H12", "R") apart
        assert_ne!(hi_rxno("H1", "2R"), hi_rxno("H12", "R"));
        assert!(rules::role::is_code(&hi_rxno("H1", "R-1")));
        assert_ne!(rx_trace_code("{}", date(2025, 3, 1)), rx_trace_code("{}", date(2025, 3, 2)));
    }

    #[test]
    fn a_pack_belongs_to_the_first_dispensing_and_its_retries() {
        // rule P7: a traceability code is never used for another dispensing
        let kv = MemoryKv::new();
        let rx = Prescriptions::new(&kv);
        let codes = ["11111111111111111111", "22222222222222222222"];
        block_on(async {
            assert_eq!(rx.claim_packs(codes, &owner("D-1"), NOW).await.unwrap(), Ok(()));
            // the same dispensing retried: its own codes
            assert_eq!(rx.claim_packs(codes, &owner("D-1"), NOW).await.unwrap(), Ok(()));
            let taken = rx.claim_packs(["33333333333333333333", codes[1]], &owner("D-2"), NOW).await.unwrap().unwrap_err();
            assert_eq!(taken.drug_trac_codg, codes[1]);
            assert_eq!(taken.owner, Some(owner("D-1")));
            // a claim taken by an instance that died before naming itself: refused to all while
            // its lease runs (the first refusal starts it), then taken over
            let orphan = "44444444444444444444";
            kv.increment(&keys::slot_claims(&keys::rx_trace_code_owner(orphan, 1)), 1).await.unwrap();
            assert_eq!(rx.claim_packs([orphan], &owner("D-1"), NOW).await.unwrap().unwrap_err().owner, None);
            assert!(rx.claim_packs([orphan], &owner("D-1"), NOW + crate::versions::LEASE_SECONDS - 1).await.unwrap().is_err());
            assert_eq!(rx.claim_packs([orphan], &owner("D-1"), NOW + crate::versions::LEASE_SECONDS).await.unwrap(), Ok(()));
            assert_eq!(rx.pack_owner(orphan).await.unwrap(), Some(owner("D-1")));
        });
    }
}
