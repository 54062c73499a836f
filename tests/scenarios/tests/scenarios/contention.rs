//! Exactly once under contention (issue 16), with two host processes sharing one store, as two
//! Spin instances behind a load balancer share one SQLite file or one Redis: requests race from
//! both, and every count is exact. Runs on SQLite always and on Redis where one is configured
//! (`scenarios::shared_stores`).

use crate::filing::{H1, P1, application, office, physician};
use crate::prescription::{dispensing, line, pharmacist, prescribe, prescribing_region_on, prescription};
use crate::settlement::{dispensed, figures, policy, publish};
use scenarios::*;
use serde_json::{Value, json};
use spin_test_host::KvBackend;
use std::collections::HashMap;

/// Not a test of its own: the second host process of the tests below ([`SecondHost`]).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "started by the contention tests as their second host process"]
async fn second_host() {
    serve_as_second_host().await;
}

/// The prescribing region on `kv`, served by this process and by a second host process.
struct Hosts {
    app: TestApp,
    second: SecondHost,
    drug: String,
}

impl Hosts {
    async fn start(kv: &KvBackend) -> Hosts {
        let (app, [drug, ..]) = prescribing_region_on(TestApp::start_with(kv.clone(), HashMap::new()).await).await;
        let second = SecondHost::spawn(kv, "contention::second_host");
        Hosts { app, second, drug }
    }

    /// The base URL request `n` goes to: the two hosts in turn.
    fn url(&self, n: usize, path: &str) -> String {
        if n.is_multiple_of(2) { self.app.url(path) } else { self.second.url(path) }
    }

    async fn post(&self, n: usize, path: &str, token: &str, body: &Value) -> Answer {
        self.app.send(self.app.client.post(self.url(n, path)).bearer_auth(token).json(body)).await
    }

    async fn get(&self, n: usize, path: &str, token: &str) -> Answer {
        self.app.send(self.app.client.get(self.url(n, path)).bearer_auth(token)).await
    }

    /// Sends `count` requests at once, request `n` built by `body(n)`, spread over both hosts.
    async fn race(&self, count: usize, path: &str, token: &str, body: impl Fn(usize) -> Value) -> Vec<Answer> {
        futures::future::join_all((0..count).map(|n| {
            let body = body(n);
            async move { self.post(n, path, token, &body).await }
        }))
        .await
    }
}

