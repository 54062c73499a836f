//! The registry through the host (rules I1–I4): agencies register institutions, pharmacies,
//! physicians, pharmacists and insured persons; patients look up a city's pharmacies; every
//! problem of a body is reported at once; agencies stay in their region; ID numbers stay masked.

use api::Principal;
use http::Method;
use scenarios::*;
use serde_json::{Value, json};

const HOSPITAL: &str = "H42010000001";
const PHARMACY: &str = "P42010000001";
/// A resident ID number whose check character is right (the example of GB 11643 itself).
const CERTNO: &str = "11010519491231002X";

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> Answer {
    app.send(app.client.put(app.url(path)).bearer_auth(token).json(body)).await
}

/// Asserts the status and returns the JSON body.
#[track_caller]
fn expect(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()
}

fn institution(admdvs: &str) -> Value {
    json!({
        "name": "华中科技大学同济医学院附属协和医院", "admdvs": admdvs, "level": 3,
        "capabilities": ["pathology", "genetic_testing"], "key_specialties": ["肿瘤科"],
        "cross_region_settlement": true, "address": "武汉市江汉区解放大道1277号"
    })
}

fn pharmacy(name: &str, admdvs: &str, dual_channel: bool) -> Value {
    json!({
        "name": name, "admdvs": admdvs, "address": "武汉市江汉区解放大道1号", "phone": "027-8888 0000",
        "dual_channel": dual_channel, "electronic_traceability": true, "can_supply": true, "compliant": true,
        "linked_institutions": [HOSPITAL]
    })
}

fn person(insured_admdvs: &str) -> Value {
    json!({
        "name": "王五", "certno": CERTNO, "insutype": "310", "insured_admdvs": insured_admdvs, "benefit_status": "normal"
    })
}

