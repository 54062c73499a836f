//! Eligibility filings and the outpatient mechanism's registrations in the store (rules
//! E2–E7, I4, S4), without compare-and-swap; the two schemes share everything but their keys:
//!
//! - A person holds at most one filing per drug at a time. The filings of a person and drug are
//!   numbered by *generation*, claimable slots (see [`crate::versions`]); the filing of
//!   generation `g` has an id computed from person, drug and `g`, so an application retried
//!   after a failure lands on the same id. Of racing applications one claims the generation,
//!   the others take nothing and are refused.
//! - A filing's versions are numbered snapshots (see [`crate::versions`]): an action claims the
//!   next version, then writes the whole filing with its audit entry once.
//! - The institution's, pharmacy's and person's filings are logs of ids (see [`crate::log`]),
//!   appended after the version is written.

use crate::log::Log;
use crate::versions::{Slots, Versions};
pub use crate::versions::{Claim, Raced, Seen};
use crate::{KeyValue, StoreResult, keys};
use chrono::NaiveDate;
use rules::filing::{Actor, Application, Filing, FilingState, Scheme};
use serde::{Deserialize, Serialize};

/// One entry of a filing's audit trail: who did what, when and why (written with the version it
/// produced, never rewritten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// `apply`, or the action's name.
    pub action: String,
    pub actor: Actor,
    /// The acting principal's code (`psn_no`, `dr_code`, `fixmedins_code`, agency region).
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One version of a filing: the whole filing as of that version, and the entry that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilingVersion {
    pub id: String,
    pub generation: i64,
    /// The region of the fixed institution: its lists decide coverage (C2).
    pub admdvs: String,
    pub drug_name: String,
    pub applied_on: NaiveDate,
    pub application: Application,
    #[serde(flatten)]
    pub filing: Filing,
    /// The physician's attestation that the restriction (C9) is met, recorded at recommendation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    pub audit: AuditEntry,
}

/// How far below the head of a person's generations for a drug a reader looks for a filing: it
/// steps back over generations without one, one while an application is being written (or
/// after it died before its filing), a few in stores written before slot claims.
const GENERATIONS_TOLERATED: usize = 9;

/// The id of a person's filing (`FL…`) or registration (`RG…`) for a drug in a generation:
/// derived, so a retried application finds the filing its first attempt wrote.
pub fn filing_id(scheme: Scheme, psn_no: &str, code: &str, generation: i64) -> String {
    match scheme {
        Scheme::SeparatePayment => crate::derived_id("FL", &[psn_no, code, &generation.to_string()]),
        Scheme::OutpatientMechanism => crate::derived_id("RG", &[psn_no, code, &generation.to_string(), "registration"]),
    }
}

/// How many of a filing's versions a read-ahead fetches with its heads ([`current_keys`]): its
/// application, recommendation and approval, and one change after them (a reassessment, a new
/// pharmacy). A filing changed more often costs one read more.
const VERSIONS_READ_AHEAD: i64 = 4;

/// What [`Filings::current`] reads, to read ahead (issue 19, `ReadAhead`): the generation head
/// and, assuming the person's first filing for the drug is the newest (a new generation is a
/// retry after a refusal or a renewal), its version head and first versions. Where it is not,
/// the reads after the generation go one by one, as they would have.
pub fn current_keys(scheme: Scheme, psn_no: &str, code: &str) -> Vec<String> {
    let first = filing_id(scheme, psn_no, code, 1);
    let mut read = vec![keys::filing_generation(psn_no, scheme_segment(scheme), code)];
    read.extend(crate::versions::latest_keys(keys::filing_version_counter(&first), |n| keys::filing_version(&first, n), VERSIONS_READ_AHEAD));
    read
}

/// The key segment of a scheme's generations (`keys::filing_generation`).
fn scheme_segment(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::SeparatePayment => "drug",
        Scheme::OutpatientMechanism => "registration",
    }
}

/// The latest written version of a filing.
pub type Latest = crate::versions::Latest<FilingVersion>;

/// A scheme's filings: a person's are looked up by drug in its own generations; everything
/// keyed by a filing's id works for either scheme.
pub struct Filings<'a, K> {
    kv: &'a K,
    scheme: Scheme,
}

