//! Smart-monitoring alerts (rule M3) and what the checks read: each region's thresholds, and
//! where a person last had a drug dispensed, per pharmacy.
//!
//! An alert's id is derived from its kind and subject (`rules::monitoring::Finding`), so the
//! same irregularity seen again (a retried request, a second evaluation) is the same alert: it
//! is raised once. It is listed in its region's log first and written second, so a crash
//! between the two leaves a listed id without a record (readers skip it, the retry writes it),
//! never an alert nobody can find. Its versions are its audit trail: raised, assigned, noted,
//! closed, each with who and when.

use crate::dated::Dated;
use crate::log::{Log, LogCache};
use crate::versions::{Claim, Latest, Raced, Seen, Versions};
use crate::{KeyValue, StoreResult, keys};
use chrono::NaiveDate;
use rules::monitoring::{AlertKind, Finding, Thresholds};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A region's thresholds from a date on.
pub type ThresholdsVersion = Dated<Thresholds>;

/// The thresholds region `admdvs` has in force on `date`, its defaults when it published none.
/// One read when the instance's copy of the log is current.
pub async fn thresholds_in_force<K: KeyValue>(cache: &LogCache<ThresholdsVersion>, kv: &K, admdvs: &str, date: NaiveDate) -> StoreResult<Thresholds> {
    let alerts = Alerts::new(kv);
    Ok(crate::dated::in_force_for(cache, admdvs, date, |level| alerts.region_thresholds(level)).await?.map(|(_, v)| v.policy).unwrap_or_default())
}

/// A record an alert concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    /// `prescription`, `settlement`, `pack`, `pharmacy`, `person`, `physician`, `institution`.
    pub kind: String,
    pub id: String,
}

impl RecordRef {
    pub fn new(kind: &str, id: &str) -> Self {
        RecordRef { kind: kind.to_string(), id: id.to_string() }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Assigned,
    Closed,
}

/// What one version of an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    Raised,
    Assigned,
    Noted,
    Closed,
}

/// One step of an alert's audit trail: what was done, by whom, when, with what words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertStep {
    pub action: AlertAction,
    pub by: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An alert as of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub alert_id: String,
    pub kind: AlertKind,
    /// The rules it touches, M3 first.
    pub rules: Vec<String>,
    /// The region whose agency handles it.
    pub admdvs: String,
    pub summary: String,
    pub records: Vec<RecordRef>,
    pub raised_at: String,
    pub status: AlertStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// This version's step.
    pub step: AlertStep,
}

pub type AlertLatest = Latest<AlertRecord>;

/// The id of the alert for `finding`: the same irregularity is the same alert.
pub fn alert_id(finding: &Finding) -> String {
    crate::derived_id("AL", &[finding.kind.as_str(), &finding.subject])
}

/// Where a person last had a drug dispensed, per pharmacy: what the pharmacy-hopping check
/// reads (one record, so the check costs the same however long the person's history).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonPharmacies {
    /// By pharmacy: the day of its last dispensing of the drug to the person, and the prescription.
    pub last: BTreeMap<String, (NaiveDate, String)>,
}

impl PersonPharmacies {
    /// How long a pharmacy is remembered: longer than any window a region may set.
    const KEPT_DAYS: u64 = 366;

    /// With a dispensing of `hi_rxno` at `pharmacy` on `day`; pharmacies not seen for a year
    /// are forgotten. `None` when it adds nothing (a retry, or an older dispensing).
    pub fn with(&self, pharmacy: &str, day: NaiveDate, hi_rxno: &str) -> Option<PersonPharmacies> {
        if self.last.get(pharmacy).is_some_and(|(seen, _)| *seen >= day) {
            return None;
        }
        let mut next = self.clone();
        next.last.insert(pharmacy.to_string(), (day, hi_rxno.to_string()));
        let forget_before = day - chrono::Days::new(Self::KEPT_DAYS);
        next.last.retain(|_, (seen, _)| *seen >= forget_before);
        Some(next)
    }

    /// (pharmacy, day) of each, as `rules::monitoring::pharmacy_hopping` takes them.
    pub fn dispensings(&self) -> Vec<(String, NaiveDate)> {
        self.last.iter().map(|(pharmacy, (day, _))| (pharmacy.clone(), *day)).collect()
    }
}

pub struct Alerts<'a, K> {
    kv: &'a K,
}

