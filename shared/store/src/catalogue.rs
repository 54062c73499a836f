//! National catalogue editions (rule C1): each edition's entries in chunks, a manifest per
//! edition, the list of editions, and a version counter that tells instances when to reload.
//!
//! Writes go in that order — chunks, manifest, list, version — so a crash part-way leaves
//! unreferenced chunks (harmless; a retry rewrites the same values, since an edition id names
//! fixed content), never a list entry whose chunks are missing. Editions are never deleted:
//! a later edition ends the earlier one's period without touching its record.

use crate::{KeyValue, StoreError, StoreResult, keys};
use chrono::NaiveDate;
use rules::catalogue::{CatalogueEntry, Category};
use serde::{Deserialize, Serialize};

/// Entries per chunk: a 2024-size edition (3,826 entries) loads in 8 reads, and a chunk stays
/// near 200 KB of JSON, well within what Spin's stores take in one value.
pub const CHUNK_ENTRIES: usize = 500;

/// How many entries an edition has, by category (rule C3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditionCounts {
    pub entries: u32,
    pub regular: u32,
    pub negotiated: u32,
    pub competitive_bid: u32,
}

impl EditionCounts {
    pub fn of(entries: &[CatalogueEntry]) -> Self {
        let mut counts = EditionCounts::default();
        for entry in entries {
            counts.entries = counts.entries.saturating_add(1);
            let slot = match entry.category {
                Category::Regular => &mut counts.regular,
                Category::Negotiated => &mut counts.negotiated,
                Category::CompetitiveBid => &mut counts.competitive_bid,
            };
            *slot = slot.saturating_add(1);
        }
        counts
    }
}

/// One imported edition: the manifest record, and its row in the editions list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditionSummary {
    /// The sha256 of the imported file (lowercase hex): the same file always names the same
    /// edition, so importing it again finds it instead of adding a copy.
    pub id: String,
    pub name: String,
    /// The first day the edition is in force (rule C1).
    pub effective_from: NaiveDate,
    pub counts: EditionCounts,
    /// How many chunks hold the entries (`keys::catalogue_chunk(id, 0..chunks)`).
    pub chunks: u32,
    /// RFC 3339 instant of the import, and who imported it (for audit).
    pub imported_at: String,
    pub imported_by: String,
}

impl EditionSummary {
    pub fn new(
        id: String,
        name: String,
        effective_from: NaiveDate,
        entries: &[CatalogueEntry],
        imported_at: String,
        imported_by: String,
    ) -> Self {
        let chunks = u32::try_from(entries.len().div_ceil(CHUNK_ENTRIES)).unwrap_or(u32::MAX);
        let counts = EditionCounts::of(entries);
        Self { id, name, effective_from, counts, chunks, imported_at, imported_by }
    }
}

/// Every imported edition, ordered by effective date, at most one per date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Editions(Vec<EditionSummary>);

/// What importing a file as an edition from a date would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission<'a> {
    /// Nothing like it is stored: import it.
    New,
    /// This very file was imported with this date already: nothing to do.
    Existing(&'a EditionSummary),
    /// This file is already an edition from another date.
    SameFileOtherDate(&'a EditionSummary),
    /// Another edition already starts on this date (rule C1: one edition per day).
    SameDateOtherFile(&'a EditionSummary),
}

impl Editions {
    pub fn find(&self, id: &str) -> Option<&EditionSummary> {
        self.0.iter().find(|e| e.id == id)
    }

    /// Whether an edition with `id` (the file's hash) may be added from `effective_from`.
    pub fn admit(&self, id: &str, effective_from: NaiveDate) -> Admission<'_> {
        if let Some(existing) = self.find(id) {
            return if existing.effective_from == effective_from {
                Admission::Existing(existing)
            } else {
                Admission::SameFileOtherDate(existing)
            };
        }
        match self.0.iter().find(|e| e.effective_from == effective_from) {
            Some(other) => Admission::SameDateOtherFile(other),
            None => Admission::New,
        }
    }

    /// The edition in force on `date` (rule C1): the latest one that started on or before it.
    pub fn in_force(&self, date: NaiveDate) -> Option<&EditionSummary> {
        self.0.iter().rev().find(|e| e.effective_from <= date)
    }

    /// The last day `edition` is in force: the day before the next edition starts (rule C1),
    /// or `None` while no later edition exists.
    pub fn effective_to(&self, edition: &EditionSummary) -> Option<NaiveDate> {
        self.0
            .iter()
            .find(|e| e.effective_from > edition.effective_from)
            .and_then(|next| next.effective_from.pred_opt())
    }

    /// The list with `summary` added in date order (unchanged if its id is already listed).
    fn with(mut self, summary: &EditionSummary) -> Self {
        if self.find(&summary.id).is_none() {
            let at = self.0.partition_point(|e| e.effective_from <= summary.effective_from);
            self.0.insert(at, summary.clone());
        }
        self
    }
}

/// The catalogue's editions in the key-value store.
pub struct Catalogue<'a, K> {
    kv: &'a K,
}

