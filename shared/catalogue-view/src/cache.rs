//! The in-instance catalogue cache. Spin reuses an instance for many requests and statics
//! survive between them, so the folded catalogue log and the indexed editions are kept here
//! and validated on every request by one small read: the log's version counter. Only when it
//! moved are the new log records read; an edition's entries are read once per instance, since
//! an edition id names fixed content (its index is rebuilt only when confidential amounts for
//! it are supplied).

use crate::index::EditionIndex;
#[cfg(feature = "search")]
use crate::index::Filter;
use chrono::NaiveDate;
use rules::catalogue::{CatalogueEntry, in_transition, transition_end};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use store::catalogue::{CatalogueRecord, CatalogueState, EditionSummary};
use store::{Catalogue, KeyValue, LogReader, StoreResult};

/// The catalogue log as of one version, folded.
pub struct Snapshot {
    version: i64,
    reader: LogReader<CatalogueRecord>,
    pub state: CatalogueState,
}

/// Requests may run concurrently on one instance (Spin: up to 16), so locks are held only to
/// swap or clone, never across a store read.
pub struct CatalogueCache {
    current: Mutex<Option<Arc<Snapshot>>>,
    /// Edition indexes by edition id, each with the confidential generation it was built with.
    indexes: Mutex<BTreeMap<String, (i64, Arc<EditionIndex>)>>,
}

/// Every critical section is a single assignment, insert or clone: a poisoned lock still holds
/// a consistent value.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The edition in force on a date, ready to query, with the edition before it while the
/// transition window of rule C4 is open.
pub struct InForce {
    pub date: NaiveDate,
    /// Where the edition is in `snapshot`'s editions (see [`InForce::summary`]).
    edition: usize,
    pub effective_to: Option<NaiveDate>,
    pub index: Arc<EditionIndex>,
    pub transition: Option<Transition>,
    pub snapshot: Arc<Snapshot>,
}

/// The previous edition, whose negotiated drugs the current one dropped are still paid at
/// their old standard until `until` (rule C4).
pub struct Transition {
    pub until: NaiveDate,
    pub previous: Arc<EditionIndex>,
}

/// An entry found as of a date: from the edition in force, or from the previous one during
/// its transition window.
pub struct Found<'a> {
    pub code: &'a str,
    pub entry: &'a CatalogueEntry,
    /// Set when the entry is paid only under rule C4's transition, until this day.
    pub transition_until: Option<NaiveDate>,
}

#[cfg(feature = "search")]
/// A search match: an entry's place in its edition, parsed only when shown.
#[derive(Clone, Copy)]
pub struct Match<'a> {
    index: &'a EditionIndex,
    position: usize,
    /// Set when the entry is paid only under rule C4's transition, until this day.
    pub transition_until: Option<NaiveDate>,
}

#[cfg(feature = "search")]
impl<'a> Match<'a> {
    pub fn code(&self) -> &'a str {
        self.index.code(self.position)
    }

    pub fn found(&self) -> StoreResult<Found<'a>> {
        Ok(Found { code: self.code(), entry: self.index.entry(self.position)?, transition_until: self.transition_until })
    }
}

impl InForce {
    /// The edition in force on the date.
    pub fn summary(&self) -> &EditionSummary {
        &self.snapshot.state.editions.all()[self.edition]
    }

    /// The entry with `code` as of the date (rules C1, C4).
    pub fn find(&self, code: &str) -> StoreResult<Option<Found<'_>>> {
        if let Some((code, entry)) = self.index.get(code)? {
            return Ok(Some(Found { code, entry, transition_until: None }));
        }
        let Some(transition) = &self.transition else { return Ok(None) };
        let Some(position) = transition.previous.position(code).filter(|&p| self.paid_in_transition(&transition.previous, p)) else {
            return Ok(None);
        };
        let entry = transition.previous.entry(position)?;
        Ok(Some(Found { code: transition.previous.code(position), entry, transition_until: Some(transition.until) }))
    }

    /// Whether the previous edition's entry at `position` is still paid on the date (rule C4):
    /// the edition in force dropped it, and it is a negotiated drug inside the window.
    fn paid_in_transition(&self, previous: &EditionIndex, position: usize) -> bool {
        self.index.position(previous.code(position)).is_none() && in_transition(previous.category(position), self.summary().effective_from, self.date)
    }

    #[cfg(feature = "search")]
    /// The entries matching `filter` as of the date: the edition in force's, then, inside the
    /// transition window, the previous edition's negotiated drugs still paid (rule C4), each
    /// in its edition's order.
    pub fn matching<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = Match<'a>> + 'a {
        let current = self.index.matching(filter).map(|position| Match { index: &self.index, position, transition_until: None });
        let transitional = self.transition.iter().flat_map(move |transition| {
            let previous = &transition.previous;
            previous
                .matching(filter)
                .filter(move |&position| self.paid_in_transition(previous, position))
                .map(move |position| Match { index: previous, position, transition_until: Some(transition.until) })
        });
        current.chain(transitional)
    }
}