impl<'a, K: KeyValue> Alerts<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Alerts { kv }
    }

    fn versions(&self, alert_id: &str) -> Versions<'a, K> {
        Versions::new(self.kv, alert_id, keys::monitor_alert_version_counter(alert_id), keys::monitor_alert_version)
    }

    /// The log of region `admdvs`'s alert ids, oldest first (a repeat possible: readers show
    /// each once).
    pub fn region_alerts(&self, admdvs: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::monitor_region_alerts(admdvs))
    }

    /// The log of region `admdvs`'s thresholds.
    pub fn region_thresholds(&self, admdvs: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::monitor_region_thresholds(admdvs))
    }

    /// Raises the alert for `finding` in region `admdvs` unless it already is: listed (one
    /// read when it already is), then its first version (one read and, new, three writes).
    /// Returns its id.
    pub async fn raise(&self, admdvs: &str, finding: &Finding, records: Vec<RecordRef>, by: &str, at: &str, now: i64) -> StoreResult<String> {
        let alert_id = alert_id(finding);
        self.region_alerts(admdvs).append_once(&keys::monitor_alert_listed(&alert_id), &alert_id).await?;
        let versions = self.versions(&alert_id);
        let first = versions.seen_empty().await?;
        if first.head > 0 {
            return Ok(alert_id);
        }
        let record = AlertRecord {
            alert_id: alert_id.clone(),
            kind: finding.kind,
            rules: finding.kind.rules().iter().map(|r| r.to_string()).collect(),
            admdvs: admdvs.to_string(),
            summary: finding.summary.clone(),
            records,
            raised_at: at.to_string(),
            status: AlertStatus::Open,
            assignee: None,
            step: AlertStep { action: AlertAction::Raised, by: by.to_string(), at: at.to_string(), note: None },
        };
        // a check run twice at once: one raises it, the other finds it raised
        if let Ok(claim) = versions.claim(first, now).await? {
            versions.write(claim, &record).await?;
        }
        Ok(alert_id)
    }

    /// The alert as it stands: two reads.
    pub async fn latest(&self, alert_id: &str) -> StoreResult<Option<AlertLatest>> {
        self.versions(alert_id).latest().await
    }

    /// Every version, oldest first: the audit trail.
    pub async fn history(&self, alert_id: &str) -> StoreResult<Vec<AlertRecord>> {
        self.versions(alert_id).history().await
    }

    /// Claims the version after `seen` for a step; refused when another step claimed it.
    pub async fn claim(&self, alert_id: &str, seen: Seen, now: i64) -> StoreResult<Result<Claim, Raced>> {
        self.versions(alert_id).claim(seen, now).await
    }

    pub async fn write(&self, claim: Claim, record: &AlertRecord) -> StoreResult<()> {
        self.versions(&record.alert_id).write(claim, record).await
    }

    fn person_versions(&self, psn_no: &str, med_list_codg: &str) -> Versions<'a, K> {
        let id = keys::monitor_person_drug_pharmacies(psn_no, med_list_codg);
        Versions::new(self.kv, &id, keys::monitor_person_drug_pharmacies_counter(&id), keys::monitor_person_drug_pharmacies_version)
    }

    /// Notes a dispensing of the drug to the person at `pharmacy` on `day` and returns where
    /// the person has had it: two reads, three writes when new (none for a retry). A racing
    /// dispensing of the same person and drug makes it read again; after a few rounds it gives
    /// up the note (the check then sees the pharmacies as they stood).
    pub async fn note_person_dispensing(&self, psn_no: &str, med_list_codg: &str, pharmacy: &str, day: NaiveDate, hi_rxno: &str, now: i64) -> StoreResult<PersonPharmacies> {
        let versions = self.person_versions(psn_no, med_list_codg);
        let mut current = PersonPharmacies::default();
        for _ in 0..4 {
            let (seen, found) = versions.current_or_default::<PersonPharmacies>().await?;
            let Some(next) = found.with(pharmacy, day, hi_rxno) else { return Ok(found) };
            current = next.clone();
            if versions.advance(seen, &next, now).await?.is_ok() {
                return Ok(next);
            }
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    #[test]
    fn a_person_s_pharmacies_keep_the_last_day_at_each_for_a_year() {
        let day = rules::fixtures::date;
        let at_p1 = PersonPharmacies::default().with("P1", day(2026, 1, 5), "RX1").expect("new");
        assert_eq!(at_p1.with("P1", day(2026, 1, 5), "RX1"), None, "a retry adds nothing");
        let both = at_p1.with("P2", day(2026, 6, 1), "RX2").expect("new");
        assert_eq!(both.dispensings(), [("P1".to_string(), day(2026, 1, 5)), ("P2".to_string(), day(2026, 6, 1))]);
        let later = both.with("P2", day(2027, 3, 1), "RX3").expect("new");
        assert_eq!(later.dispensings(), [("P2".to_string(), day(2027, 3, 1))], "P1 forgotten after a year");
    }

    #[test]
    fn the_same_finding_raises_one_alert_listed_once() {
        let kv = MemoryKv::new();
        let alerts = Alerts::new(&kv);
        let finding = rules::monitoring::late_dispensing(&Thresholds::default(), "RX1", rules::fixtures::date(2026, 12, 1), rules::fixtures::date(2026, 12, 9)).expect("fires");
        block_on(async {
            let first = alerts.raise("420100", &finding, vec![RecordRef::new("prescription", "RX1")], "system:prescription", "2026-12-09T10:00:00+08:00", 0).await.unwrap();
            let again = alerts.raise("420100", &finding, vec![], "system:prescription", "2026-12-09T11:00:00+08:00", 0).await.unwrap();
            assert_eq!(first, again);
            let latest = alerts.latest(&first).await.unwrap().unwrap();
            assert_eq!((latest.version(), latest.record.status, latest.record.raised_at.as_str()), (1, AlertStatus::Open, "2026-12-09T10:00:00+08:00"));
            assert_eq!(latest.record.rules, ["M3", "P8"]);
            let log = alerts.region_alerts("420100");
            let mut reader = crate::LogReader::<String>::default();
            reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
            assert_eq!(reader.records().count(), 1);
        });
    }
}
