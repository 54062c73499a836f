//! The catalogue in the store: each national edition's entries in chunks with a manifest
//! (rule C1), and the catalogue log (see [`crate::log`]) that records, in order, every edition
//! imported or withdrawn, every regional list version (C2, C5, C8) and every supply of
//! confidential standards (C6). Instances fold the log into a [`CatalogueState`].
//!
//! An import writes chunks, then the manifest, then appends to the log, so a crash part-way
//! leaves unreferenced chunks (harmless; a retry rewrites the same values, since an edition id
//! names fixed content), never a logged edition whose chunks are missing. Nothing is deleted:
//! a later edition ends the earlier one's period, a withdrawal is a record of its own.

use crate::log::Log;
use crate::{KeyValue, StoreError, StoreResult, keys};
use chrono::NaiveDate;
use rules::catalogue::{CatalogueEntry, Category, ConfidentialAmount, DrugKind, InsuranceClass, ListKind, RegionalListVersion, StandardAmount};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Entries per chunk: a 2024-size edition (3,826 entries) loads in 8 reads, and a chunk stays
/// near 70 KB of MessagePack, well within what Spin's stores take in one value.
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
        self.position_in_force(date).map(|at| &self.0[at])
    }

    /// Where the edition in force on `date` is in [`Editions::all`].
    pub fn position_in_force(&self, date: NaiveDate) -> Option<usize> {
        self.0.iter().rposition(|e| e.effective_from <= date)
    }

    /// The last day `edition` is in force: the day before the next edition starts (rule C1),
    /// or `None` while no later edition exists.
    pub fn effective_to(&self, edition: &EditionSummary) -> Option<NaiveDate> {
        self.0
            .iter()
            .find(|e| e.effective_from > edition.effective_from)
            .and_then(|next| next.effective_from.pred_opt())
    }

    /// Lists `summary` in date order, unless its id is listed already or another edition
    /// already starts that day: the first one logged keeps the date (rule C1), so instances
    /// that fold the same log agree even when two imports raced.
    fn add(&mut self, summary: &EditionSummary) {
        if self.find(&summary.id).is_none() && self.0.iter().all(|e| e.effective_from != summary.effective_from) {
            let at = self.0.partition_point(|e| e.effective_from <= summary.effective_from);
            self.0.insert(at, summary.clone());
        }
    }

    fn remove(&mut self, id: &str) {
        self.0.retain(|e| e.id != id);
    }

    /// Every listed edition, in date order.
    pub fn all(&self) -> &[EditionSummary] {
        &self.0
    }

    /// The edition before `edition`, if any.
    pub fn previous(&self, edition: &EditionSummary) -> Option<&EditionSummary> {
        self.0.iter().rev().find(|e| e.effective_from < edition.effective_from)
    }
}

/// One text per entry, concatenated, with where each ends: a new instance parses one string
/// instead of thousands (no allocation per entry), and search scans it in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Texts {
    text: String,
    ends: Vec<u32>,
}

impl Texts {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
        self.ends.push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Where text `index` starts and ends in [`Texts::as_str`].
    pub fn bounds(&self, index: usize) -> (usize, usize) {
        let start = if index == 0 { 0 } else { self.ends[index - 1] as usize };
        (start, self.ends[index] as usize)
    }

    pub fn get(&self, index: usize) -> &str {
        let (start, end) = self.bounds(index);
        &self.text[start..end]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|index| self.get(index))
    }

    /// Every text, concatenated.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text at byte `at` of [`Texts::as_str`].
    pub fn at_byte(&self, at: usize) -> usize {
        self.ends.partition_point(|&end| end as usize <= at)
    }

    /// The ends rise, the last is the end of the text, and each falls between characters: every
    /// [`Texts::get`] slices safely.
    fn is_well_formed(&self) -> bool {
        let rising = self.ends.windows(2).all(|pair| pair[0] <= pair[1]);
        let last = self.ends.last().map_or(0, |&end| end as usize);
        rising && last == self.text.len() && self.ends.iter().all(|&end| self.text.is_char_boundary(end as usize))
    }
}