impl Default for CatalogueCache {
    fn default() -> Self {
        Self::new()
    }
}

impl CatalogueCache {
    /// `const`, so a component can keep one in a `static` for the instance's lifetime.
    pub const fn new() -> Self {
        Self { current: Mutex::new(None), indexes: Mutex::new(BTreeMap::new()) }
    }

    /// The catalogue as of the store's current version. Warm: one read (the version).
    /// After a change: plus the log head and each new record.
    pub async fn snapshot<K: KeyValue>(&self, kv: &K) -> StoreResult<Arc<Snapshot>> {
        let log = Catalogue::new(kv).log();
        let version = log.version().await?;
        let cached = lock(&self.current).clone();
        if let Some(snapshot) = cached.as_ref().filter(|s| !s.reader.is_stale(version)) {
            return Ok(snapshot.clone());
        }
        let mut reader = cached.map(|s| s.reader.clone()).unwrap_or_default();
        reader.refresh(&log, version).await?;
        let state = CatalogueState::fold(reader.records());
        // indexes of withdrawn editions, or built before new confidential amounts, go
        lock(&self.indexes).retain(|id, (generation, _)| {
            state.editions.find(id).is_some() && state.confidential_generation(id) == *generation
        });
        let snapshot = Arc::new(Snapshot { version, reader, state });
        let mut current = lock(&self.current);
        // a concurrent request may have refreshed further meanwhile; keep the newer one
        if current.as_ref().is_none_or(|c| c.version <= version) {
            *current = Some(snapshot.clone());
        }
        Ok(snapshot)
    }

    /// An edition's index with its confidential amounts filled in: built from its chunks the
    /// first time this instance needs it.
    pub async fn index<K: KeyValue>(&self, kv: &K, snapshot: &Snapshot, summary: &EditionSummary) -> StoreResult<Arc<EditionIndex>> {
        let generation = snapshot.state.confidential_generation(&summary.id);
        if let Some((built_with, index)) = lock(&self.indexes).get(&summary.id)
            && *built_with == generation
        {
            return Ok(index.clone());
        }
        let stored = Catalogue::new(kv).edition(summary).await?;
        let index = Arc::new(EditionIndex::new(stored, snapshot.state.confidential(&summary.id)));
        lock(&self.indexes).insert(summary.id.clone(), (generation, index.clone()));
        Ok(index)
    }

