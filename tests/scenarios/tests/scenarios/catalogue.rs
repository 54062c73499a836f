//! National catalogue editions through the host (issue 3): importing the real 2024 workbook
//! over HTTP, looking drugs up and searching as of a date (rule C1), all-or-nothing imports,
//! roles, confidentiality of `*` standards (rule C6), and the key-value budget of a warm
//! instance.

use http::Method;
use scenarios::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn workbook() -> Vec<u8> {
    fixture("nrdl-2024.xlsx")
}

pub async fn import(app: &TestApp, token: Option<&str>, query: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let mut request = app
        .client
        .post(app.url(&format!("/api/catalogue/editions?{query}")))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    app.send(request).await
}

/// Imports the 2024 workbook as the edition in force from 2025-01-01.
async fn import_2024(app: &TestApp) -> Value {
    let answer = import(app, Some(&token_for(admin())), "effective_from=2025-01-01&name=2024", XLSX, workbook()).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()
}

fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|d| d["name"].as_str().expect("name").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_the_2024_workbook_then_looks_drugs_up_and_searches() {
    let app = TestApp::start().await;
    let started = Instant::now();
    let edition = import_2024(&app).await;
    eprintln!("import of the 2024 workbook through the host: {} ms", started.elapsed().as_millis());
    assert_eq!(edition["name"], "2024");
    assert_eq!(edition["effective_from"], "2025-01-01");
    assert_eq!(edition["effective_to"], Value::Null);
    assert_eq!(edition["counts"]["entries"], 3826);
    assert_eq!(edition["counts"]["negotiated"], 404);
    assert_eq!(edition["id"].as_str().map(str::len), Some(64));
    // rows per sheet of the workbook, through the search filters that select each sheet
    for (sheet, filter, rows) in [
        ("西药部分", "kind=western&category=regular", 1957),
        ("中成药部分", "kind=chinese_patent&category=regular", 1444),
        ("协议西药", "kind=western&category=negotiated", 346),
        ("协议中成药", "kind=chinese_patent&category=negotiated", 58),
        ("竞价药品部分", "category=competitive_bid", 21),
    ] {
        let page = app.get(&format!("/api/catalogue/drugs?{filter}&as_of=2025-03-01&page_size=1"), None).await.json();
        assert_eq!(page["total"], rows, "{sheet}");
        assert_eq!(page["items"][0]["sheet"], serde_json::to_value(rules::catalogue::Sheet::from_official_name(sheet)).expect("sheet"));
    }

    let found = app.get("/api/catalogue/drugs?q=复方硼砂&as_of=2025-03-01", None).await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    let found = found.json();
    assert_eq!(found["total"], 1);
    assert_eq!(found["edition"]["id"], edition["id"]);
    let drug = &found["items"][0];
    let code = drug["code"].as_str().expect("code");
    assert!(code.starts_with("nrdl-"), "{code}");
    assert_eq!(drug["insurance_class"], "A");
    assert_eq!(drug["dosage_form"], "外用液体剂");

    let one = app.get(&format!("/api/catalogue/drugs/{code}?as_of=2025-03-01"), None).await;
    assert_eq!(one.status, 200);
    let one = one.json();
    assert_eq!(one["drug"]["name"], "复方硼砂");
    assert_eq!(one["as_of"], "2025-03-01");

    // rule C1: nothing is in force before the edition starts
    app.get(&format!("/api/catalogue/drugs/{code}?as_of=2024-12-31"), None).await.problem(404, "NOT_FOUND");
    app.get("/api/catalogue/drugs/nrdl-000000000000?as_of=2025-03-01", None).await.problem(404, "NOT_FOUND");

    // filters
    let negotiated = app.get("/api/catalogue/drugs?category=negotiated&as_of=2025-03-01&page_size=1", None).await.json();
    assert_eq!(negotiated["total"], 404);
    let class_a_chinese = app.get("/api/catalogue/drugs?kind=chinese_patent&class=甲&as_of=2025-03-01", None).await.json();
    assert!(class_a_chinese["total"].as_u64().is_some_and(|n| n > 0));
    for item in class_a_chinese["items"].as_array().expect("items") {
        assert_eq!((item["kind"].as_str(), item["insurance_class"].as_str()), (Some("chinese_patent"), Some("A")));
    }
    let by_class = app.get("/api/catalogue/drugs?class_code=XA02BC&as_of=2025-03-01&page_size=100", None).await.json();
    for item in by_class["items"].as_array().expect("items") {
        assert!(item["class_code"].as_str().is_some_and(|c| c.starts_with("XA02BC")), "{item}");
    }

    // bad queries are 400 with the parameter named
    let bad = app.get("/api/catalogue/drugs?class=丙", None).await.problem(400, "INVALID_QUERY");
    assert_eq!(bad["violations"][0]["field"], "class");
    app.get("/api/catalogue/drugs?page_size=101", None).await.problem(400, "INVALID_QUERY");
    app.get("/api/catalogue/drugs/x?as_of=2025-13-01", None).await.problem(400, "INVALID_QUERY");
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_are_in_a_stable_order_without_gaps_or_overlaps() {
    let app = TestApp::start().await;
    import_2024(&app).await;
    let query = "/api/catalogue/drugs?q=注射&as_of=2025-06-01";
    let whole = app.get(&format!("{query}&page=1&page_size=60"), None).await.json();
    let first = app.get(&format!("{query}&page=1&page_size=30"), None).await.json();
    let second = app.get(&format!("{query}&page=2&page_size=30"), None).await.json();
    assert!(whole["total"].as_u64().is_some_and(|n| n > 60), "{}", whole["total"]);
    assert_eq!(first["total"], whole["total"]);
    assert_eq!([names(&first), names(&second)].concat(), names(&whole));
    // asking again gives the same order
    assert_eq!(names(&app.get(&format!("{query}&page=2&page_size=30"), None).await.json()), names(&second));
    let beyond = app.get(&format!("{query}&page=1000&page_size=30"), None).await.json();
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], whole["total"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_edition_replaces_the_earlier_from_its_date_and_keeps_history() {
    // rule C1
    let app = TestApp::start().await;
    let first = import_2024(&app).await;
    let next = json!([
        {"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "甲", "no": "1", "name": "复方硼砂", "dosage_form": "外用液体剂"},
        {"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "乙", "no": "2", "name": "新增测试药", "dosage_form": "口服常释剂型"}
    ]);
    let answer = import(&app, Some(&token_for(admin())), "effective_from=2026-01-01&name=2025", "application/json", next.to_string().into_bytes()).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    let second = answer.json();

    let on = |date: &str| format!("/api/catalogue/drugs?q=复方硼砂&as_of={date}");
    let last_day = app.get(&on("2025-12-31"), None).await.json();
    assert_eq!(last_day["edition"]["id"], first["id"]);
    assert_eq!(last_day["edition"]["effective_to"], "2025-12-31");
    let first_day = app.get(&on("2026-01-01"), None).await.json();
    assert_eq!(first_day["edition"]["id"], second["id"]);
    // the same drug keeps its code across editions
    assert_eq!(last_day["items"][0]["code"], first_day["items"][0]["code"]);

    let gone = app.get("/api/catalogue/drugs?q=糠甾醇&as_of=2025-12-31", None).await.json();
    let code = gone["items"][0]["code"].as_str().expect("code").to_string();
    assert_eq!(app.get(&format!("/api/catalogue/drugs/{code}?as_of=2025-12-31"), None).await.status, 200);
    app.get(&format!("/api/catalogue/drugs/{code}?as_of=2026-01-01"), None).await.problem(404, "NOT_FOUND");

    // another file for a date that already has an edition, or the same file under another date
    let other = json!([{"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "甲", "no": "1", "name": "别的药", "dosage_form": "外用液体剂"}]);
    let clash = import(&app, Some(&token_for(admin())), "effective_from=2026-01-01", "application/json", other.to_string().into_bytes()).await;
    assert_eq!(clash.problem(409, "EDITION_CONFLICT")["rule"], "C1");
    import(&app, Some(&token_for(admin())), "effective_from=2027-01-01", XLSX, workbook()).await.problem(409, "EDITION_CONFLICT");
}

#[tokio::test(flavor = "multi_thread")]
async fn importing_the_same_file_again_is_harmless() {
    let app = TestApp::start().await;
    let first = import_2024(&app).await;
    let again = import(&app, Some(&token_for(admin())), "effective_from=2025-01-01&name=other", XLSX, workbook()).await;
    assert_eq!(again.status, 200, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(again.json(), first);
    let all = app.get("/api/catalogue/drugs?as_of=2025-02-01&page_size=1", None).await.json();
    assert_eq!(all["total"], 3826);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_file_reports_every_bad_row_and_changes_nothing() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let csv = String::from_utf8(fixture("nrdl-2024-flat.csv")).expect("UTF-8");
    let bad = csv
        .replacen("西药部分,XA01,口腔科制剂,甲,1,复方硼砂", "西药部分,XA01,口腔科制剂,丙,1,复方硼砂", 1)
        .replacen("西药部分,XA01,口腔科制剂,乙,3,克霉唑", "西药部分,XA01,口腔科制剂,乙,3,", 1);
    assert_ne!(bad, csv);
    let problem = import(&app, Some(&admin), "effective_from=2025-01-01", "text/csv", bad.into_bytes())
        .await
        .problem(422, "INVALID_CATALOGUE_FILE");
    let fields: Vec<&str> = problem["violations"].as_array().expect("violations").iter().map(|v| v["field"].as_str().expect("field")).collect();
    assert_eq!(fields, ["/西药部分/2/ab", "/西药部分/4/name"], "{problem}");
    app.get("/api/catalogue/drugs?as_of=2025-02-01", None).await.problem(404, "NOT_FOUND");

    // the good CSV then imports (the CSV is 415 KB, within the route's limit)
    let answer = import(&app, Some(&admin), "effective_from=2025-01-01", "text/csv; charset=utf-8", csv.into_bytes()).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["counts"]["entries"], 3826);

    // two rows for one drug: the second could never be looked up by its code
    let twice = json!([
        {"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "甲", "no": "1", "name": "复方硼砂", "dosage_form": "外用液体剂"},
        {"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "甲", "no": "2", "name": "复方硼砂", "dosage_form": "外用液体剂"}
    ]);
    let duplicate = import(&app, Some(&admin), "effective_from=2026-01-01", "application/json", twice.to_string().into_bytes())
        .await
        .problem(422, "INVALID_CATALOGUE_FILE");
    assert_eq!(duplicate["violations"][0]["field"], "/西药部分/2/name", "{duplicate}");

    // not a workbook at all, the wrong media type, no date, too large
    import(&app, Some(&admin), "effective_from=2026-01-01", XLSX, b"not a zip".to_vec()).await.problem(422, "INVALID_CATALOGUE_FILE");
    import(&app, Some(&admin), "effective_from=2026-01-01", "text/plain", b"x".to_vec()).await.problem(415, "UNSUPPORTED_MEDIA_TYPE");
    let missing = import(&app, Some(&admin), "name=2025", XLSX, workbook()).await.problem(400, "INVALID_QUERY");
    assert_eq!(missing["violations"][0]["field"], "effective_from");
    import(&app, Some(&admin), "effective_from=2026-01-01", XLSX, vec![0; 5 * 1024 * 1024]).await.problem(413, "BODY_TOO_LARGE");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_import() {
    let app = TestApp::start().await;
    import(&app, None, "effective_from=2025-01-01", XLSX, workbook()).await.problem(401, "TOKEN_MISSING");
    for principal in [agency(), patient("P4201000001")] {
        import(&app, Some(&token_for(principal)), "effective_from=2025-01-01", XLSX, workbook()).await.problem(403, "ROLE_FORBIDDEN");
    }
    app.get("/api/catalogue/drugs?as_of=2025-02-01", None).await.problem(404, "NOT_FOUND");
}

/// Every payment standard of every negotiated and bid entry, page by page, as `token` sees it.
async fn standards_seen_by(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let mut standards = Vec::new();
    for category in ["negotiated", "competitive_bid"] {
        let mut page = 1;
        loop {
            let path = format!("/api/catalogue/drugs?category={category}&as_of=2025-03-01&page={page}&page_size=100");
            let answer = app.get(&path, token).await;
            assert_eq!(answer.status, 200);
            let body = answer.json();
            let items = body["items"].as_array().expect("items").clone();
            if items.is_empty() {
                break;
            }
            for item in &items {
                let code = item["code"].as_str().expect("code");
                // the single lookup answers the same way
                let one = app.get(&format!("/api/catalogue/drugs/{code}?as_of=2025-03-01"), token).await.json();
                assert_eq!(one["drug"], *item);
                standards.extend(item["payment_standards"].as_array().expect("standards").iter().cloned());
            }
            page += 1;
        }
    }
    standards
}

#[tokio::test(flavor = "multi_thread")]
async fn confidential_standards_never_reach_public_or_patient_callers() {
    // rule C6
    let app = TestApp::start().await;
    import_2024(&app).await;
    let patient = token_for(patient("P4201000001"));
    for token in [None, Some(patient.as_str())] {
        let standards = standards_seen_by(&app, token).await;
        let confidential: Vec<&Value> = standards.iter().filter(|s| s["amount"]["type"] == "confidential").collect();
        assert!(confidential.len() >= 252, "{}", confidential.len());
        for standard in confidential {
            // marked confidential, with no amount at all: not zero, not null, not the number
            assert_eq!(standard["amount"], json!({"type": "confidential"}), "{standard}");
        }
    }
    // agency callers see the internal record; the 2024 file carries no confidential amounts
    let internal = standards_seen_by(&app, Some(&token_for(agency()))).await;
    assert!(internal.iter().any(|s| s["amount"] == json!({"type": "confidential", "amount": null})));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_instance_answers_lookups_and_searches_in_at_most_two_store_reads() {
    let app = InProcessApp::start().await;
    let admin = token_for(admin());
    let started = Instant::now();
    let imported = app
        .send(Method::POST, "/api/catalogue/editions?effective_from=2025-01-01", Some(&admin), Some((XLSX, workbook())))
        .await;
    assert_eq!(imported.status, 201);
    eprintln!("import in process: {} ms, kv ops {}", started.elapsed().as_millis(), imported.kv_ops);

    let search = "/api/catalogue/drugs?q=片&as_of=2025-03-01";
    let cold = app.send(Method::GET, search, None, None).await;
    assert_eq!(cold.status, 200);
    eprintln!("cold search: kv ops {}", cold.kv_ops);
    let found: Value = serde_json::from_slice(&cold.body).expect("json");
    let lookup = format!("/api/catalogue/drugs/{}?as_of=2025-03-01", found["items"][0]["code"].as_str().expect("code"));

    let patient = token_for(patient("P4201000001"));
    for (path, token) in [(search, None), (lookup.as_str(), None), (search, Some(patient.as_str())), (lookup.as_str(), Some(&patient))] {
        let warm = app.send(Method::GET, path, token, None).await;
        assert_eq!(warm.status, 200);
        let ops = warm.kv_ops;
        let reads = ops.get + ops.exists + ops.increment + ops.get_many + ops.get_keys + ops.cas;
        eprintln!("warm {path} (token: {}): kv ops {ops}", token.is_some());
        assert!(reads <= 2, "{path}: {ops}");
        // the catalogue's version counter (a get of its SQLite bytes, store::ReadAhead), and the
        // token's revocation when there is one: no catalogue record or edition
        assert_eq!(reads, 1 + u64::from(token.is_some()), "a warm instance reads no catalogue value: {ops}");
        assert_eq!((ops.set, ops.set_many, ops.delete, ops.get_keys), (0, 0, 0, 0), "{ops}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_file_leaves_the_edition_in_force_untouched() {
    let app = TestApp::start().await;
    let edition = import_2024(&app).await;
    let before = app.get("/api/catalogue/drugs?q=复方硼砂&as_of=2026-03-01", None).await.json();
    // a next edition with one bad row among good ones: nothing of it is stored
    let next = json!([
        {"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "甲", "no": "1", "name": "复方硼砂", "dosage_form": "外用液体剂"},
        {"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "丙", "no": "2", "name": "坏行", "dosage_form": "口服常释剂型"}
    ]);
    import(&app, Some(&token_for(admin())), "effective_from=2026-01-01", "application/json", next.to_string().into_bytes())
        .await
        .problem(422, "INVALID_CATALOGUE_FILE");
    let editions = app.get("/api/catalogue/editions", None).await.json();
    assert_eq!(editions["editions"].as_array().map(Vec::len), Some(1));
    assert_eq!(editions["editions"][0]["id"], edition["id"]);
    assert_eq!(editions["editions"][0]["effective_to"], Value::Null);
    assert_eq!(app.get("/api/catalogue/drugs?q=复方硼砂&as_of=2026-03-01", None).await.json(), before);
    assert_eq!(app.get("/api/catalogue/drugs?as_of=2026-03-01&page_size=1", None).await.json()["total"], 3826);
}

/// Issue 20, item 9 (in part): the README's search example, taken from README.md itself, finds
/// a negotiated drug on a fresh `spin up` with demo data.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_search_example_finds_a_negotiated_drug_in_the_demo_data() {
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).expect("README.md");
    let url = readme
        .lines()
        .find_map(|line| line.split('"').find(|part| part.contains("/api/catalogue/drugs?q=")))
        .expect("the README shows a search");
    let path = url.trim_start_matches("http://127.0.0.1:3000");
    let app = TestApp::start_demo().await;
    let found = app.get(path, None).await.json();
    let items = found["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.iter().all(|i| i["category"] == "negotiated" || i["sheet"].as_str().is_some_and(|s| s.contains("协议"))), "{path}: {found}");
}