/// What search and lookup need of each entry of an edition, computed once at import and stored
/// beside the chunks, with where each entry's bytes lie in them. A new instance parses only this
/// and keeps the chunks as bytes; an entry is parsed when a request shows it. One column per
/// field, each in edition order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditionDirectory {
    /// Catalogue codes (`CatalogueEntry::code`, a sha256 worth computing once).
    pub codes: Texts,
    /// Search initials of the generic names (the catalogue component's pinyin).
    pub initials: Texts,
    /// Generic names lower-cased, so a Latin query matches regardless of case.
    pub search_names: Texts,
    pub class_codes: Texts,
    pub kinds: Vec<DrugKind>,
    pub insurance_classes: Vec<InsuranceClass>,
    pub categories: Vec<Category>,
    /// Where each entry lies: chunk number, and its byte range in that chunk.
    pub spans: Vec<(u32, u32, u32)>,
    /// Every position with the [`code_hash`] of its code, in ascending order of hash: a lookup
    /// is a search in this one compact array (from where the hash says the code lies, see
    /// `first_not_below`) and a comparison with the one code it names, so a new instance builds
    /// no map of the codes, and a search touches little memory.
    pub by_hash: Vec<(u64, u32)>,
}

/// The hash a code's place in [`EditionDirectory::by_hash`] is found by: FNV-1a, whose output is
/// fixed by its definition, so a directory stored by one build is read right by any other.
pub fn code_hash(code: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(code.as_bytes());
    hasher.finish()
}

impl EditionDirectory {
    /// Where the entry with `code` is in the edition.
    pub fn position(&self, code: &str) -> Option<usize> {
        let hash = code_hash(code);
        let first = self.first_not_below(hash);
        // codes whose hashes collide lie side by side; the code itself decides
        self.by_hash[first..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .map(|&(_, position)| position as usize)
            .find(|&position| self.codes.get(position) == code)
    }

    /// The first place in [`EditionDirectory::by_hash`] whose hash is not below `hash`, as
    /// `partition_point` would find it. FNV-1a spreads codes evenly over the hashes, so a hash's
    /// place lies close to its share of the range (within about the square root of the count):
    /// the search starts there and widens by doubling steps, touching a page or two of the
    /// array where a binary search over all of it touches a dozen. In memory a new instance has
    /// just filled, each of those was a miss.
    fn first_not_below(&self, hash: u64) -> usize {
        let hashes = &self.by_hash;
        let n = hashes.len();
        let below = |at: usize| hashes[at].0 < hash;
        // hash / 2^64 of the way through; less than n
        let guess = usize::try_from((u128::from(hash) * n as u128) >> 64).unwrap_or(n);
        // the answer lies in lo..=hi
        let (lo, hi) = if guess < n && below(guess) {
            let (mut known_below, mut step) = (guess, 1);
            loop {
                let probe = known_below.saturating_add(step);
                if probe >= n {
                    break (known_below + 1, n);
                }
                if !below(probe) {
                    break (known_below + 1, probe);
                }
                (known_below, step) = (probe, step * 2);
            }
        } else {
            let (mut known_not_below, mut step) = (guess, 1);
            loop {
                let Some(probe) = known_not_below.checked_sub(step) else { break (0, known_not_below) };
                if below(probe) {
                    break (probe + 1, known_not_below);
                }
                (known_not_below, step) = (probe, step * 2);
            }
        };
        lo + hashes[lo..hi].partition_point(|&(h, _)| h < hash)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Every column has one well-formed row per entry, and the hash order names every position
    /// once with the hashes ascending. (A lookup compares the code it lands on, so a hash that
    /// does not match its code can make it miss an entry, never return another one.)
    fn is_well_formed(&self) -> bool {
        let n = self.len();
        let texts = [&self.codes, &self.initials, &self.search_names, &self.class_codes];
        let mut named = vec![false; n];
        texts.iter().all(|texts| texts.len() == n && texts.is_well_formed())
            && [self.kinds.len(), self.insurance_classes.len(), self.categories.len(), self.by_hash.len()].iter().all(|&len| len == n)
            && self.by_hash.windows(2).all(|pair| pair[0].0 <= pair[1].0)
            && self.by_hash.iter().all(|&(_, position)| named.get_mut(position as usize).is_some_and(|seen| !std::mem::replace(seen, true)))
    }
}

/// An edition as stored: its directory, and its chunks as bytes ([`CHUNK_ENTRIES`] entries per
/// chunk in edition order, each entry in MessagePack with its fields as an array, back to back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEdition {
    edition: String,
    pub directory: EditionDirectory,
    chunks: Vec<Vec<u8>>,
}

impl StoredEdition {
    /// The stored form of an edition's entries; `initials` gives a name's search initials.
    pub fn new(edition: &str, entries: &[CatalogueEntry], initials: impl Fn(&str) -> String) -> StoreResult<Self> {
        let mut directory = EditionDirectory::default();
        let mut chunks = Vec::with_capacity(entries.len().div_ceil(CHUNK_ENTRIES));
        for (number, chunk_entries) in entries.chunks(CHUNK_ENTRIES).enumerate() {
            let number = u32::try_from(number).unwrap_or(u32::MAX);
            let mut chunk = Vec::new();
            for entry in chunk_entries {
                let start = chunk.len();
                rmp_serde::encode::write(&mut chunk, entry).map_err(|e| StoreError::Corrupt {
                    key: keys::catalogue_chunk(edition, number),
                    reason: e.to_string(),
                })?;
                let offset = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
                directory.spans.push((number, offset(start), offset(chunk.len())));
                directory.codes.push(&entry.code());
                directory.initials.push(&initials(&entry.name));
                directory.search_names.push(&entry.name.to_lowercase());
                directory.class_codes.push(entry.class_code.as_str());
                directory.kinds.push(entry.kind);
                directory.insurance_classes.push(entry.insurance_class);
                directory.categories.push(entry.category);
            }
            chunks.push(chunk);
        }
        let codes = &directory.codes;
        let code = |position: u32| codes.get(position as usize);
        let mut by_hash: Vec<(u64, u32)> = (0..).zip(codes.iter()).map(|(position, code)| (code_hash(code), position)).collect();
        // by hash, then code: a code given twice lies side by side with itself
        by_hash.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| code(a.1).cmp(code(b.1))));
        if let Some(pair) = by_hash.windows(2).find(|pair| code(pair[0].1) == code(pair[1].1)) {
            return Err(StoreError::Corrupt {
                key: keys::catalogue_directory(edition),
                reason: format!("entries {} and {} share catalogue code {}", pair[0].1, pair[1].1, code(pair[0].1)),
            });
        }
        directory.by_hash = by_hash;
        Ok(Self { edition: edition.to_string(), directory, chunks })
    }

    /// Entry number `index` (in edition order), parsed from its chunk.
    pub fn entry(&self, index: usize) -> StoreResult<CatalogueEntry> {
        let (chunk, start, end) = self.directory.spans[index];
        let corrupt = |reason: String| StoreError::Corrupt { key: keys::catalogue_chunk(&self.edition, chunk), reason };
        let bytes = self
            .chunks
            .get(chunk as usize)
            .and_then(|bytes| bytes.get(start as usize..end as usize))
            .ok_or_else(|| corrupt(format!("the directory places entry {index} at {start}..{end}, outside the chunk")))?;
        rmp_serde::from_slice(bytes).map_err(|e| corrupt(format!("entry {index}: {e}")))
    }

    /// Every entry, parsed (requests parse only what they show).
    #[cfg(test)]
    pub fn entries(&self) -> StoreResult<Vec<CatalogueEntry>> {
        (0..self.directory.len()).map(|index| self.entry(index)).collect()
    }
}

