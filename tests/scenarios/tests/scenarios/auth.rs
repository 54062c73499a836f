//! Authentication and roles through the host: 401 without or with a bad token, 403 with the
//! wrong role, both as problem JSON (issue 2).

use scenarios::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_endpoint_without_a_token_is_401_with_a_challenge() {
    let app = TestApp::start().await;
    for (_, prefix) in COMPONENTS {
        let answer = app.get(&format!("{prefix}/status/store"), None).await;
        answer.problem(401, "TOKEN_MISSING");
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wrong_role_is_403() {
    let app = TestApp::start().await;
    let patient = token_for(patient("P4201000001"));
    for (_, prefix) in COMPONENTS {
        let problem = app.get(&format!("{prefix}/status/store"), Some(&patient)).await.problem(403, "ROLE_FORBIDDEN");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("patient")), "{problem}");
    }
    let issue = app.post_json("/api/auth/tokens", Some(&token_for(agency())), &json!({"role": "admin", "operator": "me"})).await;
    issue.problem(403, "ROLE_FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_401_even_on_public_endpoints() {
    let app = TestApp::start().await;
    app.get("/api/catalogue/status", Some("not-a-jwt")).await.problem(401, "TOKEN_INVALID");

    let expired = token_valid_for(agency(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.get("/api/catalogue/status", Some(&expired)).await.problem(401, "TOKEN_EXPIRED");

    let basic = app.client.get(app.url("/api/catalogue/status")).header("authorization", "Basic YTpi");
    app.send(basic).await.problem(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_issued_token_carries_its_role_and_subject() {
    let app = TestApp::start().await;
    let issued = app
        .post_json(
            "/api/auth/tokens",
            Some(&token_for(admin())),
            &json!({"role": "pharmacist", "phar_code": "F420100000001", "fixmedins_code": "P42010000001", "ttl_seconds": 600}),
        )
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    let issued = issued.json();
    assert_eq!(issued["token_type"], "Bearer");
    let token = issued["token"].as_str().expect("token");

    let me = app.get("/api/auth/whoami", Some(token)).await.json();
    assert_eq!(me["role"], "pharmacist");
    assert_eq!(me["phar_code"], "F420100000001");
    assert_eq!(me["fixmedins_code"], "P42010000001");
    assert_eq!(me["jti"], issued["jti"]);

    let anonymous = app.get("/api/auth/whoami", None).await.json();
    assert_eq!(anonymous["role"], "public");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_for_the_public_role_or_with_absurd_lifetimes_are_refused() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    app.post_json("/api/auth/tokens", Some(&admin), &json!({"role": "public"})).await.problem(422, "INVALID_BODY");
    let forever = json!({"role": "agency", "admdvs": "420100", "ttl_seconds": 10_000_000_000i64});
    app.post_json("/api/auth/tokens", Some(&admin), &forever).await.problem(422, "INVALID_BODY");
}

/// Issue 18: the web app's login offers the demo roles in one click, through a public endpoint
/// that exists only while demo data is on.
#[tokio::test(flavor = "multi_thread")]
async fn demo_tokens_are_issued_for_demo_identities_only_with_demo_data_on() {
    let app = TestApp::start_demo().await;
    let issued = app.post_json("/api/auth/demo-tokens", None, &json!({"role": "pharmacist"})).await;
    assert_eq!(issued.status, 201, "{}", String::from_utf8_lossy(&issued.body));
    let issued = issued.json();
    assert_eq!((issued["phar_code"].as_str(), issued["fixmedins_code"].as_str()), (Some("F420100000001"), Some("P42010000001")), "{issued}");
    assert!(issued["name"].as_str().is_some_and(|n| n.contains("陈药师")), "{issued}");
    let me = app.get("/api/auth/whoami", issued["token"].as_str()).await.json();
    assert_eq!((me["role"].as_str(), me["jti"].as_str()), (Some("pharmacist"), issued["jti"].as_str()));
    // every demo role, and a chosen identity of the registry
    for role in ["patient", "physician", "hospital_office", "agency", "admin"] {
        let answer = app.post_json("/api/auth/demo-tokens", None, &json!({"role": role})).await;
        assert_eq!((answer.status, answer.json()["role"].as_str()), (201, Some(role)), "{role}");
    }
    let second = app.post_json("/api/auth/demo-tokens", None, &json!({"role": "patient", "subject": "P4201000002"})).await.json();
    assert_eq!(second["psn_no"], "P4201000002", "{second}");
    // nothing outside the demo registry, no public role
    for body in [json!({"role": "patient", "subject": "P9999"}), json!({"role": "public"}), json!({"role": "physician", "subject": "D420100000003"})] {
        app.post_json("/api/auth/demo-tokens", None, &body).await.problem(422, "INVALID_BODY");
    }

    // production: as if the endpoint did not exist
    let production = TestApp::start().await;
    production.post_json("/api/auth/demo-tokens", None, &json!({"role": "admin"})).await.problem(404, "NOT_FOUND");
}