impl<'a, K: KeyValue> Catalogue<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Self { kv }
    }

    /// The version counter: changes whenever the editions list does. One small read.
    pub async fn version(&self) -> StoreResult<i64> {
        self.kv.increment(&keys::catalogue_version(), 0).await
    }

    /// Every listed edition (empty before the first import).
    pub async fn editions(&self) -> StoreResult<Editions> {
        Ok(self.kv.get_json(&keys::catalogue_editions()).await?.unwrap_or_default())
    }

    /// Every entry of an edition, in edition order, in `summary.chunks` reads.
    pub async fn entries(&self, summary: &EditionSummary) -> StoreResult<Vec<CatalogueEntry>> {
        let mut entries = Vec::with_capacity(summary.counts.entries as usize);
        for index in 0..summary.chunks {
            let key = keys::catalogue_chunk(&summary.id, index);
            let chunk: Vec<CatalogueEntry> = self.kv.get_json(&key).await?.ok_or_else(|| StoreError::Corrupt {
                key: key.clone(),
                reason: "a listed edition is missing this chunk".into(),
            })?;
            entries.extend(chunk);
        }
        if entries.len() != summary.counts.entries as usize {
            return Err(StoreError::Corrupt {
                key: keys::catalogue_manifest(&summary.id),
                reason: format!("expected {} entries, the chunks hold {}", summary.counts.entries, entries.len()),
            });
        }
        Ok(entries)
    }

    /// Stores an edition and lists it: chunks, manifest, list, then the version bump, so
    /// readers never see a listed edition without its entries. Safe to retry after a failure.
    ///
    /// The list is read again just before it is written, so the window in which two imports
    /// racing each other could drop one from the list is the time between that read and
    /// write; imports are rare admin actions, and the dropped one would be listed again by
    /// re-importing it (its chunks and manifest are already stored).
    pub async fn save(&self, summary: &EditionSummary, entries: &[CatalogueEntry]) -> StoreResult<Editions> {
        for (index, chunk) in entries.chunks(CHUNK_ENTRIES).enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            self.kv.set_json(&keys::catalogue_chunk(&summary.id, index), &chunk).await?;
        }
        self.kv.set_json(&keys::catalogue_manifest(&summary.id), summary).await?;
        let editions = self.editions().await?.with(summary);
        self.kv.set_json(&keys::catalogue_editions(), &editions).await?;
        self.kv.increment(&keys::catalogue_version(), 1).await?;
        Ok(editions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;
    use rules::catalogue::{ClassCode, DrugKind, EntryNumber, InsuranceClass, Sheet};
    use std::cell::Cell;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn entry(n: u32) -> CatalogueEntry {
        CatalogueEntry {
            sheet: Sheet::Western,
            source_row: n + 2,
            class_code: ClassCode::parse("XA01").expect("valid code"),
            class_name: "口腔科制剂".into(),
            insurance_class: InsuranceClass::A,
            number: EntryNumber::Listed(n),
            med_list_codg: None,
            name: format!("药品{n}"),
            dosage_form: Some("口服常释剂型".into()),
            payment_standards: Vec::new(),
            restriction: None,
            validity: None,
            category: Category::Regular,
            kind: DrugKind::Western,
        }
    }

    fn edition(id: &str, from: NaiveDate, size: u32) -> (EditionSummary, Vec<CatalogueEntry>) {
        let entries: Vec<_> = (1..=size).map(entry).collect();
        let summary = EditionSummary::new(id.into(), id.into(), from, &entries, "2024-12-01T00:00:00+08:00".into(), "ops-1".into());
        (summary, entries)
    }

    /// A store that fails every write after the first `allowed`: a crash mid-import.
    struct CrashingKv {
        inner: MemoryKv,
        allowed: Cell<usize>,
    }

    impl CrashingKv {
        fn write(&self) -> StoreResult<()> {
            match self.allowed.get() {
                0 => Err(StoreError::Unavailable("crashed".into())),
                n => {
                    self.allowed.set(n - 1);
                    Ok(())
                }
            }
        }
    }

    impl KeyValue for CrashingKv {
        async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
            self.write()?;
            self.inner.set(key, value).await
        }
        async fn delete(&self, key: &str) -> StoreResult<()> {
            self.write()?;
            self.inner.delete(key).await
        }
        async fn exists(&self, key: &str) -> StoreResult<bool> {
            self.inner.exists(key).await
        }
        async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
            if delta != 0 {
                self.write()?;
            }
            self.inner.increment(key, delta).await
        }
    }

    #[test]
    fn saves_in_chunks_and_reads_back_in_order() {
        let kv = MemoryKv::new();
        let catalogue = Catalogue::new(&kv);
        let (summary, entries) = edition("e1", date(2025, 1, 1), 1201);
        assert_eq!(summary.chunks, 3);
        block_on(async {
            assert_eq!(catalogue.version().await.unwrap(), 0);
            let listed = catalogue.save(&summary, &entries).await.unwrap();
            assert_eq!(listed.0, std::slice::from_ref(&summary));
            assert_eq!(catalogue.version().await.unwrap(), 1);
            assert_eq!(catalogue.entries(&summary).await.unwrap(), entries);
            assert_eq!(kv.get_json(&keys::catalogue_manifest("e1")).await.unwrap(), Some(summary.clone()));
            let chunk: Vec<CatalogueEntry> = kv.get_json(&keys::catalogue_chunk("e1", 2)).await.unwrap().unwrap();
            assert_eq!(chunk.len(), 201);
        });
    }

    #[test]
    fn a_crash_at_any_write_leaves_the_readable_state_unchanged_and_a_retry_completes() {
        let (first, first_entries) = edition("e1", date(2024, 1, 1), 10);
        let (second, second_entries) = edition("e2", date(2025, 1, 1), 1100);
        // 3 chunks + manifest + list + version = 6 writes; crash before each of them
        for allowed in 0..6 {
            let kv = CrashingKv { inner: MemoryKv::new(), allowed: Cell::new(usize::MAX) };
            let catalogue = Catalogue::new(&kv);
            block_on(async {
                catalogue.save(&first, &first_entries).await.unwrap();
                kv.allowed.set(allowed);
                assert!(catalogue.save(&second, &second_entries).await.is_err());
                let editions = catalogue.editions().await.unwrap();
                if allowed < 5 {
                    // nothing readable changed: the list still names only the first edition,
                    // whose entries all load
                    assert_eq!(editions.0, std::slice::from_ref(&first), "crash before write {allowed}");
                    assert_eq!(catalogue.version().await.unwrap(), 1);
                }
                for listed in &editions.0 {
                    assert!(catalogue.entries(listed).await.is_ok(), "crash before write {allowed}");
                }
                kv.allowed.set(usize::MAX);
                catalogue.save(&second, &second_entries).await.unwrap();
                let editions = catalogue.editions().await.unwrap();
                assert_eq!(editions.0, [first.clone(), second.clone()]);
                assert_eq!(catalogue.entries(&second).await.unwrap(), second_entries);
            });
        }
    }

    #[test]
    fn saving_the_same_edition_again_lists_it_once() {
        let kv = MemoryKv::new();
        let catalogue = Catalogue::new(&kv);
        let (summary, entries) = edition("e1", date(2025, 1, 1), 3);
        block_on(async {
            catalogue.save(&summary, &entries).await.unwrap();
            catalogue.save(&summary, &entries).await.unwrap();
            assert_eq!(catalogue.editions().await.unwrap().0.len(), 1);
            assert_eq!(catalogue.entries(&summary).await.unwrap(), entries);
        });
    }

    #[test]
    fn admission_finds_the_same_file_and_refuses_conflicts() {
        let (summary, _) = edition("e1", date(2025, 1, 1), 1);
        let editions = Editions::default().with(&summary);
        assert_eq!(editions.admit("e1", date(2025, 1, 1)), Admission::Existing(&summary));
        assert_eq!(editions.admit("e1", date(2026, 1, 1)), Admission::SameFileOtherDate(&summary));
        assert_eq!(editions.admit("e2", date(2025, 1, 1)), Admission::SameDateOtherFile(&summary));
        assert_eq!(editions.admit("e2", date(2026, 1, 1)), Admission::New);
    }

    #[test]
    fn a_later_edition_ends_the_earlier_one_the_day_before() {
        // rule C1: 2023 edition 2024-01-01..2024-12-31, 2024 edition from 2025-01-01
        let (e2024, _) = edition("e2024", date(2025, 1, 1), 1);
        let (e2023, _) = edition("e2023", date(2024, 1, 1), 1);
        // imported out of order: the list is still in date order
        let editions = Editions::default().with(&e2024).with(&e2023);
        assert_eq!(editions.0, [e2023.clone(), e2024.clone()]);
        assert_eq!(editions.in_force(date(2023, 12, 31)), None);
        assert_eq!(editions.in_force(date(2024, 1, 1)), Some(&e2023));
        assert_eq!(editions.in_force(date(2024, 12, 31)), Some(&e2023));
        assert_eq!(editions.in_force(date(2025, 1, 1)), Some(&e2024));
        assert_eq!(editions.effective_to(&e2023), Some(date(2024, 12, 31)));
        assert_eq!(editions.effective_to(&e2024), None);
    }

    #[test]
    fn a_listed_edition_with_a_missing_chunk_is_reported_corrupt() {
        let kv = MemoryKv::new();
        let catalogue = Catalogue::new(&kv);
        let (summary, entries) = edition("e1", date(2025, 1, 1), 600);
        block_on(async {
            catalogue.save(&summary, &entries).await.unwrap();
            kv.delete(&keys::catalogue_chunk("e1", 1)).await.unwrap();
            assert!(matches!(catalogue.entries(&summary).await, Err(StoreError::Corrupt { .. })));
        });
    }
}