/// The withdrawal of an edition before it took effect (a correction is a withdrawal followed
/// by the import of the corrected file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub id: String,
    pub withdrawn_at: String,
    pub withdrawn_by: String,
}

/// The amount behind a `*` standard of one entry and specification (rule C6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfidentialStandard {
    pub code: String,
    /// As in the edition; `None` for a bare `*` without specification.
    pub specification: Option<String>,
    pub amount: ConfidentialAmount,
}

/// Confidential amounts supplied for an edition (rule C6: usable in settlement, never shown to
/// public or patient-facing callers). A later supply for the same code and specification
/// replaces an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfidentialSupply {
    pub edition: String,
    pub standards: Vec<ConfidentialStandard>,
    pub supplied_at: String,
    pub supplied_by: String,
}

/// One record of the catalogue log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum CatalogueRecord {
    EditionImported(EditionSummary),
    EditionWithdrawn(Withdrawal),
    RegionalList(RegionalListVersion),
    ConfidentialStandards(ConfidentialSupply),
}

/// The versions of one region's list, in date order; a later record for the same date
/// replaces the earlier one (a correction before the date).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListVersions(Vec<RegionalListVersion>);

impl ListVersions {
    fn put(&mut self, version: &RegionalListVersion) {
        match self.0.binary_search_by_key(&version.effective_from, |v| v.effective_from) {
            Ok(at) => self.0[at] = version.clone(),
            Err(at) => self.0.insert(at, version.clone()),
        }
    }

    /// The version in force on `date`: the latest that started on or before it.
    pub fn in_force(&self, date: NaiveDate) -> Option<&RegionalListVersion> {
        self.0.iter().rev().find(|v| v.effective_from <= date)
    }

