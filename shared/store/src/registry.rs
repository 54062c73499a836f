//! The registry (rules I1–I4): one key per institution, pharmacy, physician, pharmacist and
//! insured person, and per city a log of its pharmacies from which the public list is read
//! without listing keys (the latest record of each pharmacy wins).
//!
//! A pharmacy PUT writes in this order, so that a crash at any point leaves a city's list at
//! worst *missing* a change, never showing one the record does not hold, and so that a retry
//! of the same PUT repairs it:
//! 1. when the pharmacy moves to another city, a "left" record in the old city's log: the old
//!    list stops showing it before the record says it moved;
//! 2. the pharmacy's record;
//! 3. its public record in its city's log. This is appended on *every* PUT, changed or not:
//!    after a crash between 2 and 3 the record already holds the change, so a retry has
//!    nothing to compare and must append anyway. A retry after a crash in 1 still finds the
//!    old city in the record and does all three again (a second "left" record is harmless).
//!
//! Two PUTs of one pharmacy racing each other may leave its record from one and its list entry
//! from the other (nothing orders them without compare-and-swap); the next PUT repairs that.

use crate::{KeyValue, Log, LogReader, StoreResult, keys};
use rules::registry::{Institution, Person, Pharmacist, Pharmacy, Physician, PublicPharmacy, city_of};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

/// A kind of registry record, and the key it is kept under.
pub trait Entity: Serialize + DeserializeOwned + PartialEq {
    fn key(code: &str) -> String;
}

impl Entity for Institution {
    fn key(fixmedins_code: &str) -> String {
        keys::registry_institution(fixmedins_code)
    }
}

impl Entity for Pharmacy {
    fn key(fixmedins_code: &str) -> String {
        keys::registry_pharmacy(fixmedins_code)
    }
}

impl Entity for Physician {
    fn key(dr_code: &str) -> String {
        keys::registry_physician(dr_code)
    }
}

impl Entity for Pharmacist {
    fn key(phar_code: &str) -> String {
        keys::registry_pharmacist(phar_code)
    }
}

impl Entity for Person {
    fn key(psn_no: &str) -> String {
        keys::registry_person(psn_no)
    }
}

/// A stored record: the entry, and when and by whom it last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record<T> {
    #[serde(flatten)]
    pub entry: T,
    /// RFC 3339 instant (China Standard Time) of the last change.
    pub updated_at: String,
    /// Who made it: an admin's operator id, or `agency:{admdvs}`.
    pub updated_by: String,
}

/// What saving a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Replaced,
    /// The stored entry was the same: nothing was written, not even the audit fields, so
    /// repeating a PUT returns the very same record.
    Unchanged,
}

impl<T: PartialEq> Record<T> {
    /// The record that saving `entry` over `existing` gives, and what kind of change it is.
    pub fn revise(existing: Option<Record<T>>, entry: T, updated_at: &str, updated_by: &str) -> (Record<T>, Change) {
        match existing {
            Some(existing) if existing.entry == entry => (existing, Change::Unchanged),
            existing => {
                let change = if existing.is_some() { Change::Replaced } else { Change::Created };
                (Record { entry, updated_at: updated_at.to_string(), updated_by: updated_by.to_string() }, change)
            }
        }
    }
}

/// What a city's pharmacy log holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CityEvent {
    /// The pharmacy is in this city, as it now is.
    Listed(PublicPharmacy),
    /// The pharmacy moved to another city.
    Left { fixmedins_code: String },
}

/// One event of a city's log of designated institutions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum InstitutionEvent {
    /// The institution is designated in this city.
    Listed { fixmedins_code: String },
    /// It moved to another city.
    Left { fixmedins_code: String },
}

/// Whether a party is an institution or a pharmacy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    Institution,
    Pharmacy,
}

impl PartyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Institution => "institution",
            PartyKind::Pharmacy => "pharmacy",
        }
    }
}

/// A registered party, as [`Registry::party`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub kind: PartyKind,
    pub name: String,
    pub admdvs: String,
}

/// The registry's records in the key-value store.
pub struct Registry<'a, K> {
    kv: &'a K,
}

