//! Generates the demo data from the committed inputs into a temporary directory, checks it
//! against the full edition and the outpatient table, and requires the committed files in
//! `components/catalogue/demo/` to be exactly what the generator makes, so they cannot drift.

use demo_data::{Options, REGION_FILE, SEARCH_CLASSES, SLICE_FILE, Summary, generate};
use rules::catalogue::{CatalogueEntry, Category, Sheet};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

struct Generated {
    summary: Summary,
    slice: Vec<u8>,
    region: Vec<u8>,
    _dir: tempfile::TempDir,
}

fn generated() -> Generated {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = Options { out: dir.path().join("demo"), ..Options::committed() };
    let summary = generate(&options).expect("the generator runs on the committed inputs");
    let read = |name: &str| std::fs::read(options.out.join(name)).expect("a generated file");
    Generated { slice: read(SLICE_FILE), region: read(REGION_FILE), summary, _dir: dir }
}

fn full_edition() -> Vec<CatalogueEntry> {
    let csv = std::fs::read(Options::committed().csv).expect("the 2024 CSV");
    import::from_csv(&csv).expect("the 2024 CSV imports")
}

#[test]
fn the_slice_is_part_of_the_2024_edition_and_the_lists_name_its_entries() {
    let Generated { summary, slice, region, .. } = generated();
    let entries = import::from_csv(&slice).expect("the slice imports");
    let full = full_edition();

    // every slice entry is the edition's, in the edition's order, unchanged but for its line
    let mut rest = full.iter();
    for entry in &entries {
        assert!(
            rest.any(|original| CatalogueEntry { source_row: original.source_row, ..entry.clone() } == *original),
            "{} (line {}) is not an entry of the edition, in order",
            entry.name,
            entry.source_row
        );
    }
    let per_sheet: Vec<usize> = Sheet::ALL.iter().map(|&sheet| entries.iter().filter(|e| e.sheet == sheet).count()).collect();
    // 西药部分 is cut after XV03 (地拉罗司 is the table's last regular drug), 中成药部分 after ZA01
    assert_eq!(per_sheet, [1923, 55, 346, 58, 21]);
    assert_eq!(summary.sheets.iter().map(|(_, n)| *n).collect::<Vec<_>>(), per_sheet);
    assert_eq!(entries.iter().filter(|e| e.category == Category::Negotiated).count(), 404);
    for class in SEARCH_CLASSES {
        let count = |entries: &[CatalogueEntry]| entries.iter().filter(|e| e.class_code.as_str().starts_with(class)).count();
        assert_eq!(count(&entries), count(&full), "class {class} is whole");
    }

    let region: Value = serde_json::from_slice(&region).expect("region.json is JSON");
    assert_eq!(region["effective_from"], "2025-01-01");
    let codes: HashSet<String> = entries.iter().map(CatalogueEntry::code).collect();
    let lists = region["lists"].as_object().expect("lists");
    assert_eq!(
        lists.keys().map(String::as_str).collect::<HashSet<_>>(),
        HashSet::from(["dual_channel", "separate_payment", "outpatient"])
    );
    for (name, list) in lists {
        for item in list.as_array().expect("a list") {
            let code = item["code"].as_str().expect("a code");
            assert!(codes.contains(code), "{name} names {code}, which is not in the slice");
        }
    }
    assert_eq!(lists["dual_channel"].as_array().expect("list").len(), 404);
    assert_eq!(lists["separate_payment"].as_array().expect("list").len(), summary.separate_payment);

    // the outpatient table: at least 20 of its 23 drugs, each at the table's annual maximum
    assert_eq!(summary.outpatient.len() + summary.unmatched.len(), 23);
    assert!(summary.outpatient.len() >= 20, "{summary}");
    assert_eq!(region["outpatient_unmatched"].as_array().expect("a list").len(), summary.unmatched.len());
    let annual_max: HashMap<&str, &str> = lists["outpatient"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| (item["code"].as_str().expect("code"), item["annual_max"].as_str().expect("a decimal string")))
        .collect();
    for matched in &summary.outpatient {
        for entry in &matched.entries {
            assert_eq!(annual_max[entry.code.as_str()], matched.drug.annual_max.to_string(), "{}", entry.name);
        }
    }
    let max_of = |name: &str| {
        let entry = entries.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name} is in the slice"));
        annual_max.get(entry.code().as_str()).copied()
    };
    assert_eq!(max_of("麦格司他胶囊"), Some("281000.00"));
    assert_eq!(max_of("注射用维得利珠单抗"), Some("45000.00"));
    assert_eq!(max_of("盐酸芬戈莫德胶囊"), Some("42000.00"), "a salt's product name is the drug");
    assert_eq!(max_of("注射用醋酸奥曲肽微球"), Some("66000.00"), "the table's 微球注射剂");
    assert_eq!(max_of("奥曲肽"), None, "the plain 注射剂 is not the microspheres");
    // the city's own remark, narrower than the national restriction (C9): only 奥曲肽's
    let restricted: Vec<&Value> = lists["outpatient"].as_array().expect("a list").iter().filter(|item| item.get("local_restriction").is_some()).collect();
    let octreotide = entries.iter().find(|e| e.name == "注射用醋酸奥曲肽微球").expect("in the slice").code();
    assert_eq!(restricted.len(), 1, "{restricted:?}");
    assert_eq!(restricted[0]["code"], octreotide.as_str());
    assert_eq!(restricted[0]["local_restriction"], serde_json::json!({"text": "限肢端肥大症", "indications": ["E22.0"]}));
    assert_eq!(max_of("地拉罗司"), Some("77000.00"), "the regular 口服常释剂型 entry");
    assert_eq!(max_of("地拉罗司颗粒"), None, "granules are not 口服常释剂型");
    assert_eq!(max_of("注射用奥马珠单抗α"), None, "another drug");
}

#[test]
fn the_committed_files_are_what_the_generator_makes() {
    let Generated { slice, region, .. } = generated();
    let committed = Options::committed().out;
    for (name, fresh) in [(SLICE_FILE, slice), (REGION_FILE, region)] {
        let path = committed.join(name);
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/demo-data.sh", path.display()));
        assert!(on_disk == fresh, "{} differs from the generator's output; run scripts/demo-data.sh and commit", path.display());
    }
}