    /// The version published for exactly `date`.
    pub fn on(&self, date: NaiveDate) -> Option<&RegionalListVersion> {
        self.0.iter().find(|v| v.effective_from == date)
    }

    pub fn all(&self) -> &[RegionalListVersion] {
        &self.0
    }
}

/// What the catalogue log says, folded: the listed editions, every region's lists, and the
/// confidential amounts per edition.
#[derive(Debug, Clone, Default)]
pub struct CatalogueState {
    pub editions: Editions,
    /// By region, then list: looked up by `&str` without building a key (a coverage asks up to
    /// nine times per request).
    regional: HashMap<String, HashMap<ListKind, ListVersions>>,
    /// Per edition: the sequence number of the last supply (it names the merged set, so a
    /// cache can tell when to rebuild), and the amounts by code and specification.
    confidential: HashMap<String, (i64, Confidential)>,
}

/// The confidential amounts supplied for one edition, by code and specification (rule C6);
/// cheap to clone, so an edition's index keeps them to fill entries as it parses them.
#[derive(Debug, Clone, Default)]
pub struct Confidential(Arc<HashMap<(String, Option<String>), ConfidentialAmount>>);

impl Confidential {
    /// Fills the amounts supplied for the entry with catalogue code `code` into its `*`
    /// standards.
    pub fn fill(&self, code: &str, entry: &mut CatalogueEntry) {
        if self.0.is_empty() {
            return;
        }
        for standard in &mut entry.payment_standards {
            if let StandardAmount::Confidential { amount } = &mut standard.amount
                && let Some(supplied) = self.0.get(&(code.to_string(), standard.specification.clone()))
            {
                *amount = Some(*supplied);
            }
        }
    }
}

impl CatalogueState {
    /// Folds log records, in sequence order.
    pub fn fold<'a>(records: impl IntoIterator<Item = (i64, &'a CatalogueRecord)>) -> Self {
        let mut state = CatalogueState::default();
        for (seq, record) in records {
            match record {
                CatalogueRecord::EditionImported(summary) => state.editions.add(summary),
                CatalogueRecord::EditionWithdrawn(withdrawal) => state.editions.remove(&withdrawal.id),
                CatalogueRecord::RegionalList(version) => {
                    state.regional.entry(version.admdvs.clone()).or_default().entry(version.entries.kind()).or_default().put(version)
                }
                CatalogueRecord::ConfidentialStandards(supply) => {
                    let (last, Confidential(amounts)) = state.confidential.entry(supply.edition.clone()).or_default();
                    *last = seq;
                    let amounts = Arc::make_mut(amounts);
                    for standard in &supply.standards {
                        amounts.insert((standard.code.clone(), standard.specification.clone()), standard.amount);
                    }
                }
            }
        }
        state
    }

    /// A region's versions of one list (empty if it never published one).
    pub fn list_versions(&self, admdvs: &str, kind: ListKind) -> Option<&ListVersions> {
        self.regional.get(admdvs)?.get(&kind)
    }

    /// The version of a list in force on `date` for region `admdvs`: its own, else its city's,
    /// else its province's (issue 14: regions are a hierarchy; a city narrows or extends a
    /// provincial list by publishing its own). The version's `admdvs` says which level it is.
    pub fn list_in_force(&self, admdvs: &str, kind: ListKind, date: NaiveDate) -> Option<&RegionalListVersion> {
        rules::registry::region_chain(admdvs).iter().find_map(|level| self.list_versions(level, kind).and_then(|v| v.in_force(date)))
    }

    /// The sequence number of the last confidential supply for an edition (0: none).
    pub fn confidential_generation(&self, edition: &str) -> i64 {
        self.confidential.get(edition).map_or(0, |(seq, _)| *seq)
    }

    /// The confidential amounts supplied for an edition (none if never supplied).
    pub fn confidential(&self, edition: &str) -> Confidential {
        self.confidential.get(edition).map(|(_, amounts)| amounts.clone()).unwrap_or_default()
    }
}

/// The catalogue in the key-value store.
pub struct Catalogue<'a, K> {
    kv: &'a K,
}

