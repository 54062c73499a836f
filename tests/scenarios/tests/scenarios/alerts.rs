//! Smart monitoring (issue 17, rule M3): each check fires on the irregularity it is for and
//! not on the regular case next to it, raises one alert however often it is seen again, and an
//! agency works the alert (assign, note, close) with an audit trail.

use crate::filing::{H1, P1, physician};
use crate::prescription::{dispensing, line, pharmacist, prescribe, prescribing_region, prescription};
use crate::settlement::{dispensed, policy, publish};
use scenarios::*;
use serde_json::{Value, json};

/// A second dual-channel pharmacy linked to H1, with its pharmacist F4.
const P3: &str = "P42010000003";

async fn second_pharmacy_for_h1(app: &TestApp) {
    let agency = lasting(agency());
    let pharmacy = json!({"name": "第二药房", "admdvs": "420100", "address": "武汉市", "dual_channel": true, "electronic_traceability": true,
                          "can_supply": true, "compliant": true, "linked_institutions": [H1]});
    let request = app.client.put(app.url(&format!("/api/registry/pharmacies/{P3}"))).bearer_auth(&agency).json(&pharmacy);
    assert!(app.send(request).await.status < 300);
    let request = app.client.put(app.url("/api/registry/pharmacists/F4")).bearer_auth(&agency).json(&json!({"name": "药师", "fixmedins_code": P3, "active": true}));
    assert!(app.send(request).await.status < 300);
}

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Tokens that outlive the clock moves below.
fn lasting(principal: api::Principal) -> String {
    token_valid_for(principal, 30 * 86_400)
}

async fn thresholds(app: &TestApp, body: Value) -> Answer {
    let request = app.client.put(app.url("/api/monitoring/regions/420100/thresholds")).bearer_auth(lasting(agency())).json(&body);
    app.send(request).await
}

/// The region's alerts of `kind`.
async fn alerts(app: &TestApp, kind: &str) -> Vec<Value> {
    let listed = app.get(&format!("/api/monitoring/alerts?admdvs=420100&kind={kind}"), Some(&lasting(agency()))).await.json();
    listed["items"].as_array().cloned().unwrap_or_default()
}

