//! The e-prescription center through the host (issue 5): pre-check, upload, review, dispensing,
//! revocation and the trace, as physicians, patients, pharmacists and agencies drive them
//! (rules P1–P8, E5, E6, I2, I4, C1, C2, C9), on the region `filing::region` builds.

use crate::filing::{H1, P1, act, application, in_process_region, office, physician, region_on};
use api::Principal;
use scenarios::*;
use serde_json::{Value, json};

const P2: &str = "P42010000002";

pub(crate) fn pharmacist(phar_code: &str, fixmedins_code: &str) -> Principal {
    Principal::Pharmacist { phar_code: phar_code.into(), fixmedins_code: fixmedins_code.into() }
}

/// The region, pharmacists F1 and F2 at P1 and F3 at P2, and N1's approved filing for the
/// separate-payment drug with P1 as fixed pharmacy. Returns the app and the drug codes
/// (separate payment, dual channel only, on no list).
pub(crate) async fn prescribing_region() -> (TestApp, [String; 3]) {
    prescribing_region_on(TestApp::start().await).await
}

/// [`prescribing_region`] on an app already started (on a store of the caller's choice).
pub(crate) async fn prescribing_region_on(app: TestApp) -> (TestApp, [String; 3]) {
    let (app, codes) = region_on(app).await;
    let agency = token_for(agency());
    for (phar_code, at) in [("F1", P1), ("F2", P1), ("F3", P2)] {
        let body = json!({"name": "药师", "fixmedins_code": at, "active": true});
        let request = app.client.put(app.url(&format!("/api/registry/pharmacists/{phar_code}"))).bearer_auth(&agency).json(&body);
        assert!(app.send(request).await.status < 300);
    }
    let applied = app.post_json("/api/filings", Some(&token_for(patient("N1"))), &application("N1", &codes[0], H1, "D1")).await.json();
    let id = applied["id"].as_str().expect("filing id").to_string();
    act(&app, physician("D1"), &id, json!({"action": "recommend", "attestation": "晚期"})).await;
    let approved = act(&app, office(H1), &id, json!({"action": "approve", "pharmacy": P1})).await.json();
    assert_eq!(approved["standing"], "valid", "{approved}");
    (app, codes)
}

pub(crate) fn line(code: &str) -> Value {
    json!({"med_list_codg": code, "drug_dosform": "注射剂", "drug_spec": "100mg/瓶", "drug_cnt": "2", "drug_dosunt": "瓶",
           "medc_days": 21, "medc_way_dscr": "静脉滴注 每三周一次", "drug_pric": "980.00", "restriction_attested": true})
}

pub(crate) fn prescription(hosp_rxno: &str, dr_code: &str, lines: Vec<Value>) -> Value {
    json!({"hosp_rxno": hosp_rxno, "psn_no": "N1", "fixmedins_code": H1, "dr_code": dr_code, "rx_exra_attr_code": "01",
           "diagnoses": ["C34.901"], "vali_days": 3, "lines": lines})
}

/// Pre-checks and uploads as D1; returns the stored prescription.
pub(crate) async fn prescribe(app: &TestApp, rx: &Value) -> Value {
    let doctor = token_for(physician("D1"));
    let checked = app.post_json("/api/prescriptions/pre-check", Some(&doctor), rx).await;
    assert_eq!(checked.status, 200, "{}", String::from_utf8_lossy(&checked.body));
    let uploaded = app.post_json("/api/prescriptions", Some(&doctor), &json!({"rx_trace_code": checked.json()["rx_trace_code"]})).await;
    assert_eq!(uploaded.status, 201, "{}", String::from_utf8_lossy(&uploaded.body));
    uploaded.json()
}

pub(crate) fn dispensing(dispensing_no: &str, code: &str, packs: &[&str]) -> Value {
    json!({"dispensing_no": dispensing_no, "lines": [{"med_list_codg": code, "batch": "B2025001", "drug_cnt": "2", "drug_trac_codg": packs}]})
}

