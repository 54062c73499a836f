//! What every scenario needs: the app from the workspace's `spin.toml`, served by the test host
//! on a loopback port, a plain HTTP client, and tokens minted the way `issue-token` mints them.

use api::Principal;
use spin_test_host::{App, HostOptions, KvBackend};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The workspace's manifest: the same `spin.toml` and `.wasm` files `spin up` loads.
pub fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

/// A running app on 127.0.0.1 and a client for it. The server stops when this is dropped.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    app: Arc<App>,
    server: JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    /// The app as production runs it, on an empty in-memory store: no demo data, and tokens
    /// signed with [`TEST_SECRET`] (see [`token_for`]).
    pub async fn start() -> TestApp {
        Self::start_with(KvBackend::Memory, HashMap::new()).await
    }

    /// [`TestApp::start`] with a given store and variable overrides.
    pub async fn start_with(kv: KvBackend, overrides: HashMap<String, String>) -> TestApp {
        Self::serve(kv, production_variables(overrides)).await
    }

    /// The app exactly as a fresh `spin up` runs it: the manifest's defaults, so demo data on
    /// and the development secret (tokens from [`dev_token_for`]).
    pub async fn start_demo() -> TestApp {
        Self::serve(KvBackend::Memory, HashMap::new()).await
    }

    async fn serve(kv: KvBackend, variables: HashMap<String, String>) -> TestApp {
        let options = HostOptions { kv, variables, ..HostOptions::default() };
        let app: Arc<App> = App::load(&manifest_path(), options)
            .await
            .expect("the app loads; build the components first with scripts/test.sh or the cargo build line in README");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        let (addr, server) = app.listen(loopback).await.expect("the host listens on loopback");
        TestApp { base: format!("http://{addr}"), client: reqwest::Client::new(), app, server }
    }

    /// Moves the app's clock forward (the host's test control; tokens must outlive the jump:
    /// [`token_valid_for`]).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.app.advance_clock(by);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Answer::from(request.send().await.expect("request reaches the host")).await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> Answer {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Answer::from(request.send().await.expect("request reaches the host")).await
    }

    /// Sends any request built from this app's client.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        Answer::from(request.send().await.expect("request reaches the host")).await
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    async fn from(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("response body is readable");
        Answer { status, headers, body }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {} body is not JSON ({e}): {:?}", self.status, String::from_utf8_lossy(&self.body)))
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts this is a problem document with `status` and `code`, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.content_type(), "application/problem+json");
        let problem = self.json();
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status);
        assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
        problem
    }
}

/// The token secret of [`TestApp::start`]: a production-like deployment (demo data off refuses
/// the development secret).
pub const TEST_SECRET: &str = "scenario-tests-secret-of-at-least-32-bytes";

/// Variables of a production-like deployment, then `overrides`.
fn production_variables(overrides: HashMap<String, String>) -> HashMap<String, String> {
    let mut variables = HashMap::from([
        ("demo_data".to_string(), "false".to_string()),
        ("token_secret".to_string(), TEST_SECRET.to_string()),
    ]);
    variables.extend(overrides);
    variables
}

/// A token for [`TestApp::start`]'s apps, valid for an hour.
pub fn token_for(principal: Principal) -> String {
    token_valid_for(principal, 3600)
}

pub fn token_valid_for(principal: Principal, ttl_seconds: i64) -> String {
    signed(TEST_SECRET, principal, ttl_seconds)
}

/// A token issued at `issued_at` for an hour: for an app whose clock was moved on
/// ([`TestApp::advance_clock`]) further than a token may live.
pub fn token_issued_at(principal: Principal, issued_at: chrono::DateTime<chrono::Utc>) -> String {
    let (token, _) = api::auth::issue(TEST_SECRET.as_bytes(), principal, issued_at.timestamp(), 3600).expect("test principals are valid");
    token
}

/// A token signed with the development secret from `spin.toml`, as `issue-token` mints them
/// for a local `spin up` ([`TestApp::start_demo`]).
pub fn dev_token_for(principal: Principal) -> String {
    signed(api::config::DEV_TOKEN_SECRET, principal, 3600)
}

fn signed(secret: &str, principal: Principal, ttl_seconds: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let (token, _) = api::auth::issue(secret.as_bytes(), principal, now, ttl_seconds).expect("test principals are valid");
    token
}

pub fn admin() -> Principal {
    Principal::Admin { operator: "ops-1".into() }
}

pub fn agency() -> Principal {
    Principal::Agency { admdvs: "420100".into() }
}

pub fn patient(psn_no: &str) -> Principal {
    Principal::Patient { psn_no: psn_no.into() }
}

/// The four components, with their route prefix.
pub const COMPONENTS: [(&str, &str); 4] = [
    ("catalogue", "/api/catalogue"),
    ("filing", "/api/filings"),
    ("prescription", "/api/prescriptions"),
    ("settlement", "/api/settlements"),
];

/// The app served in process (`App::handle`, no socket), for tests that read what the host
/// measures per request, such as the key-value operations a request performed.
pub struct InProcessApp {
    pub app: Arc<App>,
}

impl InProcessApp {
    /// The app as [`TestApp::start`] runs it (production-like, empty in-memory store).
    pub async fn start() -> InProcessApp {
        let options = HostOptions { variables: production_variables(HashMap::new()), ..HostOptions::default() };
        let app = App::load(&manifest_path(), options)
            .await
            .expect("the app loads; build the components first with scripts/test.sh or the cargo build line in README");
        InProcessApp { app }
    }

    /// Sends one request; `body` is `(content type, bytes)`.
    pub async fn send(
        &self,
        method: http::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> spin_test_host::HostResponse {
        let mut request = http::Request::builder().method(method).uri(format!("http://localhost{path}"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let bytes = match body {
            Some((content_type, bytes)) => {
                request = request.header("content-type", content_type);
                bytes
            }
            None => Vec::new(),
        };
        let request = request.body(bytes::Bytes::from(bytes)).expect("a well-formed test request");
        let client: SocketAddr = "127.0.0.1:40000".parse().expect("loopback address");
        self.app.handle(request, client).await.expect("the host handles the request")
    }
}
