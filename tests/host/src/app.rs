//! A loaded application: routes requests to component instance pools, in process or over HTTP.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::host::{ComponentEnv, Fault, FaultSlot, ShiftedClock};
use crate::kv::{KvBackend, KvOps, KvStore, SqliteJournal};
use crate::manifest::Manifest;
use crate::routing::{RouteDisplay, RouteMatch, Router};
use crate::runtime::{self, InstancePool};
use crate::variables::ResolvedVariables;

/// The response header the `serve` binary adds with `--kv-op-header`.
pub const KV_OPS_HEADER: &str = "x-host-kv-ops";

/// Spin answers this path itself, before routing.
const HEALTH_PATH: &str = "/.well-known/spin/health";

/// How to run an app.
#[derive(Clone, Debug)]
pub struct HostOptions {
    pub kv: KvBackend,
    /// Application variable values that win over `SPIN_VARIABLE_*` and defaults.
    pub variables: HashMap<String, String>,
    /// Add `x-host-kv-ops` to responses served by [`App::listen`]. Spin has no such header.
    pub kv_op_header: bool,
    /// Print one line per request served by [`App::listen`] to stderr.
    pub log_requests: bool,
    /// Serve sockets as Spin does: no `TCP_NODELAY`, and a response's head written before its
    /// body (Spin streams the body after the head), so that a reused connection stalls on
    /// Nagle's algorithm and the client's delayed ACK as it does in front of Spin; and a
    /// response given without reading the request's body ends early (Spin cut 57 of 4,601 such
    /// responses on keep-alive connections; here every one, so a test sees it at once).
    pub spin_sockets: bool,
    /// How a SQLite store keeps its file: as Spin (the default), or in WAL mode.
    pub sqlite_journal: SqliteJournal,
}

impl Default for HostOptions {
    /// In-memory key-value store, no overrides, no extra header, quiet.
    fn default() -> Self {
        Self {
            kv: KvBackend::Memory,
            variables: HashMap::new(),
            kv_op_header: false,
            log_requests: false,
            spin_sockets: false,
            sqlite_journal: SqliteJournal::Spin,
        }
    }
}

/// A response, fully buffered, with the key-value operations the request performed.
#[derive(Clone, Debug)]
pub struct HostResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub kv_ops: KvOps,
    /// The request had a body the guest answered without reading to its end.
    pub request_body_unread: bool,
}

impl HostResponse {
    /// Spin's answer when nothing matched or the guest failed: a status and no body.
    fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            kv_ops: KvOps::default(),
            request_body_unread: false,
        }
    }
}

/// A loaded application: manifest, routes, and per component a compiled component with its
/// instance pool.
pub struct App {
    manifest: Manifest,
    router: Router,
    pools: HashMap<String, InstancePool>,
    options: HostOptions,
    clock: ShiftedClock,
    faults: FaultSlot,
}

impl App {
    /// Reads the manifest, resolves variables, opens the key-value store and compiles every
    /// component that a route uses (each file once per process).
    pub async fn load(manifest_path: &Path, options: HostOptions) -> anyhow::Result<Arc<App>> {
        let manifest = Manifest::load(manifest_path)?;
        let variables = Arc::new(ResolvedVariables::resolve(
            &manifest,
            &options.variables,
            |key| std::env::var(key).ok(),
        )?);
        let (router, shadowed) = Router::build(&manifest.http_triggers)?;
        for trigger in shadowed {
            eprintln!(
                "warning: route {:?} of component {:?} is a duplicate and will never be used",
                trigger.route, trigger.component
            );
        }
        let kv = KvStore::open_with(&options.kv, options.sqlite_journal).await?;
        let clock = ShiftedClock::default();
        let faults = FaultSlot::default();
        let linker = runtime::linker()?;

        let routed: HashSet<&str> = manifest
            .http_triggers
            .iter()
            .map(|t| t.component.as_str())
            .collect();
        let mut pools = HashMap::new();
        for (id, decl) in manifest
            .components
            .iter()
            .filter(|(id, _)| routed.contains(id.as_str()))
        {
            let component = runtime::compile(&manifest.source_path(decl)).await?;
            let env = ComponentEnv {
                clock: clock.clone(),
                id: id.as_str().into(),
                allowed_stores: Arc::new(decl.key_value_stores.iter().cloned().collect()),
                kv: kv.clone(),
                variables: variables.clone(),
                faults: faults.clone(),
            };
            pools.insert(id.clone(), InstancePool::new(&linker, &component, env)?);
        }
        Ok(Arc::new(App {
            manifest,
            router,
            pools,
            options,
            clock,
            faults,
        }))
    }

