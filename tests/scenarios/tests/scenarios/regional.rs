//! Regional lists, transitions, coverage and confidential amounts through the host (issue 3):
//! a small 2023 edition followed by the real 2024 workbook, as a region lives through an
//! edition switch (rules C1, C2, C4, C5, C6, C8).

use crate::catalogue::{XLSX, import, workbook};
use scenarios::*;
use serde_json::{Value, json};

/// A 2023 edition in force from 2024-01-01: 复方硼砂 as a negotiated drug (the 2024 edition
/// lists it as a regular entry), and 测试退出药, which the 2024 edition drops.
fn edition_2023() -> Vec<u8> {
    let negotiated = |no: &str, name: &str, form: &str| {
        json!({"sheet": "协议西药", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "乙", "no": no, "name": name,
               "dosage_form": form, "payment_standard": "63.00元(10ml/瓶)", "remark": "限口腔感染。",
               "validity": "2024年1月1日至2024年12月31日"})
    };
    json!([negotiated("1", "复方硼砂", "外用液体剂"), negotiated("2", "测试退出药", "口服常释剂型")]).to_string().into_bytes()
}

/// The region's app: 2023 edition from 2024-01-01, the 2024 workbook from 2025-01-01.
async fn region() -> TestApp {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let answer = import(&app, Some(&admin), "effective_from=2024-01-01&name=2023", "application/json", edition_2023()).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    let answer = import(&app, Some(&admin), "effective_from=2025-01-01&name=2024", XLSX, workbook()).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    app
}

async fn code_of(app: &TestApp, name: &str, as_of: &str) -> String {
    let found = app.get(&format!("/api/catalogue/drugs?q={name}&as_of={as_of}"), None).await.json();
    let item = found["items"].as_array().expect("items").iter().find(|d| d["name"] == name).unwrap_or_else(|| panic!("{name}: {found}"));
    item["code"].as_str().expect("code").to_string()
}

/// The first negotiated entry of the 2024 edition whose first standard is of `amount_type`
/// (every `*` of the 2024 edition is bare: it hides the specification too).
async fn negotiated_with(app: &TestApp, amount_type: &str) -> Value {
    let page = app.get("/api/catalogue/drugs?category=negotiated&as_of=2025-03-01&page_size=100", None).await.json();
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|d| d["payment_standards"][0]["amount"]["type"] == amount_type)
        .cloned()
        .unwrap_or_else(|| panic!("no negotiated drug with a {amount_type} standard"))
}

async fn publish(app: &TestApp, token: &str, admdvs: &str, list: &str, body: Value) -> Answer {
    app.post_json(&format!("/api/catalogue/regions/{admdvs}/lists/{list}"), Some(token), &body).await
}