    /// The edition in force on `date` (rule C1), with the transition of rule C4 when it
    /// applies, or `None` before the first edition starts.
    pub async fn in_force<K: KeyValue>(&self, kv: &K, date: NaiveDate) -> StoreResult<Option<InForce>> {
        let snapshot = self.snapshot(kv).await?;
        let editions = &snapshot.state.editions;
        let Some(edition) = editions.position_in_force(date) else {
            return Ok(None);
        };
        let summary = &editions.all()[edition];
        let index = self.index(kv, &snapshot, summary).await?;
        let until = transition_end(summary.effective_from);
        let transition = match editions.previous(summary) {
            Some(previous) if date <= until => Some(Transition { until, previous: self.index(kv, &snapshot, previous).await? }),
            _ => None,
        };
        Ok(Some(InForce {
            date,
            edition,
            effective_to: editions.effective_to(summary),
            index,
            transition,
            snapshot: snapshot.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use rules::catalogue::{Category, StandardAmount};
    use rules::fixtures::{date, negotiated, published, regular};
    use rust_decimal::Decimal;
    use std::cell::Cell;
    use store::MemoryKv;
    use store::catalogue::{ConfidentialStandard, ConfidentialSupply};

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

    async fn save(kv: &impl KeyValue, id: &str, from: NaiveDate, entries: &[CatalogueEntry]) {
        let summary = EditionSummary::new(id.into(), id.into(), from, entries, String::new(), String::new());
        Catalogue::new(kv).save(&summary, entries, |_| String::new()).await.expect("saved");
    }

    fn code(entry: &CatalogueEntry) -> String {
        entry.code()
    }

    #[test]
    fn a_warm_cache_costs_one_read_and_an_import_is_seen_at_once() {
        let kv = CountingKv::default();
        let cache = CatalogueCache::new();
        block_on(async {
            assert!(cache.in_force(&kv, date(2025, 3, 1)).await.unwrap().is_none());
            save(&kv, "e2024", date(2025, 1, 1), &[regular("甲药"), regular("乙药")]).await;

            kv.reads.set(0);
            let cold = cache.in_force(&kv, date(2025, 7, 1)).await.unwrap().expect("in force");
            assert_eq!(cold.summary().id, "e2024");
            assert_eq!(kv.reads.get(), 5, "version, log head, one record, the directory, one chunk");

            kv.reads.set(0);
            let warm = cache.in_force(&kv, date(2025, 7, 1)).await.unwrap().expect("in force");
            assert!(Arc::ptr_eq(&cold.index, &warm.index));
            assert_eq!(kv.reads.get(), 1, "only the version counter");

            // rule C1: a new edition from 2026 ends the 2024 one the day before
            save(&kv, "e2025", date(2026, 1, 1), &[regular("丙药")]).await;
            kv.reads.set(0);
            let still = cache.in_force(&kv, date(2025, 7, 1)).await.unwrap().expect("in force");
            assert_eq!(kv.reads.get(), 3, "version, head, the new record; the loaded edition is kept");
            assert_eq!(still.effective_to, Some(date(2025, 12, 31)));
            let next = cache.in_force(&kv, date(2026, 7, 1)).await.unwrap().expect("in force");
            assert_eq!(next.summary().id, "e2025");
            assert!(next.find(&code(&regular("丙药"))).unwrap().is_some());
        });
    }

    #[test]
    fn a_dropped_negotiated_drug_is_found_until_its_transition_ends() {
        // rule C4: 2024 edition from 2025-01-01 drops 丙药; paid at the old standard to 2025-06-30
        let kv = MemoryKv::new();
        let cache = CatalogueCache::new();
        let dropped = negotiated("丙药", published(Decimal::new(6300, 2)));
        let kept = negotiated("甲药", published(Decimal::new(6300, 2)));
        block_on(async {
            save(&kv, "e2023", date(2024, 1, 1), &[kept.clone(), dropped.clone(), regular("常规药")]).await;
            save(&kv, "e2024", date(2025, 1, 1), std::slice::from_ref(&kept)).await;
            let before = cache.in_force(&kv, date(2024, 12, 31)).await.unwrap().unwrap();
            assert_eq!(before.find(&code(&dropped)).unwrap().unwrap().transition_until, None);
            for (day, payable) in [(date(2025, 1, 1), true), (date(2025, 6, 30), true), (date(2025, 7, 1), false)] {
                let in_force = cache.in_force(&kv, day).await.unwrap().unwrap();
                let found = in_force.find(&code(&dropped)).unwrap();
                assert_eq!(found.map(|f| f.transition_until), payable.then_some(Some(date(2025, 6, 30))), "{day}");
                assert_eq!(in_force.find(&code(&kept)).unwrap().unwrap().transition_until, None);
                // a regular entry the new edition dropped is not paid (C4 covers negotiated drugs)
                assert!(in_force.find(&code(&regular("常规药"))).unwrap().is_none());
                #[cfg(feature = "search")]
                {
                    let all = crate::index::Filter::default();
                    let transitional: Vec<_> = in_force
                        .matching(&all)
                        .filter(|m| m.transition_until.is_some())
                        .map(|m| m.found().unwrap().entry.name.clone())
                        .collect();
                    assert_eq!(transitional, if payable { vec!["丙药".to_string()] } else { vec![] }, "{day}");
                }
            }
        });
    }

    #[test]
    fn supplied_confidential_amounts_reach_the_index() {
        // rule C6: the amount behind `*` is filled in for settlement
        let kv = MemoryKv::new();
        let cache = CatalogueCache::new();
        let secret = negotiated("安奈拉唑钠肠溶片", StandardAmount::Confidential { amount: None });
        block_on(async {
            save(&kv, "e2024", date(2025, 1, 1), std::slice::from_ref(&secret)).await;
            let before = cache.in_force(&kv, date(2025, 3, 1)).await.unwrap().unwrap();
            let supply = ConfidentialSupply {
                edition: "e2024".into(),
                standards: vec![ConfidentialStandard {
                    code: code(&secret),
                    specification: Some("20mg/片".into()),
                    amount: rules::catalogue::ConfidentialAmount::new(Decimal::new(98765, 2)),
                }],
                supplied_at: String::new(),
                supplied_by: String::new(),
            };
            Catalogue::new(&kv).log().append(&CatalogueRecord::ConfidentialStandards(supply)).await.unwrap();
            let after = cache.in_force(&kv, date(2025, 3, 1)).await.unwrap().unwrap();
            assert!(!Arc::ptr_eq(&before.index, &after.index), "rebuilt with the amounts");
            let entry = after.find(&code(&secret)).unwrap().unwrap().entry;
            assert_eq!(entry.category, Category::Negotiated);
            match &entry.payment_standards[0].amount {
                StandardAmount::Confidential { amount: Some(amount) } => assert_eq!(amount.for_settlement(), Decimal::new(98765, 2)),
                other => panic!("{other:?}"),
            }
        });
    }
}
