//! Runs the workspace's own components through the host, via the workspace `spin.toml`.
//!
//! The components must be built first (`cargo build --target wasm32-wasip2 --release -p <name>`,
//! which the project's test script does); when they are not, these tests say so and pass.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use spin_test_host::{App, HostOptions, KvBackend};

/// The status endpoint each component serves, by component.
const STATUS_PATHS: [(&str, &str); 6] = [
    ("catalogue", "/api/catalogue/status"),
    ("filing", "/api/filings/status"),
    ("prescription", "/api/prescriptions/status"),
    ("settlement", "/api/settlements/status"),
    ("monitoring", "/api/monitoring/status"),
    ("web", "/app/"),
];

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Loads the workspace app, or `None` (with a message) when a component is not built yet.
async fn load_app(options: HostOptions) -> Option<Arc<App>> {
    let dir = workspace_dir();
    for (component, _) in STATUS_PATHS {
        let wasm = dir.join(format!("target/wasm32-wasip2/release/{component}.wasm"));
        if !wasm.exists() {
            eprintln!(
                "SKIPPED: {} is not built; run `cargo build --target wasm32-wasip2 --release -p {component}`",
                wasm.display()
            );
            return None;
        }
    }
    let started = Instant::now();
    let app = App::load(&dir.join("spin.toml"), options)
        .await
        .expect("the workspace app loads");
    eprintln!("loaded the workspace app in {:?}", started.elapsed());
    Some(app)
}

fn client() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50000))
}

fn get(path: &str) -> http::Request<Bytes> {
    http::Request::get(path)
        .header(http::header::HOST, "localhost:3000")
        .body(Bytes::new())
        .expect("valid request")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_component_answers_its_status_route() {
    let Some(app) = load_app(HostOptions::default()).await else {
        return;
    };
    for (component, path) in STATUS_PATHS {
        let started = Instant::now();
        let response = app.handle(get(path), client()).await.expect("handled");
        eprintln!(
            "{component}: {path} -> {} in {:?}",
            response.status,
            started.elapsed()
        );
        assert_eq!(
            response.status,
            http::StatusCode::OK,
            "{component}: {:?}",
            response.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unrouted_paths_get_an_empty_404() {
    let Some(app) = load_app(HostOptions::default()).await else {
        return;
    };
    for path in ["/nothing-here", "/api", "/api/unknown/status", "/api/catalogues"] {
        let response = app.handle(get(path), client()).await.expect("handled");
        assert_eq!(response.status, http::StatusCode::NOT_FOUND, "{path}");
        assert!(response.body.is_empty(), "{path}");
    }
    // the root is the web app's (issue 18): a redirect to its pages
    let root = app.handle(get("/"), client()).await.expect("handled");
    assert_eq!(root.status, http::StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_concurrent_requests_over_http() {
    let dir = std::env::temp_dir().join(format!("spin-test-host-http-{}", std::process::id()));
    let options = HostOptions {
        kv: KvBackend::Sqlite(dir.join("kv.db")),
        kv_op_header: true,
        ..HostOptions::default()
    };
    let Some(app) = load_app(options).await else {
        return;
    };
    let (addr, server) = app
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("listens");

    // Plain HTTP/1.1 over TCP, one connection per request, so no client crate is needed.
    let requests = (0..40).map(|i| {
        let (_, path) = STATUS_PATHS[i % STATUS_PATHS.len()];
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects");
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.expect("sends");
            let mut response = String::new();
            stream
                .read_to_string(&mut response)
                .await
                .expect("receives");
            response
        })
    });
    for request in requests {
        let response = request.await.expect("request task");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("x-host-kv-ops: open="),
            "{response}"
        );
    }
    server.abort();
}