pub(crate) const PACKS: [&str; 2] = ["81000000000000000001", "81000000000000000002"];

#[tokio::test(flavor = "multi_thread")]
async fn a_separate_payment_prescription_from_pre_check_to_dispensing() {
    let (app, [drug, ..]) = prescribing_region().await;
    let doctor = token_for(physician("D1"));
    let rx = prescription("R-0001", "D1", vec![line(&drug)]);
    let checked = app.post_json("/api/prescriptions/pre-check", Some(&doctor), &rx).await.json();
    assert_eq!((checked["lines"][0]["kind"].as_str(), checked["pharmacy"].as_str()), (Some("separate_payment"), Some(P1)), "{checked}");
    let upload = json!({"rx_trace_code": checked["rx_trace_code"]});
    let stored = app.post_json("/api/prescriptions", Some(&doctor), &upload).await;
    let stored = {
        assert_eq!(stored.status, 201, "{}", String::from_utf8_lossy(&stored.body));
        stored.json()
    };
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    assert_eq!((stored["rx_stas_codg"].as_str(), stored["stage"].as_str()), (Some("1"), Some("uploaded")));
    // the same upload again is a retry; the same number with other content is refused
    let again = app.post_json("/api/prescriptions", Some(&doctor), &upload).await;
    assert_eq!((again.status, again.json()["hi_rxno"].as_str()), (200, Some(hi_rxno.as_str())));
    let mut changed = rx.clone();
    changed["lines"][0]["drug_cnt"] = json!("1");
    let rechecked = app.post_json("/api/prescriptions/pre-check", Some(&doctor), &changed).await.json();
    app.post_json("/api/prescriptions", Some(&doctor), &json!({"rx_trace_code": rechecked["rx_trace_code"]})).await.problem(409, "RX_NUMBER_REUSED");
    // another physician cannot upload D1's pre-check
    app.post_json("/api/prescriptions", Some(&token_for(physician("D2"))), &upload).await.problem(404, "NOT_FOUND");

    // P5: the patient lists and prints it; strangers see nothing
    let patient_token = token_for(patient("N1"));
    let mine = app.get("/api/prescriptions", Some(&patient_token)).await.json();
    assert_eq!((mine["total"].as_u64(), mine["items"][0]["hi_rxno"].as_str()), (Some(1), Some(hi_rxno.as_str())));
    let voucher = app.get(&format!("/api/prescriptions/{hi_rxno}/voucher"), Some(&patient_token)).await;
    assert!(voucher.content_type().starts_with("text/plain"));
    let text = String::from_utf8_lossy(&voucher.body).to_string();
    assert!(text.contains(&hi_rxno) && text.contains("测试单抗") && text.contains("1 有效"), "{text}");
    for stranger in [patient("N2"), pharmacist("F3", P2), physician("D2"), office("H42010000003"), Principal::Agency { admdvs: "110000".into() }] {
        app.get(&format!("/api/prescriptions/{hi_rxno}"), Some(&token_for(stranger))).await.problem(404, "NOT_FOUND");
    }
    assert_eq!(app.get("/api/prescriptions", Some(&token_for(patient("N2")))).await.json()["total"], 0);
    assert_eq!(app.get("/api/prescriptions", Some(&token_for(pharmacist("F1", P1)))).await.json()["total"], 1);
    assert_eq!(app.get("/api/prescriptions", Some(&token_for(office(H1)))).await.json()["total"], 1);

    // P6: review before dispensing, by a pharmacist of the fixed pharmacy
    let f1 = token_for(pharmacist("F1", P1));
    let dispense = format!("/api/prescriptions/{hi_rxno}/dispense");
    app.post_json(&dispense, Some(&f1), &dispensing("D-1", &drug, &PACKS)).await.problem(409, "RX_STATE_CONFLICT");
    let review = format!("/api/prescriptions/{hi_rxno}/review");
    app.post_json(&review, Some(&f1), &json!({"approved": false})).await.problem(422, "INVALID_BODY");
    let approved = app.post_json(&review, Some(&f1), &json!({"approved": true, "opinion": "用法用量适宜"})).await.json();
    assert_eq!(approved["stage"], "approved", "{approved}");
    app.post_json(&review, Some(&f1), &json!({"approved": true})).await.problem(409, "RX_STATE_CONFLICT");

    // P7: packs are well-formed; M3: no more than prescribed
    let malformed = app.post_json(&dispense, Some(&f1), &dispensing("D-1", &drug, &["8100000000000000000X"])).await.problem(422, "INVALID_BODY");
    assert_eq!(malformed["violations"][0]["rule"], "P7", "{malformed}");
    let mut too_much = dispensing("D-1", &drug, &PACKS);
    too_much["lines"][0]["drug_cnt"] = json!("3");
    app.post_json(&dispense, Some(&f1), &too_much).await.problem(422, "INVALID_BODY");
    let dispensed = app.post_json(&dispense, Some(&f1), &dispensing("D-1", &drug, &PACKS)).await.json();
    // issue 14: validity and use apart, as the national interface has them: still valid, used
    let wire = |rx: &Value| (rx["stage"].as_str().map(String::from), [&rx["rx_stas_codg"], &rx["rx_used_stas_codg"], &rx["rx_chk_stas_codg"]].map(|v| v.as_str().map(String::from)));
    assert_eq!(wire(&dispensed), (Some("dispensed".into()), [Some("1".into()), Some("2".into()), Some("1".into())]), "{dispensed}");
    // the same dispensing retried is answered again; any other is refused (P8)
    assert_eq!(app.post_json(&dispense, Some(&f1), &dispensing("D-1", &drug, &PACKS)).await.status, 200);
    // the same number with other packs is not a retry
    app.post_json(&dispense, Some(&f1), &dispensing("D-1", &drug, &["81000000000000000009", PACKS[1]])).await.problem(409, "RX_STATE_CONFLICT");
    let packs = ["81000000000000000003", "81000000000000000004"];
    app.post_json(&dispense, Some(&token_for(pharmacist("F2", P1))), &dispensing("D-2", &drug, &packs)).await.problem(409, "RX_STATE_CONFLICT");
    // revocation only before dispensing
    let revoke = format!("/api/prescriptions/{hi_rxno}/revoke");
    app.post_json(&revoke, Some(&doctor), &json!({"reason": "开错"})).await.problem(409, "RX_STATE_CONFLICT");

    // E6: the first dispensing opened the pharmacy's medication record for the drug
    let record = app.get("/api/prescriptions/medication-records/N1", Some(&f1)).await.json();
    assert_eq!(record["drugs"].as_array().map(Vec::len), Some(1), "{record}");
    assert_eq!((record["drugs"][0]["med_list_codg"].as_str(), record["drugs"][0]["dispensings"].as_array().map(Vec::len)), (Some(drug.as_str()), Some(1)));
    app.get("/api/prescriptions/medication-records/N1", Some(&token_for(pharmacist("F3", P2)))).await.problem(404, "NOT_FOUND");

    // P7: every step traced, for the institution, the pharmacy and the agency, not the patient
    let trace = app.get(&format!("/api/prescriptions/{hi_rxno}/trace"), Some(&token_for(agency()))).await.json();
    let steps: Vec<(&str, &str)> = trace["steps"].as_array().expect("steps").iter().map(|s| (s["step"].as_str().unwrap(), s["by"].as_str().unwrap())).collect();
    assert_eq!(
        steps,
        [("upload", "physician:D1"), ("approve", "pharmacist:F1"), ("claim", "pharmacist:F1"), ("dispense", "pharmacist:F1")],
        "{trace}"
    );
    app.get(&format!("/api/prescriptions/{hi_rxno}/trace"), Some(&patient_token)).await.problem(403, "ROLE_FORBIDDEN");

    // P7: a pack dispensed once is refused on another prescription, which stays dispensable
    let second = prescribe(&app, &prescription("R-0002", "D1", vec![line(&drug)])).await;
    let second_id = second["hi_rxno"].as_str().expect("hi_rxno");
    app.post_json(&format!("/api/prescriptions/{second_id}/review"), Some(&f1), &json!({"approved": true})).await;
    let reused = app.post_json(&format!("/api/prescriptions/{second_id}/dispense"), Some(&f1), &dispensing("D-3", &drug, &[PACKS[1], packs[0]])).await;
    assert!(reused.problem(409, "PACK_ALREADY_USED")["detail"].as_str().unwrap().contains(&hi_rxno));
    let fresh = app.post_json(&format!("/api/prescriptions/{second_id}/dispense"), Some(&f1), &dispensing("D-3", &drug, &packs)).await;
    assert_eq!(fresh.json()["stage"], "dispensed");
    let record = app.get("/api/prescriptions/medication-records/N1", Some(&f1)).await.json();
    assert_eq!(record["drugs"][0]["dispensings"].as_array().map(Vec::len), Some(2), "{record}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pre_check_lists_every_violation_and_stores_nothing() {
    let (app, [separate, dual, unlisted]) = prescribing_region().await;
    let d2 = token_for(physician("D2"));
    // D2 is no responsible physician (P4) and not N1's filing physician (P4); the prescription
    // mixes a separate-payment drug with others (P3), names a drug on no list (C2) and an
    // unknown one (C1), is on paper (P1), and gives more days than the region allows
    let mut long = line(&dual);
    long["medc_days"] = json!(60);
    let mut rx = prescription("R-0100", "D2", vec![line(&separate), long, line(&unlisted), line("nrdl-unknown")]);
    rx["medium"] = json!("paper");
    let problem = app.post_json("/api/prescriptions/pre-check", Some(&d2), &rx).await.problem(422, "PRESCRIPTION_REFUSED");
    let found: Vec<(&str, &str)> = problem["violations"].as_array().expect("violations").iter().map(|v| (v["rule"].as_str().unwrap(), v["field"].as_str().unwrap())).collect();
    for expected in [("P4", "/dr_code"), ("P1", "/medium"), ("P3", "/lines/0"), ("P4", "/lines/1/medc_days"), ("C2", "/lines/2/med_list_codg"), ("C1", "/lines/3/med_list_codg")] {
        assert!(found.contains(&expected), "{expected:?} missing from {found:?}");
    }
    // an ordinary drug with only the official restriction text needs the physician's attestation (C9)
    let mut unattested = line(&dual);
    unattested["restriction_attested"] = json!(false);
    let d1 = token_for(physician("D1"));
    let c9 = app.post_json("/api/prescriptions/pre-check", Some(&d1), &prescription("R-0101", "D1", vec![unattested])).await.problem(422, "PRESCRIPTION_REFUSED");
    assert_eq!(c9["violations"][0]["rule"], "C9", "{c9}");
    // a physician prescribes only as themself
    app.post_json("/api/prescriptions/pre-check", Some(&d1), &rx).await.problem(403, "ROLE_FORBIDDEN");
    // hostile or malformed bodies: 4xx problems, nothing stored
    let mut bad = prescription("R-0102", "D1", vec![line(&dual)]);
    bad["lines"][0]["drug_pric"] = json!("-1");
    bad["lines"][0]["drug_cnt"] = json!("1000000");
    let shape = app.post_json("/api/prescriptions/pre-check", Some(&d1), &bad).await.problem(422, "INVALID_BODY");
    assert_eq!(shape["violations"].as_array().map(Vec::len), Some(2), "{shape}");
    let huge = prescription("R-0103", "D1", vec![line(&dual); 10_000]);
    app.post_json("/api/prescriptions/pre-check", Some(&d1), &huge).await.problem(413, "BODY_TOO_LARGE");
    let many = prescription("R-0104", "D1", vec![line(&dual); 6]);
    app.post_json("/api/prescriptions/pre-check", Some(&d1), &many).await.problem(422, "INVALID_BODY");
    let request = app.client.post(app.url("/api/prescriptions/pre-check")).bearer_auth(&d1).header("content-type", "application/json").body("{\"lines\": [");
    app.send(request).await.problem(400, "MALFORMED_JSON");
    app.post_json("/api/prescriptions", Some(&d1), &json!({"rx_trace_code": "TCdoesnotexist"})).await.problem(404, "NOT_FOUND");
    assert_eq!(app.get("/api/prescriptions", Some(&token_for(patient("N1")))).await.json()["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_pharmacists_racing_on_one_prescription_get_one_dispensing() {
    let (app, [drug, ..]) = prescribing_region().await;
    let stored = prescribe(&app, &prescription("R-0200", "D1", vec![line(&drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno");
    let f1 = token_for(pharmacist("F1", P1));
    app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await;
    let path = format!("/api/prescriptions/{hi_rxno}/dispense");
    let f2 = token_for(pharmacist("F2", P1));
    let first = dispensing("D-10", &drug, &["82000000000000000001", "82000000000000000002"]);
    let second = dispensing("D-11", &drug, &["82000000000000000003", "82000000000000000004"]);
    let (a, b) = tokio::join!(app.post_json(&path, Some(&f1), &first), app.post_json(&path, Some(&f2), &second));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", String::from_utf8_lossy(&a.body), String::from_utf8_lossy(&b.body));
    let loser = if a.status == 409 { &a } else { &b };
    let code = loser.json()["code"].as_str().unwrap_or_default().to_string();
    assert!(["RX_STATE_CONFLICT", "CONCURRENT_UPDATE"].contains(&code.as_str()), "{code}");
    // exactly one dispensing is recorded, and the loser's packs stay free
    let trace = app.get(&format!("/api/prescriptions/{hi_rxno}/trace"), Some(&f1)).await.json();
    let dispensed = trace["steps"].as_array().expect("steps").iter().filter(|s| s["step"] == "dispense").count();
    assert_eq!(dispensed, 1, "{trace}");
    let loser_packs = if a.status == 409 { first } else { second };
    let other = prescribe(&app, &prescription("R-0201", "D1", vec![line(&drug)])).await;
    let other_id = other["hi_rxno"].as_str().expect("hi_rxno");
    app.post_json(&format!("/api/prescriptions/{other_id}/review"), Some(&f1), &json!({"approved": true})).await;
    let mut reuse = loser_packs.clone();
    reuse["dispensing_no"] = json!("D-12");
    assert_eq!(app.post_json(&format!("/api/prescriptions/{other_id}/dispense"), Some(&f1), &reuse).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_and_the_region_policy() {
    let (app, [drug, dual, _]) = prescribing_region().await;
    let stored = prescribe(&app, &prescription("R-0300", "D1", vec![line(&drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno");
    let revoke = format!("/api/prescriptions/{hi_rxno}/revoke");
    // only its prescriber revokes, with a reason
    app.post_json(&revoke, Some(&token_for(physician("D2"))), &json!({"reason": "x"})).await.problem(404, "NOT_FOUND");
    let d1 = token_for(physician("D1"));
    app.post_json(&revoke, Some(&d1), &json!({"reason": " "})).await.problem(422, "INVALID_BODY");
    let revoked = app.post_json(&revoke, Some(&d1), &json!({"reason": "剂量有误"})).await.json();
    assert_eq!((revoked["rx_stas_codg"].as_str(), revoked["reason"].as_str()), (Some("3"), Some("剂量有误")), "{revoked}");
    let f1 = token_for(pharmacist("F1", P1));
    app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await.problem(409, "RX_STATE_CONFLICT");

    // the region's policy: published by its agency, read by anyone, applied at the pre-check
    let policy = json!({"effective_from": "2025-01-01", "max_days_supply": 14, "max_validity_days": 2, "same_city_only": true});
    let path = "/api/prescriptions/regions/420100/policy";
    let other_agency = token_for(Principal::Agency { admdvs: "110000".into() });
    let request = app.client.put(app.url(path)).bearer_auth(&other_agency).json(&policy);
    app.send(request).await.problem(403, "OUT_OF_REGION");
    let request = app.client.put(app.url(path)).bearer_auth(token_for(agency())).json(&json!({"effective_from": "2025-01-01", "max_days_supply": 0, "max_validity_days": 2, "same_city_only": true}));
    app.send(request).await.problem(422, "INVALID_BODY");
    let request = app.client.put(app.url(path)).bearer_auth(token_for(agency())).json(&policy);
    assert_eq!(app.send(request).await.status, 201);
    let published = app.get(path, None).await.json();
    assert_eq!((published["published"].as_bool(), published["max_days_supply"].as_u64()), (Some(true), Some(14)), "{published}");
    let refused = app.post_json("/api/prescriptions/pre-check", Some(&d1), &prescription("R-0301", "D1", vec![line(&dual)])).await.problem(422, "PRESCRIPTION_REFUSED");
    let rules: Vec<&str> = refused["violations"].as_array().expect("violations").iter().map(|v| v["rule"].as_str().unwrap()).collect();
    // 21 days of supply and 3 days of validity are above the region's 14 and 2
    assert_eq!(rules, ["P8", "P4"], "{refused}");
}

/// Pre-check and dispensing touch a bounded number of keys, the same however many
/// prescriptions are stored (issue 5's performance requirement, checked by count here; the
/// throughput figures are the benchmark's).
#[tokio::test(flavor = "multi_thread")]
async fn pre_check_and_dispensing_read_as_many_keys_with_few_or_many_prescriptions_stored() {
    use http::Method;
    let app = InProcessApp::start().await;
    let pharmacist_f1 = json!({"name": "药师", "fixmedins_code": P1, "active": true});
    let drug = in_process_region(&app, "dual_channel", &[("/api/registry/pharmacists/F1", pharmacist_f1)]).await;
    let send = |method: Method, path: String, token: String, body: Value| {
        let app = &app;
        async move {
            let body = (method != Method::GET).then(|| ("application/json", body.to_string().into_bytes()));
            app.send(method, &path, Some(&token), body).await
        }
    };
    let doctor = token_for(physician("D1"));
    let f1 = token_for(pharmacist("F1", P1));
    let mut bound = line(&drug);
    bound["drug_cnt"] = json!("1");
    // prescribes, reviews and dispenses prescription `n`; returns the kv ops of its pre-check and dispensing
    let cycle = |n: usize| {
        let (send, doctor, f1, bound, drug) = (&send, doctor.clone(), f1.clone(), bound.clone(), drug.clone());
        async move {
            let mut rx = prescription(&format!("R-{n:06}"), "D1", vec![bound]);
            rx["pharmacy"] = json!(P1);
            let checked = send(Method::POST, "/api/prescriptions/pre-check".into(), doctor.clone(), rx).await;
            assert_eq!(checked.status, 200, "{}", String::from_utf8_lossy(&checked.body));
            let trace_code = serde_json::from_slice::<Value>(&checked.body).unwrap()["rx_trace_code"].clone();
            let uploaded = send(Method::POST, "/api/prescriptions".into(), doctor, json!({"rx_trace_code": trace_code})).await;
            let hi_rxno = serde_json::from_slice::<Value>(&uploaded.body).unwrap()["hi_rxno"].as_str().expect("hi_rxno").to_string();
            send(Method::POST, format!("/api/prescriptions/{hi_rxno}/review"), f1.clone(), json!({"approved": true})).await;
            let pack = format!("83{n:018}");
            let body = json!({"dispensing_no": format!("D-{n}"), "lines": [{"med_list_codg": drug, "batch": "B1", "drug_cnt": "1", "drug_trac_codg": [pack]}]});
            let dispensed = send(Method::POST, format!("/api/prescriptions/{hi_rxno}/dispense"), f1, body).await;
            assert_eq!(dispensed.status, 200, "{}", String::from_utf8_lossy(&dispensed.body));
            (checked.kv_ops, dispensed.kv_ops)
        }
    };
    for n in 0..3 {
        cycle(n).await; // warms every cache the requests use
    }
    let (few_check, few_dispense) = cycle(3).await;
    for n in 4..200 {
        cycle(n).await;
    }
    let (many_check, many_dispense) = cycle(200).await;
    eprintln!("pre-check kv ops: {few_check} (4 stored) / {many_check} (200 stored)");
    eprintln!("dispense kv ops: {few_dispense} (4 stored) / {many_dispense} (200 stored)");
    assert_eq!(format!("{few_check}"), format!("{many_check}"));
    assert_eq!(format!("{few_dispense}"), format!("{many_dispense}"));
    assert_eq!((many_check.get_keys, many_dispense.get_keys), (0, 0));
}

/// Rule P8 and issue 5's "expiry without a background job": the host's clock moves past
/// `vali_end_time`; the prescription then reads as expired (status 2, derived when read) and
/// cannot be dispensed; its prescriber may still revoke it, to record why it was withdrawn.
#[tokio::test(flavor = "multi_thread")]
async fn a_prescription_expires_at_its_validity_end_without_a_background_job() {
    let (app, [drug, ..]) = prescribing_region().await;
    let stored = prescribe(&app, &prescription("R-0900", "D1", vec![line(&drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let week = 7 * 24 * 3600;
    let f1 = token_valid_for(pharmacist("F1", P1), week);
    let (doctor, n1) = (token_valid_for(physician("D1"), week), token_valid_for(patient("N1"), week));
    let reviewed = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await;
    assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));

    // vali_days 3: valid through the end of the third day; four days later it has expired
    app.advance_clock(std::time::Duration::from_secs(4 * 24 * 3600));
    let read = app.get(&format!("/api/prescriptions/{hi_rxno}"), Some(&n1)).await.json();
    assert_eq!((read["rx_stas_codg"].as_str(), read["stage"].as_str()), (Some("2"), Some("approved")), "{read}");
    let refused = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing("D-900", &drug, &PACKS)).await.problem(409, "RX_EXPIRED");
    assert_eq!(refused["rule"], "P8", "{refused}");
    // the refusal wrote nothing: the trace still ends with the review
    let office_token = token_valid_for(office(H1), week);
    let trace = app.get(&format!("/api/prescriptions/{hi_rxno}/trace"), Some(&office_token)).await.json();
    let steps: Vec<&str> = trace["steps"].as_array().expect("steps").iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["upload", "approve"], "{trace}");
    let voucher = app.get(&format!("/api/prescriptions/{hi_rxno}/voucher"), Some(&n1)).await;
    assert!(String::from_utf8_lossy(&voucher.body).contains("已失效"));
    let revoked = app.post_json(&format!("/api/prescriptions/{hi_rxno}/revoke"), Some(&doctor), &json!({"reason": "患者未取药"})).await.json();
    assert_eq!(revoked["rx_stas_codg"], "3", "{revoked}");
}

/// Issue 16: a dispensing its pharmacy left unfinished (the instance died after claiming the
/// prescription, and the pharmacy's system never sent it again) is listed for the agency,
/// which releases the prescription once the lease has run out: approved again, its packs free.
#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_dispensing_is_listed_for_the_agency_and_released() {
    let (app, [drug, ..]) = prescribing_region().await;
    let f1 = token_for(pharmacist("F1", P1));
    let agency = token_for(agency());
    let unfinished = format!("/api/prescriptions/unfinished?fixmedins_code={P1}");
    let packs = ["83900000000000000001", "83900000000000000002"];
    let mut left = None;
    for k in 8..40 {
        let stored = prescribe(&app, &prescription(&format!("R-L{k}"), "D1", vec![line(&drug)])).await;
        let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
        assert_eq!(app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await.status, 200);
        app.inject_fault(spin_test_host::Fault::KillAtOp(k));
        app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing(&format!("D-L{k}"), &drug, &packs)).await;
        let listed = app.get(&unfinished, Some(&agency)).await.json();
        if listed["items"].as_array().is_some_and(|items| items.iter().any(|i| i["hi_rxno"] == hi_rxno.as_str())) {
            left = Some(hi_rxno);
            break;
        }
    }
    let hi_rxno = left.expect("a kill that leaves a dispensing unfinished");
    app.get(&unfinished, Some(&token_for(api::Principal::Agency { admdvs: "110000".into() }))).await.problem(404, "NOT_FOUND");
    let release = format!("/api/prescriptions/{hi_rxno}/release");
    let reason = json!({"reason": "药店系统未重发"});
    app.post_json(&release, Some(&agency), &reason).await.problem(409, "CONCURRENT_UPDATE");
    app.advance_clock(std::time::Duration::from_secs(61));
    let released = app.post_json(&release, Some(&agency), &reason).await;
    assert_eq!((released.status, released.json()["stage"].as_str()), (200, Some("approved")), "{}", String::from_utf8_lossy(&released.body));
    assert_eq!(app.post_json(&release, Some(&agency), &reason).await.status, 200, "a retry answers");
    assert_eq!(app.get(&unfinished, Some(&agency)).await.json()["items"], json!([]));
    // dispensed anew, with the same packs: they were released
    let again = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing("D-L-again", &drug, &packs)).await;
    assert_eq!((again.status, again.json()["stage"].as_str()), (200, Some("dispensed")), "{}", String::from_utf8_lossy(&again.body));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_prescription_reads_voided_with_its_review_on_the_wire() {
    // issue 14 item 7: the national interface's validity (rx_stas_codg), use
    // (rx_used_stas_codg) and review (rx_chk_stas_codg) statuses, each its own field
    let (app, [drug, ..]) = prescribing_region().await;
    let stored = prescribe(&app, &prescription("R-W1", "D1", vec![line(&drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let fields = |rx: &Value| ["rx_stas_codg", "rx_used_stas_codg", "rx_chk_stas_codg"].map(|f| rx[f].as_str().map(String::from));
    assert_eq!(fields(&stored), [Some("1".into()), Some("1".into()), None], "uploaded, not yet reviewed: {stored}");
    let f1 = token_for(pharmacist("F1", P1));
    let rejected = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": false, "opinion": "剂量超说明书"})).await.json();
    assert_eq!(fields(&rejected), [Some("4".into()), Some("1".into()), Some("2".into())], "voided by the review, unused: {rejected}");
    // the patient sees it as such, and the pharmacy cannot dispense it
    let read = app.get(&format!("/api/prescriptions/{hi_rxno}"), Some(&token_for(patient("N1")))).await.json();
    assert_eq!((fields(&read)[0].as_deref(), read["review"]["opinion"].as_str()), (Some("4"), Some("剂量超说明书")), "{read}");
    app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing("D-W1", &drug, &PACKS)).await.problem(409, "RX_STATE_CONFLICT");
    let voucher = app.get(&format!("/api/prescriptions/{hi_rxno}/voucher"), Some(&token_for(patient("N1")))).await;
    let text = String::from_utf8_lossy(&voucher.body);
    assert!(text.contains("rx_stas_codg: 4 已作废（审核未通过）") && text.contains("rx_used_stas_codg: 1 未使用"), "{text}");
}
