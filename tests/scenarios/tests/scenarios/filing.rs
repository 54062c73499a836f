//! Eligibility filings through the host (issue 4): a region with a small edition, its lists and
//! registry; then the workflow from application to expiry as patients, physicians, insurance
//! offices, pharmacists and agencies drive it (rules E1–E7, I1–I4, C9).

use crate::catalogue::import;
use api::Principal;
use chrono::{Days, Months};
use scenarios::*;
use serde_json::{Value, json};

pub(crate) const H1: &str = "H42010000001";
pub(crate) const P1: &str = "P42010000001";

pub(crate) fn physician(dr_code: &str) -> Principal {
    Principal::Physician { dr_code: dr_code.into(), fixmedins_code: H1.into() }
}

pub(crate) fn office(fixmedins_code: &str) -> Principal {
    Principal::HospitalOffice { fixmedins_code: fixmedins_code.into() }
}

pub(crate) fn pharmacist(fixmedins_code: &str) -> Principal {
    Principal::Pharmacist { phar_code: "F1".into(), fixmedins_code: fixmedins_code.into() }
}

/// A region: three negotiated drugs (one separate-payment, one dual-channel only, one on no
/// list), a qualified and an unqualified institution, two pharmacies, responsible and other
/// physicians, an insured and a suspended person. Returns the app and the three drug codes.
pub(crate) async fn region() -> (TestApp, [String; 3]) {
    region_on(TestApp::start().await).await
}

/// [`region`] on an app already started (on a store of the caller's choice).
pub(crate) async fn region_on(app: TestApp) -> (TestApp, [String; 3]) {
    let admin = token_for(admin());
    let agency = token_for(agency());
    let negotiated = |no: &str, name: &str| {
        json!({"sheet": "协议西药", "class_code": "XL01", "class_name": "抗肿瘤药", "ab": "乙", "no": no, "name": name,
               "dosage_form": "注射剂", "payment_standard": "1000.00元(100mg/瓶)", "remark": "限晚期患者。",
               "validity": "2025年1月1日至2030年12月31日"})
    };
    let edition = json!([negotiated("1", "测试单抗"), negotiated("2", "测试双通道药"), negotiated("3", "测试未列药")]);
    let answer = import(&app, Some(&admin), "effective_from=2025-01-01", "application/json", edition.to_string().into_bytes()).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    let mut codes = Vec::new();
    for name in ["测试单抗", "测试双通道药", "测试未列药"] {
        let found = app.get(&format!("/api/catalogue/drugs?q={name}"), None).await.json();
        codes.push(found["items"][0]["code"].as_str().expect("code").to_string());
    }
    let list = |codes: &[&String]| json!({"effective_from": "2025-01-01", "entries": codes.iter().map(|c| json!({"code": c})).collect::<Vec<_>>()});
    for (kind, body) in [("separate_payment", list(&[&codes[0]])), ("dual_channel", list(&[&codes[0], &codes[1]]))] {
        let answer = app.post_json(&format!("/api/catalogue/regions/420100/lists/{kind}"), Some(&agency), &body).await;
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    }
    let put = |path: &str, body: Value| {
        let (app, agency) = (&app, &agency);
        let path = path.to_string();
        async move {
            let request = app.client.put(app.url(&path)).bearer_auth(agency).json(&body);
            let answer = app.send(request).await;
            assert!(answer.status == 201 || answer.status == 200, "{path}: {}", String::from_utf8_lossy(&answer.body));
        }
    };
    let institution = |level: u8, capabilities: Value| {
        json!({"name": "医院", "admdvs": "420100", "level": level, "capabilities": capabilities, "cross_region_settlement": true})
    };
    put(&format!("/api/registry/institutions/{H1}"), institution(3, json!(["pathology"]))).await;
    put("/api/registry/institutions/H42010000003", institution(1, json!([]))).await;
    let pharmacy = |dual: bool, linked: Value| {
        json!({"name": "药房", "admdvs": "420100", "address": "武汉市", "dual_channel": dual, "electronic_traceability": true,
               "can_supply": true, "compliant": true, "linked_institutions": linked})
    };
    put(&format!("/api/registry/pharmacies/{P1}"), pharmacy(true, json!([H1]))).await;
    put("/api/registry/pharmacies/P42010000002", pharmacy(true, json!(["H42010000003"]))).await;
    let doctor = |at: &str, responsible: bool| {
        json!({"name": "医生", "fixmedins_code": at, "title": "chief", "specialty": "肿瘤科", "responsible": responsible, "active": true})
    };
    put("/api/registry/physicians/D1", doctor(H1, true)).await;
    put("/api/registry/physicians/D2", doctor(H1, false)).await;
    put("/api/registry/physicians/D3", doctor("H42010000003", true)).await;
    let person = |certno: &str, status: &str| {
        json!({"name": "患者", "certno": certno, "insutype": "310", "insured_admdvs": "420100", "benefit_status": status})
    };
    put("/api/registry/persons/N1", person("42010219800101001X", "normal")).await;
    put("/api/registry/persons/N2", person("420106197512120027", "suspended")).await;
    (app, codes.try_into().expect("three codes"))
}