    /// Moves the clock every guest reads forward by `by`, for tests of what happens later
    /// (expiry). Spin has nothing like it; the app cannot tell.
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Injects `fault` into the next request any component handles (tests of recovery: an
    /// operation failing, an instance dying mid-request). Spin has nothing like it.
    pub fn inject_fault(&self, fault: Fault) {
        self.faults.arm(fault);
    }

    /// How many injected faults struck so far (one armed for a request with fewer operations
    /// than its number did not).
    pub fn fault_strikes(&self) -> u64 {
        self.faults.strikes()
    }

    /// Sets the clock every guest reads to `to`, from where it runs on (benchmarks pin the
    /// business day). Spin has nothing like it; the app cannot tell.
    pub fn set_clock(&self, to: std::time::SystemTime) {
        self.clock.set(to);
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Routes in the order Spin lists them at startup.
    pub fn routes(&self) -> impl Iterator<Item = RouteDisplay<'_>> {
        self.router.routes()
    }

    /// Handles one request in process, as Spin's HTTP trigger would. A request without a
    /// `Host` header or absolute URI is treated as addressed to `localhost`.
    pub async fn handle(
        &self,
        request: Request<Bytes>,
        client_addr: SocketAddr,
    ) -> anyhow::Result<HostResponse> {
        let path = request.uri().path().to_owned();
        if path == HEALTH_PATH {
            let mut response = HostResponse::empty(StatusCode::OK);
            response.body = Bytes::from_static(b"OK");
            return Ok(response);
        }
        let Some(route) = self.router.route(&path) else {
            return Ok(HostResponse::empty(StatusCode::NOT_FOUND));
        };
        let pool = self
            .pools
            .get(&route.component)
            .with_context(|| format!("no instance pool for component {:?}", route.component))?;
        crate::kv::trace("request", format_args!("{} {path}", request.method()));
        let request = present_to_guest(request, &route, client_addr)?;
        let outcome = pool.handle(request).await?;
        Ok(match outcome.response {
            Some(response) => {
                let (parts, body) = response.into_parts();
                HostResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                    kv_ops: outcome.kv_ops,
                    request_body_unread: outcome.body_unread,
                }
            }
            None => HostResponse {
                kv_ops: outcome.kv_ops,
                request_body_unread: outcome.body_unread,
                ..HostResponse::empty(StatusCode::INTERNAL_SERVER_ERROR)
            },
        })
    }