impl<'a, K: KeyValue> Registry<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Self { kv }
    }

    /// A party that dispenses or settles (a pharmacy, else an institution) by its code: its
    /// kind, name and region. One read for a pharmacy, two for an institution.
    pub async fn party(&self, code: &str) -> StoreResult<Option<Party>> {
        if let Some(pharmacy) = self.get::<Pharmacy>(code).await? {
            return Ok(Some(Party { kind: PartyKind::Pharmacy, name: pharmacy.entry.name, admdvs: pharmacy.entry.admdvs }));
        }
        Ok(self.get::<Institution>(code).await?.map(|i| Party { kind: PartyKind::Institution, name: i.entry.name, admdvs: i.entry.admdvs }))
    }

    pub async fn get<T: Entity>(&self, code: &str) -> StoreResult<Option<Record<T>>> {
        self.kv.get_json(&T::key(code)).await
    }

    /// Whether a record is registered under `code`, without reading it.
    pub async fn exists<T: Entity>(&self, code: &str) -> StoreResult<bool> {
        self.kv.exists(&T::key(code)).await
    }

    /// Saves `entry` over `existing` (what [`Registry::get`] returned for `code`); writes
    /// nothing when the entry is unchanged. Not for pharmacies: see [`Registry::save_pharmacy`].
    pub async fn save<T: Entity>(
        &self,
        code: &str,
        existing: Option<Record<T>>,
        entry: T,
        updated_at: &str,
        updated_by: &str,
    ) -> StoreResult<(Record<T>, Change)> {
        let (record, change) = Record::revise(existing, entry, updated_at, updated_by);
        if change != Change::Unchanged {
            self.kv.set_json(&T::key(code), &record).await?;
        }
        Ok((record, change))
    }

    /// Saves a pharmacy and keeps the city lists in step, in the order the module describes.
    pub async fn save_pharmacy(
        &self,
        code: &str,
        existing: Option<Record<Pharmacy>>,
        entry: Pharmacy,
        updated_at: &str,
        updated_by: &str,
    ) -> StoreResult<(Record<Pharmacy>, Change)> {
        if let Some(old_city) = existing.as_ref().map(|r| city_of(&r.entry.admdvs)).filter(|old| *old != city_of(&entry.admdvs)) {
            let name = keys::registry_city_pharmacies(&old_city);
            Log::new(self.kv, &name).append(&CityEvent::Left { fixmedins_code: code.to_string() }).await?;
        }
        let (record, change) = self.save(code, existing, entry, updated_at, updated_by).await?;
        let name = keys::registry_city_pharmacies(&city_of(&record.entry.admdvs));
        Log::new(self.kv, &name).append(&CityEvent::Listed(record.entry.public_view(code))).await?;
        Ok((record, change))
    }
}

impl<K: KeyValue> Registry<'_, K> {
    /// Saves an institution and keeps its city's list in step (the landing rate's base, M1), in
    /// the order [`Registry::save_pharmacy`] keeps: a move is noted in the old city first, then
    /// the record, then the new city's list (a crash leaves the list behind; the PUT repeated
    /// lists it).
    pub async fn save_institution(
        &self,
        code: &str,
        existing: Option<Record<Institution>>,
        entry: Institution,
        updated_at: &str,
        updated_by: &str,
    ) -> StoreResult<(Record<Institution>, Change)> {
        if let Some(old_city) = existing.as_ref().map(|r| city_of(&r.entry.admdvs)).filter(|old| *old != city_of(&entry.admdvs)) {
            Log::new(self.kv, keys::registry_city_institutions(&old_city)).append(&InstitutionEvent::Left { fixmedins_code: code.to_string() }).await?;
        }
        let new_in_city = existing.as_ref().is_none_or(|r| city_of(&r.entry.admdvs) != city_of(&entry.admdvs));
        let (record, change) = self.save(code, existing, entry, updated_at, updated_by).await?;
        // listed once per arrival, and again when a PUT is repeated after a crash (the list is
        // folded by code, so a repeat is harmless)
        if new_in_city || change == Change::Unchanged {
            Log::new(self.kv, keys::registry_city_institutions(&city_of(&record.entry.admdvs))).append(&InstitutionEvent::Listed { fixmedins_code: code.to_string() }).await?;
        }
        Ok((record, change))
    }
}