impl<'a, K: KeyValue> Filings<'a, K> {
    /// Eligibility filings (and any filing by its id).
    pub fn new(kv: &'a K) -> Self {
        Self::of(kv, Scheme::SeparatePayment)
    }

    /// The filings of `scheme`.
    pub fn of(kv: &'a K, scheme: Scheme) -> Self {
        Self { kv, scheme }
    }

    /// The id of the person's filing for a drug in generation `generation`, in this scheme.
    pub fn id(&self, psn_no: &str, code: &str, generation: i64) -> String {
        filing_id(self.scheme, psn_no, code, generation)
    }

    /// The generations of a person's filings for a drug.
    fn generations(&self, psn_no: &str, code: &str) -> Slots<'a, K> {
        let (psn_no, code, scheme) = (psn_no.to_string(), code.to_string(), scheme_segment(self.scheme));
        Slots::new(self.kv, keys::filing_generation(&psn_no, scheme, &code), move |g| keys::filing_generation_slot(&psn_no, scheme, &code, g))
    }

    /// Claims the generation after `seen.written` for a new application and names its filing
    /// in the slot (so that a claim left unnamed by a dead request is taken over after the
    /// lease), unless another application claimed it first.
    pub async fn claim_generation(&self, psn_no: &str, code: &str, seen: Seen, now: i64) -> StoreResult<Result<i64, Raced>> {
        let generations = self.generations(psn_no, code);
        let Ok(claim) = generations.claim(seen, now).await? else { return Ok(Err(Raced)) };
        generations.write(claim, &self.id(psn_no, code, claim.slot)).await?;
        Ok(Ok(claim.slot))
    }

    /// The person's newest filing for a drug that has a version, and the generations seen: the
    /// head is above `written` while an application is being written (or died doing so).
    /// Three reads (generation, version counter, version); one when the person never applied.
    pub async fn current_generation(&self, psn_no: &str, code: &str) -> StoreResult<(Seen, Option<Latest>)> {
        let head = self.generations(psn_no, code).head().await?;
        for generation in (1..=head).rev().take(GENERATIONS_TOLERATED) {
            if let Some(latest) = self.latest(&self.id(psn_no, code, generation)).await? {
                return Ok((Seen { head, written: generation }, Some(latest)));
            }
        }
        Ok((Seen { head, written: 0 }, None))
    }

    /// The person's registration for a drug that stands (S4): the newest generation's, unless
    /// that one is a registration at another institution not (or never) approved, a change of
    /// institution under way or refused: then the one it would have superseded. Three reads,
    /// three more per such generation (bounded as [`Self::current_generation`]); never more
    /// for a person with more registrations of other drugs.
    pub async fn standing(&self, psn_no: &str, code: &str) -> StoreResult<Option<Latest>> {
        let (seen, newest) = self.current_generation(psn_no, code).await?;
        let Some(newest) = newest else { return Ok(None) };
        if !pending_or_refused(&newest.record.filing.state) {
            return Ok(Some(newest));
        }
        for generation in (1..seen.written).rev().take(GENERATIONS_TOLERATED) {
            let Some(earlier) = self.latest(&self.id(psn_no, code, generation)).await? else { continue };
            if !pending_or_refused(&earlier.record.filing.state) {
                return Ok(Some(earlier));
            }
        }
        Ok(Some(newest))
    }

    /// The person's current filing for a drug: the latest version of the newest generation.
    pub async fn current(&self, psn_no: &str, code: &str) -> StoreResult<Option<Latest>> {
        Ok(self.current_generation(psn_no, code).await?.1)
    }

    /// A filing's versions.
    pub fn versions(&self, id: &str) -> Versions<'a, K> {
        Versions::new(self.kv, id, keys::filing_version_counter(id), keys::filing_version)
    }

    /// The latest written version of a filing: two reads when the newest number was written.
    pub async fn latest(&self, id: &str) -> StoreResult<Option<Latest>> {
        self.versions(id).latest().await
    }

    /// Claims the version after the one `seen` read for an action; refused when another
    /// action claimed it first.
    pub async fn claim_version(&self, id: &str, seen: Seen, now: i64) -> StoreResult<Result<Claim, Raced>> {
        self.versions(id).claim(seen, now).await
    }

    /// Writes a version under the number claimed for it (once: a number is never reused).
    pub async fn write(&self, claim: Claim, record: &FilingVersion) -> StoreResult<()> {
        self.versions(&record.id).write(claim, record).await
    }

    /// Every written version, oldest first: the audit trail and the versioned updates (E5).
    /// One read per version.
    pub async fn history(&self, id: &str) -> StoreResult<Vec<FilingVersion>> {
        self.versions(id).history().await
    }

    /// Lists filing `id` in each of `indexes` for its version `version` unless that version
    /// already did (a retried application or approval); a crash between append and marker can
    /// list it twice, which readers show once. All at once ([`crate::log::append_once_each`]).
    pub async fn ensure_listed(&self, indexes: &[FilingIndex<'_>], id: &str, version: i64) -> StoreResult<()> {
        let appends: Vec<_> = indexes
            .iter()
            .map(|&index| (self.index(index), keys::filing_listed(id, index.kind(), index.code(), version), Listed { id: id.to_string() }))
            .collect();
        crate::log::append_once_each(self.kv, &appends).await
    }

    /// The log of the ids of filings at an institution, a pharmacy or of a person.
    pub fn index(&self, index: FilingIndex<'_>) -> Log<'a, K> {
        Log::new(self.kv, keys::filing_index(index.kind(), index.code()))
    }
}

/// A filing that never took effect (yet): applied for, refused or withdrawn.
fn pending_or_refused(state: &FilingState) -> bool {
    matches!(state, FilingState::AwaitingPhysician | FilingState::AwaitingOffice | FilingState::Refused { .. } | FilingState::Withdrawn)
}

/// Who a filing is listed under, so their lists need no scan of all filings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilingIndex<'c> {
    Institution(&'c str),
    Pharmacy(&'c str),
    Person(&'c str),
}

impl FilingIndex<'_> {
    fn kind(&self) -> &'static str {
        match self {
            FilingIndex::Institution(_) => "institution",
            FilingIndex::Pharmacy(_) => "pharmacy",
            FilingIndex::Person(_) => "person",
        }
    }

    fn code(&self) -> &str {
        match self {
            FilingIndex::Institution(code) | FilingIndex::Pharmacy(code) | FilingIndex::Person(code) => code,
        }
    }
}

/// One record of an index log: the filing's id (its state is read from the filing itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;
    use rules::fixtures::date;

    const NOW: i64 = 1_750_000_000;

    fn record(id: &str, filing: Filing, action: &str) -> FilingVersion {
        FilingVersion {
            id: id.into(),
            generation: 1,
            admdvs: "420100".into(),
            drug_name: "甲药".into(),
            applied_on: date(2025, 3, 1),
            application: rules::fixtures::application(),
            filing,
            attestation: None,
            audit: AuditEntry { action: action.into(), actor: Actor::Patient, by: "P1".into(), at: String::new(), reason: None },
        }
    }

    #[test]
    fn ids_are_derived_so_a_retried_application_finds_its_filing() {
        assert_eq!(filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 1), filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 1));
        assert_ne!(filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 1), filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 2));
        assert_ne!(filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 1), filing_id(Scheme::SeparatePayment, "P2", "nrdl-1", 1));
        assert!(rules::role::is_code(&filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 1)));
    }

    #[test]
    fn racing_applications_and_actions_get_one_winner() {
        let kv = MemoryKv::new();
        let filings = Filings::new(&kv);
        block_on(async {
            let (seen, none) = filings.current_generation("P1", "nrdl-1").await.unwrap();
            assert_eq!((seen, none), (Seen { head: 0, written: 0 }, None));
            assert_eq!(filings.claim_generation("P1", "nrdl-1", seen, NOW).await.unwrap(), Ok(1));
            assert_eq!(filings.claim_generation("P1", "nrdl-1", seen, NOW).await.unwrap(), Err(Raced));

            let id = filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 1);
            let empty = filings.versions(&id).seen_empty().await.unwrap();
            let first = filings.claim_version(&id, empty, NOW).await.unwrap().unwrap();
            assert_eq!(first.slot, 1);
            filings.write(first, &record(&id, Filing::apply(Scheme::SeparatePayment), "apply")).await.unwrap();
            let (seen, current) = filings.current_generation("P1", "nrdl-1").await.unwrap();
            assert_eq!(seen, Seen { head: 1, written: 1 });
            let latest = current.unwrap();
            assert_eq!(latest.seen, Seen { head: 1, written: 1 });
            // two actions read version 1; the second to claim loses
            assert_eq!(filings.claim_version(&id, latest.seen, NOW).await.unwrap().map(|c| c.slot), Ok(2));
            assert_eq!(filings.claim_version(&id, latest.seen, NOW).await.unwrap().map(|c| c.slot), Err(Raced));
        });
    }

    #[test]
    fn a_generation_claimed_but_not_yet_written_leaves_the_previous_filing_current() {
        let kv = MemoryKv::new();
        let filings = Filings::new(&kv);
        block_on(async {
            let (seen, _) = filings.current_generation("P1", "nrdl-1").await.unwrap();
            assert_eq!(filings.claim_generation("P1", "nrdl-1", seen, NOW).await.unwrap(), Ok(1));
            let id = filing_id(Scheme::SeparatePayment, "P1", "nrdl-1", 1);
            let empty = filings.versions(&id).seen_empty().await.unwrap();
            let first = filings.claim_version(&id, empty, NOW).await.unwrap().unwrap();
            filings.write(first, &record(&id, Filing::apply(Scheme::SeparatePayment), "apply")).await.unwrap();
            let (seen, _) = filings.current_generation("P1", "nrdl-1").await.unwrap();
            assert_eq!(filings.claim_generation("P1", "nrdl-1", seen, NOW).await.unwrap(), Ok(2));
            // generation 2 is claimed, its filing not yet written: generation 1 is still current
            let (seen, current) = filings.current_generation("P1", "nrdl-1").await.unwrap();
            assert_eq!(seen, Seen { head: 2, written: 1 });
            assert_eq!(current.unwrap().record.id, id);
        });
    }

    #[test]
    fn a_registration_stands_until_the_one_that_supersedes_it_is_approved() {
        use rules::filing::{Action, Actor, FilingState};
        let kv = MemoryKv::new();
        let registrations = Filings::of(&kv, Scheme::OutpatientMechanism);
        let on = date(2025, 3, 1);
        let recommended = Filing::apply(Scheme::OutpatientMechanism).act(Actor::Physician, &Action::Recommend, on).unwrap();
        let approved = recommended.act(Actor::HospitalOffice, &Action::Approve { pharmacy: None }, on).unwrap();
        block_on(async {
            // writes generation `generation` with `filing` as its only version
            let put = |generation: i64, filing: Filing| {
                let registrations = &registrations;
                async move {
                    let (seen, _) = registrations.current_generation("P1", "nrdl-1").await.unwrap();
                    if seen.head < generation {
                        assert_eq!(registrations.claim_generation("P1", "nrdl-1", seen, NOW).await.unwrap(), Ok(generation));
                    }
                    let id = registrations.id("P1", "nrdl-1", generation);
                    let seen = registrations.latest(&id).await.unwrap().map_or(Seen { head: 0, written: 0 }, |l| l.seen);
                    let claim = registrations.claim_version(&id, seen, NOW).await.unwrap().unwrap();
                    registrations.write(claim, &record(&id, filing, "act")).await.unwrap();
                    id
                }
            };
            assert!(registrations.standing("P1", "nrdl-1").await.unwrap().is_none());
            let first = put(1, approved.clone()).await;
            // a change of institution applied for, then refused: the first registration stands
            let second = put(2, Filing::apply(Scheme::OutpatientMechanism)).await;
            assert_eq!(registrations.standing("P1", "nrdl-1").await.unwrap().unwrap().record.id, first);
            put(2, Filing { state: FilingState::Refused { by: Actor::Physician, reason: "r".into() }, ..recommended.clone() }).await;
            assert_eq!(registrations.standing("P1", "nrdl-1").await.unwrap().unwrap().record.id, first);
            // another, approved: it stands
            let third = put(3, approved.clone()).await;
            assert_eq!(registrations.standing("P1", "nrdl-1").await.unwrap().unwrap().record.id, third);
            assert_ne!((first.as_str(), &second[..2]), (third.as_str(), "FL"));
            // the schemes are apart: the person has no filing for the drug
            assert!(Filings::new(&kv).current("P1", "nrdl-1").await.unwrap().is_none());
        });
    }
}