pub(crate) fn application(psn_no: &str, code: &str, fixmedins_code: &str, dr_code: &str) -> Value {
    json!({"psn_no": psn_no, "code": code, "fixmedins_code": fixmedins_code, "dr_code": dr_code,
           "diagnoses": ["C34.901"], "records": ["病理报告 2025-0001"], "treatment_plan": "每三周一次"})
}

pub(crate) async fn act(app: &TestApp, who: Principal, id: &str, body: Value) -> Answer {
    app.post_json(&format!("/api/filings/{id}/actions"), Some(&token_for(who)), &body).await
}

/// `GET /api/filings/check?{query}` as `who`.
async fn check(app: &TestApp, who: Principal, query: &str) -> Value {
    let answer = app.get(&format!("/api/filings/check?{query}"), Some(&token_for(who))).await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()
}

pub(crate) fn today() -> chrono::NaiveDate {
    rules::time::business_date(chrono::Utc::now())
}

#[tokio::test(flavor = "multi_thread")]
async fn online_application_recommendation_approval_and_a_valid_lookup() {
    let (app, [drug, ..]) = region().await;
    let patient = token_for(patient("N1"));
    let applied = app.post_json("/api/filings", Some(&patient), &application("N1", &drug, H1, "D1")).await;
    assert_eq!(applied.status, 201, "{}", String::from_utf8_lossy(&applied.body));
    let filing = applied.json();
    let id = filing["id"].as_str().expect("id").to_string();
    assert_eq!((filing["state"].as_str(), filing["standing"].as_str()), (Some("awaiting_physician"), Some("not_approved")));
    // the same application again is harmless; another one for the same drug is refused
    assert_eq!(app.post_json("/api/filings", Some(&patient), &application("N1", &drug, H1, "D1")).await.status, 200);
    let mut other = application("N1", &drug, H1, "D1");
    other["treatment_plan"] = json!("另一方案");
    app.post_json("/api/filings", Some(&patient), &other).await.problem(409, "FILING_EXISTS");

    // rule E3: the physician's queue, the recommendation with the attestation (C9)
    let queue = app.get("/api/filings/queue", Some(&token_for(physician("D1")))).await.json();
    assert_eq!(queue["items"][0]["id"], id.as_str());
    assert_eq!(app.get("/api/filings/queue", Some(&token_for(physician("D2")))).await.json()["total"], 0);
    act(&app, physician("D1"), &id, json!({"action": "recommend"})).await.problem(422, "NOT_ELIGIBLE");
    let recommended = act(&app, physician("D1"), &id, json!({"action": "recommend", "attestation": "晚期，符合限定支付范围"})).await;
    assert_eq!(recommended.json()["state"], "awaiting_office");
    assert_eq!(app.get("/api/filings/queue", Some(&token_for(office(H1)))).await.json()["total"], 1);

    // rule E4 with I4: the fixed pharmacy must be a dual-channel pharmacy linked to the institution
    let unlinked = act(&app, office(H1), &id, json!({"action": "approve", "pharmacy": "P42010000002"})).await;
    assert_eq!(unlinked.problem(422, "NOT_ELIGIBLE")["violations"][0]["rule"], "I4");
    let approved = act(&app, office(H1), &id, json!({"action": "approve", "pharmacy": P1})).await.json();
    assert_eq!((approved["state"].as_str(), approved["standing"].as_str()), (Some("approved"), Some("valid")), "{approved}");
    assert_eq!(approved["pharmacy"], P1);
    assert_eq!(approved["valid_until"], (today().checked_add_months(Months::new(12)).unwrap() - Days::new(1)).to_string());

    // the one fast check: at the fixed pharmacy, today
    let valid = check(&app, pharmacist(P1), &format!("psn_no=N1&code={drug}")).await;
    assert_eq!(valid, json!({"valid": true, "filing_id": id}));
    let elsewhere = check(&app, pharmacist("P42010000002"), &format!("psn_no=N1&code={drug}")).await;
    assert_eq!((elsewhere["valid"].as_bool(), elsewhere["reasons"][0]["rule"].as_str()), (Some(false), Some("I4")));
    // rule E5: six months without reassessment, and the end of the year
    let overdue = today().checked_add_months(Months::new(7)).unwrap();
    let late = check(&app, agency(), &format!("psn_no=N1&code={drug}&pharmacy={P1}&date={overdue}")).await;
    assert_eq!(late["reasons"][0]["reason"], "the filing's reassessment is overdue", "{late}");
    let next_year = today().checked_add_months(Months::new(12)).unwrap();
    assert_eq!(check(&app, agency(), &format!("psn_no=N1&code={drug}&date={next_year}")).await["reasons"][0]["rule"], "E5");
    // a reassessment moves the six months on; an update is a new version of the plan (E5)
    let reassessed = act(&app, physician("D1"), &id, json!({"action": "reassess"})).await;
    assert_eq!(reassessed.status, 200);
    let updated = act(&app, physician("D1"), &id, json!({"action": "update", "treatment_plan": "减量，每四周一次"})).await.json();
    assert_eq!((updated["application"]["treatment_plan"].as_str(), updated["version"].as_i64()), (Some("减量，每四周一次"), Some(5)));
    act(&app, physician("D1"), &id, json!({"action": "update"})).await.problem(422, "INVALID_BODY");

    // the patient sees their filing and its history; the pharmacy its bound filings
    assert_eq!(app.get("/api/filings", Some(&patient)).await.json()["total"], 1);
    assert_eq!(app.get("/api/filings/pharmacy", Some(&token_for(pharmacist(P1)))).await.json()["total"], 1);
    let history = app.get(&format!("/api/filings/{id}/history"), Some(&patient)).await.json();
    let steps: Vec<(&str, &str)> = history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| (v["action"].as_str().expect("action"), v["by"].as_str().expect("by")))
        .collect();
    assert_eq!(
        steps,
        [
            ("apply", "patient:N1"),
            ("recommend", "physician:D1"),
            ("approve", "hospital_office:H42010000001"),
            ("reassess", "physician:D1"),
            ("update", "physician:D1")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_that_fails_conditions_lists_every_rule_and_stores_nothing() {
    let (app, [_, _, unlisted]) = region().await;
    // suspended person (E1), unqualified institution (I1), physician elsewhere is fine there
    // but not responsible for H1 (I3), drug on no list (C2) — through an office of H3
    let office3 = token_for(office("H42010000003"));
    let problem = app.post_json("/api/filings", Some(&office3), &application("N2", &unlisted, "H42010000003", "D2")).await.problem(422, "NOT_ELIGIBLE");
    let rules: Vec<&str> = problem["violations"].as_array().expect("violations").iter().map(|v| v["rule"].as_str().expect("rule")).collect();
    assert_eq!(rules, ["E1", "I1", "I3", "C2"], "{problem}");
    let unknown = app.post_json("/api/filings", Some(&token_for(patient("N9"))), &application("N9", &unlisted, H1, "D1")).await;
    assert_eq!(unknown.problem(422, "NOT_ELIGIBLE")["violations"][0]["rule"], "E1");
    // nothing was stored: the person has no filings
    assert_eq!(app.get("/api/filings?psn_no=N2", Some(&token_for(agency()))).await.json()["total"], 0);
    // a malformed application is 422 with every field
    let bad = json!({"psn_no": "N1", "code": "x", "fixmedins_code": H1, "dr_code": "D1", "diagnoses": ["肺癌"], "records": [], "treatment_plan": ""});
    let problem = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &bad).await.problem(422, "INVALID_BODY");
    assert_eq!(problem["violations"].as_array().map(Vec::len), Some(3), "{problem}");
    // a patient applies for themself only; an office at its own institution only
    app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N2", &unlisted, H1, "D1")).await.problem(403, "ROLE_FORBIDDEN");
    app.post_json("/api/filings", Some(&office3), &application("N1", &unlisted, H1, "D1")).await.problem(403, "ROLE_FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_need_reasons_steps_keep_their_order_and_strangers_see_nothing() {
    let (app, [drug, dual_only, _]) = region().await;
    let applied = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N1", &drug, H1, "D1")).await.json();
    let id = applied["id"].as_str().expect("id").to_string();
    // rule E4 after E3: the office cannot approve before the physician recommends
    act(&app, office(H1), &id, json!({"action": "approve", "pharmacy": P1})).await.problem(409, "FILING_STATE_CONFLICT");
    // only the physician recommends
    act(&app, patient("N1"), &id, json!({"action": "recommend", "attestation": "x"})).await.problem(403, "ROLE_FORBIDDEN");
    // rule E3: a refusal states its reason
    let problem = act(&app, physician("D1"), &id, json!({"action": "refuse", "reason": " "})).await.problem(422, "INVALID_BODY");
    assert_eq!(problem["rule"], "E3");
    let refused = act(&app, physician("D1"), &id, json!({"action": "refuse", "reason": "病理不支持"})).await.json();
    assert_eq!((refused["state"].as_str(), refused["reason"].as_str()), (Some("refused"), Some("病理不支持")));
    // a refused filing accepts nothing more, and no longer blocks a new application
    act(&app, physician("D1"), &id, json!({"action": "recommend", "attestation": "x"})).await.problem(409, "FILING_STATE_CONFLICT");
    let again = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N1", &drug, H1, "D1")).await;
    assert_eq!(again.status, 201);
    assert_ne!(again.json()["id"], id.as_str());

    // strangers: another patient, another institution's office, a pharmacy not bound to it
    for stranger in [patient("N2"), office("H42010000003"), pharmacist(P1), Principal::Physician { dr_code: "D3".into(), fixmedins_code: "H42010000003".into() }] {
        let answer = app.get(&format!("/api/filings/{id}"), Some(&token_for(stranger.clone()))).await;
        let body = String::from_utf8_lossy(&answer.body).to_string();
        answer.problem(404, "NOT_FOUND");
        assert!(!body.contains("N1") && !body.contains("病理"), "{body}");
    }
    act(&app, office("H42010000003"), &id, json!({"action": "revoke", "reason": "x"})).await.problem(404, "NOT_FOUND");
    app.get(&format!("/api/filings/{id}"), None).await.problem(401, "TOKEN_MISSING");

    // dual-channel drugs are filed too (E2 names both lists)
    let dual = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N1", &dual_only, H1, "D1")).await;
    assert_eq!(dual.status, 201, "{}", String::from_utf8_lossy(&dual.body));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filing_stops_being_valid_when_its_drug_loses_coverage() {
    // rule E7: the region drops the drug from its lists from a later date
    let (app, [drug, dual_only, _]) = region().await;
    let id = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N1", &drug, H1, "D1")).await.json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    act(&app, physician("D1"), &id, json!({"action": "recommend", "attestation": "符合"})).await;
    act(&app, office(H1), &id, json!({"action": "approve", "pharmacy": P1})).await;
    let from = today().checked_add_days(Days::new(30)).unwrap();
    let agency = token_for(agency());
    for (kind, entries) in [("separate_payment", json!([])), ("dual_channel", json!([{"code": dual_only}]))] {
        let body = json!({"effective_from": from.to_string(), "entries": entries});
        assert_eq!(app.post_json(&format!("/api/catalogue/regions/420100/lists/{kind}"), Some(&agency), &body).await.status, 201);
    }
    assert_eq!(check(&app, api::Principal::Agency { admdvs: "420100".into() }, &format!("psn_no=N1&code={drug}")).await["valid"], true);
    let after = check(&app, api::Principal::Agency { admdvs: "420100".into() }, &format!("psn_no=N1&code={drug}&date={from}")).await;
    assert_eq!((after["valid"].as_bool(), after["reasons"][0]["rule"].as_str()), (Some(false), Some("E7")), "{after}");
}

/// For in-process tests that count store operations: one negotiated drug on the region's `list`
/// (`separate_payment` or `dual_channel`), institution H1, pharmacy P1, physician D1, person N1,
/// and any `extra` registry records (path, body). Returns the drug's code.
pub(crate) async fn in_process_region(app: &InProcessApp, list: &str, extra: &[(&str, Value)]) -> String {
    use http::Method;
    let admin = token_for(admin());
    let agency_token = token_for(agency());
    let send = |method: Method, path: String, token: String, body: Value| async move {
        let body = (method != Method::GET).then(|| ("application/json", body.to_string().into_bytes()));
        app.send(method, &path, Some(&token), body).await
    };
    let edition = json!([{"sheet": "协议西药", "class_code": "XL01", "class_name": "抗肿瘤药", "ab": "乙", "no": "1", "name": "测试单抗",
        "dosage_form": "注射剂", "payment_standard": "1000.00元(100mg/瓶)", "validity": "2025年1月1日至2030年12月31日"}]);
    assert_eq!(send(Method::POST, "/api/catalogue/editions?effective_from=2025-01-01".into(), admin.clone(), edition).await.status, 201);
    let found: Value = serde_json::from_slice(&send(Method::GET, "/api/catalogue/drugs?q=测试单抗".into(), admin, Value::Null).await.body).unwrap();
    let drug = found["items"][0]["code"].as_str().expect("code").to_string();
    let entries = json!({"effective_from": "2025-01-01", "entries": [{"code": drug}]});
    assert_eq!(send(Method::POST, format!("/api/catalogue/regions/420100/lists/{list}"), agency_token.clone(), entries).await.status, 201);
    let records = [
        (format!("/api/registry/institutions/{H1}"), json!({"name": "医院", "admdvs": "420100", "level": 3, "capabilities": ["pathology"], "cross_region_settlement": true})),
        (format!("/api/registry/pharmacies/{P1}"), json!({"name": "药房", "admdvs": "420100", "address": "武汉", "dual_channel": true, "electronic_traceability": true, "can_supply": true, "compliant": true, "linked_institutions": [H1]})),
        ("/api/registry/physicians/D1".into(), json!({"name": "医生", "fixmedins_code": H1, "title": "chief", "specialty": "肿瘤科", "responsible": true, "active": true})),
        ("/api/registry/persons/N1".into(), json!({"name": "患者", "certno": "42010219800101001X", "insutype": "310", "insured_admdvs": "420100", "benefit_status": "normal"})),
    ];
    for (path, body) in records.into_iter().chain(extra.iter().map(|(path, body)| (path.to_string(), body.clone()))) {
        assert!(send(Method::PUT, path, agency_token.clone(), body).await.status.is_success());
    }
    drug
}

#[tokio::test(flavor = "multi_thread")]
async fn the_valid_filing_check_and_the_queue_cost_a_few_store_reads() {
    use http::Method;
    let app = InProcessApp::start().await;
    let drug = in_process_region(&app, "separate_payment", &[]).await;
    let send = |method: Method, path: String, token: String, body: Value| {
        let app = &app;
        async move {
            let body = (method == Method::POST || method == Method::PUT).then(|| ("application/json", body.to_string().into_bytes()));
            app.send(method, &path, Some(&token), body).await
        }
    };
    let applied = send(Method::POST, "/api/filings".into(), token_for(patient("N1")), application("N1", &drug, H1, "D1")).await;
    let id = serde_json::from_slice::<Value>(&applied.body).unwrap()["id"].as_str().expect("id").to_string();
    eprintln!("apply: kv ops {}", applied.kv_ops);
    send(Method::POST, format!("/api/filings/{id}/actions"), token_for(physician("D1")), json!({"action": "recommend", "attestation": "符合"})).await;
    send(Method::POST, format!("/api/filings/{id}/actions"), token_for(office(H1)), json!({"action": "approve", "pharmacy": P1})).await;

    let pharmacist_token = token_for(pharmacist(P1));
    let check_path = format!("/api/filings/check?psn_no=N1&code={drug}");
    send(Method::GET, check_path.clone(), pharmacist_token.clone(), Value::Null).await; // warms the catalogue cache
    let warm = send(Method::GET, check_path, pharmacist_token, Value::Null).await;
    assert_eq!(serde_json::from_slice::<Value>(&warm.body).unwrap()["valid"], true);
    let ops = warm.kv_ops;
    eprintln!("valid-filing check, warm: kv ops {ops}");
    // issue 19: one read ahead (the catalogue's version, the generation, the filing's version
    // counter and first versions, the token's revocation): 5 operations before
    assert_eq!((ops.get_many, ops.get, ops.exists + ops.increment), (1, 0, 0), "{ops}");
    assert_eq!((ops.set, ops.set_many, ops.delete, ops.get_keys), (0, 0, 0, 0), "{ops}");

    let office_token = token_for(office(H1));
    send(Method::GET, "/api/filings/queue".into(), office_token.clone(), Value::Null).await;
    let queue = send(Method::GET, "/api/filings/queue".into(), office_token, Value::Null).await;
    let ops = queue.kv_ops;
    eprintln!("queue with one approved filing, warm: kv ops {ops}");
    // revocation check and the index log's version: an approved filing is not read again
    assert_eq!(ops.get + ops.exists + ops.increment + ops.get_many, 2, "{ops}");
    assert_eq!(ops.get_keys, 0, "{ops}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_structured_restriction_is_checked_at_the_recommendation() {
    // rule C9: the region encodes 测试单抗's restriction (限晚期患者) as conditions
    let (app, [drug, ..]) = region().await;
    let restriction = json!({"effective_from": "2025-01-01", "entries": [
        {"code": drug, "indications": ["C34"], "min_age": 18, "specialties": ["肿瘤科"], "min_line_of_therapy": 2}
    ]});
    let published = app.post_json("/api/catalogue/regions/420100/lists/restrictions", Some(&token_for(agency())), &restriction).await;
    assert_eq!(published.status, 201, "{}", String::from_utf8_lossy(&published.body));
    let coverage = app.get(&format!("/api/catalogue/regions/420100/drugs/{drug}"), None).await.json();
    assert_eq!(coverage["structured_restriction"]["min_line_of_therapy"], 2, "{coverage}");

    let mut first_line = application("N1", &drug, H1, "D1");
    first_line["line_of_therapy"] = json!(1);
    let id = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &first_line).await.json()["id"].as_str().expect("id").to_string();
    let problem = act(&app, physician("D1"), &id, json!({"action": "recommend", "attestation": "符合"})).await.problem(422, "NOT_ELIGIBLE");
    let reasons: Vec<&str> = problem["violations"].as_array().expect("violations").iter().map(|v| v["reason"].as_str().expect("reason")).collect();
    assert_eq!(reasons, ["the patient's age is not stated", "line of therapy 1; paid from line 2"], "{problem}");
    act(&app, physician("D1"), &id, json!({"action": "refuse", "reason": "限定支付范围：二线及以后"})).await;

    let mut second_line = application("N1", &drug, H1, "D1");
    second_line["line_of_therapy"] = json!(2);
    second_line["patient_age"] = json!(56);
    let id = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &second_line).await.json()["id"].as_str().expect("id").to_string();
    // met by the facts, without an attestation
    let recommended = act(&app, physician("D1"), &id, json!({"action": "recommend"})).await.json();
    assert_eq!((recommended["state"].as_str(), recommended["attestation"].as_str()), (Some("awaiting_office"), Some("structured restriction met")));
}

/// Rule E5 on the app's own clock (the host's, moved on), where the test above asks for a
/// date: seven months after approval without reassessment the filing cannot be used, a year
/// after it has ended; the patient sees the same standing.
#[tokio::test(flavor = "multi_thread")]
async fn a_filing_lapses_on_the_apps_clock_without_a_background_job() {
    let (app, [drug, ..]) = region().await;
    let applied = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N1", &drug, H1, "D1")).await.json();
    let id = applied["id"].as_str().expect("id").to_string();
    act(&app, physician("D1"), &id, json!({"action": "recommend", "attestation": "符合"})).await;
    assert_eq!(act(&app, office(H1), &id, json!({"action": "approve", "pharmacy": P1})).await.json()["standing"], "valid");

    let started = chrono::Utc::now();
    // the check at the fixed pharmacy and the patient's own list, `days` after approval
    let later = |days: u64| {
        let (app, drug) = (&app, drug.clone());
        async move {
            let now = started + chrono::Days::new(days);
            let check = app.get(&format!("/api/filings/check?psn_no=N1&code={drug}"), Some(&token_issued_at(pharmacist(P1), now))).await.json();
            let own = app.get("/api/filings", Some(&token_issued_at(patient("N1"), now))).await.json();
            (check, own["items"][0]["standing"].as_str().map(str::to_owned))
        }
    };
    app.advance_clock(std::time::Duration::from_secs(7 * 31 * 24 * 3600));
    let (check, standing) = later(7 * 31).await;
    assert_eq!((check["valid"].as_bool(), check["reasons"][0]["rule"].as_str()), (Some(false), Some("E5")), "{check}");
    assert_eq!(check["reasons"][0]["reason"], "the filing's reassessment is overdue", "{check}");
    assert_eq!(standing.as_deref(), Some("reassessment_overdue"));
    app.advance_clock(std::time::Duration::from_secs(6 * 31 * 24 * 3600));
    let (check, standing) = later(13 * 31).await;
    assert_eq!((check["valid"].as_bool(), check["reasons"][0]["rule"].as_str()), (Some(false), Some("E5")), "{check}");
    assert_eq!(standing.as_deref(), Some("expired"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewal_is_the_physicians_recommendation_on_fresh_records_then_the_offices() {
    // issue 14 item 5, rule E5: an office alone cannot renew
    let (app, [drug, ..]) = region().await;
    let applied = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N1", &drug, H1, "D1")).await.json();
    let id = applied["id"].as_str().expect("id").to_string();
    act(&app, physician("D1"), &id, json!({"action": "recommend", "attestation": "晚期"})).await;
    let approved = act(&app, office(H1), &id, json!({"action": "approve", "pharmacy": P1})).await.json();
    let valid_until: chrono::NaiveDate = approved["valid_until"].as_str().expect("valid_until").parse().expect("a date");
    let too_early = act(&app, physician("D1"), &id, json!({"action": "recommend_renewal", "records": ["复查 CT 2026-0002"], "attestation": "晚期"})).await;
    assert_eq!(too_early.problem(409, "FILING_STATE_CONFLICT")["rule"], "E5");

    // two weeks before the year ends (tokens issued on the moved clock)
    let days = (valid_until - today()).num_days() - 14;
    app.advance_clock(std::time::Duration::from_secs(86_400 * days as u64));
    let moved = |who| token_issued_at(who, chrono::Utc::now() + chrono::Duration::days(days));
    let step = |who, body: Value| {
        let (app, path, token) = (&app, format!("/api/filings/{id}/actions"), moved(who));
        async move { app.post_json(&path, Some(&token), &body).await }
    };
    let alone = step(office(H1), json!({"action": "renew"})).await;
    assert_eq!(alone.problem(409, "FILING_STATE_CONFLICT")["rule"], "E5");
    // the physician's recommendation rests on fresh records
    for records in [json!([]), json!(["病理报告 2025-0001"])] {
        let stale = step(physician("D1"), json!({"action": "recommend_renewal", "records": records, "attestation": "晚期"})).await;
        assert_eq!(stale.problem(422, "INVALID_BODY")["violations"][0]["rule"], "E5");
    }
    let recommended = step(physician("D1"), json!({"action": "recommend_renewal", "records": ["复查 CT 2026-0002"], "attestation": "晚期，病情稳定"})).await;
    assert_eq!(recommended.status, 200, "{}", String::from_utf8_lossy(&recommended.body));
    let recommended = recommended.json();
    assert_eq!(recommended["application"]["records"], json!(["复查 CT 2026-0002"]), "{recommended}");
    assert!(recommended["renewal_recommended_on"].is_string(), "{recommended}");
    // then the office renews: the new year follows the old one
    let renewed = step(office(H1), json!({"action": "renew"})).await.json();
    // usable without a gap: the rest of this year, then the next (reassessed as of the renewal)
    let next_until = (valid_until + Days::new(1)).checked_add_months(Months::new(12)).expect("a date") - Days::new(1);
    assert_eq!((renewed["valid_until"].as_str(), renewed["standing"].as_str()), (Some(next_until.to_string().as_str()), Some("valid")), "{renewed}");
    assert!(renewed["renewal_recommended_on"].is_null(), "{renewed}");
    let trail = app.get(&format!("/api/filings/{id}/history"), Some(&moved(office(H1)))).await.json();
    let actions: Vec<&str> = trail["versions"].as_array().expect("versions").iter().filter_map(|v| v["action"].as_str()).collect();
    assert_eq!(actions, ["apply", "recommend", "approve", "recommend_renewal", "renew"]);
}
