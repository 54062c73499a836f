//! The demo data a fresh deployment serves with an empty store (issue 3, item 7), generated from
//! the real data so it reads like a real region and cannot drift from its sources:
//!
//! - `catalogue-2024-slice.csv`: part of the 2024 edition in the flat CSV layout, rows copied
//!   verbatim from `nrdl-2024-flat.csv` in source order (which rows, and why regular sheets are
//!   cut rather than thinned: `src/slice.rs`). The generator imports it with `import::from_csv`
//!   and fails unless every entry equals the full edition's.
//! - `region.json`: the region's lists over that slice, in force with the edition (2025-01-01):
//!   dual channel = every negotiated entry; separate payment = the negotiated antineoplastic and
//!   immunomodulating agents (XL01, XL02, XL04), the core of Hubei's separate-payment list;
//!   outpatient = the drugs of the city's 23-drug table (`004_…`, rule S4) with their annual
//!   maximums (which entries a table row means: `src/names.rs`) and the city's own remark of a
//!   row as the entry's `local_restriction` (C9: its text, and the indications a remark we know
//!   names, [`REMARK_INDICATIONS`]); table rows no entry matches are
//!   listed under `outpatient_unmatched` with the reason. Every list passes
//!   [`rules::catalogue::validate_list`], as it must to be published through the API.
//!
//! `scripts/demo-data.sh` runs it. Its outputs are committed in `components/catalogue/demo/` and
//! compiled into the catalogue component; `tests/generate.rs` fails when they differ from what
//! the generator makes of the committed inputs.

mod names;
mod slice;
mod table;

pub use slice::SEARCH_CLASSES;
pub use table::TableDrug;

use anyhow::{Context as _, ensure};
use rules::catalogue::{
    CatalogueEntry, Category, ListEntries, ListedDrug, LocalRestriction, NationalContext, OutpatientDrug, Sheet, validate_list,
};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use names::{Product, forms_agree, normalise};

pub const SLICE_FILE: &str = "catalogue-2024-slice.csv";
pub const REGION_FILE: &str = "region.json";
/// The 2024 edition is in force from this day (rule C1), and the region's lists with it (C8).
const EFFECTIVE_FROM: &str = "2025-01-01";
/// Separate payment: the antineoplastic (XL01, XL02) and immunomodulating (XL04) agents. Hubei's
/// 267 separate-payment drugs (`001_…`) are mainly targeted tumour drugs, then rare-disease,
/// infectious-disease and psychiatric ones; these classes stand in for its core.
const SEPARATE_PAYMENT_CLASSES: [&str; 3] = ["XL01", "XL02", "XL04"];

/// The city's remarks (the table's second 备注) encoded as ICD-10 indications (rule C9), so that
/// settlement checks them against the diagnoses; a remark not listed here is carried as text
/// only (met on the prescriber's attestation).
pub const REMARK_INDICATIONS: [(&str, &[&str]); 1] = [
    // 肢端肥大症和垂体性巨人症
    ("限肢端肥大症", &["E22.0"]),
];

/// The outpatient entry's own restriction for a table row's remark.
fn local_restriction(remark: &str) -> LocalRestriction {
    let indications = REMARK_INDICATIONS.iter().find(|(text, _)| *text == remark).map_or_else(Vec::new, |(_, codes)| codes.iter().map(|c| c.to_string()).collect());
    LocalRestriction { text: remark.to_string(), indications, min_age: None, max_age: None, specialties: Vec::new(), min_line_of_therapy: None }
}

/// Where the generator reads and writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The 2024 edition as the flat CSV.
    pub csv: PathBuf,
    /// The city's draft notice ending with the 23-drug outpatient table.
    pub policy: PathBuf,
    /// The directory the two files are written to (created if missing).
    pub out: PathBuf,
}

impl Options {
    /// The committed inputs and output directory, from the workspace root (wherever the
    /// generator is run from).
    pub fn committed() -> Options {
        // this crate is tests/demo-data; the shared data sits beside the workspace, in ../shared
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("the crate is two levels below the root");
        let shared = root.parent().expect("the workspace root has a parent").join("shared");
        Options {
            csv: shared.join("data/nrdl-2024-flat.csv"),
            policy: shared.join("policy/004_bfd32f1ecf08185a.txt"),
            out: root.join("components/catalogue/demo"),
        }
    }
}

