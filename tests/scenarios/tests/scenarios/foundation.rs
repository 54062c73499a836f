//! The foundation: every component answers through the host, shares one store, survives a
//! restart, and turns every bad input into a 4xx problem document (issue 2).

use futures::stream;
use api::Principal;
use scenarios::*;
use serde_json::json;
use spin_test_host::KvBackend;
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread")]
async fn every_component_answers_its_status() {
    let app = TestApp::start().await;
    for (component, prefix) in COMPONENTS {
        let answer = app.get(&format!("{prefix}/status"), None).await;
        assert_eq!(answer.status, 200, "{component}");
        let status = answer.json();
        assert_eq!(status["component"], component);
        assert_eq!(status["admdvs"], "420100");
        assert_eq!(answer.headers["cache-control"], "no-store");
        assert!(status["business_date"].as_str().is_some_and(|d| d.len() == 10));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_component_round_trips_the_shared_store() {
    let app = TestApp::start().await;
    let token = token_for(agency());
    for (component, prefix) in COMPONENTS {
        let answer = app.get(&format!("{prefix}/status/store"), Some(&token)).await;
        assert_eq!(answer.status, 200, "{component}: {:?}", answer.body);
        assert_eq!(answer.json()["store"], "ok");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_written_by_one_component_is_read_by_the_others() {
    let app = TestApp::start().await;
    let admin = token_for(admin());

    let issued = app
        .post_json("/api/auth/tokens", Some(&admin), &json!({"role": "agency", "admdvs": "420100"}))
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    let issued = issued.json();
    let agency_token = issued["token"].as_str().expect("token").to_string();
    let jti = issued["jti"].as_str().expect("jti").to_string();
    assert_eq!(app.get("/api/filings/status/store", Some(&agency_token)).await.status, 200);

    // Written by the catalogue component...
    let revoked = app
        .post_json(&format!("/api/auth/tokens/{jti}/revocation"), Some(&admin), &json!({"reason": "lost laptop"}))
        .await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert_eq!(revoked.json()["revoked_by"], "ops-1");

    // ...read by every other component.
    for (_, prefix) in COMPONENTS {
        app.get(&format!("{prefix}/status/store"), Some(&agency_token)).await.problem(401, "TOKEN_REVOKED");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_refused_whatever_its_request_reads_first() {
    // issue 19: the revocation is read with the request's first store operation (folded into
    // its first read-ahead), or after a handler that used none; never an answer without it
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let pharmacist = token_for(Principal::Pharmacist { phar_code: "F1".into(), fixmedins_code: "P42010000001".into() });
    let physician = token_for(Principal::Physician { dr_code: "D1".into(), fixmedins_code: "H42010000001".into() });
    for token in [&pharmacist, &physician] {
        let revoked = app.post_json(&format!("/api/auth/tokens/{}/revocation", app_jti(token)), Some(&admin), &json!({"reason": "left"})).await;
        assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    }
    // a read-ahead (the filing check reads the catalogue and the filing's heads with it)
    app.get("/api/filings/check?psn_no=N1&code=X1", Some(&pharmacist)).await.problem(401, "TOKEN_REVOKED");
    app.post_json("/api/settlements/pre-settlement", Some(&pharmacist), &json!({"hi_rxno": "RX1", "lines": []})).await.problem(401, "TOKEN_REVOKED");
    // a handler that answers from the token alone
    app.get("/api/auth/whoami", Some(&pharmacist)).await.problem(401, "TOKEN_REVOKED");
    // a body refused before anything is read
    app.post_json("/api/prescriptions/pre-check", Some(&physician), &json!({"lines": "none"})).await.problem(401, "TOKEN_REVOKED");
    // an unrevoked token of the same kind is answered
    let other = token_for(Principal::Pharmacist { phar_code: "F2".into(), fixmedins_code: "P42010000001".into() });
    assert_eq!(app.get("/api/auth/whoami", Some(&other)).await.status, 200);
    assert_eq!(app.get("/api/filings/check?psn_no=N1&code=X1", Some(&other)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_ahead_left_on_with_redis_reads_one_key_at_a_time() {
    // a misconfiguration (kv_read_ahead "sqlite" on Redis, whose get_many Spin cannot use):
    // the first refused get_many turns reading ahead off for the instance, nothing fails
    let Some(url) = std::env::var("SPIN_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        assert!(std::env::var_os("SPIN_TEST_REDIS_REQUIRED").is_none(), "SPIN_TEST_REDIS_REQUIRED is set but SPIN_TEST_REDIS_URL is not");
        eprintln!("SPIN_TEST_REDIS_URL is not set: this test did not run");
        return;
    };
    let app = TestApp::start_with(redis_store(&url), HashMap::from([("kv_read_ahead".to_string(), "sqlite".to_string())])).await;
    let pharmacist = token_for(Principal::Pharmacist { phar_code: "F1".into(), fixmedins_code: "P42010000001".into() });
    for _ in 0..3 {
        let check = app.get("/api/filings/check?psn_no=N1&code=X1", Some(&pharmacist)).await;
        assert_eq!(check.status, 200, "{:?}", check.body);
        assert_eq!(check.json()["valid"], false);
    }
    let doomed = token_for(Principal::Pharmacist { phar_code: "F3".into(), fixmedins_code: "P42010000001".into() });
    let revoked = app.post_json(&format!("/api/auth/tokens/{}/revocation", app_jti(&doomed)), Some(&token_for(admin())), &json!({"reason": "left"})).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    app.get("/api/filings/check?psn_no=N1&code=X1", Some(&doomed)).await.problem(401, "TOKEN_REVOKED");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sqlite_store_survives_a_host_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("kv.db");
    let admin = token_for(admin());
    let doomed = token_for(agency());
    let jti = app_jti(&doomed);

    {
        let app = TestApp::start_with(KvBackend::Sqlite(db.clone()), HashMap::new()).await;
        let answer = app
            .post_json(&format!("/api/auth/tokens/{jti}/revocation"), Some(&admin), &json!({"reason": "rotated"}))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }

    let app = TestApp::start_with(KvBackend::Sqlite(db), HashMap::new()).await;
    app.get("/api/prescriptions/status/store", Some(&doomed)).await.problem(401, "TOKEN_REVOKED");
    assert_eq!(app.get("/api/prescriptions/status/store", Some(&token_for(agency()))).await.status, 200);
}

/// The `jti` of a token the test minted itself.
fn app_jti(token: &str) -> String {
    let claims = api::auth::verify(TEST_SECRET.as_bytes(), token, chrono::Utc::now().timestamp())
        .expect("the test's own token verifies");
    claims.jti
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_come_from_the_manifest_and_can_be_overridden() {
    let overrides = HashMap::from([("region_code".to_string(), "310000".to_string())]);
    let app = TestApp::start_with_variables(overrides).await;
    assert_eq!(app.get("/api/settlements/status", None).await.json()["admdvs"], "310000");
}

#[tokio::test(flavor = "multi_thread")]
async fn production_refuses_the_development_secret_but_stays_up() {
    let overrides = HashMap::from([("token_secret".to_string(), api::config::DEV_TOKEN_SECRET.to_string())]);
    let app = TestApp::start_with_variables(overrides).await;
    assert_eq!(app.get("/api/filings/status", None).await.status, 200);
    app.get("/api/filings/status/store", Some(&dev_token_for(agency()))).await.problem(503, "SERVER_MISCONFIGURED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_secret_works_without_demo_data() {
    let secret = "a-real-production-secret-of-at-least-32-bytes";
    let overrides = HashMap::from([
        ("demo_data".to_string(), "false".to_string()),
        ("token_secret".to_string(), secret.to_string()),
    ]);
    let app = TestApp::start_with_variables(overrides).await;
    let (token, _) = api::auth::issue(secret.as_bytes(), agency(), chrono::Utc::now().timestamp(), 60).expect("token");
    assert_eq!(app.get("/api/filings/status/store", Some(&token)).await.status, 200);
    // A token signed with the development secret is worthless there.
    app.get("/api/filings/status/store", Some(&token_for(agency()))).await.problem(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_are_problems_not_crashes() {
    let app = TestApp::start().await;
    for (_, prefix) in COMPONENTS {
        // deep enough that no `{id}` route of any component takes it
        app.get(&format!("{prefix}/no/such/thing/here"), None).await.problem(404, "ROUTE_NOT_FOUND");
        let answer = app.send(app.client.delete(app.url(&format!("{prefix}/status")))).await;
        answer.problem(405, "METHOD_NOT_ALLOWED");
        assert_eq!(answer.headers["allow"], "GET");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_mistyped_bodies_are_4xx_problems() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let url = app.url("/api/auth/tokens");

    let not_json = app.client.post(&url).bearer_auth(&admin).header("content-type", "application/json").body("{\"role\": ");
    app.send(not_json).await.problem(400, "MALFORMED_JSON");

    let trailing = app.client.post(&url).bearer_auth(&admin).header("content-type", "application/json").body(r#"{"role":"agency","admdvs":"420100"} {}"#);
    app.send(trailing).await.problem(400, "MALFORMED_JSON");

    let wrong_type = app.client.post(&url).bearer_auth(&admin).header("content-type", "text/plain").body("{}");
    app.send(wrong_type).await.problem(415, "UNSUPPORTED_MEDIA_TYPE");

    let wrong_shape = app.post_json("/api/auth/tokens", Some(&admin), &json!({"role": "patient", "psn_no": 42})).await;
    let problem = wrong_shape.problem(422, "INVALID_BODY");
    assert!(problem["violations"][0]["reason"].as_str().is_some_and(|r| r.contains("integer")), "{problem}");

    let unknown_role = app.post_json("/api/auth/tokens", Some(&admin), &json!({"role": "superuser"})).await;
    unknown_role.problem(422, "INVALID_BODY");

    let bad_subject = app.post_json("/api/auth/tokens", Some(&admin), &json!({"role": "patient", "psn_no": "a:b"})).await;
    let problem = bad_subject.problem(422, "INVALID_BODY");
    assert_eq!(problem["violations"][0]["field"], "/psn_no");

    let no_reason = app.post_json("/api/auth/tokens/abc/revocation", Some(&admin), &json!({"reason": "  "})).await;
    no_reason.problem(422, "INVALID_BODY");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused_with_413_whether_declared_or_streamed() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    let url = app.url("/api/auth/tokens");
    let big = vec![b' '; 300 * 1024];

    let declared = app.client.post(&url).bearer_auth(&admin).header("content-type", "application/json").body(big.clone());
    app.send(declared).await.problem(413, "BODY_TOO_LARGE");

    // Chunked: no Content-Length, so the limit is enforced while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    let streamed = app
        .client
        .post(&url)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)));
    app.send(streamed).await.problem(413, "BODY_TOO_LARGE");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_client_cannot_make_a_component_read_a_body() {
    let app = TestApp::start().await;
    let big = vec![b'x'; 2 * 1024 * 1024];
    let request = app.client.post(app.url("/api/auth/tokens")).header("content-type", "application/json").body(big);
    // Refused for want of a token before the body is considered.
    app.send(request).await.problem(401, "TOKEN_MISSING");
}

/// Issue 16, item 7: under Spin, a response given before the request's body was read can end
/// early on a keep-alive connection. With the host's sockets as Spin's (which end every such
/// response), refusals still arrive whole on one reused connection, because the pipeline drains
/// the body first; a body beyond the route's limit is not drained, and that answer is cut.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_before_the_body_is_read_arrive_whole_on_a_reused_connection() {
    let app = TestApp::start_with_spin_sockets().await;
    let stranger = token_for(patient("N1"));
    let path = "/api/settlements/ST0000000000000000/reversal";
    let body = serde_json::json!({"reason": "x".repeat(2000)});
    for _ in 0..20 {
        app.post_json(path, Some(&stranger), &body).await.problem(403, "ROLE_FORBIDDEN");
    }
    let beyond = app.client.post(app.url(path)).bearer_auth(&stranger).header("content-type", "application/json").body(vec![b' '; 300 * 1024]);
    let cut = match beyond.send().await {
        Err(_) => true,
        Ok(answer) => answer.bytes().await.is_err(),
    };
    assert!(cut, "a body left unread ends the answer early, as under Spin");
}

/// Issue 20: the sandbox clock shifts a demo deployment's business date (integrators exercise
/// expiry and reassessment on a real deployment) and is refused in production.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_clock_shifts_a_demo_deployment_and_is_refused_in_production() {
    let sandbox = TestApp::start_with_variables(HashMap::from([("demo_data".into(), "true".into()), ("sandbox_clock".into(), "+400d".into())])).await;
    let status = sandbox.get("/api/filings/status", None).await.json();
    let shifted = rules::time::business_date(chrono::Utc::now() + chrono::Duration::days(400)).to_string();
    assert_eq!((status["business_date"].as_str(), status["sandbox_clock"].as_str()), (Some(shifted.as_str()), Some("+400d")), "{status}");
    let production = TestApp::start_with_variables(HashMap::from([("sandbox_clock".into(), "+1d".into())])).await;
    production.get("/api/filings/status", None).await.problem(503, "SERVER_MISCONFIGURED");
}
