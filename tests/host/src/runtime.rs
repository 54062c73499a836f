//! The wasmtime side: one engine per process, compiled components cached by file, and per
//! component a pool of reusable instances.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Memory, MemoryType, PoolingAllocationConfig, Store};
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::bindings::{Service, ServicePre};

use crate::host::{self, ComponentEnv, HostState};
use crate::kv::KvOps;

/// Spin's default for WASI 0.3 components (`DEFAULT_WASIP3_MAX_INSTANCE_REUSE_COUNT`).
const MAX_REQUESTS_PER_INSTANCE: u32 = 128;
/// Requests one component runs at once; more wait. Each needs its own instance, so this also
/// bounds memory.
const MAX_CONCURRENT_REQUESTS: usize = 64;

/// The process-wide engine: compiled components can only be shared within one engine.
///
/// Configured as Spin configures its own (`spin-core`'s `Config::default`), because how an
/// instance's memory is allocated and reset decides what a new instance costs, and the
/// benchmarks' ratios weigh exactly that: epoch interruption with a ticker thread, and the
/// pooling instance allocator where the machine has the address space for it, keeping the
/// first 2 MiB of a reused linear memory resident (zeroed, not unmapped).
fn engine() -> anyhow::Result<&'static Engine> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            // spin-sdk 7 components export `wasi:http/handler@0.3` with async lifts.
            config.wasm_component_model_async(true);
            config.epoch_interruption(true);
            // `SPIN_TEST_HOST_PERFMAP=1`: write /tmp/perf-<pid>.map of the compiled guest code, so
            // `perf record` / `perf report` name the components' functions (issue 19's profiles)
            if std::env::var_os("SPIN_TEST_HOST_PERFMAP").is_some() {
                config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            }
            if pooling_fits() {
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(spin_pooling()));
            }
            let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
            start_epoch_ticker(&engine);
            Ok(engine)
        })
        .as_ref()
        .map_err(|e| anyhow!("creating the wasmtime engine: {e}"))
}

/// Spin's limits for the pooling allocator, derived like its defaults from 1,000 instances.
fn spin_pooling() -> PoolingAllocationConfig {
    const MIB: usize = 1 << 20;
    const INSTANCES: u32 = 1_000;
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(INSTANCES)
        .total_memories(INSTANCES)
        .total_tables(2 * INSTANCES)
        .total_stacks(INSTANCES)
        .total_core_instances(4 * INSTANCES)
        .table_elements(100_000)
        .max_component_instance_size(10 * MIB)
        .max_core_instance_size(10 * MIB)
        .max_core_instances_per_component(200)
        .max_tables_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_module(2)
        .max_memories_per_module(2)
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(2 * MIB)
        .table_keep_resident(MIB / 2);
    pooling
}

/// Whether this machine can reserve the pooling allocator's address space (1,000 memories of
/// several GiB each, about 2^42 bytes), tested as Spin does: by creating one memory that needs a
/// reservation that large. Where it cannot (some 39-bit aarch64 and riscv64 systems), Spin and
/// this host both fall back to allocating memories on demand.
fn pooling_fits() -> bool {
    const ADDRESS_BITS: u32 = 42;
    let mut config = Config::new();
    config.wasm_memory64(true);
    config.memory_reservation(1 << ADDRESS_BITS);
    let Ok(engine) = Engine::new(&config) else { return false };
    let mut store = Store::new(&engine, ());
    // the maximum is in 64 KiB wasm pages
    let memory = MemoryType::new64(0, Some(1 << (ADDRESS_BITS - 16)));
    Memory::new(&mut store, memory).is_ok()
}

/// Spin's epoch ticker: every 10 ms, for as long as the engine lives. Guests run with the
/// epoch checks compiled in, as under Spin; no request here has a deadline.
fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::spawn(move || {
        while let Some(engine) = engine.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
}

/// Compiles the component at `path`, or returns the copy compiled earlier in this process if
/// the file has not changed since. Scenario tests load the same app many times; compiling
/// with Cranelift is by far the slowest step.
pub(crate) async fn compile(path: &Path) -> anyhow::Result<Component> {
    // Held across compilation, so apps loading concurrently (parallel tests) wait for one
    // compile of each file instead of each compiling their own copy.
    /// Canonical path -> (modification time, length, compiled component).
    type Compiled = HashMap<PathBuf, (SystemTime, u64, Component)>;
    static CACHE: OnceLock<tokio::sync::Mutex<Compiled>> = OnceLock::new();

    let path = std::fs::canonicalize(path)
        .with_context(|| format!("component {} not found (was it built?)", path.display()))?;
    let meta = std::fs::metadata(&path)?;
    let stamp = (meta.modified()?, meta.len());
    let mut cache = CACHE.get_or_init(Default::default).lock().await;
    if let Some((modified, len, component)) = cache.get(&path)
        && (*modified, *len) == stamp
    {
        return Ok(component.clone());
    }
    let engine = engine()?;
    let file = path.clone();
    let component = tokio::task::spawn_blocking(move || Component::from_file(engine, &file))
        .await?
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling {}", path.display()))?;
    cache.insert(path, (stamp.0, stamp.1, component.clone()));
    Ok(component)
}

/// The linker every component is instantiated with: WASI p2 (what Rust's std imports),
/// `wasi:http@0.3`, and the Spin imports.
pub(crate) fn linker() -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine()?);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // WASI 0.3 (as Spin ≥ 4.1 links it): the guests wait on `wasi:clocks/monotonic-clock@0.3`.
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    host::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// What the guest answered, fully buffered.
pub(crate) struct GuestResponse {
    pub(crate) response: Option<http::Response<Bytes>>,
    pub(crate) kv_ops: KvOps,
    /// The request had a body the guest answered without reading to its end.
    pub(crate) body_unread: bool,
}