/// How many answers had each status, in status order.
fn statuses(answers: &[Answer]) -> Vec<(u16, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for answer in answers {
        *counts.entry(answer.status).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_dispensings_of_one_prescription_complete_exactly_one_in_every_round() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        let f1 = token_for(pharmacist("F1", P1));
        for round in 0..3 {
            let stored = prescribe(&hosts.app, &prescription(&format!("R-C{round}"), "D1", vec![line(&hosts.drug)])).await;
            let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
            let review = hosts.post(round, &format!("/api/prescriptions/{hi_rxno}/review"), &f1, &json!({"approved": true})).await;
            assert_eq!(review.status, 200, "{}", String::from_utf8_lossy(&review.body));
            // fifty pharmacist stations, each with its own number and packs
            let packs = |n: usize| [format!("83{round:02}{:016}", 2 * n), format!("83{round:02}{:016}", 2 * n + 1)];
            let answers = hosts
                .race(50, &format!("/api/prescriptions/{hi_rxno}/dispense"), &f1, |n| {
                    let packs = packs(n);
                    dispensing(&format!("D-{round}-{n}"), &hosts.drug, &[&packs[0], &packs[1]])
                })
                .await;
            assert_eq!(statuses(&answers), [(200, 1), (409, 49)], "{store}, round {round}");
            let winner = answers.iter().find(|a| a.status == 200).expect("one dispensing").json();
            // the record reads back whole from both hosts, dispensed by the winner
            for host in 0..2 {
                let read = hosts.get(host, &format!("/api/prescriptions/{hi_rxno}"), &token_for(admin())).await;
                assert_eq!(read.status, 200, "{store}: {}", String::from_utf8_lossy(&read.body));
                let read = read.json();
                assert_eq!((read["stage"].as_str(), &read["dispensing"]["dispensing_no"]), (Some("dispensed"), &winner["dispensing"]["dispensing_no"]), "{store}");
            }
            // and every list that held it still does
            let mine = hosts.get(round, "/api/prescriptions?page_size=50", &token_for(patient("N1"))).await.json();
            let items = mine["items"].as_array().expect("items");
            assert_eq!((mine["total"].as_u64(), items.len()), (Some(round as u64 + 1), round + 1), "{store}: {mine}");
            assert!(items.iter().any(|i| i["hi_rxno"] == hi_rxno.as_str()), "{store}: {mine}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_dispensing_sent_ten_times_at_once_dispenses_once_and_answers_all() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        let f1 = token_for(pharmacist("F1", P1));
        let stored = prescribe(&hosts.app, &prescription("R-D1", "D1", vec![line(&hosts.drug)])).await;
        let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
        let review = hosts.post(0, &format!("/api/prescriptions/{hi_rxno}/review"), &f1, &json!({"approved": true})).await;
        assert_eq!(review.status, 200, "{}", String::from_utf8_lossy(&review.body));
        let body = dispensing("D-SAME", &hosts.drug, &["88000000000000000001", "88000000000000000002"]);
        let answers = hosts.race(10, &format!("/api/prescriptions/{hi_rxno}/dispense"), &f1, |_| body.clone()).await;
        assert_eq!(statuses(&answers), [(200, 10)], "{store}: {:?}", answers.iter().map(|a| String::from_utf8_lossy(&a.body).to_string()).collect::<Vec<_>>());
        assert!(answers.iter().all(|a| a.json()["stage"] == "dispensed" && a.json()["dispensing"]["dispensing_no"] == "D-SAME"), "{store}");
        // one dispensing: one entry in the medication record, one dispense step in the trace
        let record = hosts.get(1, "/api/prescriptions/medication-records/N1", &f1).await.json();
        assert_eq!(record["drugs"][0]["dispensings"].as_array().map(Vec::len), Some(1), "{store}: {record}");
        let trace = hosts.get(0, &format!("/api/prescriptions/{hi_rxno}/trace"), &f1).await.json();
        let dispenses = trace["steps"].as_array().expect("steps").iter().filter(|s| s["step"] == "dispense").count();
        assert_eq!(dispenses, 1, "{store}: {trace}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_upload_and_the_same_application_sent_at_once_take_effect_once() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        let doctor = token_for(physician("D1"));
        let checked = hosts.app.post_json("/api/prescriptions/pre-check", Some(&doctor), &prescription("R-U1", "D1", vec![line(&hosts.drug)])).await;
        assert_eq!(checked.status, 200, "{}", String::from_utf8_lossy(&checked.body));
        let upload = json!({"rx_trace_code": checked.json()["rx_trace_code"]});
        let answers = hosts.race(10, "/api/prescriptions", &doctor, |_| upload.clone()).await;
        assert_eq!(statuses(&answers), [(200, 9), (201, 1)], "{store}");
        let numbers: std::collections::HashSet<_> = answers.iter().map(|a| a.json()["hi_rxno"].clone()).collect();
        assert_eq!(numbers.len(), 1, "{store}: one prescription");

        // N2 is not eligible; N1 applies for the dual-channel drug ten times at once
        let codes = hosts.app.get("/api/catalogue/drugs?q=测试双通道药", None).await.json();
        let dual = codes["items"][0]["code"].as_str().expect("code").to_string();
        let body = application("N1", &dual, H1, "D1");
        let answers = hosts.race(10, "/api/filings", &token_for(patient("N1")), |_| body.clone()).await;
        assert_eq!(statuses(&answers), [(200, 9), (201, 1)], "{store}: {:?}", answers.iter().map(|a| String::from_utf8_lossy(&a.body).to_string()).collect::<Vec<_>>());
        let ids: std::collections::HashSet<_> = answers.iter().map(|a| a.json()["id"].clone()).collect();
        assert_eq!(ids.len(), 1, "{store}: one filing");
        let listed = hosts.get(1, "/api/filings", &token_for(patient("N1"))).await.json();
        assert_eq!(listed["total"], 2, "{store}: the separate-payment and the dual-channel filing: {listed}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_reassessments_at_once_leave_the_filing_whole() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        let listed = hosts.app.get("/api/filings", Some(&token_for(patient("N1")))).await.json();
        let id = listed["items"][0]["id"].as_str().expect("the approved filing").to_string();
        let before = hosts.get(0, &format!("/api/filings/{id}/history"), &token_for(admin())).await.json();
        let before = before["versions"].as_array().expect("versions").len();
        let answers = hosts.race(30, &format!("/api/filings/{id}/actions"), &token_for(physician("D1")), |_| json!({"action": "reassess"})).await;
        let counts = statuses(&answers);
        let succeeded = counts.iter().find(|(s, _)| *s == 200).map_or(0, |(_, n)| *n);
        assert!(succeeded >= 1, "{store}: {counts:?}");
        assert_eq!(counts, [(200, succeeded), (409, 30 - succeeded)].into_iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>(), "{store}");
        for host in 0..2 {
            let read = hosts.get(host, &format!("/api/filings/{id}"), &token_for(admin())).await;
            assert_eq!((read.status, read.json()["standing"].as_str()), (200, Some("valid")), "{store}");
            let history = hosts.get(host, &format!("/api/filings/{id}/history"), &token_for(admin())).await.json();
            assert_eq!(history["versions"].as_array().expect("versions").len(), before + succeeded, "{store}: one version per success");
            let mine = hosts.get(host, "/api/filings", &token_for(patient("N1"))).await.json();
            assert_eq!(mine["total"], 1, "{store}: {mine}");
            let check = hosts.get(host, &format!("/api/filings/check?psn_no=N1&code={}", hosts.drug), &token_for(pharmacist("F1", P1))).await.json();
            assert_eq!(check, json!({"valid": true, "filing_id": id}), "{store}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_settlement_sent_ten_times_at_once_settles_once_and_can_be_reversed_and_settled_again() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        assert_eq!(publish(&hosts.app, &policy("400000")).await.status, 201);
        let hi_rxno = dispensed(&hosts.app, &hosts.drug, 1).await;
        let f1 = token_for(pharmacist("F1", P1));
        let request = |setl_no: &str| json!({"setl_no": setl_no, "hi_rxno": hi_rxno, "lines": [{"med_list_codg": hosts.drug, "unit_price": "1000.00"}], "acct_balance": "500.00"});
        let answers = hosts.race(10, "/api/settlements", &f1, |_| request("S-1")).await;
        assert_eq!(statuses(&answers), [(200, 9), (201, 1)], "{store}: {:?}", answers.iter().map(|a| String::from_utf8_lossy(&a.body).to_string()).collect::<Vec<_>>());
        let first = answers[0].json();
        for answer in &answers {
            let answer = answer.json();
            assert_eq!((&answer["setl_id"], figures(&answer)), (&first["setl_id"], figures(&first)), "{store}: the same settlement");
        }
        let setl_id = first["setl_id"].as_str().expect("setl_id").to_string();
        let expected = ["2000.00", "0.00", "200.00", "1800.00", "0.00", "1440.00", "0.00", "1440.00", "500.00", "60.00", "560.00"];
        assert_eq!(figures(&first), expected, "{store}");
        let listed = hosts.get(1, "/api/settlements", &token_for(patient("N1"))).await.json();
        assert_eq!(listed["total"], 1, "{store}: {listed}");
        // another number for the same prescription is refused while S-1 stands (S8)
        hosts.post(0, "/api/settlements", &f1, &request("S-2")).await.problem(409, "ALREADY_SETTLED");

        // a wrong price is reversed (five times at once: one reversal), then settled again
        let reversals = hosts.race(5, &format!("/api/settlements/{setl_id}/reversal"), &f1, |_| json!({"reason": "价格录入错误"})).await;
        assert_eq!(statuses(&reversals), [(200, 5)], "{store}");
        assert!(reversals.iter().all(|r| r.json()["stage"] == "reversed"), "{store}");
        let again = hosts.post(1, "/api/settlements", &f1, &request("S-2")).await;
        assert_eq!(again.status, 201, "{store}: {}", String::from_utf8_lossy(&again.body));
        // the year was given back exactly once: the new settlement pays what the first did
        assert_eq!(figures(&again.json()), expected, "{store}");
        let listed = hosts.get(0, "/api/settlements", &token_for(patient("N1"))).await.json();
        assert_eq!(listed["total"], 2, "{store}: the reversed one and the new one: {listed}");
    }
}

/// Twenty settlements of one drug at once, from both hosts: the agency's month report (the
/// region's ledgers, which they race for) counts each once, with exactly the pooled fund's
/// payments they answered, and their one patient once.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_settlements_at_once_are_each_counted_once_in_the_month_report() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        assert_eq!(publish(&hosts.app, &policy("400000")).await.status, 201);
        let mut prescriptions = Vec::new();
        for n in 1..=20 {
            prescriptions.push(dispensed(&hosts.app, &hosts.drug, n).await);
        }
        let f1 = token_for(pharmacist("F1", P1));
        let answers = hosts
            .race(20, "/api/settlements", &f1, |n| {
                json!({"setl_no": format!("S-R{n}"), "hi_rxno": prescriptions[n], "lines": [{"med_list_codg": hosts.drug, "unit_price": "1000.00"}], "acct_balance": "500.00"})
            })
            .await;
        assert_eq!(statuses(&answers), [(201, 20)], "{store}: {:?}", answers.iter().map(|a| String::from_utf8_lossy(&a.body).to_string()).collect::<Vec<_>>());
        let amount = |value: &Value| value.as_str().and_then(|a| a.parse::<rust_decimal::Decimal>().ok()).expect("an amount");
        let paid: rust_decimal::Decimal = answers.iter().map(|a| amount(&a.json()["hifp_pay"])).sum();
        let month = hosts.app.get("/api/settlements/status", None).await.json()["business_date"].as_str().expect("business date")[..7].to_string();
        let report = hosts.get(1, &format!("/api/monitoring/reports/drugs?admdvs=420100&month={month}"), &token_for(agency())).await.json();
        let drug = &report["separate_payment"]["drugs"][0];
        assert_eq!((drug["lines"].as_u64(), amount(&drug["hifp_pay"])), (Some(20), paid), "{store}: {report}");
        // all twenty are N1's: one patient, however they interleaved (the person's year decides)
        assert_eq!(drug["patients"], 1, "{store}: {report}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_dispensings_under_one_filing_at_once_never_exceed_its_plan() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        // rule M3: 6 瓶 in 30 days, and eight approved prescriptions of 2 瓶 each
        crate::alerts::plan_bounded(&hosts.app, "6").await;
        let f1 = token_for(pharmacist("F1", P1));
        let mut prescriptions = Vec::new();
        for n in 0..8 {
            let stored = prescribe(&hosts.app, &prescription(&format!("R-Q{n}"), "D1", vec![line(&hosts.drug)])).await;
            let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
            let review = hosts.post(n, &format!("/api/prescriptions/{hi_rxno}/review"), &f1, &json!({"approved": true})).await;
            assert_eq!(review.status, 200, "{store}: {}", String::from_utf8_lossy(&review.body));
            prescriptions.push(hi_rxno);
        }
        // all eight dispensed at once over both hosts: exactly three fit
        let answers = futures::future::join_all(prescriptions.iter().enumerate().map(|(n, hi_rxno)| {
            let packs = [format!("85{:018}", 2 * n), format!("85{:018}", 2 * n + 1)];
            let body = dispensing(&format!("D-Q{n}"), &hosts.drug, &[packs[0].as_str(), packs[1].as_str()]);
            let (hosts, f1) = (&hosts, &f1);
            async move { hosts.post(n, &format!("/api/prescriptions/{hi_rxno}/dispense"), f1, &body).await }
        }))
        .await;
        assert_eq!(statuses(&answers), [(200, 3), (422, 5)], "{store}: {:?}", answers.iter().map(|a| String::from_utf8_lossy(&a.body).to_string()).collect::<Vec<_>>());
        for (n, (hi_rxno, answer)) in prescriptions.iter().zip(&answers).enumerate() {
            let expected = if answer.status == 200 { "dispensed" } else { "approved" };
            for host in 0..2 {
                let read = hosts.get(host + n, &format!("/api/prescriptions/{hi_rxno}"), &f1).await;
                assert_eq!((read.status, read.json()["stage"].as_str()), (200, Some(expected)), "{store}: {hi_rxno}");
            }
        }
        assert_eq!(crate::alerts::alerts(&hosts.app, "quantity_beyond_plan").await.len(), 5, "{store}: one alert per refused prescription");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_pharmacies_declaring_one_drug_at_once_are_all_kept() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        let agency = token_for(agency());
        let pharmacies: Vec<String> = (5..13).map(|n| format!("P420100000{n:02}")).collect();
        for code in &pharmacies {
            let pharmacy = json!({"name": format!("药房{code}"), "admdvs": "420100", "address": "武汉市", "dual_channel": true, "electronic_traceability": true,
                                  "can_supply": true, "compliant": true, "linked_institutions": [H1]});
            let request = hosts.app.client.put(hosts.app.url(&format!("/api/registry/pharmacies/{code}"))).bearer_auth(&agency).json(&pharmacy);
            assert!(hosts.app.send(request).await.status < 300, "{store}");
        }
        // rule M1: each declares the drug at once, over both hosts, into the city's one record
        let answers = futures::future::join_all(pharmacies.iter().enumerate().map(|(n, code)| {
            let request = hosts.app.client.put(hosts.url(n, &format!("/api/monitoring/stocking/{code}/{}", hosts.drug))).bearer_auth(&agency).json(&json!({"stocked": true}));
            hosts.app.send(request)
        }))
        .await;
        assert_eq!(statuses(&answers), [(200, 8)], "{store}: {:?}", answers.iter().map(|a| String::from_utf8_lossy(&a.body).to_string()).collect::<Vec<_>>());
        for host in 0..2 {
            let found = hosts.app.send(hosts.app.client.get(hosts.url(host, &format!("/api/monitoring/where?admdvs=420100&med_list_codg={}", hosts.drug)))).await.json();
            let mut codes: Vec<&str> = found["pharmacies"].as_array().expect("pharmacies").iter().filter_map(|p| p["fixmedins_code"].as_str()).collect();
            codes.sort();
            assert_eq!(codes, pharmacies.iter().map(String::as_str).collect::<Vec<_>>(), "{store}: every declaration kept");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_attempt_seen_ten_times_at_once_raises_one_alert() {
    for (store, kv, _dir) in shared_stores() {
        let hosts = Hosts::start(&kv).await;
        // rule M3: D2 is not N1's filing physician; ten pre-checks at once, over both hosts
        let by_d2 = prescription("R-P0", "D2", vec![line(&hosts.drug)]);
        let answers = hosts.race(10, "/api/prescriptions/pre-check", &token_for(physician("D2")), |_| by_d2.clone()).await;
        assert_eq!(statuses(&answers), [(422, 10)], "{store}");
        for host in 0..2 {
            let listed = hosts.get(host, "/api/monitoring/alerts?admdvs=420100&kind=prescriber_not_fixed", &token_for(agency())).await.json();
            assert_eq!(listed["total"], 1, "{store}: {listed}");
            let id = listed["items"][0]["alert_id"].as_str().expect("alert_id");
            let read = hosts.get(host, &format!("/api/monitoring/alerts/{id}"), &token_for(agency())).await.json();
            assert_eq!(read["history"].as_array().map(Vec::len), Some(1), "{store}: raised once: {read}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_settlements_at_the_annual_maximum_at_once_never_exceed_it() {
    use rust_decimal::Decimal;
    for (store, kv, _dir) in shared_stores() {
        // rule S4: a 5400.00 maximum on the drug's eligible cost, 1800.00 of it in each visit
        let started = TestApp::start_with(kv.clone(), HashMap::new()).await;
        let (app, drug) = crate::outpatient::mechanism_region_on(started, "5400.00").await;
        crate::outpatient::registered(&app, &drug, H1, "D1").await;
        let second = SecondHost::spawn(&kv, "contention::second_host");
        let hosts = Hosts { app, second, drug };
        let h1 = token_for(office(H1));
        let answers = hosts.race(8, "/api/settlements", &h1, |n| crate::outpatient::visit(&hosts.drug, &format!("V-X{n}"), "D1")).await;
        assert_eq!(statuses(&answers), [(201, 8)], "{store}: {:?}", answers.iter().map(|a| String::from_utf8_lossy(&a.body).to_string()).collect::<Vec<_>>());
        // whatever the order: the deductible once, 5400.00 counted, (5400.00 − 300.00) × 0.70
        let amount = |body: &Value, field: &str| body[field].as_str().expect(field).parse::<Decimal>().expect("an amount");
        let bodies: Vec<Value> = answers.iter().map(Answer::json).collect();
        let paid: Decimal = bodies.iter().map(|b| amount(b, "hifp_pay")).sum();
        assert_eq!(paid, Decimal::new(357000, 2), "{store}: {bodies:?}");
        assert_eq!(bodies.iter().filter(|b| amount(b, "hifp_pay").is_zero()).count(), 5, "{store}: three visits fill the maximum");
        for (n, body) in bodies.iter().enumerate() {
            let setl_id = body["setl_id"].as_str().expect("setl_id");
            for host in 0..2 {
                let read = hosts.get(host + n, &format!("/api/settlements/{setl_id}"), &h1).await;
                assert_eq!((read.status, read.json()["hifp_pay"].clone()), (200, body["hifp_pay"].clone()), "{store}: {setl_id}");
            }
        }
    }
}
