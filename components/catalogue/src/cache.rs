//! The in-instance catalogue cache. Spin reuses an instance for many requests and statics
//! survive between them, so the editions list and the indexed editions are kept here and
//! validated on every request by one small read: the version counter. Only when it changed is
//! the editions list read again; an edition's entries are read once per instance, since an
//! edition id names fixed content.

use crate::index::EditionIndex;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use store::catalogue::{EditionSummary, Editions};
use store::{Catalogue, KeyValue, StoreError, StoreResult};

/// The edition in force on a date, ready to query.
pub struct InForce {
    pub summary: EditionSummary,
    pub effective_to: Option<NaiveDate>,
    pub index: Arc<EditionIndex>,
}

struct Snapshot {
    version: i64,
    editions: Editions,
    loaded: HashMap<String, Arc<EditionIndex>>,
}

/// Requests may run concurrently on one instance (Spin: up to 16), so the lock is held only to
/// swap snapshots, never across a store read.
pub struct CatalogueCache {
    current: Mutex<Option<Arc<Snapshot>>>,
}

impl CatalogueCache {
    pub const fn new() -> Self {
        Self { current: Mutex::new(None) }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<Snapshot>>> {
        // every critical section is a single assignment or clone: a poisoned lock is consistent
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The edition in force on `date` (rule C1), or `None` before the first edition starts.
    /// Warm: one read (the version counter). After an import: two (plus the list). First use
    /// of an edition in this instance: plus its chunks.
    pub async fn in_force<K: KeyValue>(&self, kv: &K, date: NaiveDate) -> StoreResult<Option<InForce>> {
        let catalogue = Catalogue::new(kv);
        let version = catalogue.version().await?;
        let cached = self.lock().clone();
        let snapshot = match cached {
            Some(snapshot) if snapshot.version == version => snapshot,
            previous => {
                let editions = catalogue.editions().await?;
                let loaded = previous
                    .map(|p| p.loaded.iter().filter(|(id, _)| editions.find(id).is_some()).map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let snapshot = Arc::new(Snapshot { version, editions, loaded });
                *self.lock() = Some(snapshot.clone());
                snapshot
            }
        };
        let Some(summary) = snapshot.editions.in_force(date) else {
            return Ok(None);
        };
        let index = match snapshot.loaded.get(&summary.id) {
            Some(index) => index.clone(),
            None => {
                let entries = catalogue.entries(summary).await?;
                let index = Arc::new(EditionIndex::build(entries).map_err(|duplicates| StoreError::Corrupt {
                    key: store::keys::catalogue_manifest(&summary.id),
                    reason: format!("{} entries share a catalogue code", duplicates.len()),
                })?);
                self.publish(version, &summary.id, &index);
                index
            }
        };
        Ok(Some(InForce { summary: summary.clone(), effective_to: snapshot.editions.effective_to(summary), index }))
    }

    /// Adds a freshly loaded edition to the current snapshot, if it is still the same version.
    fn publish(&self, version: i64, id: &str, index: &Arc<EditionIndex>) {
        let mut current = self.lock();
        if let Some(snapshot) = current.as_ref().filter(|s| s.version == version) {
            let mut loaded = snapshot.loaded.clone();
            loaded.insert(id.to_string(), index.clone());
            *current = Some(Arc::new(Snapshot { version, editions: snapshot.editions.clone(), loaded }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use rules::catalogue::{CatalogueEntry, Category, ClassCode, DrugKind, EntryNumber, InsuranceClass, Sheet};
    use std::cell::Cell;
    use store::MemoryKv;

    /// Counts reads, to hold the cache to its budget.
    #[derive(Default)]
    struct CountingKv {
        inner: MemoryKv,
        reads: Cell<usize>,
    }

    impl KeyValue for CountingKv {
        async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
            self.reads.set(self.reads.get() + 1);
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
            self.inner.set(key, value).await
        }
        async fn delete(&self, key: &str) -> StoreResult<()> {
            self.inner.delete(key).await
        }
        async fn exists(&self, key: &str) -> StoreResult<bool> {
            self.reads.set(self.reads.get() + 1);
            self.inner.exists(key).await
        }
        async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
            self.reads.set(self.reads.get() + 1);
            self.inner.increment(key, delta).await
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn entries(names: &[&str]) -> Vec<CatalogueEntry> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| CatalogueEntry {
                sheet: Sheet::Western,
                source_row: 3,
                class_code: ClassCode::parse("XA01").expect("valid code"),
                class_name: "类".into(),
                insurance_class: InsuranceClass::A,
                number: EntryNumber::Listed(u32::try_from(i).expect("small") + 1),
                med_list_codg: None,
                name: (*name).into(),
                dosage_form: None,
                payment_standards: Vec::new(),
                restriction: None,
                validity: None,
                category: Category::Regular,
                kind: DrugKind::Western,
            })
            .collect()
    }

    async fn save(kv: &CountingKv, id: &str, from: NaiveDate, names: &[&str]) {
        let entries = entries(names);
        let summary = EditionSummary::new(id.into(), id.into(), from, &entries, String::new(), String::new());
        Catalogue::new(kv).save(&summary, &entries).await.expect("saved");
    }

    #[test]
    fn a_warm_cache_costs_one_read_and_an_import_is_seen_at_once() {
        let kv = CountingKv::default();
        let cache = CatalogueCache::new();
        block_on(async {
            assert!(cache.in_force(&kv, date(2025, 3, 1)).await.unwrap().is_none());
            save(&kv, "e2024", date(2025, 1, 1), &["甲药", "乙药"]).await;

            kv.reads.set(0);
            let cold = cache.in_force(&kv, date(2025, 3, 1)).await.unwrap().expect("in force");
            assert_eq!(cold.summary.id, "e2024");
            assert_eq!(kv.reads.get(), 3, "version, list, one chunk");

            kv.reads.set(0);
            let warm = cache.in_force(&kv, date(2025, 3, 1)).await.unwrap().expect("in force");
            assert!(Arc::ptr_eq(&cold.index, &warm.index));
            assert_eq!(kv.reads.get(), 1, "only the version counter");

            // rule C1: a new edition from 2026 ends the 2024 one the day before
            save(&kv, "e2025", date(2026, 1, 1), &["丙药"]).await;
            kv.reads.set(0);
            let still = cache.in_force(&kv, date(2025, 3, 1)).await.unwrap().expect("in force");
            assert_eq!(kv.reads.get(), 2, "version and list; the loaded edition is kept");
            assert_eq!(still.effective_to, Some(date(2025, 12, 31)));
            let next = cache.in_force(&kv, date(2026, 1, 1)).await.unwrap().expect("in force");
            assert_eq!(next.summary.id, "e2025");
            assert!(next.index.get(&crate::index::catalogue_code(&entries(&["丙药"])[0])).is_some());
        });
    }
}