/// A request body that records whether the guest read it to its end.
struct TrackedBody {
    data: Option<Bytes>,
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, ErrorCode>>> {
        let frame = self.data.take().map(|data| Ok(hyper::body::Frame::data(data)));
        if frame.is_none() {
            self.read.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }
}

struct Instance {
    store: Store<HostState>,
    service: Service,
    served: u32,
}

/// The instances of one component. Each instance serves one request at a time and is reused
/// for up to `MAX_REQUESTS_PER_INSTANCE` requests, so the guest's statics (in-instance
/// caches) live across requests as they do under Spin.
pub(crate) struct InstancePool {
    pre: ServicePre<HostState>,
    env: ComponentEnv,
    idle: Mutex<Vec<Instance>>,
    permits: Semaphore,
}

impl InstancePool {
    pub(crate) fn new(
        linker: &Linker<HostState>,
        component: &Component,
        env: ComponentEnv,
    ) -> anyhow::Result<Self> {
        let pre = linker
            .instantiate_pre(component)
            .and_then(ServicePre::new)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {:?} cannot be linked", &*env.id))?;
        Ok(Self {
            pre,
            env,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(MAX_CONCURRENT_REQUESTS),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        // Instances in the list are complete values; a panic elsewhere cannot corrupt it.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn instantiate(&self) -> anyhow::Result<Instance> {
        let mut store = Store::new(self.pre.engine(), HostState::new(self.env.clone()));
        // With epoch interruption a store needs some deadline or it traps at once; Spin sets
        // this one (a delta, so half of u64 cannot overflow) and no request runs into it.
        store.set_epoch_deadline(u64::MAX / 2);
        let service = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .with_context(|| format!("instantiating component {:?}", &*self.env.id))?;
        Ok(Instance {
            store,
            service,
            served: 0,
        })
    }

    /// Runs one request. `Ok(response: None)` means the guest failed (trapped or returned an
    /// error code); the caller answers an empty 500 as Spin does. A trapped instance is
    /// dropped, never reused.
    pub(crate) async fn handle(
        &self,
        request: http::Request<Bytes>,
    ) -> anyhow::Result<GuestResponse> {
        let _permit = self.permits.acquire().await?;
        let pooled = self.idle().pop();
        let mut instance = match pooled {
            Some(instance) => instance,
            None => self.instantiate().await?,
        };
        instance.served += 1;
        let spin = &mut instance.store.data_mut().spin;
        spin.ops = KvOps::default();
        spin.fault = self.env.faults.take();

        let read = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent_body = !request.body().is_empty();
        let request = request.map(|data| TrackedBody { data: Some(data).filter(|d| !d.is_empty()), read: read.clone() });
        let result = run_guest(&mut instance, request).await;
        let kv_ops = instance.store.data().spin.ops;
        let body_unread = sent_body && !read.load(std::sync::atomic::Ordering::Relaxed);
        if instance.store.data().spin.killed {
            // an injected fault killed the instance: its answer never leaves, it is not reused
            return Ok(GuestResponse { response: None, kv_ops, body_unread });
        }
        match result {
            Ok(response) => {
                if instance.served < MAX_REQUESTS_PER_INSTANCE {
                    self.idle().push(instance);
                }
                Ok(GuestResponse { response, kv_ops, body_unread })
            }
            Err(trap) => {
                eprintln!("component {:?} failed: {trap:?}", &*self.env.id);
                Ok(GuestResponse { response: None, kv_ops, body_unread })
            }
        }
    }
}

/// Calls the guest's `wasi:http/handler.handle` and buffers the whole response body. `Err` is
/// a trap or a host failure, after which the instance must not be reused; `Ok(None)` is an
/// error code returned by the guest.
async fn run_guest(
    instance: &mut Instance,
    request: http::Request<TrackedBody>,
) -> anyhow::Result<Option<http::Response<Bytes>>> {
    let (request, request_io) = wasmtime_wasi_http::p3::Request::from_http(request);
    let service = &instance.service;
    instance
        .store
        .run_concurrent(async |accessor| {
            let response = match service.handle(accessor, request).await? {
                Ok(response) => response,
                Err(code) => {
                    eprintln!("guest returned error code {code:?}");
                    return Ok(None);
                }
            };
            // `request_io` reports to the guest how reading the request body went.
            let response = accessor.with(|access| response.into_http(access, request_io))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|code: ErrorCode| anyhow!("reading the guest's response body: {code:?}"))?
                .to_bytes();
            Ok(Some(http::Response::from_parts(parts, body)))
        })
        .await?
}