fn violations(problem: &Value) -> Vec<(String, Option<String>)> {
    problem["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| (v["field"].as_str().expect("field").to_string(), v["rule"].as_str().map(str::to_string)))
        .collect()
}

fn field(name: &str, rule: Option<&str>) -> (String, Option<String>) {
    (name.to_string(), rule.map(str::to_string))
}

async fn register_hospital(app: &TestApp, admin: &str) {
    expect(&put(app, &format!("/api/registry/institutions/{HOSPITAL}"), admin, &institution("420100")).await, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn registers_institutions_pharmacies_physicians_and_pharmacists() {
    let app = TestApp::start().await;
    let admin = token_for(admin());

    let path = format!("/api/registry/institutions/{HOSPITAL}");
    let created = expect(&put(&app, &path, &admin, &institution("420100")).await, 201);
    assert_eq!(created["fixmedins_code"], HOSPITAL);
    assert_eq!(created["level"], 3);
    // rule I1: tier 3 with pathology or genetic testing capability
    assert_eq!(created["separate_payment_eligible"], true);
    assert_eq!(created["separate_payment_reasons"].as_array().map(Vec::len), Some(2));
    assert_eq!(created["updated_by"], "ops-1");
    // idempotent: the same body again is the same record, audit fields included
    assert_eq!(expect(&put(&app, &path, &admin, &institution("420100")).await, 200), created);

    let public = expect(&app.get(&path, None).await, 200);
    assert_eq!(public["name"], created["name"]);
    assert!(public.get("updated_by").is_none(), "audit data is for agency and admin: {public}");

    // rule I1: a tier-2 institution without a key specialty does not qualify
    let mut tier2 = institution("420100");
    tier2["level"] = json!(2);
    tier2["key_specialties"] = json!([]);
    let tier2 = expect(&put(&app, "/api/registry/institutions/H42010000002", &admin, &tier2).await, 201);
    assert_eq!(tier2["separate_payment_eligible"], false);

    let pharmacy_path = format!("/api/registry/pharmacies/{PHARMACY}");
    let stored = expect(&put(&app, &pharmacy_path, &admin, &pharmacy("国药大药房", "420100", true)).await, 201);
    assert_eq!((stored["fixmedins_code"].as_str(), stored["compliant"].as_bool()), (Some(PHARMACY), Some(true)));
    let shown = expect(&app.get(&pharmacy_path, None).await, 200);
    assert_eq!(shown["linked_institutions"], json!([HOSPITAL]));
    assert!(shown.get("compliant").is_none(), "the public view leaves out compliance: {shown}");
    let internal = expect(&app.get(&pharmacy_path, Some(&token_for(agency()))).await, 200);
    assert_eq!(internal["compliant"], true);

    let physician = json!({
        "name": "张医生", "fixmedins_code": HOSPITAL, "title": "chief", "specialty": "肿瘤科", "responsible": true, "active": true
    });
    let doctor = expect(&put(&app, "/api/registry/physicians/D420100000001", &admin, &physician).await, 201);
    assert_eq!((doctor["dr_code"].as_str(), doctor["title"].as_str()), (Some("D420100000001"), Some("chief")));
    let pharmacist = json!({"name": "李药师", "fixmedins_code": PHARMACY, "active": true});
    let checker = expect(&put(&app, "/api/registry/pharmacists/F420100000001", &admin, &pharmacist).await, 201);
    assert_eq!(checker["phar_code"], "F420100000001");

    // physicians and pharmacists: every authenticated role, not the public
    let patient = token_for(patient("N4201000001"));
    let read = expect(&app.get("/api/registry/physicians/D420100000001", Some(&patient)).await, 200);
    assert_eq!(read["fixmedins_code"], HOSPITAL);
    expect(&app.get("/api/registry/pharmacists/F420100000001", Some(&patient)).await, 200);
    app.get("/api/registry/physicians/D420100000001", None).await.problem(401, "TOKEN_MISSING");
    app.get("/api/registry/pharmacists/F420100000001", None).await.problem(401, "TOKEN_MISSING");

    // rule I3: a physician's institution must be registered; a pharmacist's pharmacy too
    let elsewhere = json!({
        "name": "赵医生", "fixmedins_code": "H99", "title": "attending", "specialty": "血液科", "responsible": true, "active": true
    });
    let problem = put(&app, "/api/registry/physicians/D2", &admin, &elsewhere).await.problem(422, "INVALID_BODY");
    assert_eq!(violations(&problem), [field("/fixmedins_code", Some("I3"))]);
    let at_hospital = json!({"name": "李药师", "fixmedins_code": HOSPITAL, "active": true});
    let problem = put(&app, "/api/registry/pharmacists/F2", &admin, &at_hospital).await.problem(422, "INVALID_BODY");
    assert_eq!(violations(&problem), [field("/fixmedins_code", Some("I2"))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pharmacy_failing_i2_is_refused_with_every_violation_at_once() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    register_hospital(&app, &admin).await;
    let body = json!({
        "name": " ", "admdvs": "420100", "address": "解放大道1号", "dual_channel": true,
        "electronic_traceability": false, "can_supply": false, "compliant": false,
        "linked_institutions": [HOSPITAL, "H42010000999", "a:b"]
    });
    let problem = put(&app, "/api/registry/pharmacies/P1", &admin, &body).await.problem(422, "INVALID_BODY");
    assert_eq!(
        violations(&problem),
        [
            field("/name", None),
            field("/linked_institutions/1", Some("I2")),
            field("/linked_institutions/2", None),
            field("/electronic_traceability", Some("I2")),
            field("/can_supply", Some("I2")),
            field("/compliant", Some("I2")),
        ]
    );
    // nothing was saved, and the city's list does not show it
    app.get("/api/registry/pharmacies/P1", None).await.problem(404, "NOT_FOUND");
    let list = expect(&app.get("/api/registry/pharmacies?admdvs=420100", None).await, 200);
    assert_eq!(list["total"], 0);

    let unlinked = json!({
        "name": "药房", "admdvs": "420100", "address": "解放大道1号", "dual_channel": true,
        "electronic_traceability": true, "can_supply": true, "compliant": true
    });
    let problem = put(&app, "/api/registry/pharmacies/P1", &admin, &unlinked).await.problem(422, "INVALID_BODY");
    assert_eq!(violations(&problem), [field("/linked_institutions", Some("I2"))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_writes_only_in_the_regions_it_administers() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let wuhan = token_for(agency());
    let changsha = token_for(Principal::Agency { admdvs: "430100".into() });
    let hubei = token_for(Principal::Agency { admdvs: "420000".into() });

    let problem = put(&app, "/api/registry/institutions/H43", &wuhan, &institution("430100")).await.problem(403, "OUT_OF_REGION");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("430100")), "{problem}");
    let own = expect(&put(&app, &format!("/api/registry/institutions/{HOSPITAL}"), &wuhan, &institution("420100")).await, 201);
    assert_eq!(own["updated_by"], "agency:420100");
    // a provincial agency administers its whole province
    expect(&put(&app, "/api/registry/institutions/H42050000001", &hubei, &institution("420500")).await, 201);
    put(&app, "/api/registry/institutions/H43", &hubei, &institution("430100")).await.problem(403, "OUT_OF_REGION");

    // another region's record cannot be taken over by moving it into one's own
    expect(&put(&app, "/api/registry/institutions/H43", &admin, &institution("430100")).await, 201);
    put(&app, "/api/registry/institutions/H43", &wuhan, &institution("420100")).await.problem(403, "OUT_OF_REGION");
    expect(&put(&app, "/api/registry/institutions/H43", &changsha, &institution("430100")).await, 200);

    // physicians take their institution's region, persons their insured region
    let physician = json!({
        "name": "张医生", "fixmedins_code": HOSPITAL, "title": "chief", "specialty": "肿瘤科", "responsible": true, "active": true
    });
    put(&app, "/api/registry/physicians/D1", &changsha, &physician).await.problem(403, "OUT_OF_REGION");
    expect(&put(&app, "/api/registry/physicians/D1", &wuhan, &physician).await, 201);
    put(&app, "/api/registry/persons/N1", &changsha, &person("420100")).await.problem(403, "OUT_OF_REGION");
    expect(&put(&app, "/api/registry/persons/N1", &hubei, &person("420100")).await, 201);

    // and other roles may not write at all
    let office = token_for(Principal::HospitalOffice { fixmedins_code: HOSPITAL.into() });
    put(&app, "/api/registry/physicians/D1", &office, &physician).await.problem(403, "ROLE_FORBIDDEN");
    let answer = put(&app, "/api/registry/persons/N1", &token_for(patient("N1")), &person("420100")).await;
    answer.problem(403, "ROLE_FORBIDDEN");
}

/// The items' codes of one page of a city's list.
async fn codes(app: &TestApp, query: &str) -> (u64, Vec<String>) {
    let page = expect(&app.get(&format!("/api/registry/pharmacies?{query}"), None).await, 200);
    let codes = page["items"].as_array().expect("items").iter().map(|p| p["fixmedins_code"].as_str().expect("code").to_string());
    (page["total"].as_u64().expect("total"), codes.collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_list_of_a_citys_pharmacies_pages_filters_and_follows_a_move() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    register_hospital(&app, &admin).await;
    // registered out of order; every third one is not designated for the dual channel
    for i in (1..=25).rev() {
        let body = pharmacy(&format!("药房{i}"), "420100", i % 3 != 0);
        expect(&put(&app, &format!("/api/registry/pharmacies/P{i:03}"), &admin, &body).await, 201);
    }
    expect(&put(&app, "/api/registry/pharmacies/P900", &admin, &pharmacy("宜昌药房", "420500", true)).await, 201);

    let all: Vec<String> = (1..=25).map(|i| format!("P{i:03}")).collect();
    let mut paged = Vec::new();
    for page in 1..=3 {
        let (total, codes) = codes(&app, &format!("admdvs=420100&page={page}&page_size=10")).await;
        assert_eq!(total, 25);
        paged.extend(codes);
    }
    assert_eq!(paged, all, "stable order by code, no gaps or overlaps");
    assert_eq!(codes(&app, "admdvs=420100&page=4&page_size=10").await, (25, Vec::new()));

    let dual: Vec<String> = (1..=25).filter(|i| i % 3 != 0).map(|i| format!("P{i:03}")).collect();
    let (total, first) = codes(&app, "admdvs=420100&dual_channel=true&page_size=100").await;
    assert_eq!((total as usize, first), (dual.len(), dual));
    assert_eq!(codes(&app, "admdvs=420100&dual_channel=false").await.0, 8);
    let page = expect(&app.get("/api/registry/pharmacies?admdvs=420100&dual_channel=true", None).await, 200);
    assert_eq!((page["page"].as_u64(), page["page_size"].as_u64()), (Some(1), Some(20)));
    let item = &page["items"][0];
    assert_eq!((item["name"].as_str(), item["phone"].as_str()), (Some("药房1"), Some("027-8888 0000")));
    assert!(item.get("compliant").is_none(), "{item}");

    // a change shows at once; a move leaves the old city's list and joins the new one
    expect(&put(&app, "/api/registry/pharmacies/P001", &admin, &pharmacy("药房1(新址)", "420100", true)).await, 200);
    let renamed = expect(&app.get("/api/registry/pharmacies?admdvs=420100&page_size=1", None).await, 200);
    assert_eq!(renamed["items"][0]["name"], "药房1(新址)");
    expect(&put(&app, "/api/registry/pharmacies/P002", &admin, &pharmacy("药房2", "420500", true)).await, 200);
    let (total, wuhan) = codes(&app, "admdvs=420100&page_size=100").await;
    assert_eq!(total, 24);
    assert!(!wuhan.contains(&"P002".to_string()));
    assert_eq!(codes(&app, "admdvs=420500").await, (2, vec!["P002".to_string(), "P900".to_string()]));
    assert_eq!(codes(&app, "admdvs=110100").await, (0, Vec::new()));

    // bad queries are 400 with the parameter named
    for (query, parameter) in [
        ("", "admdvs"),
        ("admdvs=4201", "admdvs"),
        ("admdvs=420100&dual_channel=yes", "dual_channel"),
        ("admdvs=420100&page_size=101", "page_size"),
    ] {
        let problem = app.get(&format!("/api/registry/pharmacies?{query}"), None).await.problem(400, "INVALID_QUERY");
        assert_eq!(problem["violations"][0]["field"], parameter, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_instance_lists_a_city_after_one_store_read() {
    let app = InProcessApp::start().await;
    let admin = token_for(admin());
    let send_json = |path: String, body: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            app.send(Method::PUT, &path, Some(admin.as_str()), Some(("application/json", body.to_string().into_bytes()))).await
        }
    };
    assert_eq!(send_json(format!("/api/registry/institutions/{HOSPITAL}"), institution("420100")).await.status, 201);
    for i in 1..=5 {
        let stored = send_json(format!("/api/registry/pharmacies/P{i}"), pharmacy("药房", "420100", true)).await;
        assert_eq!(stored.status, 201);
    }
    let list = "/api/registry/pharmacies?admdvs=420100&dual_channel=true";
    let cold = app.send(Method::GET, list, None, None).await;
    assert_eq!(cold.status, 200);
    eprintln!("cold city list: kv ops {}", cold.kv_ops);
    for _ in 0..3 {
        let warm = app.send(Method::GET, list, None, None).await;
        assert_eq!(warm.status, 200);
        let page: Value = serde_json::from_slice(&warm.body).expect("json");
        assert_eq!(page["total"], 5);
        let ops = warm.kv_ops;
        let reads = ops.get + ops.exists + ops.increment + ops.get_many + ops.get_keys + ops.cas;
        assert_eq!(reads, 1, "only the city log's version: {ops}");
        assert_eq!((ops.set, ops.set_many, ops.delete, ops.get_keys), (0, 0, 0, 0), "{ops}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_is_read_by_themself_their_agency_and_admins_never_with_the_raw_id_number() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let raw_digits = &CERTNO[..17];

    let stored = put(&app, "/api/registry/persons/N4201000001", &token_for(agency()), &person("420100")).await;
    let body = String::from_utf8_lossy(&stored.body).to_string();
    let stored = expect(&stored, 201);
    assert!(!body.contains(raw_digits), "raw ID number in {body}");
    assert_eq!(stored["certno_masked"], "110***********002X");
    assert_eq!(stored["certno_digest"].as_str().map(str::len), Some(64));
    assert_eq!((stored["psn_no"].as_str(), stored["psn_cert_type"].as_str()), (Some("N4201000001"), Some("01")));
    assert!(stored.get("certno").is_none(), "{stored}");
    // the same body again (the check character typed lower-case) is the same record
    let mut again = person("420100");
    again["certno"] = json!(CERTNO.to_ascii_lowercase());
    assert_eq!(expect(&put(&app, "/api/registry/persons/N4201000001", &admin, &again).await, 200), stored);

    let own = app.get("/api/registry/persons/N4201000001", Some(&token_for(patient("N4201000001")))).await;
    assert!(!String::from_utf8_lossy(&own.body).contains(raw_digits));
    let own = expect(&own, 200);
    assert_eq!((own["name"].as_str(), own["benefit_status"].as_str()), (Some("王五"), Some("normal")));
    assert!(own.get("updated_by").is_none(), "{own}");

    // another patient cannot tell a registered person from an unknown one
    let other = token_for(patient("N4201000002"));
    let hidden = app.get("/api/registry/persons/N4201000001", Some(&other)).await.problem(404, "NOT_FOUND");
    let unknown = app.get("/api/registry/persons/N4201000009", Some(&admin)).await.problem(404, "NOT_FOUND");
    let mine_unknown = app.get("/api/registry/persons/N4201000002", Some(&other)).await.problem(404, "NOT_FOUND");
    assert_eq!((&hidden["detail"], &mine_unknown["detail"]), (&unknown["detail"], &unknown["detail"]));

    let by_agency = expect(&app.get("/api/registry/persons/N4201000001", Some(&token_for(agency()))).await, 200);
    assert_eq!(by_agency["updated_by"], "agency:420100");
    expect(&app.get("/api/registry/persons/N4201000001", Some(&admin)).await, 200);
    let changsha = token_for(Principal::Agency { admdvs: "430100".into() });
    app.get("/api/registry/persons/N4201000001", Some(&changsha)).await.problem(403, "OUT_OF_REGION");
    let physician = token_for(Principal::Physician { dr_code: "D1".into(), fixmedins_code: HOSPITAL.into() });
    app.get("/api/registry/persons/N4201000001", Some(&physician)).await.problem(403, "ROLE_FORBIDDEN");
    app.get("/api/registry/persons/N4201000001", None).await.problem(401, "TOKEN_MISSING");

    // a wrong check character is refused, and not echoed back
    let mut wrong = person("420100");
    wrong["certno"] = json!("110105194912310021");
    let refused = put(&app, "/api/registry/persons/N4201000003", &admin, &wrong).await;
    assert!(!String::from_utf8_lossy(&refused.body).contains("110105194912310021"));
    let problem = refused.problem(422, "INVALID_BODY");
    assert_eq!(violations(&problem), [field("/certno", None)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_and_codes_are_4xx_problems() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let path = format!("/api/registry/institutions/{HOSPITAL}");

    let mut unknown_field = institution("420100");
    unknown_field["beds"] = json!(1200);
    let problem = put(&app, &path, &admin, &unknown_field).await.problem(422, "INVALID_BODY");
    assert!(problem["violations"][0]["reason"].as_str().is_some_and(|r| r.contains("beds")), "{problem}");
    let mut wrong_level = institution("420100");
    wrong_level["level"] = json!(4);
    let problem = put(&app, &path, &admin, &wrong_level).await.problem(422, "INVALID_BODY");
    assert_eq!(problem["violations"][0]["field"], "/level");
    let mut wrong_capability = institution("420100");
    wrong_capability["capabilities"] = json!(["pathology", "astrology"]);
    put(&app, &path, &admin, &wrong_capability).await.problem(422, "INVALID_BODY");

    // every problem of a well-shaped body at once
    let mut sloppy = institution("4201");
    sloppy["name"] = json!("");
    sloppy["key_specialties"] = json!(["肿瘤科", "肿瘤科"]);
    let problem = put(&app, &path, &admin, &sloppy).await.problem(422, "INVALID_BODY");
    assert_eq!(violations(&problem), [field("/name", None), field("/admdvs", None), field("/key_specialties/1", None)]);

    let not_json = app.client.put(app.url(&path)).bearer_auth(&admin).header("content-type", "application/json").body("{");
    app.send(not_json).await.problem(400, "MALFORMED_JSON");
    let text = app.client.put(app.url(&path)).bearer_auth(&admin).header("content-type", "text/plain").body("{}");
    app.send(text).await.problem(415, "UNSUPPORTED_MEDIA_TYPE");

    // a code that cannot be one: 400 to write, 404 to read; an unknown code: 404
    for kind in ["institutions", "pharmacies", "physicians", "pharmacists", "persons"] {
        let problem = put(&app, &format!("/api/registry/{kind}/a:b"), &admin, &json!({})).await.problem(400, "INVALID_PATH");
        assert!(problem["violations"][0]["field"].as_str().is_some(), "{problem}");
        app.get(&format!("/api/registry/{kind}/a:b"), Some(&admin)).await.problem(404, "NOT_FOUND");
        app.get(&format!("/api/registry/{kind}/X0000000001"), Some(&admin)).await.problem(404, "NOT_FOUND");
    }
}
