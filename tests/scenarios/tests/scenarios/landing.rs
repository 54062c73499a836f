//! Landing (issue 17, rules M1, M4): stocking declarations, the patient's "where can I get this
//! drug", an agency's landing figures checked against the declarations and settlements they
//! come from, and the formulary adjustments after an edition.

use crate::filing::{H1, P1, office};
use crate::prescription::{pharmacist, prescribing_region};
use crate::settlement::{dispensed, policy, publish};
use scenarios::*;
use serde_json::{Value, json};

const P2: &str = "P42010000002";
const H3: &str = "H42010000003";

async fn declare(app: &TestApp, who: api::Principal, party: &str, drug: &str, body: Value) -> Answer {
    let request = app.client.put(app.url(&format!("/api/monitoring/stocking/{party}/{drug}"))).bearer_auth(token_for(who)).json(&body);
    app.send(request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn stocking_declared_shows_where_to_get_a_drug_and_its_landing() {
    let (app, [drug, dual, _]) = prescribing_region().await;
    let today = app.get("/api/monitoring/status", None).await.json()["business_date"].as_str().expect("date").to_string();
    // H1 (its office) and P1 (its pharmacist) stock the drug; P2 did and stopped (its agency says)
    assert_eq!(declare(&app, office(H1), H1, &drug, json!({"stocked": true})).await.status, 200);
    let p1 = declare(&app, pharmacist("F1", P1), P1, &drug, json!({"stocked": true})).await.json();
    assert_eq!((p1["kind"].as_str(), p1["stocked_today"].as_bool()), (Some("pharmacy"), Some(true)), "{p1}");
    assert_eq!(declare(&app, agency(), P2, &drug, json!({"stocked": true, "on": "2025-01-01"})).await.status, 200);
    let stopped = declare(&app, agency(), P2, &drug, json!({"stocked": false})).await.json();
    assert_eq!((stopped["stocked_today"].as_bool(), stopped["declarations"].as_array().map(Vec::len)), (Some(false), Some(2)), "{stopped}");
    // a pharmacy speaks for itself only; a drug out of the catalogue or a day to come is refused
    declare(&app, pharmacist("F1", P1), P2, &drug, json!({"stocked": true})).await.problem(404, "NOT_FOUND");
    let refused = declare(&app, pharmacist("F1", P1), P1, "nrdl-unknown", json!({"stocked": true, "on": "2099-01-01"})).await.problem(422, "INVALID_BODY");
    assert_eq!(refused["violations"].as_array().map(Vec::len), Some(2), "{refused}");
    declare(&app, api::Principal::Patient { psn_no: "N1".into() }, P1, &drug, json!({"stocked": true})).await.problem(403, "ROLE_FORBIDDEN");

    // the patient's question: P1 only (P2 stopped), with its address, no token needed
    let found = app.get(&format!("/api/monitoring/where?admdvs=420100&med_list_codg={drug}"), None).await.json();
    let codes: Vec<&str> = found["pharmacies"].as_array().expect("pharmacies").iter().map(|p| p["fixmedins_code"].as_str().unwrap_or_default()).collect();
    assert_eq!(codes, [P1], "{found}");
    assert!(!found["pharmacies"][0]["address"].as_str().unwrap_or_default().is_empty());
    app.get("/api/monitoring/where?admdvs=420100", None).await.problem(400, "INVALID_QUERY");

    // a settlement at P1 of H1's prescription, then the agency's landing of the drug
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let hi_rxno = dispensed(&app, &drug, 1).await;
    let body = json!({"setl_no": "S-L1", "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "0"});
    let settled = app.post_json("/api/settlements", Some(&token_for(pharmacist("F1", P1))), &body).await.json();
    let landing = app.get(&format!("/api/monitoring/landing?admdvs=420100&med_list_codg={drug}"), Some(&token_for(agency()))).await.json();
    // two designated institutions in the region (H1, H3), one stocking: 50.00%
    assert_eq!((landing["institutions_eligible"].as_u64(), landing["landing_rate"].as_str()), (Some(2), Some("50.00")), "{landing}");
    assert_eq!((landing["institutions_stocking"].clone(), landing["pharmacies_stocking"].clone()), (json!([H1]), json!([P1])), "{landing}");
    assert_eq!((landing["institutions_prescribing"].clone(), landing["parties_settling"].clone()), (json!([H1]), json!([P1])), "{landing}");
    assert_eq!((landing["lines"].as_i64(), landing["hifp_pay"].as_str(), landing["medfee"].as_str()), (Some(1), settled["hifp_pay"].as_str(), settled["medfee_sumamt"].as_str()), "{landing}");
    assert_eq!(landing["patients"], 1, "{landing}");
    let trend = landing["trend"].as_array().expect("trend");
    assert_eq!((trend.len(), trend[5]["month"].as_str(), trend[5]["landing_rate"].as_str()), (6, Some(&today[..7]), Some("50.00")), "{landing}");
    assert_eq!((landing["flags"]["unsupplied"].as_bool(), landing["flags"]["unused"].as_bool()), (Some(false), Some(false)));
    // a drug nobody stocks or settled: both flags
    let idle = app.get(&format!("/api/monitoring/landing?admdvs=420100&med_list_codg={dual}"), Some(&token_for(agency()))).await.json();
    assert_eq!((idle["flags"]["unsupplied"].as_bool(), idle["flags"]["unused"].as_bool(), idle["landing_rate"].as_str()), (Some(true), Some(true), Some("0.00")), "{idle}");
    app.get(&format!("/api/monitoring/landing?admdvs=420100&med_list_codg={drug}"), Some(&token_for(api::Principal::Agency { admdvs: "430100".into() }))).await.problem(403, "OUT_OF_REGION");
    // the drug report no longer counts the prescriber rows as parties
    let report = app.get(&format!("/api/monitoring/reports/drugs?admdvs=420100&month={}", &today[..7]), Some(&token_for(agency()))).await.json();
    assert_eq!(report["separate_payment"]["drugs"][0]["parties"], 1, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn formulary_adjustments_are_on_time_late_or_overdue() {
    let (app, _) = prescribing_region().await;
    let editions = app.get("/api/catalogue/editions", None).await.json();
    let edition = editions["editions"][0]["effective_from"].as_str().expect("an edition").to_string();
    let from = chrono::NaiveDate::parse_from_str(&edition, "%Y-%m-%d").expect("a date");
    let put = async |who: api::Principal, code: &str, body: Value| {
        let request = app.client.put(app.url(&format!("/api/monitoring/formulary/{code}"))).bearer_auth(token_for(who)).json(&body);
        app.send(request).await
    };
    let within = (from + chrono::Days::new(30)).to_string();
    assert_eq!(put(office(H1), H1, json!({"edition_effective_from": edition, "adjusted_on": within, "note": "药事会第3次会议"})).await.status, 200);
    put(office(H1), H3, json!({"edition_effective_from": edition, "adjusted_on": within})).await.problem(404, "NOT_FOUND");
    put(office(H1), H1, json!({"edition_effective_from": "2019-07-01", "adjusted_on": "2099-01-01"})).await.problem(422, "INVALID_BODY");
    let path = format!("/api/monitoring/formulary?admdvs=420100&edition={edition}");
    let standings = |report: &Value| -> Vec<(String, String)> {
        report["institutions"].as_array().expect("institutions").iter().map(|i| (i["fixmedins_code"].as_str().unwrap_or_default().to_string(), i["standing"].as_str().unwrap_or_default().to_string())).collect()
    };
    let report = app.get(&path, Some(&token_for(agency()))).await.json();
    // the edition started long ago: H3, which never adjusted, is overdue
    assert_eq!(standings(&report), [(H1.to_string(), "on_time".to_string()), (H3.to_string(), "overdue".to_string())], "{report}");
    let late = (from + chrono::Days::new(90)).to_string();
    assert_eq!(put(agency(), H3, json!({"edition_effective_from": edition, "adjusted_on": late})).await.status, 200);
    let report = app.get(&path, Some(&token_for(agency()))).await.json();
    assert_eq!(standings(&report)[1], (H3.to_string(), "late".to_string()), "{report}");
}