/// Uploads a prescription of `drug` and has `pharmacist` at `pharmacy` review and dispense it.
async fn filled(app: &TestApp, n: u32, drug: &str, pharmacist_at: (&str, &str), packs: [&str; 2]) -> (String, Answer) {
    let stored = prescribe(app, &prescription(&format!("R-A{n}"), "D1", vec![line(drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let token = lasting(pharmacist(pharmacist_at.0, pharmacist_at.1));
    let reviewed = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review?psn_no=N1"), Some(&token), &json!({"approved": true})).await;
    assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&token), &dispensing(&format!("D-A{n}"), drug, &packs)).await;
    (hi_rxno, done)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dispensing_checks_fire_on_hopping_a_reused_pack_and_lateness_only() {
    let (app, [separate, dual, _]) = prescribing_region().await;
    // the region's thresholds: one pharmacy per drug and person a month, dispensed the day issued
    thresholds(&app, json!({"effective_from": "2025-01-01", "hopping_window_days": 0, "hopping_max_pharmacies": 0, "late_dispensing_days": 400, "reversals_min": 0, "reversals_percent": 0}))
        .await
        .problem(422, "INVALID_BODY");
    let published = thresholds(&app, json!({"effective_from": "2025-01-01", "hopping_window_days": 30, "hopping_max_pharmacies": 1, "late_dispensing_days": 0, "reversals_min": 3, "reversals_percent": 20})).await;
    assert_eq!(published.status, 201, "{}", String::from_utf8_lossy(&published.body));
    let read = app.get("/api/monitoring/regions/420100/thresholds", Some(&lasting(agency()))).await.json();
    assert_eq!(read["hopping_max_pharmacies"], 1, "{read}");

    // a physician who is not N1's filing physician tries to prescribe the separate-payment
    // drug: refused (P4) and raised once however often they try; the filing physician raises
    // nothing
    let mut by_d2 = prescription("R-A0", "D2", vec![line(&separate)]);
    for _ in 0..2 {
        app.post_json("/api/prescriptions/pre-check", Some(&lasting(physician("D2"))), &by_d2).await.problem(422, "PRESCRIPTION_REFUSED");
    }
    let prescriber = alerts(&app, "prescriber_not_fixed").await;
    assert_eq!(prescriber.len(), 1, "{prescriber:?}");
    assert_eq!((prescriber[0]["rules"][1].as_str(), prescriber[0]["records"][1]["id"].as_str()), (Some("P4"), Some("D2")));
    by_d2["dr_code"] = json!("D1");
    let by_d1 = app.post_json("/api/prescriptions/pre-check", Some(&lasting(physician("D1"))), &by_d2).await;
    assert_eq!(by_d1.status, 200);
    assert_eq!(alerts(&app, "prescriber_not_fixed").await.len(), 1);

    // the dual-channel drug at P1, then again at P1: one pharmacy, no alert
    let (_, first) = filled(&app, 1, &dual, ("F1", P1), ["83000000000000000001", "83000000000000000002"]).await;
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    let (_, again) = filled(&app, 2, &dual, ("F2", P1), ["83000000000000000003", "83000000000000000004"]).await;
    assert_eq!(again.status, 200);
    assert!(alerts(&app, "pharmacy_hopping").await.is_empty());
    assert!(alerts(&app, "late_dispensing").await.is_empty(), "dispensed the day issued");
    // then at another pharmacy within the month: the second pharmacy fires, once
    second_pharmacy_for_h1(&app).await;
    let (third_rx, third) = filled(&app, 3, &dual, ("F4", P3), ["83000000000000000005", "83000000000000000006"]).await;
    assert_eq!(third.status, 200, "{}", String::from_utf8_lossy(&third.body));
    let hopping = alerts(&app, "pharmacy_hopping").await;
    assert_eq!(hopping.len(), 1, "{hopping:?}");
    assert_eq!((hopping[0]["status"].as_str(), hopping[0]["rules"][0].as_str()), (Some("open"), Some("M3")));
    assert!(hopping[0]["records"].as_array().expect("records").iter().any(|r| r["id"] == third_rx.as_str()), "{}", hopping[0]);
    // the same dispensing sent again raises nothing more
    let retry = app.post_json(&format!("/api/prescriptions/{third_rx}/dispense"), Some(&lasting(pharmacist("F4", P3))), &dispensing("D-A3", &dual, &["83000000000000000005", "83000000000000000006"])).await;
    assert_eq!(retry.status, 200);
    assert_eq!(alerts(&app, "pharmacy_hopping").await.len(), 1);

    // a pack already dispensed: refused (P7) and raised (M3)
    assert!(alerts(&app, "pack_reused").await.is_empty());
    let (_, reused) = filled(&app, 4, &separate, ("F1", P1), ["83000000000000000001", "83000000000000000009"]).await;
    reused.problem(409, "PACK_ALREADY_USED");
    let packs = alerts(&app, "pack_reused").await;
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert!(packs[0]["summary"].as_str().unwrap_or_default().contains("83000000000000000001"), "{}", packs[0]);

    // issued today, dispensed tomorrow: late (the region allows 0 days)
    let stored = prescribe(&app, &prescription("R-A5", "D1", vec![line(&separate)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    app.advance_clock(DAY);
    let f1 = lasting(pharmacist("F1", P1));
    assert_eq!(app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await.status, 200);
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing("D-A5", &separate, &["83000000000000000011", "83000000000000000012"])).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let late = alerts(&app, "late_dispensing").await;
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["records"][0]["id"], hi_rxno.as_str());

    // the alert's life: assigned, noted, closed; then notes only; each step in its trail
    let id = hopping[0]["alert_id"].as_str().expect("alert_id").to_string();
    let act = |body: Value| {
        let path = format!("/api/monitoring/alerts/{id}/actions");
        let app = &app;
        async move { app.post_json(&path, Some(&lasting(agency())), &body).await }
    };
    act(json!({"action": "assign", "assignee": " "})).await.problem(422, "INVALID_BODY");
    assert_eq!(act(json!({"action": "assign", "assignee": "稽核科 张三"})).await.json()["status"], "assigned");
    assert_eq!(act(json!({"action": "note", "note": "已调取两家药店的销售记录"})).await.status, 200);
    assert_eq!(act(json!({"action": "close", "note": "患者搬家，第二家药店为新的定点药店，无违规"})).await.json()["status"], "closed");
    act(json!({"action": "assign", "assignee": "李四"})).await.problem(409, "ALERT_STATE_CONFLICT");
    assert_eq!(act(json!({"action": "note", "note": "归档"})).await.status, 200);
    let read = app.get(&format!("/api/monitoring/alerts/{id}"), Some(&lasting(agency()))).await.json();
    let trail: Vec<&str> = read["history"].as_array().expect("history").iter().map(|s| s["action"].as_str().unwrap_or_default()).collect();
    assert_eq!(trail, ["raised", "assigned", "noted", "closed", "noted"], "{read}");
    assert_eq!((read["status"].as_str(), read["assignee"].as_str()), (Some("closed"), Some("稽核科 张三")));
    let open = app.get("/api/monitoring/alerts?admdvs=420100&status=open", Some(&lasting(agency()))).await.json();
    assert_eq!(open["total"], 3, "the prescriber, the pack and the late dispensing: {open}");

    // nobody else sees them
    let elsewhere = lasting(api::Principal::Agency { admdvs: "430100".into() });
    app.get(&format!("/api/monitoring/alerts/{id}"), Some(&elsewhere)).await.problem(404, "NOT_FOUND");
    app.get("/api/monitoring/alerts?admdvs=420100", Some(&elsewhere)).await.problem(403, "OUT_OF_REGION");
    app.get("/api/monitoring/alerts?admdvs=420100", Some(&lasting(pharmacist("F1", P1)))).await.problem(403, "ROLE_FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_settlement_checks_fire_on_a_price_above_the_standard_and_frequent_reversals() {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let published = thresholds(&app, json!({"effective_from": "2025-01-01", "hopping_window_days": 30, "hopping_max_pharmacies": 2, "late_dispensing_days": 3, "reversals_min": 2, "reversals_percent": 50})).await;
    assert_eq!(published.status, 201);
    let f1 = token_for(pharmacist("F1", P1));
    let settle = async |n: u64, price: &str| {
        let hi_rxno = dispensed(&app, &drug, 100 + n).await;
        let body = json!({"setl_no": format!("S-A{n}"), "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": price}], "acct_balance": "0"});
        let answer = app.post_json("/api/settlements", Some(&f1), &body).await;
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
        answer.json()["setl_id"].as_str().expect("setl_id").to_string()
    };
    // at the standard (1000.00): nothing; above it: one alert naming the price, not the standard
    let at_standard = settle(1, "1000.00").await;
    assert!(alerts(&app, "price_above_standard").await.is_empty());
    let above = settle(2, "1100.00").await;
    let priced = alerts(&app, "price_above_standard").await;
    assert_eq!(priced.len(), 1, "{priced:?}");
    assert!(priced[0]["summary"].as_str().unwrap_or_default().contains("1100.00"), "{}", priced[0]);
    assert_eq!(priced[0]["records"][0]["id"], above.as_str());
    // one reversal of two settlements: 50%, but only one (the region asks for 2)
    let reverse = async |setl_id: &str| {
        let answer = app.post_json(&format!("/api/settlements/{setl_id}/reversal"), Some(&f1), &json!({"reason": "录入错误"})).await;
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    };
    reverse(&at_standard).await;
    assert!(alerts(&app, "frequent_reversals").await.is_empty());
    // a second of three: 2 reversals, 67% of the month's settlements: fires
    let third = settle(3, "1000.00").await;
    reverse(&third).await;
    let frequent = alerts(&app, "frequent_reversals").await;
    assert_eq!(frequent.len(), 1, "{frequent:?}");
    assert_eq!(frequent[0]["records"][0]["id"], P1);
    // the month report counts them
    let month = app.get("/api/monitoring/status", None).await.json()["business_date"].as_str().expect("date")[..7].to_string();
    let parties = app.get(&format!("/api/monitoring/reports/parties?admdvs=420100&month={month}"), Some(&token_for(agency()))).await.json();
    assert_eq!((parties["parties"][0]["settlements"].as_i64(), parties["parties"][0]["reversals"].as_i64()), (Some(1), Some(2)), "{parties}");
}
