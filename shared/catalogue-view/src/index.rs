//! An edition held in memory for lookups (and, with the `search` feature, name search): its
//! stored directory (codes and search fields, in edition order, and the codes' hash order), and
//! its chunks as bytes, from which an entry is parsed the first time a request needs it. A new
//! instance so parses only the directory (311 KB of the 2024 edition's 820 KB), and a search
//! parses only the page it shows.

use rules::catalogue::{CatalogueEntry, Category};
#[cfg(feature = "search")]
use rules::catalogue::{DrugKind, InsuranceClass};
use std::collections::HashMap;
use std::sync::OnceLock;
use store::StoreResult;
use store::catalogue::{Confidential, StoredEdition};
#[cfg(feature = "search")]
use store::catalogue::Texts;

/// Two entries of one edition with the same code: the second can never be looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateCode {
    pub code: String,
    pub first: usize,
    pub second: usize,
}

#[cfg(feature = "search")]
/// Search filters on national fields (all optional). `q` matches a substring of the generic
/// name, or of its pinyin initials (`amxl` finds 阿莫西林), as patients type in a mini-program.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    pub q: Option<String>,
    pub kind: Option<DrugKind>,
    pub insurance_class: Option<InsuranceClass>,
    pub category: Option<Category>,
    /// A class code or a prefix of one (`XA02` matches `XA02BC`): the codes are hierarchical.
    pub class_code: Option<String>,
}

/// Every later entry whose code an earlier entry of the edition already has.
pub fn duplicate_codes(entries: &[CatalogueEntry]) -> Vec<DuplicateCode> {
    let mut first_of: HashMap<String, usize> = HashMap::with_capacity(entries.len());
    let mut duplicates = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let code = entry.code();
        match first_of.get(&code) {
            Some(&first) => duplicates.push(DuplicateCode { code, first, second: index }),
            None => {
                first_of.insert(code, index);
            }
        }
    }
    duplicates
}

#[cfg(feature = "search")]
/// The pinyin initials of a name, lower case: one letter per Han character (its most common
/// reading), Latin letters and digits kept, everything else dropped (`注射用紫杉醇(白蛋白结合型)`
/// gives `zsyzscbdbjhx`).
pub fn pinyin_initials(name: &str) -> String {
    use pinyin::ToPinyin;
    name.chars()
        .filter_map(|c| match c.to_pinyin() {
            Some(reading) => reading.first_letter().chars().next(),
            None => c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase()),
        })
        .collect()
}

#[cfg(feature = "search")]
/// Marks every entry whose text in `texts` contains `needle`: one SIMD substring scan over the
/// texts concatenated rather than one `contains` per entry, so a search costs microseconds
/// however large the edition.
fn mark(texts: &Texts, needle: &str, marks: &mut [bool]) {
    for at in memchr::memmem::find_iter(texts.as_str().as_bytes(), needle.as_bytes()) {
        let entry = texts.at_byte(at);
        // a match running on into the next entry's text is no match
        if entry < marks.len() && at + needle.len() <= texts.bounds(entry).1 {
            marks[entry] = true;
        }
    }
}

pub struct EditionIndex {
    stored: StoredEdition,
    /// Filled into entries as they are parsed (rule C6); the cache rebuilds the index when new
    /// amounts are supplied.
    confidential: Confidential,
    /// Entries parsed so far, by position; boxed, so the empty slots a new instance allocates
    /// take a few bytes each rather than an entry's size.
    parsed: Vec<OnceLock<Box<CatalogueEntry>>>,
}

impl EditionIndex {
    /// Indexes an edition as stored (the store checked its directory: codes unique, in order).
    pub fn new(stored: StoredEdition, confidential: Confidential) -> Self {
        Self { parsed: (0..stored.directory.len()).map(|_| OnceLock::new()).collect(), stored, confidential }
    }

    /// Where the entry with `code` is in the edition.
    pub fn position(&self, code: &str) -> Option<usize> {
        self.stored.directory.position(code)
    }

    pub fn code(&self, position: usize) -> &str {
        self.stored.directory.codes.get(position)
    }

    pub fn category(&self, position: usize) -> Category {
        self.stored.directory.categories[position]
    }

    /// The entry at `position`, with its confidential amounts: parsed on first use.
    pub fn entry(&self, position: usize) -> StoreResult<&CatalogueEntry> {
        let cell = &self.parsed[position];
        if let Some(entry) = cell.get() {
            return Ok(entry);
        }
        let mut entry = self.stored.entry(position)?;
        self.confidential.fill(self.code(position), &mut entry);
        // a concurrent request may have parsed it meanwhile: either copy is the same
        Ok(cell.get_or_init(|| Box::new(entry)))
    }

    /// The entry with `code`, if the edition has it.
    pub fn get(&self, code: &str) -> StoreResult<Option<(&str, &CatalogueEntry)>> {
        self.position(code).map(|position| Ok((self.code(position), self.entry(position)?))).transpose()
    }

