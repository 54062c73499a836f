//! Settlement through the host (issue 6): the region's policy, pre-settlement, settlement of a
//! dispensed prescription, retries, reversal, who may read it, and concurrent settlements of
//! one person against a cap (rules S1–S8).

use crate::filing::{H1, P1, office, physician};
use crate::prescription::{dispensing, line, pharmacist, prescribe, prescribing_region, prescription};
use scenarios::*;
use serde_json::{Value, json};

/// The example policy of `docs/examples/settlement-policy.json` (the figures of the worked
/// examples in `rules::settlement`), with the pooled fund's annual cap `pooled_cap` for
/// employees.
pub(crate) fn policy(pooled_cap: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/settlement-policy.json");
    let mut policy: Value = serde_json::from_slice(&std::fs::read(path).expect("the example policy")).expect("JSON");
    policy["employee"]["annual_pooled_cap"] = json!(pooled_cap);
    policy
}

pub(crate) async fn publish(app: &TestApp, body: &Value) -> Answer {
    let request = app.client.put(app.url("/api/settlements/regions/420100/policy")).bearer_auth(token_for(agency())).json(body);
    app.send(request).await
}

/// Prescribes 测试单抗 ×2 for N1, reviews and dispenses it at P1 (packs from `first_pack`).
pub(crate) async fn dispensed(app: &TestApp, drug: &str, n: u64) -> String {
    let stored = prescribe(app, &prescription(&format!("R-S{n:04}"), "D1", vec![line(drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let f1 = token_for(pharmacist("F1", P1));
    let reviewed = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await;
    assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));
    let packs = [format!("82{:018}", 2 * n), format!("82{:018}", 2 * n + 1)];
    let packs: Vec<&str> = packs.iter().map(String::as_str).collect();
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing(&format!("D-S{n}"), drug, &packs)).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    hi_rxno
}

pub(crate) fn figures(answer: &Value) -> Vec<&str> {
    ["medfee_sumamt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay", "fund_pay_sumamt", "acct_pay", "psn_cash_pay", "psn_part_amt"]
        .iter()
        .map(|field| answer[*field].as_str().unwrap_or("missing"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dispensed_prescription_is_settled_once_and_reversed_once() {
    let (app, [drug, ..]) = prescribing_region().await;
    let hi_rxno = dispensed(&app, &drug, 1).await;
    let f1 = token_for(pharmacist("F1", P1));
    let request = json!({"setl_no": "S-0001", "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "500.00"});

    // no policy yet: nothing can be computed
    let pre = json!({"hi_rxno": hi_rxno, "lines": request["lines"], "acct_balance": "500.00"});
    app.post_json("/api/settlements/pre-settlement", Some(&f1), &pre).await.problem(422, "SETTLEMENT_REFUSED");
    let mut bad = policy("400000");
    bad["employee"]["separate_payment"]["third"] = json!("1.5");
    assert_eq!(publish(&app, &bad).await.problem(422, "INVALID_BODY")["violations"][0]["field"], "/employee/separate_payment/third");
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    assert_eq!(app.get("/api/settlements/regions/420100/policy", None).await.json()["employee"]["annual_pooled_cap"], "400000");

    // rules S1, S2, C7: 2 × 1000.00, at the standard 1000.00 (a negotiated drug's price may
    // not exceed it); class B pays 10% of 2000.00 first; 1800.00 × the tier-3 separate-payment
    // ratio 0.80, no deductible: 1440.00; the patient's 560.00, 500.00 of it from the account
    let expected = ["2000.00", "0.00", "200.00", "1800.00", "0.00", "1440.00", "0.00", "1440.00", "500.00", "60.00", "560.00"];
    let trial = app.post_json("/api/settlements/pre-settlement", Some(&f1), &pre).await;
    assert_eq!(trial.status, 200, "{}", String::from_utf8_lossy(&trial.body));
    assert_eq!(figures(&trial.json()), expected, "{}", trial.json());
    let settled = app.post_json("/api/settlements", Some(&f1), &request).await;
    assert_eq!(settled.status, 201, "{}", String::from_utf8_lossy(&settled.body));
    let settled = settled.json();
    assert_eq!((figures(&settled), settled["stage"].as_str()), (expected.to_vec(), Some("settled")));
    assert!(settled["steps"].as_array().expect("steps").iter().any(|s| s["rule"] == "S2"), "{settled}");
    let setl_id = settled["setl_id"].as_str().expect("setl_id").to_string();

    // the same request again is answered; the number with another request, or another number
    // for the same prescription, is refused (S8)
    let again = app.post_json("/api/settlements", Some(&f1), &request).await;
    assert_eq!((again.status, again.json()["setl_id"].as_str()), (200, Some(setl_id.as_str())));
    let mut other = request.clone();
    other["acct_balance"] = json!("0.00");
    app.post_json("/api/settlements", Some(&f1), &other).await.problem(409, "SETTLEMENT_NUMBER_REUSED");
    other["setl_no"] = json!("S-0002");
    app.post_json("/api/settlements", Some(&f1), &other).await.problem(409, "ALREADY_SETTLED");

    // who may read it
    assert_eq!(app.get(&format!("/api/settlements/{setl_id}"), Some(&token_for(patient("N1")))).await.status, 200);
    for stranger in [patient("N2"), pharmacist("F3", "P42010000002")] {
        app.get(&format!("/api/settlements/{setl_id}"), Some(&token_for(stranger))).await.problem(404, "NOT_FOUND");
    }
    app.post_json(&format!("/api/settlements/{setl_id}/reversal"), Some(&token_for(pharmacist("F3", "P42010000002"))), &json!({"reason": "x"})).await.problem(404, "NOT_FOUND");
    app.post_json("/api/settlements", Some(&token_for(physician("D1"))), &request).await.problem(403, "ROLE_FORBIDDEN");

    // the patient's list, the pharmacy's day, the agency's month (S5: separate payment apart)
    let mine = app.get("/api/settlements", Some(&token_for(patient("N1")))).await.json();
    assert_eq!((mine["total"].as_u64(), mine["items"][0]["setl_id"].as_str()), (Some(1), Some(setl_id.as_str())), "{mine}");
    assert_eq!(app.get("/api/settlements", Some(&token_for(patient("N2")))).await.json()["total"], 0);
    let day = app.get("/api/settlements/day", Some(&f1)).await.json();
    assert_eq!((day["totals"]["settlements"].as_u64(), day["totals"]["hifp_pay"].as_str()), (Some(1), Some("1440.00")), "{day}");
    let month = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).format("%Y-%m").to_string();
    let report_path = format!("/api/monitoring/reports/drugs?admdvs=420100&month={month}");
    let report = app.get(&report_path, Some(&token_for(agency()))).await.json();
    assert_eq!(report["separate_payment"]["drugs"][0]["med_list_codg"], drug.as_str(), "{report}");
    assert_eq!((report["separate_payment"]["medfee"].as_str(), report["separate_payment"]["hifp_pay"].as_str()), (Some("2000.00"), Some("1440.00")), "{report}");
    let elsewhere = api::Principal::Agency { admdvs: "430100".into() };
    app.get(&report_path, Some(&token_for(elsewhere))).await.problem(403, "OUT_OF_REGION");

    // reversal, exactly once; a reason is required
    let reversal = format!("/api/settlements/{setl_id}/reversal");
    app.post_json(&reversal, Some(&f1), &json!({"reason": " "})).await.problem(422, "INVALID_BODY");
    let reversed = app.post_json(&reversal, Some(&f1), &json!({"reason": "患者退药"})).await.json();
    assert_eq!(reversed["stage"], "reversed", "{reversed}");
    assert_eq!(app.post_json(&reversal, Some(&f1), &json!({"reason": "再次"})).await.json()["reason"], "患者退药");
    let report = app.get(&report_path, Some(&token_for(agency()))).await.json();
    assert_eq!(report["separate_payment"]["hifp_pay"], "0.00", "the month is net of the reversal: {report}");
    let day = app.get("/api/settlements/day", Some(&f1)).await.json();
    assert_eq!((day["totals"]["settlements"].as_u64(), day["totals"]["reversed"].as_u64()), (Some(0), Some(1)), "{day}");
    // the year is as before: a new prescription's pre-settlement computes as the first did
    let next = dispensed(&app, &drug, 2).await;
    let trial = app.post_json("/api/settlements/pre-settlement", Some(&f1), &json!({"hi_rxno": next, "lines": request["lines"], "acct_balance": "500.00"})).await.json();
    assert_eq!(figures(&trial), expected, "{trial}");

    // rule S7: registered as low-income, the person gets medical assistance on what remains:
    // (1800.00 − 1440.00) × 0.70 = 252.00; the patient's share 2000.00 − 1692.00 = 308.00
    let person = json!({"name": "患者", "certno": "42010219800101001X", "insutype": "310", "insured_admdvs": "420100",
                        "benefit_status": "normal", "assistance_category": "low_income"});
    let request = app.client.put(app.url("/api/registry/persons/N1")).bearer_auth(token_for(agency())).json(&person);
    assert!(app.send(request).await.status < 300);
    let trial = app.post_json("/api/settlements/pre-settlement", Some(&f1), &json!({"hi_rxno": next, "lines": request_lines(&drug), "acct_balance": "0"})).await.json();
    assert_eq!((trial["maf_pay"].as_str(), trial["psn_part_amt"].as_str()), (Some("252.00"), Some("308.00")), "{trial}");
}

fn request_lines(drug: &str) -> Value {
    json!([{"med_list_codg": drug, "unit_price": "1000.00"}])
}

/// Issue 6: 20 simultaneous settlements for one person near the pooled fund's annual cap:
/// the cap holds exactly, whichever settlement gets what.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_settlements_of_one_person_never_pass_a_cap() {
    let (app, [drug, ..]) = prescribing_region().await;
    // each settlement would pay 1440.00; 20 would pay 28800.00; the cap is 10000.00
    assert_eq!(publish(&app, &policy("10000")).await.status, 201);
    let mut prescriptions = Vec::new();
    for n in 0..20 {
        prescriptions.push(dispensed(&app, &drug, 100 + n).await);
    }
    let f1 = token_for(pharmacist("F1", P1));
    let settlements = prescriptions.iter().enumerate().map(|(n, hi_rxno)| {
        let body = json!({"setl_no": format!("C-{n}"), "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "0"});
        let (app, f1) = (&app, f1.clone());
        async move { app.post_json("/api/settlements", Some(&f1), &body).await }
    });
    let answers = futures::future::join_all(settlements).await;
    let mut pooled = rust_decimal::Decimal::ZERO;
    for answer in &answers {
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
        let body = answer.json();
        pooled += body["hifp_pay"].as_str().expect("hifp_pay").parse::<rust_decimal::Decimal>().unwrap();
        // every settlement's own figures still add up
        let amount = |f: &str| body[f].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
        assert_eq!(amount("medfee_sumamt"), amount("fund_pay_sumamt") + amount("psn_part_amt"));
    }
    assert_eq!(pooled, rust_decimal::Decimal::new(10000, 0), "the cap holds exactly");
}

/// An institution settles an outpatient visit (no prescription): its level decides (S3), a
/// separate-payment drug needs the patient's valid filing at this institution (E5), and each
/// party settles only its own kind of purchase.
#[tokio::test(flavor = "multi_thread")]
async fn an_institution_settles_an_outpatient_visit() {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let h1 = token_for(office(H1));
    let lines = json!([{"med_list_codg": drug, "drug_cnt": "2", "drug_spec": "100mg/瓶", "unit_price": "1000.00"}]);
    let visit = json!({"setl_no": "V-1", "psn_no": "N1", "lines": lines, "acct_balance": "500.00"});
    // the same figures as the pharmacy's settlement of the same drugs: one policy (S3)
    let settled = app.post_json("/api/settlements", Some(&h1), &visit).await;
    assert_eq!(settled.status, 201, "{}", String::from_utf8_lossy(&settled.body));
    let settled = settled.json();
    assert_eq!((settled["hifp_pay"].as_str(), settled["psn_part_amt"].as_str(), settled["fixmedins_code"].as_str()), (Some("1440.00"), Some("560.00"), Some(H1)));
    let day = app.get("/api/settlements/day", Some(&h1)).await.json();
    assert_eq!(day["totals"]["settlements"], 1, "{day}");
    // N2's benefits are suspended and it holds no filing: refused (S6, E5), every reason at once
    let mut other = visit.clone();
    (other["setl_no"], other["psn_no"]) = (json!("V-2"), json!("N2"));
    let refused = app.post_json("/api/settlements", Some(&h1), &other).await.problem(422, "SETTLEMENT_REFUSED");
    let rules: Vec<&str> = refused["violations"].as_array().expect("violations").iter().map(|v| v["rule"].as_str().unwrap_or("")).collect();
    assert_eq!(rules, ["S6", "E5"], "{refused}");
    // a visit's lines carry quantities; a pharmacy settles prescriptions, an office visits
    let mut bare = visit.clone();
    (bare["setl_no"], bare["lines"]) = (json!("V-3"), json!([{"med_list_codg": drug, "unit_price": "1000.00"}]));
    app.post_json("/api/settlements", Some(&h1), &bare).await.problem(422, "INVALID_BODY");
    app.post_json("/api/settlements", Some(&token_for(pharmacist("F1", P1))), &visit).await.problem(422, "INVALID_BODY");
    // the pharmacy neither sees nor reverses the institution's settlement
    let setl_id = settled["setl_id"].as_str().expect("setl_id");
    app.get(&format!("/api/settlements/{setl_id}"), Some(&token_for(pharmacist("F1", P1)))).await.problem(404, "NOT_FOUND");
    assert_eq!(app.post_json(&format!("/api/settlements/{setl_id}/reversal"), Some(&h1), &json!({"reason": "退费"})).await.json()["stage"], "reversed");
}

/// Returns (退药, issue 16): a settled prescription's packs are taken back only after its
/// settlement is reversed; one of two packs handed back releases that pack, writes a negative
/// medication entry, and the kept half is settled again with the year restored exactly.
#[tokio::test(flavor = "multi_thread")]
async fn a_pack_handed_back_is_reversed_released_and_the_rest_settled_again() {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let hi_rxno = dispensed(&app, &drug, 7).await;
    let f1 = token_for(pharmacist("F1", P1));
    let request = |setl_no: &str| json!({"setl_no": setl_no, "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "500.00"});
    let settled = app.post_json("/api/settlements", Some(&f1), &request("S-R1")).await;
    assert_eq!(settled.status, 201, "{}", String::from_utf8_lossy(&settled.body));
    let setl_id = settled.json()["setl_id"].as_str().expect("setl_id").to_string();
    let (kept_pack, back_pack) = (format!("82{:018}", 14), format!("82{:018}", 15));
    let returns = format!("/api/prescriptions/{hi_rxno}/returns");
    let back = json!({"return_no": "T-1", "drug_trac_codg": [back_pack], "reason": "患者过敏停药"});

    // S8: the standing settlement first; P7: only packs of this dispensing, once
    assert_eq!(app.post_json(&returns, Some(&f1), &back).await.problem(409, "ALREADY_SETTLED")["rule"], "S8");
    assert_eq!(app.post_json(&format!("/api/settlements/{setl_id}/reversal"), Some(&f1), &json!({"reason": "退药"})).await.status, 200);
    let stranger = json!({"return_no": "T-9", "drug_trac_codg": ["89000000000000000001"], "reason": "误扫"});
    assert_eq!(app.post_json(&returns, Some(&f1), &stranger).await.problem(422, "INVALID_BODY")["violations"][0]["rule"], "P7");
    app.post_json(&returns, Some(&token_for(pharmacist("F3", "P42010000002"))), &back).await.problem(404, "NOT_FOUND");
    let answer = app.post_json(&returns, Some(&f1), &back).await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let record = answer.json();
    assert_eq!(record["dispensing"]["returns"][0]["lines"][0]["drug_cnt"], "1", "{record}");
    // the same return again is answered; the number with other packs is refused
    assert_eq!(app.post_json(&returns, Some(&f1), &back).await.status, 200);
    let other = json!({"return_no": "T-1", "drug_trac_codg": [kept_pack], "reason": "患者过敏停药"});
    app.post_json(&returns, Some(&f1), &other).await.problem(409, "RX_STATE_CONFLICT");
    let again = json!({"return_no": "T-2", "drug_trac_codg": [back_pack], "reason": "重复"});
    app.post_json(&returns, Some(&f1), &again).await.problem(422, "INVALID_BODY");

    // E6: the medication record shows the dispensing and the return
    let medication = app.get("/api/prescriptions/medication-records/N1", Some(&f1)).await.json();
    let counts: Vec<&str> = medication["drugs"][0]["dispensings"].as_array().expect("entries").iter().map(|e| e["drug_cnt"].as_str().unwrap_or("")).collect();
    assert_eq!(counts, ["2", "-1"], "{medication}");
    // P7: the pack handed back may be dispensed again, the kept one may not
    let next = prescribe(&app, &prescription("R-S0008", "D1", vec![line(&drug)])).await;
    let next_rxno = next["hi_rxno"].as_str().expect("hi_rxno");
    assert_eq!(app.post_json(&format!("/api/prescriptions/{next_rxno}/review"), Some(&f1), &json!({"approved": true})).await.status, 200);
    let dispense = format!("/api/prescriptions/{next_rxno}/dispense");
    app.post_json(&dispense, Some(&f1), &dispensing("D-R2", &drug, &[&kept_pack, "82000000000000000099"])).await.problem(409, "PACK_ALREADY_USED");
    let redispensed = app.post_json(&dispense, Some(&f1), &dispensing("D-R3", &drug, &[&back_pack, "82000000000000000098"])).await;
    assert_eq!(redispensed.status, 200, "{}", String::from_utf8_lossy(&redispensed.body));

    // S8: what is kept is settled again, on the year the reversal restored: one unit at the
    // standard 1000.00, class B 10% of 1000.00 first, 900.00 × 0.80 = 720.00 from the pooled
    // fund; 280.00 for the patient, all from the 500.00 account
    let resettled = app.post_json("/api/settlements", Some(&f1), &request("S-R2")).await;
    assert_eq!(resettled.status, 201, "{}", String::from_utf8_lossy(&resettled.body));
    let figures_now = figures(&resettled.json()).into_iter().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(figures_now, ["1000.00", "0.00", "100.00", "900.00", "0.00", "720.00", "0.00", "720.00", "280.00", "0.00", "280.00"]);
}

/// Issue 16: a settlement its pharmacy left unfinished (the instance died after `settling`, and
/// the pharmacy's system never sent it again) is listed for the agency, which voids it once
/// the lease has run out: the person's year is restored and the prescription settled anew.
#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_settlement_is_listed_for_the_agency_and_voided() {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let f1 = token_for(pharmacist("F1", P1));
    let agency = token_for(agency());
    let request = |setl_no: &str, hi_rxno: &str| json!({"setl_no": setl_no, "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "500.00"});
    let unfinished = "/api/settlements/unfinished?fixmedins_code=P42010000001";
    // kill the instance later and later in a settlement until one is left `settling`
    let mut left = None;
    for k in (12..60).step_by(4) {
        let hi_rxno = dispensed(&app, &drug, 100 + k).await;
        app.inject_fault(spin_test_host::Fault::KillAtOp(k));
        app.post_json("/api/settlements", Some(&f1), &request(&format!("S-U{k}"), &hi_rxno)).await;
        let listed = app.get(unfinished, Some(&agency)).await.json();
        if let Some(item) = listed["items"].as_array().and_then(|items| items.iter().find(|i| i["hi_rxno"] == hi_rxno.as_str())) {
            left = Some((hi_rxno, item["setl_id"].as_str().expect("setl_id").to_string()));
            break;
        }
    }
    let (hi_rxno, setl_id) = left.expect("a kill that leaves a settlement settling");
    app.get(unfinished, Some(&token_for(api::Principal::Agency { admdvs: "110000".into() }))).await.problem(404, "NOT_FOUND");
    let void = format!("/api/settlements/{setl_id}/void");
    let reason = json!({"reason": "药店系统未重发"});
    app.post_json(&void, Some(&agency), &reason).await.problem(409, "CONCURRENT_UPDATE");
    app.advance_clock(std::time::Duration::from_secs(61));
    let voided = app.post_json(&void, Some(&agency), &reason).await;
    assert_eq!((voided.status, voided.json()["stage"].as_str()), (200, Some("voided")), "{}", String::from_utf8_lossy(&voided.body));
    assert_eq!(app.post_json(&void, Some(&agency), &reason).await.json()["stage"], "voided");
    assert_eq!(app.get(unfinished, Some(&agency)).await.json()["items"], json!([]));
    // released, and the year as if the voided one never was: the first settlement's figures
    let again = app.post_json("/api/settlements", Some(&f1), &request("S-U-again", &hi_rxno)).await;
    assert_eq!(again.status, 201, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(figures(&again.json()), ["2000.00", "0.00", "200.00", "1800.00", "0.00", "1440.00", "0.00", "1440.00", "500.00", "60.00", "560.00"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_from_another_city_settles_directly_only_where_the_dispensing_pharmacy_is_open() {
    // issue 14 item 6, rule S6: the dispensing pharmacy must be open for cross-region direct
    // settlement (H1, the prescribing institution, is open; P1 is not yet)
    let (app, [_, dual, _]) = prescribing_region().await;
    let admin = token_for(admin());
    let request = app.client.put(app.url("/api/settlements/regions/420500/policy")).bearer_auth(&admin).json(&policy("400000"));
    assert_eq!(app.send(request).await.status, 201);
    let person = json!({"name": "患者", "certno": "420502198001010011", "insutype": "310", "insured_admdvs": "420500", "benefit_status": "normal"});
    assert!(app.send(app.client.put(app.url("/api/registry/persons/N5")).bearer_auth(&admin).json(&person)).await.status < 300);
    let mut rx = prescription("R-X1", "D1", vec![line(&dual)]);
    rx["psn_no"] = json!("N5");
    let stored = prescribe(&app, &rx).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let f1 = token_for(pharmacist("F1", P1));
    assert_eq!(app.post_json(&format!("/api/prescriptions/{hi_rxno}/review?psn_no=N5"), Some(&f1), &json!({"approved": true})).await.status, 200);
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing("D-X1", &dual, &["86000000000000000001", "86000000000000000002"])).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let body = json!({"setl_no": "S-X1", "hi_rxno": hi_rxno, "lines": [{"med_list_codg": dual, "unit_price": "1000.00"}], "acct_balance": "0"});
    let refused = app.post_json("/api/settlements", Some(&f1), &body).await.problem(422, "SETTLEMENT_REFUSED");
    let violation = &refused["violations"][0];
    assert_eq!(violation["rule"], "S6", "{refused}");
    assert!(violation["reason"].as_str().unwrap_or_default().contains("dispensing pharmacy"), "{refused}");
    // its agency opens P1 (the public list shows it), and the same settlement goes through
    let open = json!({"name": "药房", "admdvs": "420100", "address": "武汉市", "dual_channel": true, "electronic_traceability": true,
                      "can_supply": true, "compliant": true, "linked_institutions": [H1], "cross_region_settlement": true});
    assert!(app.send(app.client.put(app.url(&format!("/api/registry/pharmacies/{P1}"))).bearer_auth(token_for(agency())).json(&open)).await.status < 300);
    let listed = app.get("/api/registry/pharmacies?admdvs=420100", None).await.json();
    let p1 = listed["items"].as_array().expect("items").iter().find(|p| p["fixmedins_code"] == P1).cloned().unwrap_or_default();
    assert_eq!(p1["cross_region_settlement"], true, "{listed}");
    let settled = app.post_json("/api/settlements", Some(&f1), &body).await;
    assert_eq!(settled.status, 201, "{}", String::from_utf8_lossy(&settled.body));
}

/// Puts `drug` on the city's outpatient negotiated-drug list (S4) with `entry`'s other fields.
async fn on_the_outpatient_list(app: &TestApp, drug: &str, entry: Value) {
    let mut entry = entry;
    entry["code"] = json!(drug);
    let body = json!({"effective_from": "2025-01-01", "entries": [entry]});
    let answer = app.post_json("/api/catalogue/regions/420100/lists/outpatient", Some(&token_for(agency())), &body).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
}

/// An institution's visit for N1, prescribed by D1: two units of `drug` at 1000.00 (its
/// standard), class B.
fn visit_of(drug: &str, setl_no: &str) -> Value {
    crate::outpatient::visit(drug, setl_no, "D1")
}

/// Issue 14 item 11, rule S4: the seed city's annual maximum is the label's highest annual drug
/// cost (`004_…`: 最高支付限额按该药品说明书年度最高药品费用确定), so it caps the drug's eligible cost
/// counted in the year, not the fund's payment: the policy says which (`annual_max_basis`), and
/// the steps say where the cap bit. (Before, the maximum capped the fund's payments only: the
/// second visit below was paid 1260.00.)
#[tokio::test(flavor = "multi_thread")]
async fn the_outpatient_mechanisms_annual_maximum_caps_the_drugs_eligible_cost() {
    let (app, [_, drug, _]) = prescribing_region().await;
    on_the_outpatient_list(&app, &drug, json!({"annual_max": "3000.00"})).await;
    // the example policy is the seed city's: eligible_cost
    let example = policy("400000");
    assert_eq!(example["employee"]["outpatient_negotiated"]["annual_max_basis"], "eligible_cost");
    assert_eq!(publish(&app, &example).await.status, 201);
    let published = app.get("/api/settlements/regions/420100/policy", None).await.json();
    assert_eq!(published["resident"]["outpatient_negotiated"]["annual_max_basis"], "eligible_cost", "{published}");
    let mut typo = example.clone();
    typo["employee"]["outpatient_negotiated"]["annual_max_basis"] = json!("payment");
    publish(&app, &typo).await.problem(422, "INVALID_BODY");
    // rule S4: N1 is registered for the drug at H1 by D1
    crate::outpatient::registered(&app, &drug, H1, "D1").await;

    let h1 = token_for(office(H1));
    let mut paid = Vec::new();
    let mut steps = Vec::new();
    for n in 1..=3 {
        let answer = app.post_json("/api/settlements", Some(&h1), &visit_of(&drug, &format!("V-C{n}"))).await;
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
        let body = answer.json();
        assert_eq!(body["lines"][0]["treatment"], json!({"kind": "outpatient_negotiated", "annual_max": "3000.00"}));
        paid.push((body["inscp_scp_amt"].as_str().unwrap().to_string(), body["hifp_pay"].as_str().unwrap().to_string(), body["psn_part_amt"].as_str().unwrap().to_string()));
        let amount = |f: &str| body[f].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
        assert_eq!(amount("medfee_sumamt"), amount("fulamt_ownpay_amt") + amount("overlmt_selfpay") + amount("preselfpay_amt") + amount("inscp_scp_amt"));
        assert_eq!(amount("medfee_sumamt"), amount("fund_pay_sumamt") + amount("psn_part_amt"));
        steps.push(body["steps"].as_array().expect("steps").clone());
    }
    // 2000.00 a visit, class B: 200.00 first, 1800.00 in scope. 1st: all counted, (1800.00 −
    // deductible 300.00) × 0.70 = 1050.00; 2nd: 3000.00 − 1800.00 = 1200.00 left, counted,
    // × 0.70 = 840.00, the other 600.00 the patient's; 3rd: nothing left
    let paid: Vec<(&str, &str, &str)> = paid.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    assert_eq!(paid, [("1800.00", "1050.00", "950.00"), ("1800.00", "840.00", "1160.00"), ("1800.00", "0.00", "2000.00")]);
    // every visit's steps name the basis; the second's say where the maximum bit
    for visit in &steps {
        assert!(visit.iter().any(|s| s["rule"] == "S4" && s["input"].as_str().unwrap_or("").contains("on the drug's eligible cost (eligible_cost)")), "{visit:?}");
    }
    let bit: Vec<&Value> = steps[1].iter().filter(|s| s["what"].as_str().unwrap_or("").contains("annual maximum on its eligible cost")).collect();
    assert_eq!(bit.len(), 1, "{:?}", steps[1]);
    assert_eq!(bit[0]["output"], "counted 1200.00; beyond the maximum 600.00");
    assert!(bit[0]["input"].as_str().unwrap().contains("eligible cost counted this year 1800.00"), "{}", bit[0]);
}

/// Issue 14 item 10, rule C9 for S4: a city's outpatient entry carries a restriction of its
/// own, narrower than the national one (`004_…`: 奥曲肽 "限肢端肥大症"). The coverage answer shows
/// it; the mechanism pays only where it is met (here: a diagnosis of acromegaly, E22.0), and a
/// purchase that does not meet it is paid as an ordinary drug, a step saying why. (Before, the
/// list could not carry it and the mechanism paid every purchase.)
#[tokio::test(flavor = "multi_thread")]
async fn the_outpatient_lists_own_restriction_decides_whether_the_mechanism_pays() {
    let (app, [_, drug, _]) = prescribing_region().await;
    let restriction = json!({"text": "限肢端肥大症", "indications": ["E22.0"]});
    // rule C9: the text, and conditions in the national encoding's shape
    let bad = json!({"effective_from": "2025-01-01", "entries": [{"code": drug, "annual_max": "66000.00", "local_restriction": {"text": "", "indications": ["肢端肥大症"]}}]});
    let refused = app.post_json("/api/catalogue/regions/420100/lists/outpatient", Some(&token_for(agency())), &bad).await.problem(422, "INVALID_REGIONAL_LIST");
    let fields: Vec<&str> = refused["violations"].as_array().expect("violations").iter().map(|v| v["field"].as_str().unwrap_or("")).collect();
    assert_eq!(fields, ["/entries/0/local_restriction/text", "/entries/0/local_restriction/indications/0"], "{refused}");
    on_the_outpatient_list(&app, &drug, json!({"annual_max": "66000.00", "local_restriction": restriction})).await;
    let coverage = app.get(&format!("/api/catalogue/regions/420100/drugs/{drug}"), None).await.json();
    assert_eq!(coverage["lists"]["outpatient"], json!({"annual_max": "66000.00", "local_restriction": restriction}), "{coverage}");
    assert!(coverage["restriction"].as_str().is_some_and(|r| r.contains("晚期")), "the national restriction stays the national entry's (C2): {coverage}");
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    // rule S4: N1 is registered for the drug at H1 by D1
    crate::outpatient::registered(&app, &drug, H1, "D1").await;

    // a prescription for a lung tumour (C34.901): nationally payable, not by the mechanism.
    // 2 × 1000.00 at the standard 1000.00; class B 200.00; 1800.00 in scope; ordinary
    // at tier 3: (1800.00 − 800.00) × 0.70 = 700.00
    let f1 = token_for(pharmacist("F1", P1));
    // prescribed by D1 for N1 (a dual-channel prescription, unbound: F1 reviews it at P1 with
    // the patient's credential) with `diagnoses`
    let reviewed = |hosp_rxno: &'static str, diagnoses: Value| {
        let (app, f1, drug) = (&app, &f1, &drug);
        async move {
            let mut rx = prescription(hosp_rxno, "D1", vec![line(drug)]);
            rx["diagnoses"] = diagnoses;
            let hi_rxno = prescribe(app, &rx).await["hi_rxno"].as_str().expect("hi_rxno").to_string();
            let review = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review?psn_no=N1"), Some(f1), &json!({"approved": true})).await;
            assert_eq!(review.status, 200, "{}", String::from_utf8_lossy(&review.body));
            hi_rxno
        }
    };
    let tumour = reviewed("R-S0041", json!(["C34.901"])).await;
    let pre = |hi_rxno: &str| json!({"hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "0.00"});
    let answer = app.post_json("/api/settlements/pre-settlement", Some(&f1), &pre(&tumour)).await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let ordinary = answer.json();
    assert_eq!((ordinary["lines"][0]["treatment"].clone(), ordinary["hifp_pay"].as_str()), (json!({"kind": "ordinary"}), Some("700.00")), "{ordinary}");
    let c9 = ordinary["steps"].as_array().expect("steps").iter().find(|s| s["rule"] == "C9").expect("a C9 step").clone();
    assert_eq!(c9["output"], "ordinary");
    assert!(c9["input"].as_str().unwrap().contains("限肢端肥大症") && c9["input"].as_str().unwrap().contains("E22.0"), "{c9}");
    // a prescription's diagnoses are its own
    let mut own = pre(&tumour);
    own["diagnoses"] = json!(["E22.0"]);
    app.post_json("/api/settlements/pre-settlement", Some(&f1), &own).await.problem(422, "INVALID_BODY");

    // for acromegaly (E22.000) the mechanism pays: (1800.00 − 300.00) × 0.70 = 1050.00
    let acromegaly = reviewed("R-S0042", json!(["E22.000"])).await;
    let answer = app.post_json("/api/settlements/pre-settlement", Some(&f1), &pre(&acromegaly)).await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let mechanism = answer.json();
    assert_eq!(mechanism["lines"][0]["treatment"], json!({"kind": "outpatient_negotiated", "annual_max": "66000.00"}), "{mechanism}");
    assert_eq!(mechanism["hifp_pay"], "1050.00");
    assert!(mechanism["steps"].as_array().expect("steps").iter().any(|s| s["rule"] == "C9" && s["output"] == "outpatient_negotiated"), "{mechanism}");

    // an institution's visit states its diagnoses: with acromegaly the mechanism, without it not
    let h1 = token_for(office(H1));
    let mut visit = visit_of(&drug, "unused");
    visit.as_object_mut().expect("an object").remove("setl_no");
    let answer = app.post_json("/api/settlements/pre-settlement", Some(&h1), &visit).await;
    assert_eq!(answer.json()["lines"][0]["treatment"], json!({"kind": "ordinary"}));
    visit["diagnoses"] = json!(["E22.0"]);
    let answer = app.post_json("/api/settlements/pre-settlement", Some(&h1), &visit).await;
    assert_eq!(answer.json()["lines"][0]["treatment"]["kind"], "outpatient_negotiated");
    visit["diagnoses"] = json!(["acromegaly"]);
    let bad = app.post_json("/api/settlements/pre-settlement", Some(&h1), &visit).await.problem(422, "INVALID_BODY");
    assert_eq!(bad["violations"][0]["field"], "/diagnoses/0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hospital_preparation_is_paid_only_at_its_institution_and_its_approved_group() {
    // issue 14 item 4 (seed 003: 医院集团内调剂使用): H1 makes both; the second is approved for
    // use at H3, in H1's group
    let (app, _) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let preparation = |code: &str, group: Value| {
        json!({"code": code, "name": "复方黄柏液", "fixmedins_code": H1, "insurance_class": "A", "payment_standard": "12.50", "specification": "100ml/瓶", "group_institutions": group})
    };
    let list = json!({"effective_from": "2025-01-01", "entries": [preparation("P420100-0001", json!([])), preparation("P420100-0002", json!(["H42010000003"]))]});
    let published = app.post_json("/api/catalogue/regions/420100/lists/preparations", Some(&token_for(agency())), &list).await;
    assert_eq!(published.status, 201, "{}", String::from_utf8_lossy(&published.body));
    let visit = |at: &str, code: &str| {
        let body = json!({"psn_no": "N1", "acct_balance": "0",
                          "lines": [{"med_list_codg": code, "drug_cnt": "2", "drug_spec": "100ml/瓶", "unit_price": "12.50"}]});
        let (app, token) = (&app, token_for(office(at)));
        async move {
            let settled = app.post_json("/api/settlements/pre-settlement", Some(&token), &body).await;
            assert_eq!(settled.status, 200, "{}", String::from_utf8_lossy(&settled.body));
            let line = settled.json()["lines"][0].clone();
            (line["fulamt_ownpay_amt"].as_str().map(String::from), line["inscp_scp_amt"].as_str().map(String::from))
        }
    };
    let covered = (Some("0.00".to_string()), Some("25.00".to_string()));
    let own = (Some("25.00".to_string()), Some("0.00".to_string()));
    assert_eq!(visit(H1, "P420100-0001").await, covered, "at its own institution");
    assert_eq!(visit(H1, "P420100-0002").await, covered);
    assert_eq!(visit("H42010000003", "P420100-0001").await, own, "elsewhere: the patient's own");
    assert_eq!(visit("H42010000003", "P420100-0002").await, covered, "in its approved group");
}

/// Issue 14 item 3 (rule S1 across units): the test drug's standard is `1000.00元(100mg/瓶)`,
/// per 瓶. A line in 盒 is compared with the standard per 盒 when it states how many 瓶 a 盒
/// holds (`pack_size`), and refused otherwise: never charged 9/10 of its price as "above the
/// standard" (as it was: 1 × (10000.00 − 1000.00) = 9000.00 `overlmt_selfpay`).
#[tokio::test(flavor = "multi_thread")]
async fn a_line_in_boxes_is_compared_with_the_standard_per_box_or_refused() {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let h1 = token_for(office(H1));
    // a visit's line in 盒 (its specification's unit) without pack_size: refused, naming both
    let visit = |line: Value| json!({"psn_no": "N1", "acct_balance": "0", "lines": [line]});
    let in_boxes = json!({"med_list_codg": drug, "drug_cnt": "1", "drug_spec": "100mg*10瓶/盒", "unit_price": "10000.00"});
    let refused = app.post_json("/api/settlements/pre-settlement", Some(&h1), &visit(in_boxes.clone())).await.problem(422, "SETTLEMENT_REFUSED");
    let violation = &refused["violations"][0];
    let reason = violation["reason"].as_str().unwrap_or("");
    assert_eq!(violation["rule"], "S1", "{refused}");
    assert!(reason.contains("per 盒") && reason.contains("per 瓶") && reason.contains("pack_size"), "{refused}");
    // the same with pack_size 10 (or with drug_dosunt 盒): exactly at the standard per 盒
    // (rules S1, S2: class B's 10% first, 9000.00 × 0.80)
    let expected = ["10000.00", "0.00", "1000.00", "9000.00", "0.00", "7200.00", "0.00", "7200.00", "0.00", "2800.00", "2800.00"];
    for line in [
        json!({"med_list_codg": drug, "drug_cnt": "1", "drug_spec": "100mg*10瓶/盒", "pack_size": 10, "unit_price": "10000.00"}),
        json!({"med_list_codg": drug, "drug_cnt": "1", "drug_spec": "100mg/瓶", "drug_dosunt": "盒", "pack_size": 10, "unit_price": "10000.00"}),
    ] {
        let trial = app.post_json("/api/settlements/pre-settlement", Some(&h1), &visit(line)).await;
        assert_eq!(trial.status, 200, "{}", String::from_utf8_lossy(&trial.body));
        let trial = trial.json();
        assert_eq!(figures(&trial), expected, "{trial}");
        assert_eq!(trial["lines"][0]["payment_standard"], "10000.00", "{trial}");
        assert!(trial["steps"].as_array().expect("steps").iter().any(|s| s["rule"] == "S1" && s["output"] == "standard 10000.00 per 盒"), "{trial}");
    }

    // a prescription line in 盒 without pack_size is refused at its pre-check (S1), with it
    // prescribed, dispensed (1 盒, 1 pack) and settled at the standard per 盒
    let doctor = token_for(physician("D1"));
    let mut boxed = line(&drug);
    (boxed["drug_cnt"], boxed["drug_dosunt"], boxed["drug_pric"]) = (json!("1"), json!("盒"), json!("10000.00"));
    let refused = app.post_json("/api/prescriptions/pre-check", Some(&doctor), &prescription("R-U1", "D1", vec![boxed.clone()])).await.problem(422, "PRESCRIPTION_REFUSED");
    assert_eq!((refused["violations"][0]["rule"].as_str(), refused["violations"][0]["field"].as_str()), (Some("S1"), Some("/lines/0/pack_size")), "{refused}");
    boxed["pack_size"] = json!(10);
    let stored = prescribe(&app, &prescription("R-U1", "D1", vec![boxed])).await;
    assert_eq!(stored["prescription"]["lines"][0]["pack_size"], 10, "{stored}");
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno");
    let f1 = token_for(pharmacist("F1", P1));
    assert_eq!(app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await.status, 200);
    let dispensed = json!({"dispensing_no": "D-U1", "lines": [{"med_list_codg": drug, "batch": "B1", "drug_cnt": "1", "drug_trac_codg": ["83000000000000000001"]}]});
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensed).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    // the prescription's unit and pack size are its own: the pharmacy sends neither another
    // pack size nor a unit
    for bad in [json!({"med_list_codg": drug, "unit_price": "10000.00", "pack_size": 12}), json!({"med_list_codg": drug, "unit_price": "10000.00", "drug_dosunt": "瓶"})] {
        let body = json!({"hi_rxno": hi_rxno, "lines": [bad], "acct_balance": "0"});
        app.post_json("/api/settlements/pre-settlement", Some(&f1), &body).await.problem(422, "INVALID_BODY");
    }
    let request = json!({"setl_no": "S-U1", "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "10000.00"}], "acct_balance": "0"});
    let settled = app.post_json("/api/settlements", Some(&f1), &request).await;
    assert_eq!(settled.status, 201, "{}", String::from_utf8_lossy(&settled.body));
    let settled = settled.json();
    assert_eq!(figures(&settled), expected, "{settled}");
}