impl<'a, K: KeyValue> Catalogue<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Self { kv }
    }

    /// The catalogue log, which instances follow.
    pub fn log(&self) -> Log<'a, K> {
        Log::new(self.kv, keys::CATALOGUE_LOG)
    }

    /// An edition as stored, in `summary.chunks` + 1 reads: its directory parsed, its chunks
    /// kept as bytes.
    pub async fn edition(&self, summary: &EditionSummary) -> StoreResult<StoredEdition> {
        let key = keys::catalogue_directory(&summary.id);
        let corrupt = |key: &str, reason: &str| StoreError::Corrupt { key: key.to_string(), reason: reason.to_string() };
        let bytes = self.kv.get(&key).await?.ok_or_else(|| corrupt(&key, "a logged edition is missing its directory"))?;
        let directory: EditionDirectory = postcard::from_bytes(&bytes).map_err(|e| corrupt(&key, &e.to_string()))?;
        if !directory.is_well_formed() || directory.len() != summary.counts.entries as usize {
            return Err(corrupt(&key, &format!("expected {} well-formed rows in every column", summary.counts.entries)));
        }
        let mut chunks = Vec::with_capacity(summary.chunks as usize);
        for index in 0..summary.chunks {
            let key = keys::catalogue_chunk(&summary.id, index);
            chunks.push(self.kv.get(&key).await?.ok_or_else(|| corrupt(&key, "a logged edition is missing this chunk"))?);
        }
        Ok(StoredEdition { edition: summary.id.clone(), directory, chunks })
    }

    /// Stores an edition and logs it: the chunks, the directory, the manifest, then the log
    /// record, so readers never see a logged edition without its entries.
    /// Safe to retry. `initials` gives a name's search initials (the catalogue component's
    /// pinyin), stored in the directory so a new instance does not compute them again.
    pub async fn save(&self, summary: &EditionSummary, entries: &[CatalogueEntry], initials: impl Fn(&str) -> String) -> StoreResult<i64> {
        let stored = StoredEdition::new(&summary.id, entries, initials)?;
        for (index, chunk) in (0..).zip(&stored.chunks) {
            self.kv.set(&keys::catalogue_chunk(&summary.id, index), chunk).await?;
        }
        let directory_key = keys::catalogue_directory(&summary.id);
        let directory = postcard::to_allocvec(&stored.directory).map_err(|e| StoreError::Corrupt { key: directory_key.clone(), reason: e.to_string() })?;
        self.kv.set(&directory_key, &directory).await?;
        self.kv.set_json(&keys::catalogue_manifest(&summary.id), summary).await?;
        self.log().append(&CatalogueRecord::EditionImported(summary.clone())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LogReader, MemoryKv};
    use futures::executor::block_on;
    use rules::catalogue::{ListEntries, ListedDrug};
    use rules::fixtures::{date, negotiated, regular};
    use rust_decimal_macros::dec;
    use std::cell::Cell;

    fn no_initials(_: &str) -> String {
        String::new()
    }

    fn edition(id: &str, from: NaiveDate, size: u32) -> (EditionSummary, Vec<CatalogueEntry>) {
        let entries: Vec<_> = (1..=size).map(|n| regular(&format!("药品{n}"))).collect();
        let summary = EditionSummary::new(id.into(), id.into(), from, &entries, "2024-12-01T00:00:00+08:00".into(), "ops-1".into());
        (summary, entries)
    }

    /// What a fresh instance sees: the whole log, folded.
    async fn state<K: KeyValue>(kv: &K) -> CatalogueState {
        let log = Catalogue::new(kv).log();
        let mut reader = LogReader::default();
        reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
        CatalogueState::fold(reader.records())
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

    proptest::proptest! {
        /// The search from a hash's expected place finds what a binary search over the whole
        /// array finds, for hashes spread evenly or not at all.
        #[test]
        fn the_search_from_the_expected_place_agrees_with_a_binary_search(
            mut hashes in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..300),
            clustered in proptest::collection::vec(0u64..40, 0..60),
            wanted in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..20),
        ) {
            hashes.extend(clustered);
            hashes.sort_unstable();
            let directory = EditionDirectory { by_hash: (0..).zip(&hashes).map(|(at, &h)| (h, at)).collect(), ..Default::default() };
            for hash in wanted.into_iter().chain(hashes.iter().copied()).chain([0, u64::MAX, 20]) {
                proptest::prop_assert_eq!(directory.first_not_below(hash), hashes.partition_point(|&h| h < hash));
            }
        }
    }

    #[test]
    fn saves_in_chunks_and_reads_back_in_order() {
        let kv = MemoryKv::new();
        let catalogue = Catalogue::new(&kv);
        let (summary, entries) = edition("e1", date(2025, 1, 1), 1201);
        assert_eq!(summary.chunks, 3);
        block_on(async {
            assert_eq!(catalogue.log().version().await.unwrap(), 0);
            assert_eq!(catalogue.save(&summary, &entries, no_initials).await.unwrap(), 1);
            assert_eq!(catalogue.log().version().await.unwrap(), 1);
            assert_eq!(state(&kv).await.editions.all(), std::slice::from_ref(&summary));
            let stored = catalogue.edition(&summary).await.unwrap();
            assert_eq!(stored.entries().unwrap(), entries);
            assert_eq!(stored.directory.codes.iter().collect::<Vec<_>>(), entries.iter().map(CatalogueEntry::code).collect::<Vec<_>>());
            assert_eq!(stored.directory.search_names.get(0), "药品1");
            for (position, entry) in entries.iter().enumerate() {
                assert_eq!(stored.directory.position(&entry.code()), Some(position));
            }
            assert_eq!(stored.directory.position("nrdl-000000000000"), None);
            assert_eq!(kv.get_json(&keys::catalogue_manifest("e1")).await.unwrap(), Some(summary.clone()));
            // a chunk is its entries' MessagePack, back to back
            let chunk = kv.get(&keys::catalogue_chunk("e1", 2)).await.unwrap().unwrap();
            let mut rest = chunk.as_slice();
            for entry in &entries[1000..] {
                assert_eq!(&rmp_serde::from_read::<_, CatalogueEntry>(&mut rest).unwrap(), entry);
            }
            assert!(rest.is_empty());
            // a span the chunk does not hold is an unreadable store, not a panic
            let mut damaged = stored.clone();
            damaged.directory.spans[3] = (0, 10, u32::MAX);
            assert!(matches!(damaged.entry(3), Err(StoreError::Corrupt { .. })));
            damaged.directory.spans[3] = (0, 0, 5);
            assert!(matches!(damaged.entry(3), Err(StoreError::Corrupt { .. })));
        });
    }

    #[test]
    fn a_crash_at_any_write_leaves_the_readable_state_unchanged_and_a_retry_completes() {
        let (first, first_entries) = edition("e1", date(2024, 1, 1), 10);
        let (second, second_entries) = edition("e2", date(2025, 1, 1), 1100);
        // 3 chunks, directory, manifest, log head, log record, version: crash before each write
        for allowed in 0..8 {
            let kv = CrashingKv { inner: MemoryKv::new(), allowed: Cell::new(usize::MAX) };
            let catalogue = Catalogue::new(&kv);
            block_on(async {
                catalogue.save(&first, &first_entries, no_initials).await.unwrap();
                kv.allowed.set(allowed);
                assert!(catalogue.save(&second, &second_entries, no_initials).await.is_err());
                let seen = state(&kv).await;
                if allowed < 7 {
                    // nothing readable changed: only the first edition, whose entries all load
                    assert_eq!(seen.editions.all(), std::slice::from_ref(&first), "crash before write {allowed}");
                }
                for listed in seen.editions.all() {
                    assert!(catalogue.edition(listed).await.is_ok(), "crash before write {allowed}");
                }
                kv.allowed.set(usize::MAX);
                catalogue.save(&second, &second_entries, no_initials).await.unwrap();
                assert_eq!(state(&kv).await.editions.all(), [first.clone(), second.clone()]);
                assert_eq!(catalogue.edition(&second).await.unwrap().entries().unwrap(), second_entries);
            });
        }
    }

    #[test]
    fn saving_the_same_edition_again_lists_it_once() {
        let kv = MemoryKv::new();
        let catalogue = Catalogue::new(&kv);
        let (summary, entries) = edition("e1", date(2025, 1, 1), 3);
        block_on(async {
            catalogue.save(&summary, &entries, no_initials).await.unwrap();
            catalogue.save(&summary, &entries, no_initials).await.unwrap();
            assert_eq!(state(&kv).await.editions.all().len(), 1);
        });
    }

    #[test]
    fn racing_imports_for_one_date_agree_that_the_first_logged_wins() {
        // rule C1: one edition per date, decided by log order on every instance
        let kv = MemoryKv::new();
        let (a, a_entries) = edition("a", date(2025, 1, 1), 2);
        let (b, b_entries) = edition("b", date(2025, 1, 1), 2);
        let (c, c_entries) = edition("c", date(2026, 1, 1), 2);
        block_on(async {
            let catalogue = Catalogue::new(&kv);
            let (x, y, z) = futures::join!(catalogue.save(&a, &a_entries, no_initials), catalogue.save(&b, &b_entries, no_initials), catalogue.save(&c, &c_entries, no_initials));
            let (x, y) = (x.unwrap(), y.unwrap());
            z.unwrap();
            let winner = if x < y { &a } else { &b };
            assert_eq!(state(&kv).await.editions.all(), [winner.clone(), c.clone()]);
        });
    }

    #[test]
    fn a_withdrawn_edition_is_no_longer_listed_and_may_be_imported_again() {
        let kv = MemoryKv::new();
        let (summary, entries) = edition("e1", date(2026, 1, 1), 2);
        block_on(async {
            let catalogue = Catalogue::new(&kv);
            catalogue.save(&summary, &entries, no_initials).await.unwrap();
            let withdrawal = Withdrawal { id: "e1".into(), withdrawn_at: String::new(), withdrawn_by: "ops-1".into() };
            catalogue.log().append(&CatalogueRecord::EditionWithdrawn(withdrawal)).await.unwrap();
            assert!(state(&kv).await.editions.all().is_empty());
            catalogue.save(&summary, &entries, no_initials).await.unwrap();
            assert_eq!(state(&kv).await.editions.all().len(), 1);
        });
    }

    #[test]
    fn admission_finds_the_same_file_and_refuses_conflicts() {
        let (summary, _) = edition("e1", date(2025, 1, 1), 1);
        let mut editions = Editions::default();
        editions.add(&summary);
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
        // logged out of order: the list is still in date order
        let mut editions = Editions::default();
        editions.add(&e2024);
        editions.add(&e2023);
        assert_eq!(editions.all(), [e2023.clone(), e2024.clone()]);
        assert_eq!(editions.in_force(date(2023, 12, 31)), None);
        assert_eq!(editions.in_force(date(2024, 1, 1)), Some(&e2023));
        assert_eq!(editions.in_force(date(2024, 12, 31)), Some(&e2023));
        assert_eq!(editions.in_force(date(2025, 1, 1)), Some(&e2024));
        assert_eq!(editions.effective_to(&e2023), Some(date(2024, 12, 31)));
        assert_eq!(editions.effective_to(&e2024), None);
        assert_eq!(editions.previous(&e2024), Some(&e2023));
        assert_eq!(editions.previous(&e2023), None);
    }

    #[test]
    fn a_logged_edition_with_a_missing_chunk_is_reported_corrupt() {
        let kv = MemoryKv::new();
        let catalogue = Catalogue::new(&kv);
        let (summary, entries) = edition("e1", date(2025, 1, 1), 600);
        block_on(async {
            catalogue.save(&summary, &entries, no_initials).await.unwrap();
            kv.delete(&keys::catalogue_chunk("e1", 1)).await.unwrap();
            assert!(matches!(catalogue.edition(&summary).await, Err(StoreError::Corrupt { .. })));
            kv.delete(&keys::catalogue_directory("e1")).await.unwrap();
            assert!(matches!(catalogue.edition(&summary).await, Err(StoreError::Corrupt { .. })));
        });
    }

    #[test]
    fn an_edition_giving_one_code_twice_is_refused() {
        let (_, mut entries) = edition("e1", date(2025, 1, 1), 3);
        entries.push(entries[1].clone());
        match StoredEdition::new("e1", &entries, no_initials) {
            Err(StoreError::Corrupt { reason, .. }) => {
                assert!(reason.contains(&entries[1].code()), "{reason}");
                assert!(reason.starts_with("entries 1 and 3 ") || reason.starts_with("entries 3 and 1 "), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn codes_whose_hashes_collide_are_told_apart_by_the_code() {
        let (_, entries) = edition("e1", date(2025, 1, 1), 3);
        let mut directory = StoredEdition::new("e1", &entries, no_initials).unwrap().directory;
        let codes: Vec<String> = entries.iter().map(CatalogueEntry::code).collect();
        // as if the first two codes had one hash, in either order
        let shared = code_hash(&codes[0]);
        for order in [[0, 1], [1, 0]] {
            directory.by_hash = vec![(shared, order[0]), (shared, order[1]), (code_hash(&codes[2]), 2)];
            directory.by_hash.sort_by_key(|&(hash, _)| hash);
            assert_eq!(directory.position(&codes[0]), Some(0));
            assert_eq!(directory.position(&codes[2]), Some(2));
            // a code listed under another's hash is missed, never mistaken for it
            assert_eq!(directory.position(&codes[1]), None);
        }
    }

    #[test]
    fn a_directory_that_would_misplace_entries_is_reported_corrupt() {
        let kv = MemoryKv::new();
        let catalogue = Catalogue::new(&kv);
        let (summary, entries) = edition("e1", date(2025, 1, 1), 3);
        let key = keys::catalogue_directory("e1");
        block_on(async {
            catalogue.save(&summary, &entries, no_initials).await.unwrap();
            let stored: EditionDirectory = postcard::from_bytes(&kv.get(&key).await.unwrap().unwrap()).unwrap();
            let damages: [fn(&mut EditionDirectory); 5] = [
                // a text end inside a character: slicing there would panic
                |d| d.search_names.ends[0] = 1,
                // hashes out of order: a binary search would miss entries
                |d| d.by_hash.swap(0, 1),
                // a position the edition does not have
                |d| d.by_hash[2].1 = 7,
                // a position named twice (so another never)
                |d| d.by_hash[2].1 = d.by_hash[1].1,
                // a column short of a row
                |d| d.kinds.truncate(2),
            ];
            for damage in damages {
                let mut damaged = stored.clone();
                damage(&mut damaged);
                kv.set(&key, &postcard::to_allocvec(&damaged).unwrap()).await.unwrap();
                assert!(matches!(catalogue.edition(&summary).await, Err(StoreError::Corrupt { .. })), "{damaged:?}");
            }
            // bytes that are no directory at all
            kv.set(&key, b"{}").await.unwrap();
            assert!(matches!(catalogue.edition(&summary).await, Err(StoreError::Corrupt { .. })));
        });
    }

    fn list(admdvs: &str, from: NaiveDate, codes: &[&str]) -> CatalogueRecord {
        CatalogueRecord::RegionalList(RegionalListVersion {
            admdvs: admdvs.into(),
            effective_from: from,
            entries: ListEntries::DualChannel(codes.iter().map(|c| ListedDrug { code: (*c).into() }).collect()),
            digest: codes.join(","),
            published_at: String::new(),
            published_by: String::new(),
        })
    }

    #[test]
    fn regional_versions_are_per_region_in_date_order_and_a_same_date_version_replaces() {
        let records = [
            list("420100", date(2025, 1, 1), &["A"]),
            list("420100", date(2024, 1, 1), &["B"]),
            list("420200", date(2025, 1, 1), &["C"]),
            list("420100", date(2025, 1, 1), &["A", "D"]),
        ];
        let state = CatalogueState::fold(records.iter().enumerate().map(|(i, r)| (i as i64 + 1, r)));
        let wuhan = state.list_versions("420100", ListKind::DualChannel).expect("listed");
        assert_eq!(wuhan.all().len(), 2);
        assert_eq!(wuhan.in_force(date(2024, 6, 1)).unwrap().entries.codes(), ["B"]);
        assert_eq!(wuhan.in_force(date(2025, 6, 1)).unwrap().entries.codes(), ["A", "D"]);
        assert_eq!(wuhan.on(date(2024, 1, 1)).unwrap().entries.codes(), ["B"]);
        assert!(wuhan.in_force(date(2023, 12, 31)).is_none());
        assert!(state.list_versions("420100", ListKind::SeparatePayment).is_none());
        assert_eq!(state.list_versions("420200", ListKind::DualChannel).unwrap().all().len(), 1);
    }

    #[test]
    fn confidential_supplies_fill_star_standards_and_the_latest_wins() {
        // rule C6: the amount reaches the internal record only
        let supply = |seq_amount| CatalogueRecord::ConfidentialStandards(ConfidentialSupply {
            edition: "e1".into(),
            standards: vec![ConfidentialStandard { code: "X".into(), specification: Some("20mg/片".into()), amount: ConfidentialAmount::new(seq_amount) }],
            supplied_at: String::new(),
            supplied_by: String::new(),
        });
        let records = [supply(dec!(100.00)), supply(dec!(98.50))];
        let state = CatalogueState::fold(records.iter().enumerate().map(|(i, r)| (i as i64 + 1, r)));
        assert_eq!(state.confidential_generation("e1"), 2);
        assert_eq!(state.confidential_generation("e2"), 0);
        let mut entry = negotiated("安奈拉唑钠肠溶片", StandardAmount::Confidential { amount: None });
        let unsupplied = entry.clone();
        state.confidential("e1").fill("Y", &mut entry);
        state.confidential("e2").fill("X", &mut entry);
        assert_eq!(entry, unsupplied, "another code or edition");
        state.confidential("e1").fill("X", &mut entry);
        match &entry.payment_standards[0].amount {
            StandardAmount::Confidential { amount: Some(amount) } => assert_eq!(amount.for_settlement(), dec!(98.50)),
            other => panic!("not filled: {other:?}"),
        }
    }
}