    #[cfg(feature = "search")]
    /// The positions of the entries matching `filter`, in edition order (sheet order of the
    /// official workbook, then row): a stable order for paging.
    pub fn matching<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = usize> + 'a {
        let directory = &self.stored.directory;
        let named: Option<Vec<bool>> = filter.q.as_deref().map(|q| {
            let q = q.to_lowercase();
            let mut marks = vec![false; directory.len()];
            mark(&directory.search_names, &q, &mut marks);
            mark(&directory.initials, &q, &mut marks);
            marks
        });
        (0..directory.len()).filter(move |&i| {
            named.as_ref().is_none_or(|marks| marks[i])
                && filter.kind.is_none_or(|k| directory.kinds[i] == k)
                && filter.insurance_class.is_none_or(|c| directory.insurance_classes[i] == c)
                && filter.category.is_none_or(|c| directory.categories[i] == c)
                && filter.class_code.as_deref().is_none_or(|c| directory.class_codes.get(i).starts_with(c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::catalogue::{ClassCode, EntryNumber};

    fn build(entries: Vec<CatalogueEntry>) -> EditionIndex {
        EditionIndex::new(StoredEdition::new("e1", &entries, initials_of).expect("unique codes"), Confidential::default())
    }

    #[cfg(feature = "search")]
    fn initials_of(name: &str) -> String {
        pinyin_initials(name)
    }

    #[cfg(not(feature = "search"))]
    fn initials_of(_: &str) -> String {
        String::new()
    }

    fn entry(name: &str, class: &str, category: Category) -> CatalogueEntry {
        CatalogueEntry {
            class_code: ClassCode::parse(class).expect("valid code"),
            category,
            ..rules::fixtures::regular(name)
        }
    }

    #[cfg(feature = "search")]
    fn search(index: &EditionIndex, filter: &Filter, number: usize, size: usize) -> (usize, Vec<String>) {
        let names: Vec<String> = index.matching(filter).map(|i| index.entry(i).expect("parses").name.clone()).collect();
        let found = names.iter().skip((number - 1) * size).take(size).cloned().collect();
        (names.len(), found)
    }

    #[test]
    fn derived_codes_are_stable_and_med_list_codg_wins() {
        let a = entry("阿莫西林", "XJ01", Category::Regular);
        assert_eq!(a.code(), a.clone().code());
        assert!(a.code().starts_with("nrdl-") && a.code().len() == 17);
        assert!(rules::role::is_code(&a.code()));
        // the number and class may change between editions; the code does not
        let mut moved = a.clone();
        moved.number = EntryNumber::Listed(99);
        moved.class_code = ClassCode::parse("XJ02").expect("valid code");
        assert_eq!(moved.code(), a.code());
        let mut coded = a.clone();
        coded.med_list_codg = Some("XJ01CAA040A001010100001".into());
        assert_eq!(coded.code(), "XJ01CAA040A001010100001");
    }

    #[test]
    fn duplicate_codes_are_all_reported() {
        let a = entry("阿莫西林", "XJ01", Category::Regular);
        let entries = vec![a.clone(), entry("头孢", "XJ01", Category::Regular), a.clone(), a];
        let duplicates = duplicate_codes(&entries);
        assert_eq!(duplicates.iter().map(|d| (d.first, d.second)).collect::<Vec<_>>(), [(0, 2), (0, 3)]);
    }

    #[cfg(feature = "search")]
    #[test]
    fn search_filters_pages_in_edition_order_and_counts_all_matches() {
        let entries: Vec<_> = (0..25)
            .map(|i| entry(&format!("西林{i}"), if i % 2 == 0 { "XJ01CA" } else { "XA02" }, Category::Regular))
            .chain([entry("西林DNA", "XJ01", Category::Negotiated)])
            .collect();
        let index = build(entries);
        let filter = Filter { q: Some("西林".into()), ..Filter::default() };
        let (total, page2) = search(&index, &filter, 2, 10);
        assert_eq!(total, 26);
        assert_eq!(page2[0], "西林10");
        assert!(search(&index, &filter, 4, 10).1.is_empty());
        let by_class = Filter { class_code: Some("XJ01".into()), ..Filter::default() };
        assert_eq!(search(&index, &by_class, 1, 100).0, 14);
        let negotiated_dna = Filter { q: Some("dna".into()), category: Some(Category::Negotiated), ..Filter::default() };
        assert_eq!(search(&index, &negotiated_dna, 1, 10).0, 1);
    }

    #[cfg(feature = "search")]
    #[test]
    fn pinyin_initials_find_names_as_patients_type_them() {
        assert_eq!(pinyin_initials("阿莫西林"), "amxl");
        assert_eq!(pinyin_initials("注射用紫杉醇(白蛋白结合型)"), "zsyzscbdbjhx");
        assert_eq!(pinyin_initials("重组人干扰素α-2b"), "zzrgrs2b");
        let index = build(vec![entry("阿莫西林", "XJ01", Category::Regular), entry("头孢克洛", "XJ01", Category::Regular)]);
        let by_initials = Filter { q: Some("AMXL".into()), ..Filter::default() };
        assert_eq!(search(&index, &by_initials, 1, 10).1, ["阿莫西林"]);
        let partial = Filter { q: Some("tb".into()), ..Filter::default() };
        assert_eq!(search(&index, &partial, 1, 10).1, ["头孢克洛"]);
        // the names are stored as one text: the end of one and the start of the next is no name
        for across in ["西林头孢", "lt", "林头"] {
            assert_eq!(search(&index, &Filter { q: Some(across.into()), ..Filter::default() }, 1, 10).0, 0, "{across}");
        }
    }
}