/// A city's list as an instance keeps it: read from the city's log and refreshed when its
/// version moved ([`CityCache`]).
pub trait CityList: Clone + Default {
    /// The city's log.
    fn log_name(admdvs: &str) -> String;
    /// Reads what was appended since the last refresh.
    fn refresh<K: KeyValue>(&mut self, kv: &K, admdvs: &str, version: i64) -> impl std::future::Future<Output = StoreResult<()>>;
    /// Whether the log may hold records not read yet.
    fn is_stale(&self, version: i64) -> bool;
}

/// Every city's list of one kind as this instance last read them. Spin reuses an instance for
/// many requests and statics survive between them, so a city's list is validated on each
/// request by one read (its log's version) and only new log records are read when it moved.
/// Requests may run concurrently on one instance: the lock is held to look up or swap a city,
/// never across a store read. Cities with an empty log (version 0) are not kept, so asking
/// about arbitrary codes cannot grow the map.
pub struct CityCache<T> {
    cities: std::sync::Mutex<BTreeMap<String, std::sync::Arc<T>>>,
}

impl<T> Default for CityCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> CityCache<T> {
    pub const fn new() -> Self {
        Self { cities: std::sync::Mutex::new(BTreeMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, std::sync::Arc<T>>> {
        // every critical section is a single lookup or insert: a poisoned lock is consistent
        self.cities.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T: CityList> CityCache<T> {
    /// City `admdvs`'s list as of now.
    pub async fn city<K: KeyValue>(&self, kv: &K, admdvs: &str) -> StoreResult<std::sync::Arc<T>> {
        let version = Log::new(kv, T::log_name(admdvs)).version().await?;
        if version == 0 {
            return Ok(std::sync::Arc::default());
        }
        let cached = self.lock().get(admdvs).cloned();
        if let Some(city) = &cached
            && !city.is_stale(version)
        {
            return Ok(city.clone());
        }
        let mut city = cached.map(|c| (*c).clone()).unwrap_or_default();
        city.refresh(kv, admdvs, version).await?;
        let city = std::sync::Arc::new(city);
        // A request that read a later version may have published meanwhile; this older copy
        // then looks stale to the next request, which refreshes it: no update is lost.
        self.lock().insert(admdvs.to_string(), city.clone());
        Ok(city)
    }
}

/// One city's designated institutions as read from its log so far.
#[derive(Debug, Clone, Default)]
pub struct CityInstitutions {
    reader: LogReader<InstitutionEvent>,
    listed: std::collections::BTreeSet<String>,
}

impl CityInstitutions {
    /// The institutions designated in the city, in code order.
    pub fn institutions(&self) -> impl Iterator<Item = &str> {
        self.listed.iter().map(String::as_str)
    }
}

impl CityList for CityInstitutions {
    fn log_name(admdvs: &str) -> String {
        keys::registry_city_institutions(&city_of(admdvs))
    }

    async fn refresh<K: KeyValue>(&mut self, kv: &K, admdvs: &str, version: i64) -> StoreResult<()> {
        self.reader.refresh(&Log::new(kv, Self::log_name(admdvs)), version).await?;
        let mut listed = std::collections::BTreeSet::new();
        for (_, event) in self.reader.records() {
            match event {
                InstitutionEvent::Listed { fixmedins_code } => listed.insert(fixmedins_code.clone()),
                InstitutionEvent::Left { fixmedins_code } => listed.remove(fixmedins_code),
            };
        }
        self.listed = listed;
        Ok(())
    }

    fn is_stale(&self, version: i64) -> bool {
        self.reader.is_stale(version)
    }
}

impl CityList for CityPharmacies {
    fn log_name(admdvs: &str) -> String {
        keys::registry_city_pharmacies(&city_of(admdvs))
    }

    async fn refresh<K: KeyValue>(&mut self, kv: &K, admdvs: &str, version: i64) -> StoreResult<()> {
        CityPharmacies::refresh(self, kv, admdvs, version).await
    }

    fn is_stale(&self, version: i64) -> bool {
        CityPharmacies::is_stale(self, version)
    }
}

/// One city's pharmacies as read from its log so far: the latest record of each, by code.
#[derive(Debug, Clone, Default)]
pub struct CityPharmacies {
    reader: LogReader<CityEvent>,
    listed: BTreeMap<String, PublicPharmacy>,
}

impl CityPharmacies {
    /// The version of a city's log: 0 while nothing was ever listed there. One small read.
    pub async fn version<K: KeyValue>(kv: &K, admdvs: &str) -> StoreResult<i64> {
        Log::new(kv, keys::registry_city_pharmacies(&city_of(admdvs))).version().await
    }

    /// Whether the log may hold records not read yet (`version` from
    /// [`CityPharmacies::version`]).
    pub fn is_stale(&self, version: i64) -> bool {
        self.reader.is_stale(version)
    }

    /// Reads what was appended since the last refresh: one read for the log's head and one
    /// per new record.
    pub async fn refresh<K: KeyValue>(&mut self, kv: &K, admdvs: &str, version: i64) -> StoreResult<()> {
        let name = keys::registry_city_pharmacies(&city_of(admdvs));
        self.reader.refresh(&Log::new(kv, &name), version).await?;
        // Folded again from the start: a slot filled late (an append that was in flight) must
        // take its place in sequence order, not win because it was read last.
        let mut listed = BTreeMap::new();
        for (_, event) in self.reader.records() {
            match event {
                CityEvent::Listed(pharmacy) => {
                    listed.insert(pharmacy.fixmedins_code.clone(), pharmacy.clone());
                }
                CityEvent::Left { fixmedins_code } => {
                    listed.remove(fixmedins_code);
                }
            }
        }
        self.listed = listed;
        Ok(())
    }

    /// The pharmacies listed in the city, in `fixmedins_code` order (stable across requests).
    pub fn pharmacies(&self) -> impl Iterator<Item = &PublicPharmacy> + Clone {
        self.listed.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryKv, StoreError};
    use futures::executor::block_on;
    use rules::registry::{Capability, Level, Title};
    use std::cell::Cell;

    const AT: &str = "2025-03-01T09:00:00+08:00";

    fn pharmacy(name: &str, admdvs: &str) -> Pharmacy {
        Pharmacy {
            name: name.into(),
            admdvs: admdvs.into(),
            address: "解放大道1号".into(),
            phone: None,
            dual_channel: true,
            electronic_traceability: true,
            can_supply: true,
            compliant: true,
            linked_institutions: vec!["H1".into()],
            cross_region_settlement: false,
        }
    }

    fn listed<K: KeyValue>(kv: &K, admdvs: &str) -> Vec<(String, String)> {
        block_on(async {
            let mut city = CityPharmacies::default();
            city.refresh(kv, admdvs, CityPharmacies::version(kv, admdvs).await.unwrap()).await.unwrap();
            city.pharmacies().map(|p| (p.fixmedins_code.clone(), p.name.clone())).collect()
        })
    }

    fn put<K: KeyValue>(kv: &K, code: &str, entry: Pharmacy) -> StoreResult<Change> {
        block_on(async {
            let registry = Registry::new(kv);
            let existing = registry.get::<Pharmacy>(code).await?;
            Ok(registry.save_pharmacy(code, existing, entry, AT, "ops-1").await?.1)
        })
    }

    /// Fails every write to keys under a prefix: a crash at one step of a multi-key write.
    struct FailingKv {
        inner: MemoryKv,
        failing: Cell<Option<&'static str>>,
    }

    impl FailingKv {
        fn write(&self, key: &str) -> StoreResult<()> {
            match self.failing.get() {
                Some(prefix) if key.starts_with(prefix) => Err(StoreError::Unavailable("crashed".into())),
                _ => Ok(()),
            }
        }
    }

    impl KeyValue for FailingKv {
        async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
            self.write(key)?;
            self.inner.set(key, value).await
        }
        async fn delete(&self, key: &str) -> StoreResult<()> {
            self.write(key)?;
            self.inner.delete(key).await
        }
        async fn exists(&self, key: &str) -> StoreResult<bool> {
            self.inner.exists(key).await
        }
        async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
            if delta != 0 {
                self.write(key)?;
            }
            self.inner.increment(key, delta).await
        }
    }

    #[test]
    fn every_kind_of_record_round_trips_under_its_own_key() {
        let kv = MemoryKv::new();
        let registry = Registry::new(&kv);
        let institution = Institution {
            name: "协和医院".into(),
            admdvs: "420100".into(),
            level: Level::Third,
            capabilities: [Capability::Pathology].into_iter().collect(),
            key_specialties: vec!["肿瘤科".into()],
            cross_region_settlement: true,
            address: None,
        };
        let physician = Physician {
            name: "张医生".into(),
            fixmedins_code: "H1".into(),
            title: Title::AssociateChief,
            specialty: "肿瘤科".into(),
            responsible: true,
            active: true,
        };
        let pharmacist = Pharmacist { name: "李药师".into(), fixmedins_code: "P1".into(), active: false };
        block_on(async {
            let (saved, change) = registry.save("H1", None, institution.clone(), AT, "ops-1").await.unwrap();
            assert_eq!(change, Change::Created);
            assert_eq!(registry.get::<Institution>("H1").await.unwrap(), Some(saved));
            assert!(registry.exists::<Institution>("H1").await.unwrap());
            assert!(!registry.exists::<Pharmacy>("H1").await.unwrap(), "kinds do not share keys");
            registry.save("D1", None, physician.clone(), AT, "agency:420100").await.unwrap();
            registry.save("F1", None, pharmacist.clone(), AT, "ops-1").await.unwrap();
            let stored = registry.get::<Physician>("D1").await.unwrap().unwrap();
            assert_eq!((stored.entry, stored.updated_by.as_str()), (physician, "agency:420100"));
            assert_eq!(registry.get::<Pharmacist>("F1").await.unwrap().unwrap().entry, pharmacist);
            assert!(kv.get(&keys::registry_physician("D1")).await.unwrap().is_some());
            assert_eq!(registry.get::<Pharmacist>("F2").await.unwrap(), None);
        });
    }

    #[test]
    fn saving_the_same_entry_again_writes_nothing_and_keeps_the_audit_fields() {
        let kv = MemoryKv::new();
        let registry = Registry::new(&kv);
        let pharmacist = Pharmacist { name: "李药师".into(), fixmedins_code: "P1".into(), active: true };
        block_on(async {
            let (first, _) = registry.save("F1", None, pharmacist.clone(), AT, "ops-1").await.unwrap();
            let existing = registry.get::<Pharmacist>("F1").await.unwrap();
            let (again, change) =
                registry.save("F1", existing, pharmacist.clone(), "2025-03-02T00:00:00+08:00", "ops-2").await.unwrap();
            assert_eq!((change, &again), (Change::Unchanged, &first));
            let inactive = Pharmacist { active: false, ..pharmacist };
            let existing = registry.get::<Pharmacist>("F1").await.unwrap();
            let (replaced, change) = registry.save("F1", existing, inactive, "2025-03-02T00:00:00+08:00", "ops-2").await.unwrap();
            assert_eq!((change, replaced.updated_by.as_str()), (Change::Replaced, "ops-2"));
            assert_eq!(registry.get::<Pharmacist>("F1").await.unwrap(), Some(replaced));
        });
    }

    #[test]
    fn a_city_lists_the_latest_record_of_each_pharmacy_in_code_order() {
        let kv = MemoryKv::new();
        put(&kv, "P2", pharmacy("乙药房", "420100")).unwrap();
        put(&kv, "P1", pharmacy("甲药房", "420100")).unwrap();
        put(&kv, "P2", pharmacy("乙药房(新)", "420100")).unwrap();
        put(&kv, "P3", pharmacy("丙药房", "420500")).unwrap();
        assert_eq!(listed(&kv, "420100"), [("P1".into(), "甲药房".into()), ("P2".into(), "乙药房(新)".into())]);
        assert_eq!(listed(&kv, "420500"), [("P3".into(), "丙药房".into())]);
        assert!(listed(&kv, "430100").is_empty());
    }

    #[test]
    fn a_pharmacy_that_moves_leaves_the_old_city_and_joins_the_new_one() {
        let kv = MemoryKv::new();
        put(&kv, "P1", pharmacy("甲药房", "420100")).unwrap();
        let mut old_city = CityPharmacies::default();
        block_on(async {
            let version = CityPharmacies::version(&kv, "420100").await.unwrap();
            old_city.refresh(&kv, "420100", version).await.unwrap();
        });
        assert_eq!(old_city.pharmacies().count(), 1);

        put(&kv, "P1", pharmacy("甲药房", "420500")).unwrap();
        assert!(listed(&kv, "420100").is_empty());
        assert_eq!(listed(&kv, "420500"), [("P1".into(), "甲药房".into())]);
        // a reader that had the old list sees the departure at its next refresh
        block_on(async {
            let version = CityPharmacies::version(&kv, "420100").await.unwrap();
            assert!(old_city.is_stale(version));
            old_city.refresh(&kv, "420100", version).await.unwrap();
        });
        assert_eq!(old_city.pharmacies().count(), 0);

        // and back again
        put(&kv, "P1", pharmacy("甲药房", "420100")).unwrap();
        assert_eq!(listed(&kv, "420100").len(), 1);
        assert!(listed(&kv, "420500").is_empty());
    }

    #[test]
    fn a_retry_repairs_the_list_after_a_crash_before_the_city_log() {
        let kv = FailingKv { inner: MemoryKv::new(), failing: Cell::new(None) };
        put(&kv, "P1", pharmacy("甲药房", "420100")).unwrap();
        kv.failing.set(Some("registry:city:420100:"));
        assert!(put(&kv, "P1", pharmacy("甲药房(改名)", "420100")).is_err());
        // the record changed, the list did not: missing a change, not showing a wrong one
        assert_eq!(listed(&kv, "420100"), [("P1".into(), "甲药房".into())]);
        kv.failing.set(None);
        assert_eq!(put(&kv, "P1", pharmacy("甲药房(改名)", "420100")).unwrap(), Change::Unchanged);
        assert_eq!(listed(&kv, "420100"), [("P1".into(), "甲药房(改名)".into())]);
    }

    #[test]
    fn a_retry_completes_a_move_that_crashed_at_any_step() {
        // the steps of a move from 420100 to 420500: "left" in the old log, record, new log
        for failing in ["registry:city:420100:", "registry:pharmacy:", "registry:city:420500:"] {
            let kv = FailingKv { inner: MemoryKv::new(), failing: Cell::new(None) };
            put(&kv, "P1", pharmacy("甲药房", "420100")).unwrap();
            kv.failing.set(Some(failing));
            assert!(put(&kv, "P1", pharmacy("甲药房", "420500")).is_err());
            // no city shows the pharmacy where its record does not put it
            let stored = block_on(Registry::new(&kv).get::<Pharmacy>("P1")).unwrap().unwrap().entry.admdvs;
            for city in ["420100", "420500"] {
                assert!(
                    listed(&kv, city).is_empty() || stored == city,
                    "crash at {failing}: {city} lists it, record says {stored}"
                );
            }
            kv.failing.set(None);
            put(&kv, "P1", pharmacy("甲药房", "420500")).unwrap();
            assert!(listed(&kv, "420100").is_empty(), "crash at {failing}");
            assert_eq!(listed(&kv, "420500").len(), 1, "crash at {failing}");
        }
    }

    #[test]
    fn a_stored_record_keeps_its_entry_and_audit_fields_apart() {
        let record = Record { entry: pharmacy("甲药房", "420100"), updated_at: AT.into(), updated_by: "ops-1".into() };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!((json["name"].as_str(), json["updated_by"].as_str()), (Some("甲药房"), Some("ops-1")));
        // the entry refuses unknown fields in a body, yet reads back from its stored record
        assert_eq!(serde_json::from_value::<Record<Pharmacy>>(json).unwrap(), record);
    }
}