/// What was generated, for the generator's report and the tests.
#[derive(Debug)]
pub struct Summary {
    /// Rows of the slice per sheet, in the workbook's order.
    pub sheets: Vec<(Sheet, usize)>,
    pub dual_channel: usize,
    pub separate_payment: usize,
    pub outpatient: Vec<Matched>,
    pub unmatched: Vec<Unmatched>,
    /// Each written file and its size in bytes.
    pub files: Vec<(PathBuf, usize)>,
}

/// A table row and the slice's entries it was matched to.
#[derive(Debug)]
pub struct Matched {
    pub drug: TableDrug,
    pub entries: Vec<MatchedEntry>,
}

#[derive(Debug)]
pub struct MatchedEntry {
    pub code: String,
    pub name: String,
    pub sheet: Sheet,
    /// The form the match was made on: the entry's own, or the one its name implies.
    pub form: String,
}

/// A table row no entry of the slice matches, as `region.json` lists it.
#[derive(Debug, Serialize)]
pub struct Unmatched {
    pub number: u32,
    pub name: String,
    pub dosage_form: String,
    pub annual_max: Decimal,
    pub reason: String,
}

#[derive(Serialize)]
struct Region<'a> {
    effective_from: &'static str,
    source: String,
    lists: Lists,
    outpatient_unmatched: &'a [Unmatched],
}

#[derive(Serialize)]
struct Lists {
    dual_channel: Vec<ListedDrug>,
    separate_payment: Vec<ListedDrug>,
    outpatient: Vec<OutpatientDrug>,
}

/// Generates both files into `options.out`. Nothing is written unless everything checks out.
pub fn generate(options: &Options) -> anyhow::Result<Summary> {
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let csv = read(&options.csv)?;
    let policy = String::from_utf8(read(&options.policy)?).context("the policy text is not UTF-8")?;
    let table = table::parse(&policy).with_context(|| format!("the outpatient table of {}", options.policy.display()))?;
    let edition = import::from_csv(&csv).with_context(|| format!("importing {}", options.csv.display()))?;
    let records = slice::Records::split(&csv)?;
    let (slice_csv, entries) = slice::write(&records, &edition, &slice::select(&edition, &table))?;

    let negotiated: Vec<&CatalogueEntry> = entries.iter().filter(|e| e.category == Category::Negotiated).collect();
    let separate = negotiated.iter().filter(|e| SEPARATE_PAYMENT_CLASSES.iter().any(|c| e.class_code.as_str().starts_with(c)));
    let mut outpatient = Vec::new();
    let mut unmatched = Vec::new();
    for drug in table {
        match match_drug(&drug, &entries) {
            Ok(found) => outpatient.push(Matched { drug, entries: found }),
            Err(reason) => unmatched.push(Unmatched {
                number: drug.number,
                name: drug.name,
                dosage_form: drug.dosage_form,
                annual_max: drug.annual_max,
                reason,
            }),
        }
    }
    let lists = Lists {
        dual_channel: negotiated.iter().map(|e| ListedDrug { code: e.code() }).collect(),
        separate_payment: separate.map(|e| ListedDrug { code: e.code() }).collect(),
        outpatient: outpatient
            .iter()
            .flat_map(|m| {
                m.entries.iter().map(|e| OutpatientDrug {
                    code: e.code.clone(),
                    annual_max: m.drug.annual_max,
                    local_restriction: m.drug.remark.as_deref().map(local_restriction),
                })
            })
            .collect(),
    };
    check_lists(&lists, &entries)?;

    let file_name =
        |path: &Path| path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let region = Region {
        effective_from: EFFECTIVE_FROM,
        source: format!(
            "Demo data, not a published regional list: generated by scripts/demo-data.sh from {} (the 2024 national catalogue) \
             and the 谈判药门诊用药保障目录 of {}. dual_channel: every negotiated entry; separate_payment: the negotiated \
             entries of classes {}; outpatient: the table's drugs with their annual maximums and the city's own remarks.",
            file_name(&options.csv),
            file_name(&options.policy),
            SEPARATE_PAYMENT_CLASSES.join(", "),
        ),
        lists,
        outpatient_unmatched: &unmatched,
    };
    let mut region_json = serde_json::to_string_pretty(&region)?;
    region_json.push('\n');

    std::fs::create_dir_all(&options.out).with_context(|| format!("creating {}", options.out.display()))?;
    let mut files = Vec::new();
    for (name, bytes) in [(SLICE_FILE, slice_csv.as_slice()), (REGION_FILE, region_json.as_bytes())] {
        let path = options.out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        files.push((path, bytes.len()));
    }
    Ok(Summary {
        sheets: Sheet::ALL.into_iter().map(|sheet| (sheet, entries.iter().filter(|e| e.sheet == sheet).count())).collect(),
        dual_channel: region.lists.dual_channel.len(),
        separate_payment: region.lists.separate_payment.len(),
        outpatient,
        unmatched,
        files,
    })
}