fn listed(codes: &[&str]) -> Value {
    Value::Array(codes.iter().map(|code| json!({ "code": code })).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_negotiated_drug_is_paid_until_its_transition_ends() {
    // rule C4: the 2024 edition (from 2025-01-01) dropped 测试退出药; old standard until 2025-06-30
    let app = region().await;
    let code = code_of(&app, "测试退出药", "2024-06-01").await;
    let before = app.get(&format!("/api/catalogue/drugs/{code}?as_of=2024-12-31"), None).await.json();
    assert_eq!(before["drug"].get("transition_until"), None);
    for day in ["2025-01-01", "2025-06-30"] {
        let during = app.get(&format!("/api/catalogue/drugs/{code}?as_of={day}"), None).await.json();
        assert_eq!(during["drug"]["transition_until"], "2025-06-30", "{day}");
        assert_eq!(during["drug"]["payment_standards"][0]["amount"], json!({"type": "published", "amount": "63.00"}));
        let coverage = app.get(&format!("/api/catalogue/regions/420100/drugs/{code}?as_of={day}"), None).await.json();
        assert_eq!((coverage["basis"].as_str(), coverage["payable"].as_bool()), (Some("transition"), Some(true)), "{coverage}");
        // searches in the window list it after the edition's own entries
        let search = app.get(&format!("/api/catalogue/drugs?q=测试退出&as_of={day}"), None).await.json();
        assert_eq!(search["total"], 1);
        assert_eq!(search["items"][0]["transition_until"], "2025-06-30");
    }
    app.get(&format!("/api/catalogue/drugs/{code}?as_of=2025-07-01"), None).await.problem(404, "NOT_FOUND");
    app.get(&format!("/api/catalogue/regions/420100/drugs/{code}?as_of=2025-07-01"), None).await.problem(404, "NOT_FOUND");
    assert_eq!(app.get("/api/catalogue/drugs?q=测试退出&as_of=2025-07-01", None).await.json()["total"], 0);

    // the 2023 entry outside its agreement period and the transition is not payable
    let editions = app.get("/api/catalogue/editions", None).await.json();
    let names: Vec<&str> = editions["editions"].as_array().expect("editions").iter().map(|e| e["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["2023", "2024"]);
    assert_eq!(editions["editions"][0]["effective_to"], "2024-12-31");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_for_the_new_edition_keeps_a_dropped_negotiated_drug_through_its_transition() {
    // issue 14 item 2.1, rule C4: 测试退出药 left the 2024 edition (from 2025-01-01) but is paid
    // until 2025-06-30; the region's lists for the new edition may keep it on its terms until then
    let app = region().await;
    let agency = token_for(agency());
    let dropped = code_of(&app, "测试退出药", "2024-06-01").await;
    for list in ["dual_channel", "separate_payment"] {
        let kept = publish(&app, &agency, "420100", list, json!({"effective_from": "2025-01-01", "entries": listed(&[&dropped])})).await;
        assert_eq!(kept.status, 201, "{list}: {}", String::from_utf8_lossy(&kept.body));
    }
    let during = app.get(&format!("/api/catalogue/regions/420100/drugs/{dropped}?as_of=2025-03-01"), None).await.json();
    assert_eq!((during["basis"].as_str(), during["payable"].as_bool()), (Some("transition"), Some(true)), "{during}");
    assert_eq!((during["lists"]["dual_channel"].as_bool(), during["lists"]["separate_payment"].as_bool()), (Some(true), Some(true)), "{during}");

    // a version from after the transition cannot name it: it is no longer paid at all
    let late = publish(&app, &agency, "420100", "dual_channel", json!({"effective_from": "2025-07-01", "entries": listed(&[&dropped])})).await;
    let problem = late.problem(422, "INVALID_REGIONAL_LIST");
    assert_eq!((problem["violations"][0]["field"].as_str(), problem["violations"][0]["rule"].as_str()), (Some("/entries/0/code"), Some("C2")), "{problem}");
    // and the version that named it ends with the transition: the drug is not covered after it
    app.get(&format!("/api/catalogue/regions/420100/drugs/{dropped}?as_of=2025-07-01"), None).await.problem(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn regional_lists_sit_beside_national_entries_and_keep_drugs_that_became_regular() {
    let app = region().await;
    let agency = token_for(agency());
    let moved = code_of(&app, "复方硼砂", "2024-06-01").await; // negotiated in 2023, regular in 2024
    let dropped = code_of(&app, "测试退出药", "2024-06-01").await;
    let first = publish(&app, &agency, "420100", "dual_channel", json!({"effective_from": "2024-01-01", "entries": listed(&[&moved, &dropped])})).await;
    assert_eq!(first.status, 201, "{}", String::from_utf8_lossy(&first.body));
    assert_eq!(first.json()["published_by"], "agency:420100");

    // rule C8: 复方硼砂 moved to the regular catalogue; that alone is no reason to drop it.
    // 测试退出药 left the catalogue and may go.
    let refused = publish(&app, &agency, "420100", "dual_channel", json!({"effective_from": "2025-01-01", "entries": []})).await;
    let problem = refused.problem(422, "INVALID_REGIONAL_LIST");
    assert_eq!(problem["violations"].as_array().map(Vec::len), Some(1), "{problem}");
    assert_eq!(problem["violations"][0]["rule"], "C8");
    assert!(problem["violations"][0]["reason"].as_str().is_some_and(|r| r.contains("复方硼砂")));

    // rule C2: national fields cannot be changed, and only national entries are named
    let national = json!({"effective_from": "2025-01-01", "entries": [{"code": moved, "name": "改名", "insurance_class": "A"}, {"code": "nrdl-000000000000"}]});
    let problem = publish(&app, &agency, "420100", "dual_channel", national).await.problem(422, "INVALID_REGIONAL_LIST");
    let fields: Vec<&str> = problem["violations"].as_array().expect("violations").iter().map(|v| v["field"].as_str().expect("field")).collect();
    assert_eq!(fields, ["/entries/0/insurance_class", "/entries/0/name"], "{problem}");
    let unknown = publish(&app, &agency, "420100", "dual_channel", json!({"effective_from": "2025-01-01", "entries": listed(&[&moved, "nrdl-000000000000"])})).await;
    let problem = unknown.problem(422, "INVALID_REGIONAL_LIST");
    assert_eq!((problem["violations"][0]["field"].as_str(), problem["violations"][0]["rule"].as_str()), (Some("/entries/1/code"), Some("C2")));

    let secret = negotiated_with(&app, "confidential").await;
    let secret_code = secret["code"].as_str().expect("code");
    let body = json!({"effective_from": "2025-01-01", "entries": listed(&[&moved, secret_code])});
    let accepted = publish(&app, &agency, "420100", "dual_channel", body.clone()).await;
    assert_eq!(accepted.status, 201, "{}", String::from_utf8_lossy(&accepted.body));
    // the same again is harmless; different entries for a date in force are history
    assert_eq!(publish(&app, &agency, "420100", "dual_channel", body).await.status, 200);
    publish(&app, &agency, "420100", "dual_channel", json!({"effective_from": "2025-01-01", "entries": listed(&[&moved])}))
        .await
        .problem(409, "LIST_VERSION_CONFLICT");

    // versions as of a date
    let old = app.get("/api/catalogue/regions/420100/lists/dual_channel?as_of=2024-06-01", None).await.json();
    assert_eq!((old["count"].as_u64(), old["effective_to"].as_str()), (Some(2), Some("2024-12-31")));
    let now = app.get("/api/catalogue/regions/420100/lists/dual_channel?as_of=2025-03-01", None).await.json();
    assert_eq!(now["entries"], listed(&[&moved, secret_code]));
    app.get("/api/catalogue/regions/420100/lists/dual_channel?as_of=2023-06-01", None).await.problem(404, "NOT_FOUND");

    // search filters by the region's list in force
    let on_list = app.get("/api/catalogue/drugs?dual_channel=true&admdvs=420100&as_of=2025-03-01", None).await.json();
    assert_eq!(on_list["total"], 2);
    assert_eq!(on_list["admdvs"], "420100");
    let negotiated_off_list = app.get("/api/catalogue/drugs?dual_channel=false&category=negotiated&as_of=2025-03-01&page_size=1", None).await.json();
    // 403 of the 2024 edition's 404 negotiated drugs, and 测试退出药 in its transition window
    assert_eq!(negotiated_off_list["total"], 404);
    app.get("/api/catalogue/drugs?dual_channel=yes", None).await.problem(400, "INVALID_QUERY");

    // who may publish: agencies for the regions they govern, admins anywhere
    let list = json!({"effective_from": "2025-01-01", "entries": listed(&[&moved])});
    publish(&app, &token_for(api::Principal::Agency { admdvs: "420200".into() }), "420100", "separate_payment", list.clone())
        .await
        .problem(403, "OUT_OF_REGION");
    let province = publish(&app, &token_for(api::Principal::Agency { admdvs: "420000".into() }), "420100", "separate_payment", list.clone()).await;
    assert_eq!(province.status, 201);
    publish(&app, &token_for(patient("P4201000001")), "420100", "separate_payment", list.clone()).await.problem(403, "ROLE_FORBIDDEN");
    publish(&app, &agency, "420100", "no_such_list", list.clone()).await.problem(404, "NOT_FOUND");
    publish(&app, &agency, "4201", "dual_channel", list).await.problem(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn coverage_says_under_which_lists_and_standards_a_drug_is_paid() {
    let app = region().await;
    let agency = token_for(agency());
    let admin = token_for(admin());
    let published = negotiated_with(&app, "published").await;
    let code = published["code"].as_str().expect("code");
    let specification = published["payment_standards"][0]["specification"].as_str().expect("specification");
    let secret = negotiated_with(&app, "confidential").await;
    let secret_code = secret["code"].as_str().expect("code");

    // the 23-drug table's shape: a per-drug annual maximum (rule S4)
    let outpatient = json!({"effective_from": "2025-01-01", "entries": [{"code": code, "annual_max": "31200.00"}]});
    assert_eq!(publish(&app, &agency, "420100", "outpatient", outpatient).await.status, 201);
    // rule C5: a procurement price cut for the listed specification, and a new specification
    // of the `*` drug
    let adjusted = json!({"effective_from": "2025-01-01", "entries": [
        {"code": code, "specification": specification, "amount": "12.34", "reason": "volume_procurement"},
        {"code": secret_code, "specification": "10mg/片", "amount": "77.77", "reason": "new_specification"}
    ]});
    let answer = publish(&app, &agency, "420100", "adjusted_standards", adjusted).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    let bad = json!({"effective_from": "2025-01-01", "entries": [{"code": code, "specification": "9g/袋", "amount": "1.00", "reason": "volume_procurement"}]});
    let problem = publish(&app, &agency, "420100", "adjusted_standards", bad).await.problem(422, "INVALID_REGIONAL_LIST");
    assert_eq!(problem["violations"][0]["rule"], "C5");

    let coverage = app.get(&format!("/api/catalogue/regions/420100/drugs/{code}?as_of=2025-03-01"), None).await.json();
    assert_eq!(coverage["payable"], true, "{coverage}");
    assert_eq!(coverage["basis"], "national_edition");
    assert_eq!(coverage["lists"], json!({"dual_channel": false, "separate_payment": false, "outpatient": {"annual_max": "31200.00"}, "source_admdvs": {"outpatient": "420100"}}));
    let standard = &coverage["payment_standards"][0];
    assert_eq!((standard["source"].as_str(), standard["reason"].as_str()), (Some("regional"), Some("volume_procurement")));
    assert_eq!(standard["amount"], json!({"type": "published", "amount": "12.34"}));
    assert_eq!(coverage["restriction"], published["restriction"]);
    // another region pays the national standard
    let elsewhere = app.get(&format!("/api/catalogue/regions/420200/drugs/{code}?as_of=2025-03-01"), None).await.json();
    assert_eq!(elsewhere["payment_standards"][0]["source"], "national");
    assert_eq!(elsewhere["lists"]["outpatient"], Value::Null);

    // rule C6: the regional standard of a `*` drug is as confidential as the national one
    let public = app.get(&format!("/api/catalogue/regions/420100/drugs/{secret_code}?as_of=2025-03-01"), None).await.json();
    assert_eq!(public["payment_standards"][0]["amount"], json!({"type": "confidential"}));
    assert_eq!(public["payment_standards"][1]["amount"], json!({"type": "confidential"}), "{public}");
    assert_eq!(public["payment_standards"][1]["reason"], "new_specification");
    let list = app.get("/api/catalogue/regions/420100/lists/adjusted_standards?as_of=2025-03-01", Some(&token_for(patient("P4201000001")))).await;
    let list = list.json();
    assert_eq!(list["entries"][1]["amount"], json!({"type": "confidential"}), "{list}");
    assert!(!list.to_string().contains("77.77"));
    let internal = app.get(&format!("/api/catalogue/regions/420100/drugs/{secret_code}?as_of=2025-03-01"), Some(&agency)).await.json();
    assert_eq!(internal["payment_standards"][1]["amount"]["amount"], "77.77");

    // hospital preparations are regional entries with codes of their own
    let preparation = json!({"effective_from": "2025-01-01", "entries": [{"code": "P420100-0001", "name": "复方黄柏液", "fixmedins_code": "H42010000001", "insurance_class": "B", "payment_standard": "12.50", "specification": "100ml/瓶"}]});
    assert_eq!(publish(&app, &admin, "420100", "preparations", preparation).await.status, 201);
    let prep = app.get("/api/catalogue/regions/420100/drugs/P420100-0001?as_of=2025-03-01", None).await.json();
    assert_eq!((prep["basis"].as_str(), prep["drug"]["fixmedins_code"].as_str()), (Some("hospital_preparation"), Some("H42010000001")));
    app.get("/api/catalogue/regions/420200/drugs/P420100-0001?as_of=2025-03-01", None).await.problem(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn confidential_amounts_are_supplied_for_settlement_and_never_shown_to_the_public() {
    // rule C6
    let app = region().await;
    let admin = token_for(admin());
    let secret = negotiated_with(&app, "confidential").await;
    let code = secret["code"].as_str().expect("code");
    let edition = app.get("/api/catalogue/editions", None).await.json()["editions"][1]["id"].as_str().expect("id").to_string();
    let path = format!("/api/catalogue/editions/{edition}/confidential-standards");
    let supply = json!({"standards": [{"code": code, "specification": secret["payment_standards"][0]["specification"], "amount": "4321.09"}]});
    let answer = app.post_json(&path, Some(&admin), &supply).await;
    assert_eq!(answer.json(), json!({"edition": edition, "supplied": 1}));
    // a standard that is not `*`, and a bad amount, are refused with every problem
    let wrong = json!({"standards": [{"code": code, "specification": "nonexistent", "amount": "1.001"}]});
    let problem = app.post_json(&path, Some(&admin), &wrong).await.problem(422, "INVALID_BODY");
    assert_eq!(problem["violations"].as_array().map(Vec::len), Some(2));
    app.post_json(&path, Some(&token_for(agency())), &supply).await.problem(403, "ROLE_FORBIDDEN");

    let lookup = format!("/api/catalogue/drugs/{code}?as_of=2025-03-01");
    for token in [None, Some(token_for(patient("P4201000001")))] {
        let seen = app.get(&lookup, token.as_deref()).await;
        assert!(!String::from_utf8_lossy(&seen.body).contains("4321.09"));
        assert_eq!(seen.json()["drug"]["payment_standards"][0]["amount"], json!({"type": "confidential"}));
    }
    // settlement (agency) uses it
    let internal = app.get(&lookup, Some(&token_for(agency()))).await.json();
    assert_eq!(internal["drug"]["payment_standards"][0]["amount"], json!({"type": "confidential", "amount": "4321.09"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edition_not_yet_in_force_may_be_withdrawn_and_pinyin_initials_find_drugs() {
    let app = region().await;
    let admin = token_for(admin());
    let future = json!([{"sheet": "西药部分", "class_code": "XA01", "class_name": "口腔科制剂", "ab": "甲", "no": "1", "name": "复方硼砂", "dosage_form": "外用液体剂"}]);
    let answer = import(&app, Some(&admin), "effective_from=2099-01-01&name=2098", "application/json", future.to_string().into_bytes()).await;
    let id = answer.json()["id"].as_str().expect("id").to_string();
    let withdrawn = app.post_json(&format!("/api/catalogue/editions/{id}/withdrawal"), Some(&admin), &json!({})).await;
    assert_eq!(withdrawn.status, 200, "{}", String::from_utf8_lossy(&withdrawn.body));
    assert_eq!(app.get("/api/catalogue/editions", None).await.json()["editions"].as_array().map(Vec::len), Some(2));
    // rule C1: an edition in force is history
    let in_force = app.get("/api/catalogue/editions", None).await.json()["editions"][1]["id"].as_str().expect("id").to_string();
    app.post_json(&format!("/api/catalogue/editions/{in_force}/withdrawal"), Some(&admin), &json!({})).await.problem(409, "EDITION_CONFLICT");
    app.post_json("/api/catalogue/editions/nope/withdrawal", Some(&admin), &json!({})).await.problem(404, "NOT_FOUND");

    let found = app.get("/api/catalogue/drugs?q=FFPS&as_of=2025-03-01", None).await.json();
    assert!(found["items"].as_array().expect("items").iter().any(|d| d["name"] == "复方硼砂"), "{found}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_spin_up_serves_the_demo_region_without_extra_steps() {
    let app = TestApp::start_demo().await;
    let editions = app.get("/api/catalogue/editions", None).await.json();
    assert_eq!(editions["editions"][0]["name"], "2024 (demo slice)", "{editions}");
    assert_eq!(editions["editions"][0]["counts"]["negotiated"], 404);
    // the 23-drug outpatient table of policy 004, with its annual maximums (rule S4)
    let found = app.get("/api/catalogue/drugs?q=麦格司他&as_of=2025-03-01", None).await.json();
    let code = found["items"][0]["code"].as_str().expect("code");
    let coverage = app.get(&format!("/api/catalogue/regions/420100/drugs/{code}?as_of=2025-03-01"), None).await.json();
    let sources = json!({"dual_channel": "420100", "outpatient": "420100", "separate_payment": "420000"});
    assert_eq!(coverage["lists"], json!({"dual_channel": true, "separate_payment": false, "outpatient": {"annual_max": "281000.00"}, "source_admdvs": sources}));
    let outpatient = app.get("/api/catalogue/regions/420100/lists/outpatient?as_of=2025-03-01", None).await.json();
    assert_eq!(outpatient["count"], 25, "23 drugs, two of them in two forms");
    let separate = app.get("/api/catalogue/drugs?separate_payment=true&as_of=2025-03-01&page_size=1", None).await.json();
    assert_eq!(separate["total"], 116);
    // the registry: dual-channel pharmacies by city, institutions, insured persons (one suspended)
    let pharmacies = app.get("/api/registry/pharmacies?admdvs=420100&dual_channel=true", None).await.json();
    assert_eq!(pharmacies["total"], 2, "{pharmacies}");
    let hospital = app.get("/api/registry/institutions/H42010000001", None).await.json();
    assert_eq!(hospital["separate_payment_eligible"], true, "{hospital}");
    let person = app.get("/api/registry/persons/P4201000003", Some(&dev_token_for(patient("P4201000003")))).await.json();
    assert_eq!(person["benefit_status"], "suspended");
    assert!(person["certno_masked"].as_str().is_some_and(|c| c.contains('*')), "{person}");
    // and a settlement policy (issue 6), the example one
    let policy = app.get("/api/settlements/regions/420100/policy", None).await.json();
    assert_eq!((policy["employee"]["annual_pooled_cap"].as_str(), policy["published_by"].as_str()), (Some("400000"), Some("demo_data")), "{policy}");
    // seeding happened once: an admin token from `issue-token` works against it
    let status = app.get("/api/catalogue/status/store", Some(&dev_token_for(admin()))).await;
    assert_eq!(status.status, 200);
    assert_eq!(app.get("/api/catalogue/editions", None).await.json()["editions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn regions_are_a_hierarchy_of_province_city_and_district() {
    // issue 14 item 1: a district finds its city's and its province's lists and policies, a
    // city narrows the provincial list by publishing its own, and an agency administers its
    // region and those under it only
    let app = TestApp::start_demo().await;
    let as_of = "as_of=2026-06-01";
    let separate = app.get(&format!("/api/catalogue/drugs?separate_payment=true&{as_of}&page_size=2"), None).await.json();
    let codes: Vec<&str> = separate["items"].as_array().expect("items").iter().filter_map(|d| d["code"].as_str()).collect();
    assert_eq!(codes.len(), 2, "{separate}");
    // 江汉区 (420102): Hubei's separate-payment list (420000) and Wuhan's dual-channel list
    let coverage = app.get(&format!("/api/catalogue/regions/420102/drugs/{}?{as_of}", codes[0]), None).await.json();
    assert_eq!((coverage["lists"]["separate_payment"].as_bool(), coverage["lists"]["source_admdvs"]["separate_payment"].as_str()), (Some(true), Some("420000")), "{coverage}");
    assert_eq!(coverage["lists"]["source_admdvs"]["dual_channel"], "420100");
    let list = app.get(&format!("/api/catalogue/regions/420102/lists/separate_payment?{as_of}"), None).await.json();
    assert_eq!((list["admdvs"].as_str(), list["source_admdvs"].as_str()), (Some("420102"), Some("420000")), "{list}");
    let policy = app.get("/api/settlements/regions/420102/policy?date=2026-06-01", None).await.json();
    assert_eq!((policy["admdvs"].as_str(), policy["source_admdvs"].as_str()), (Some("420102"), Some("420100")), "{policy}");

    // Wuhan narrows the provincial list to one drug from 2026-07-01: its own list wins there,
    // another Hubei city (Huangshi, 420200) keeps the province's
    let wuhan = dev_token_for(agency());
    let narrowed = json!({"effective_from": "2026-07-01", "entries": [{"code": codes[0]}]});
    let published = app.post_json("/api/catalogue/regions/420100/lists/separate_payment", Some(&wuhan), &narrowed).await;
    assert_eq!(published.status, 201, "{}", String::from_utf8_lossy(&published.body));
    let on = |region: &str, code: &str| {
        let path = format!("/api/catalogue/regions/{region}/drugs/{code}?as_of=2026-07-02");
        let app = &app;
        async move {
            let lists = app.get(&path, None).await.json()["lists"].clone();
            (lists["separate_payment"].as_bool(), lists["source_admdvs"]["separate_payment"].as_str().map(String::from))
        }
    };
    assert_eq!(on("420102", codes[0]).await, (Some(true), Some("420100".into())));
    assert_eq!(on("420102", codes[1]).await, (Some(false), Some("420100".into())));
    assert_eq!(on("420200", codes[1]).await, (Some(true), Some("420000".into())));

    // Wuhan's agency registers a pharmacy in 江汉区: listed in Wuhan's list and in its district's
    let pharmacy = json!({"name": "江汉药房", "admdvs": "420102", "address": "武汉市江汉区", "dual_channel": true, "electronic_traceability": true,
                          "can_supply": true, "compliant": true, "linked_institutions": ["H42010000001"]});
    let put = |path: &str, token: &str, body: &Value| app.send(app.client.put(app.url(path)).bearer_auth(token).json(body));
    assert!(put("/api/registry/pharmacies/P42010200001", &wuhan, &pharmacy).await.status < 300);
    let city = app.get("/api/registry/pharmacies?admdvs=420100", None).await.json();
    assert!(city["items"].as_array().expect("items").iter().any(|p| p["fixmedins_code"] == "P42010200001"), "{city}");
    let district = app.get("/api/registry/pharmacies?admdvs=420102", None).await.json();
    assert_eq!((district["total"].as_i64(), district["items"][0]["fixmedins_code"].as_str()), (Some(1), Some("P42010200001")), "{district}");
    // the district's agency: not its city, not a sibling district
    let jianghan = dev_token_for(api::Principal::Agency { admdvs: "420102".into() });
    let mut elsewhere = pharmacy.clone();
    for region in ["420100", "420103"] {
        elsewhere["admdvs"] = json!(region);
        put("/api/registry/pharmacies/P42010000099", &jianghan, &elsewhere).await.problem(403, "OUT_OF_REGION");
    }
}