    /// Serves the app over HTTP/1.1 on `addr` (port 0 picks a free port) until the returned
    /// task is aborted. Returns the bound address.
    pub async fn listen(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let bound = listener.local_addr()?;
        let app = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, client_addr) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        eprintln!("accept failed: {err}");
                        continue;
                    }
                };
                // Spin does not set TCP_NODELAY. We do unless told to behave as Spin, so that
                // small responses are not held back by Nagle's algorithm interacting with
                // delayed ACKs (~40 ms stalls on keep-alive connections).
                if !app.options.spin_sockets
                    && let Err(err) = stream.set_nodelay(true)
                {
                    eprintln!("setting TCP_NODELAY failed: {err}");
                }
                let app = app.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let app = app.clone();
                        async move { Ok::<_, Infallible>(app.serve_one(request, client_addr).await) }
                    });
                    if let Err(err) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        eprintln!("connection from {client_addr} failed: {err}");
                    }
                });
            }
        });
        Ok((bound, task))
    }

    /// One request over HTTP: buffer the body, handle, and turn failures into an empty 500.
    async fn serve_one(
        &self,
        request: Request<Incoming>,
        client_addr: SocketAddr,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let (parts, body) = request.into_parts();
        let result = match body.collect().await {
            Ok(body) => {
                self.handle(Request::from_parts(parts, body.to_bytes()), client_addr)
                    .await
            }
            Err(err) => Err(anyhow::Error::new(err).context("reading the request body")),
        };
        let response = result.unwrap_or_else(|err| {
            eprintln!("{method} {path}: {err:#}");
            HostResponse::empty(StatusCode::INTERNAL_SERVER_ERROR)
        });
        if self.options.log_requests {
            eprintln!(
                "{method} {path} {} {:.1}ms",
                response.status.as_u16(),
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        let spin = self.options.spin_sockets;
        let body = ResponseBody { data: Some(response.body), hold_once: spin, cut: spin && response.request_body_unread };
        let mut http_response = Response::new(body);
        *http_response.status_mut() = response.status;
        *http_response.headers_mut() = response.headers;
        if self.options.kv_op_header
            && let Ok(value) = HeaderValue::from_str(&response.kv_ops.to_string())
        {
            http_response
                .headers_mut()
                .insert(HeaderName::from_static(KV_OPS_HEADER), value);
        }
        http_response
    }
}

/// A buffered response body, given to hyper at once, or (Spin's sockets) after hyper has written
/// the head on its own: Spin writes a response's head and then streams its body, two writes
/// that Nagle's algorithm holds apart on a reused connection.
pub(crate) struct ResponseBody {
    data: Option<Bytes>,
    hold_once: bool,
    /// End the response after its head, as Spin does to some answered before their request's
    /// body was read (the client sees a truncated chunked body: "invalid chunk").
    cut: bool,
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if self.hold_once {
            // not ready yet: hyper flushes the head meanwhile
            self.hold_once = false;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        if std::mem::take(&mut self.cut) {
            self.data = None;
            return std::task::Poll::Ready(Some(Err(std::io::Error::other("response ended early: the request body was not read"))));
        }
        std::task::Poll::Ready(self.data.take().map(|data| Ok(hyper::body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }
}

/// Rewrites the request the way Spin's HTTP trigger presents it to a WASI 0.3 component: an
/// absolute `http://<host>/<path>?<query>` URI, and the `spin-*` headers describing the match.
fn present_to_guest(
    request: Request<Bytes>,
    route: &RouteMatch,
    client_addr: SocketAddr,
) -> anyhow::Result<Request<Bytes>> {
    let (mut parts, body) = request.into_parts();
    let host = match parts.headers.get(HOST) {
        Some(value) => value
            .to_str()
            .context("'Host' header is not valid UTF-8")?
            .to_owned(),
        None => parts
            .uri
            .authority()
            .map_or_else(|| "localhost".to_owned(), |a| a.to_string()),
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    // Spin always says `http` here for a plain-HTTP listener.
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(host.as_str())
        .path_and_query(path_and_query.as_str())
        .build()
        .context("building the request URI")?;

    // Spin strips `Connection` before handing the request over.
    parts.headers.remove(http::header::CONNECTION);
    let mut spin_headers = vec![
        ("spin-path-info".to_owned(), route.path_info.clone()),
        (
            "spin-full-url".to_owned(),
            format!("http://{host}{path_and_query}"),
        ),
        ("spin-matched-route".to_owned(), route.based_route.clone()),
        ("spin-base-path".to_owned(), "/".to_owned()),
        (
            "spin-raw-component-route".to_owned(),
            route.raw_route.clone(),
        ),
        (
            "spin-component-route".to_owned(),
            route.component_route().to_owned(),
        ),
        ("spin-client-addr".to_owned(), client_addr.to_string()),
    ];
    for (name, value) in &route.named {
        spin_headers.push((
            format!("spin-path-match-{}", name.to_ascii_lowercase()),
            value.clone(),
        ));
    }
    for (name, value) in spin_headers {
        // Like Spin, skip a header that cannot be represented rather than fail the request.
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            parts.headers.insert(name, value);
        }
    }
    Ok(Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::HttpTrigger;

    #[test]
    fn presents_uri_and_spin_headers_like_spin() {
        let (router, _) = Router::build(&[HttpTrigger {
            route: "/foo/:userid/...".into(),
            component: "c".into(),
        }])
        .expect("valid route");
        let route = router.route("/foo/42/bar").expect("match");
        let request = Request::post("/foo/42/bar?key1=value1")
            .header(HOST, "fermyon.dev")
            .header("connection", "keep-alive")
            .body(Bytes::new())
            .expect("valid request");
        let client: SocketAddr = "127.0.0.1:8777".parse().expect("valid addr");
        let presented = present_to_guest(request, &route, client).expect("presentable");
        assert_eq!(
            presented.uri().to_string(),
            "http://fermyon.dev/foo/42/bar?key1=value1"
        );
        let h = |name: &str| {
            presented
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            h("spin-full-url").as_deref(),
            Some("http://fermyon.dev/foo/42/bar?key1=value1")
        );
        assert_eq!(h("spin-path-info").as_deref(), Some("/bar"));
        assert_eq!(h("spin-matched-route").as_deref(), Some("/foo/:userid/..."));
        assert_eq!(h("spin-base-path").as_deref(), Some("/"));
        assert_eq!(
            h("spin-raw-component-route").as_deref(),
            Some("/foo/:userid/...")
        );
        assert_eq!(h("spin-component-route").as_deref(), Some("/foo/:userid"));
        assert_eq!(h("spin-client-addr").as_deref(), Some("127.0.0.1:8777"));
        assert_eq!(h("spin-path-match-userid").as_deref(), Some("42"));
        assert_eq!(h("connection"), None);
    }
}