/// The entries a table row means: those that are its drug (or a salt of it) whose dosage form
/// agrees with the table's, keeping only the most specific agreement (the table's 微球注射剂
/// is the microsphere entry, not the plain 注射剂). Several entries remain when the same form
/// is listed under several product names (`注射用奥马珠单抗`, `奥马珠单抗注射液`) or
/// specifications (波生坦: the table covers the 32 mg dispersible and the 125 mg tablets); each
/// is a code a prescription may name, so each is listed. Entries that moved from negotiated to
/// the regular catalogue match as well: the notice keeps paying for them (四（一）).
fn match_drug(drug: &TableDrug, entries: &[CatalogueEntry]) -> Result<Vec<MatchedEntry>, String> {
    let generic = normalise(&drug.name);
    let form = normalise(&drug.dosage_form);
    let named: Vec<(&CatalogueEntry, Product)> = entries
        .iter()
        .map(|entry| (entry, Product::of(&entry.name, entry.dosage_form.as_deref())))
        .filter(|(_, product)| product.is(&generic))
        .collect();
    if named.is_empty() {
        return Err(format!("no entry of the slice is {generic} or a salt of it"));
    }
    let agreeing: Vec<(&CatalogueEntry, &str)> = named
        .iter()
        .filter_map(|(entry, product)| product.form.as_deref().filter(|f| forms_agree(f, &form)).map(|f| (*entry, f)))
        .collect();
    let Some(specific) = agreeing.iter().map(|(_, f)| f.chars().count()).max() else {
        let found: Vec<String> =
            named.iter().map(|(e, p)| format!("{} ({})", e.name, p.form.as_deref().unwrap_or("no dosage form"))).collect();
        return Err(format!("no {generic} entry has a dosage form agreeing with {form}: {}", found.join(", ")));
    };
    Ok(agreeing
        .into_iter()
        .filter(|(_, f)| f.chars().count() == specific)
        .map(|(entry, f)| MatchedEntry { code: entry.code(), name: entry.name.clone(), sheet: entry.sheet, form: f.to_owned() })
        .collect())
}

/// Validates the lists as publishing them through the API does, against the slice as the
/// edition in force: among other things, every code is the slice's and no list names one twice.
fn check_lists(lists: &Lists, entries: &[CatalogueEntry]) -> anyhow::Result<()> {
    let mut by_code: HashMap<String, &CatalogueEntry> = HashMap::new();
    for entry in entries {
        by_code.entry(entry.code()).or_insert(entry);
    }
    let current = |code: &str| by_code.get(code).copied();
    let previous = |_: &str| None;
    let national = NationalContext { current: &current, previous: &previous };
    for list in [
        ListEntries::DualChannel(lists.dual_channel.clone()),
        ListEntries::SeparatePayment(lists.separate_payment.clone()),
        ListEntries::Outpatient(lists.outpatient.clone()),
    ] {
        let problems = validate_list(&list, &national, None);
        ensure!(problems.is_empty(), "the {} list would be refused: {problems:?}", list.kind().as_str());
    }
    Ok(())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (path, bytes) in &self.files {
            writeln!(f, "wrote {} ({bytes} bytes)", path.display())?;
        }
        let rows: Vec<String> = self.sheets.iter().map(|(sheet, n)| format!("{sheet} {n}")).collect();
        writeln!(f, "slice: {} rows: {}", self.sheets.iter().map(|(_, n)| n).sum::<usize>(), rows.join(", "))?;
        writeln!(f, "lists: dual_channel {}, separate_payment {}", self.dual_channel, self.separate_payment)?;
        writeln!(
            f,
            "outpatient: {} of {} table drugs matched",
            self.outpatient.len(),
            self.outpatient.len() + self.unmatched.len()
        )?;
        for Matched { drug, entries } in &self.outpatient {
            for entry in entries {
                writeln!(
                    f,
                    "  {:>2} {} {} {} -> {} [{}, {}] {}",
                    drug.number, drug.name, drug.dosage_form, drug.annual_max, entry.name, entry.sheet, entry.form, entry.code
                )?;
            }
        }
        for drug in &self.unmatched {
            writeln!(f, "  UNMATCHED {:>2} {} {}: {}", drug.number, drug.name, drug.dosage_form, drug.reason)?;
        }
        Ok(())
    }
}
