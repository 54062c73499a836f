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

/// The store scenario tests run on, from `SCENARIO_KV`: `memory` (the default), `sqlite` (a
/// new file per app) or a Redis URL (`redis://127.0.0.1:6379/0`; each app under a key prefix of
/// its own, so tests running at once share the server without seeing each other). CI runs the
/// suite on each. Returns the store and the temporary directory to keep while it is used.
pub fn scenario_store() -> (KvBackend, Option<tempfile::TempDir>) {
    match std::env::var("SCENARIO_KV").as_deref() {
        Err(_) | Ok("") | Ok("memory") => (KvBackend::Memory, None),
        Ok("sqlite") => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            (KvBackend::Sqlite(dir.path().join("sqlite_key_value.db")), Some(dir))
        }
        Ok(url) if url.starts_with("redis://") => (redis_store(url), None),
        Ok(other) => panic!("SCENARIO_KV={other:?} is none of memory, sqlite, redis://…"),
    }
}

/// A Redis store under a key prefix no other app of this run uses.
pub fn redis_store(url: &str) -> KvBackend {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    KvBackend::Redis { url: url.to_string(), namespace: format!("scenario:{}:{n}:", std::process::id()) }
}

/// The stores that several hosts can share, for the tests of concurrency across hosts: a
/// SQLite file always, and Redis at `SPIN_TEST_REDIS_URL` when set (CI sets it, and requires
/// it with `SPIN_TEST_REDIS_REQUIRED`). Each with the directory to keep while it is used.
pub fn shared_stores() -> Vec<(&'static str, KvBackend, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut stores = vec![("sqlite", KvBackend::Sqlite(dir.path().join("sqlite_key_value.db")), Some(dir))];
    match std::env::var("SPIN_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => stores.push(("redis", redis_store(&url), None)),
        None if std::env::var_os("SPIN_TEST_REDIS_REQUIRED").is_some() => panic!("SPIN_TEST_REDIS_REQUIRED is set but SPIN_TEST_REDIS_URL is not"),
        None => eprintln!("SPIN_TEST_REDIS_URL is not set: the Redis half of this test did not run"),
    }
    stores
}

