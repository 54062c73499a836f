//! The `monitoring` component's month reports (issue 17, rules M2, S5): every figure checked
//! against a recomputation from the settlements themselves, the downloads read back (CSV, and
//! xlsx with calamine), and who may read what.

use crate::filing::{H1, P1};
use crate::prescription::{pharmacist, prescribing_region};
use crate::settlement::{dispensed, policy, publish};
use rust_decimal::Decimal;
use scenarios::*;
use serde_json::{Value, json};

fn amount(value: &Value) -> Decimal {
    value.as_str().and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("not an amount: {value}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_month_reports_add_up_to_the_settlements_and_download_as_csv_and_xlsx() {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let f1 = token_for(pharmacist("F1", P1));
    // three settlements at P1, the second reversed
    let mut settled = Vec::new();
    for n in 1..=3 {
        let hi_rxno = dispensed(&app, &drug, n).await;
        let body = json!({"setl_no": format!("S-M{n}"), "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "100.00"});
        let answer = app.post_json("/api/settlements", Some(&f1), &body).await;
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
        settled.push(answer.json()["setl_id"].as_str().expect("setl_id").to_string());
    }
    let reversed = app.post_json(&format!("/api/settlements/{}/reversal", settled[1]), Some(&f1), &json!({"reason": "录入错误"})).await;
    assert_eq!(reversed.status, 200);

    // the figures recomputed from the standing settlements as stored
    let mut standing = Vec::new();
    for setl_id in [&settled[0], &settled[2]] {
        standing.push(app.get(&format!("/api/settlements/{setl_id}"), Some(&f1)).await.json());
    }
    let sum = |field: &str| standing.iter().map(|s| amount(&s[field])).sum::<Decimal>();
    let line_sum = |field: &str| standing.iter().map(|s| amount(&s["lines"][0][field])).sum::<Decimal>();

    let month = app.get("/api/monitoring/status", None).await.json()["business_date"].as_str().expect("date")[..7].to_string();
    let agency = token_for(agency());
    let drugs_path = format!("/api/monitoring/reports/drugs?admdvs=420100&month={month}");
    let report = app.get(&drugs_path, Some(&agency)).await.json();
    assert_eq!(report["status"], "open", "{report}");
    let row = &report["separate_payment"]["drugs"][0];
    assert_eq!((row["med_list_codg"].as_str(), row["lines"].as_i64(), row["parties"].as_i64()), (Some(drug.as_str()), Some(2), Some(1)), "{report}");
    assert!(!row["drug_name"].as_str().unwrap_or_default().is_empty(), "{row}");
    assert_eq!(amount(&row["qty"]), Decimal::from(4), "two packs each: {row}");
    // one person, three settlements (one reversed): one patient
    assert_eq!(row["patients"], 1, "{row}");
    for field in ["medfee", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay"] {
        assert_eq!(amount(&row[field]), line_sum(field), "{field}: {row}");
        assert_eq!(amount(&report["separate_payment"][field]), line_sum(field), "{field}: {report}");
        assert_eq!(amount(&row["by_party"][0][field]), line_sum(field), "{field}: {row}");
    }
    assert_eq!(row["by_party"][0]["fixmedins_code"], P1);
    assert_eq!(report["other"]["drugs"], json!([]));

    let parties = app.get(&format!("/api/monitoring/reports/parties?admdvs=420100&month={month}"), Some(&agency)).await.json();
    let party = &parties["parties"][0];
    assert_eq!((party["fixmedins_code"].as_str(), party["kind"].as_str(), party["settlements"].as_i64()), (Some(P1), Some("pharmacy"), Some(2)), "{parties}");
    assert!(!party["fixmedins_name"].as_str().unwrap_or_default().is_empty());
    let every = ["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "acct_pay", "psn_cash_pay", "psn_part_amt"];
    for field in every {
        assert_eq!(amount(&party[field]), sum(field), "{field}: {party}");
        assert_eq!(amount(&parties[field]), sum(field), "{field}: the month's total");
    }
    // the drug is a separate-payment drug: all of its cost and pooled payment is reported apart
    assert_eq!((amount(&party["separate_payment_medfee"]), amount(&party["separate_payment_hifp_pay"])), (sum("medfee_sumamt"), sum("hifp_pay")));

    // CSV: national field names, one row per drug
    let csv = app.get(&format!("{drugs_path}&format=csv"), Some(&agency)).await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.body.to_vec()).expect("UTF-8");
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark for spreadsheet programs");
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let column = |name: &str| lines[0].iter().position(|c| *c == name).unwrap_or_else(|| panic!("column {name}: {:?}", lines[0]));
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[1][column("med_list_codg")], drug);
    assert_eq!(lines[1][column("hifp_pay")].parse::<Decimal>().ok(), Some(line_sum("hifp_pay")), "{text}");

    // xlsx: Chinese labels, field names, the rows; read back with calamine
    let xlsx = app.get(&format!("/api/monitoring/reports/parties?admdvs=420100&month={month}&format=xlsx"), Some(&agency)).await;
    assert_eq!(xlsx.status, 200);
    use calamine::{DataType, Reader};
    let mut workbook = calamine::Xlsx::new(std::io::Cursor::new(xlsx.body.to_vec())).expect("an xlsx workbook");
    let sheet = workbook.worksheet_range("parties").expect("the parties sheet");
    let rows: Vec<_> = sheet.rows().collect();
    assert_eq!(rows[0][0].to_string(), "定点医药机构编号");
    assert_eq!(rows[1][0].to_string(), "fixmedins_code");
    let hifp = rows[1].iter().position(|c| *c == "hifp_pay").expect("hifp_pay column");
    assert_eq!(rows[2][0].to_string(), P1);
    assert_eq!(rows[2][hifp].as_f64().map(|f| Decimal::try_from(f).unwrap_or_default().round_dp(2)), Some(sum("hifp_pay")));

    // a pharmacy reads only its own part; another region's agency nothing; a patient no report
    let own = app.get(&drugs_path, Some(&f1)).await.json();
    assert_eq!(own["separate_payment"]["drugs"][0]["lines"], 2, "{own}");
    let other_pharmacy = app.get(&drugs_path, Some(&token_for(pharmacist("F3", "P42010000002")))).await.json();
    assert_eq!(other_pharmacy["separate_payment"]["drugs"], json!([]), "{other_pharmacy}");
    app.get(&drugs_path, Some(&token_for(api::Principal::Agency { admdvs: "430100".into() }))).await.problem(403, "OUT_OF_REGION");
    app.get(&drugs_path, Some(&token_for(api::Principal::Patient { psn_no: "N1".into() }))).await.problem(403, "ROLE_FORBIDDEN");
    app.get("/api/monitoring/reports/drugs?admdvs=420100&month=2026-13", Some(&agency)).await.problem(400, "INVALID_QUERY");
    app.get(&format!("{drugs_path}&format=pdf"), Some(&agency)).await.problem(400, "INVALID_QUERY");
    // a month long over is closed (and empty here)
    let past = app.get("/api/monitoring/reports/drugs?admdvs=420100&month=2025-01", Some(&agency)).await.json();
    assert_eq!((past["status"].as_str(), past["separate_payment"]["drugs"].as_array().map(Vec::len)), (Some("closed"), Some(0)), "{past}");
}

#[tokio::test(flavor = "multi_thread")]
async fn separate_payment_spending_is_reported_per_prescribing_institution() {
    // issue 14 item 9, rule S5: kept out of each institution's global budget, so reported per
    // institution, also when its prescriptions are dispensed and settled at a pharmacy
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let f1 = token_for(pharmacist("F1", P1));
    let mut standing = Vec::new();
    for n in 1..=2 {
        let hi_rxno = dispensed(&app, &drug, 40 + n).await;
        let body = json!({"setl_no": format!("S-I{n}"), "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "0"});
        let answer = app.post_json("/api/settlements", Some(&f1), &body).await;
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
        standing.push(answer.json());
    }
    let sum = |field: &str| standing.iter().map(|s| amount(&s["lines"][0][field])).sum::<Decimal>();
    let month = app.get("/api/monitoring/status", None).await.json()["business_date"].as_str().expect("date")[..7].to_string();
    let path = format!("/api/monitoring/reports/institutions?admdvs=420100&month={month}");
    let report = app.get(&path, Some(&token_for(agency()))).await.json();
    let h1 = &report["institutions"][0];
    assert_eq!((h1["fixmedins_code"].as_str(), h1["lines"].as_i64(), report["institutions"].as_array().map(Vec::len)), (Some(H1), Some(2), Some(1)), "{report}");
    assert_eq!((amount(&h1["separate_payment_medfee"]), amount(&h1["separate_payment_hifp_pay"])), (sum("medfee"), sum("hifp_pay")), "{report}");
    assert_eq!(h1["drugs"][0]["med_list_codg"], drug.as_str());
    assert_eq!(amount(&report["separate_payment_hifp_pay"]), sum("hifp_pay"));
    // H1's office reads its row; another institution's office reads none; a pharmacy no such report
    let own = app.get(&path, Some(&token_for(crate::filing::office(H1)))).await.json();
    assert_eq!(own["institutions"][0]["lines"], 2, "{own}");
    let other = app.get(&path, Some(&token_for(crate::filing::office("H42010000003")))).await.json();
    assert_eq!(other["institutions"], json!([]), "{other}");
    app.get(&path, Some(&f1)).await.problem(403, "ROLE_FORBIDDEN");
    let csv = app.get(&format!("{path}&format=csv"), Some(&token_for(agency()))).await;
    let text = String::from_utf8(csv.body.to_vec()).expect("UTF-8");
    assert!(text.lines().count() == 2 && text.contains(&drug), "field names, then one row: {text}");
}