/// A running app on 127.0.0.1 and a client for it. The server stops when this is dropped.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The store it was started on (to start a second host on the same store).
    pub kv: KvBackend,
    app: Arc<App>,
    server: JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    /// The app as production runs it, on an empty store ([`scenario_store`]): no demo data, and
    /// tokens signed with [`TEST_SECRET`] (see [`token_for`]).
    pub async fn start() -> TestApp {
        Self::start_with_variables(HashMap::new()).await
    }

    /// [`TestApp::start`] with variable overrides.
    pub async fn start_with_variables(overrides: HashMap<String, String>) -> TestApp {
        let (kv, dir) = scenario_store();
        Self::serve(kv, production_variables(overrides), dir).await
    }

    /// [`TestApp::start`] with a given store and variable overrides.
    pub async fn start_with(kv: KvBackend, overrides: HashMap<String, String>) -> TestApp {
        Self::serve(kv, production_variables(overrides), None).await
    }

    /// The app exactly as a fresh `spin up` runs it: the manifest's defaults, so demo data on
    /// and the development secret (tokens from [`dev_token_for`]).
    pub async fn start_demo() -> TestApp {
        Self::start_demo_with_variables(HashMap::new()).await
    }

    /// [`TestApp::start_demo`] with variable overrides (a sandbox clock, say).
    pub async fn start_demo_with_variables(overrides: HashMap<String, String>) -> TestApp {
        let (kv, dir) = scenario_store();
        Self::serve(kv, overrides, dir).await
    }

    /// [`TestApp::start`] with the host's sockets as Spin's (`HostOptions::spin_sockets`).
    pub async fn start_with_spin_sockets() -> TestApp {
        let (kv, dir) = scenario_store();
        Self::serve_with(HostOptions { kv, variables: production_variables(HashMap::new()), spin_sockets: true, ..HostOptions::default() }, dir).await
    }

    async fn serve(kv: KvBackend, variables: HashMap<String, String>, dir: Option<tempfile::TempDir>) -> TestApp {
        Self::serve_with(HostOptions { kv, variables, ..HostOptions::default() }, dir).await
    }

    async fn serve_with(mut options: HostOptions, dir: Option<tempfile::TempDir>) -> TestApp {
        // as a deployment on Redis is configured (runtime-config/redis.toml): Spin's Redis
        // get_many is unusable, so no reading ahead, unless a test asks for it
        if matches!(options.kv, KvBackend::Redis { .. }) {
            options.variables.entry("kv_read_ahead".into()).or_insert_with(|| "off".into());
        }
        let kv = options.kv.clone();
        let app: Arc<App> = App::load(&manifest_path(), options)
            .await
            .expect("the app loads; build the components first with scripts/test.sh or the cargo build line in README");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        let (addr, server) = app.listen(loopback).await.expect("the host listens on loopback");
        TestApp { base: format!("http://{addr}"), client: reqwest::Client::new(), kv, app, server, _dir: dir }
    }

    /// Moves the app's clock forward (the host's test control; tokens must outlive the jump:
    /// [`token_valid_for`]).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.app.advance_clock(by);
    }

    /// Sets the app's clock to the next business day at 01:00 (China Standard Time), from where
    /// it runs on: a test that moves the clock by hours stays within one business day.
    pub fn start_next_business_day(&self) {
        let tomorrow = rules::time::business_date(chrono::Utc::now()) + chrono::Days::new(1);
        let one_am = tomorrow.and_hms_opt(1, 0, 0).expect("a time of day") - chrono::Duration::hours(8);
        self.app.set_clock(std::time::SystemTime::from(one_am.and_utc()));
    }

    /// Injects a fault into the next request (the host's test control).
    pub fn inject_fault(&self, fault: spin_test_host::Fault) {
        self.app.inject_fault(fault);
    }

    /// How many injected faults struck so far.
    pub fn fault_strikes(&self) -> u64 {
        self.app.fault_strikes()
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
    /// The app as [`TestApp::start`] runs it (production-like, empty in-memory store: the
    /// key-value operations it counts are the same on every store).
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

/// A second host process serving the same app on the same store as a [`TestApp`], as a second
/// Spin instance behind a load balancer shares one Redis or SQLite file: it has its own
/// connection to the store and its own component instances and caches. It is this test binary
/// run again with only [`serve_as_second_host`]'s test selected; killed when dropped.
pub struct SecondHost {
    pub base: String,
    child: std::process::Child,
}

/// What the second host prints once it listens.
const SECOND_HOST_LISTENING: &str = "SECOND_HOST_LISTENING ";
/// The second host's store, passed in its environment.
const SECOND_HOST_KV: &str = "SCENARIO_SECOND_HOST_KV";

impl SecondHost {
    /// Starts a host process on `kv` (a SQLite file or a Redis store; an in-memory store cannot be
    /// shared) with the variables of [`TestApp::start`]. `test_path` is the full name of the
    /// test that calls [`serve_as_second_host`] in this test binary.
    pub fn spawn(kv: &KvBackend, test_path: &str) -> SecondHost {
        use std::io::BufRead;
        let kv = match kv {
            KvBackend::Sqlite(path) => format!("sqlite:{}", path.display()),
            KvBackend::Redis { url, namespace } => format!("{url}#{namespace}"),
            KvBackend::Memory => panic!("an in-memory store cannot be shared by two processes"),
        };
        let exe = std::env::current_exe().expect("the test binary");
        let mut child = std::process::Command::new(exe)
            .args(["--exact", test_path, "--ignored", "--nocapture", "--test-threads=1"])
            .env(SECOND_HOST_KV, kv)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the second host process starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                // the test harness may print the test's name on the same line first
                Some(Ok(line)) => match line.split_once(SECOND_HOST_LISTENING) {
                    Some((_, base)) => break base.trim().to_string(),
                    None => continue,
                },
                _ => panic!("the second host process ended before it listened"),
            }
        };
        SecondHost { base, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for SecondHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of the second host process's test: serves the app on the store named in its
/// environment until the parent closes its standard input (or kills it). Without that
/// environment (the test run on its own) it does nothing.
pub async fn serve_as_second_host() {
    let Ok(kv) = std::env::var(SECOND_HOST_KV) else { return };
    let kv = match kv.strip_prefix("sqlite:") {
        Some(path) => KvBackend::Sqlite(PathBuf::from(path)),
        None => {
            let (url, namespace) = kv.split_once('#').expect("url#namespace");
            KvBackend::Redis { url: url.to_string(), namespace: namespace.to_string() }
        }
    };
    let app = TestApp::start_with(kv, HashMap::new()).await;
    println!("{SECOND_HOST_LISTENING}{}", app.base);
    // the parent holds our stdin: it closing (the parent done or gone) ends this host
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await
    .expect("stdin watcher");
}
