//! Per-instance host state and the Spin-specific imports: `spin:key-value@3.0.0`,
//! `spin:variables@3.0.0` and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};
use wasmtime_wasi::clocks::WallClock;
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p3::{WasiHttpCtxView, WasiHttpView};

use crate::kv::{KvError, KvOps, KvStore};
use crate::variables::{ResolvedVariables, VariableError};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-test-host:host/spin-imports",
        imports: {
            // Creating the stream and future handles can fail (table full): that is a trap.
            "spin:key-value/key-value.[method]store.get-keys": async | store | trappable,
            // The wasi:keyvalue functions are synchronous to the guest, but the host awaits
            // SQLite on the blocking pool.
            default: async,
        },
        with: {
            "spin:key-value/key-value.store": super::OpenStore,
            "wasi:keyvalue/store.bucket": super::OpenStore,
            "wasi:keyvalue/atomics.cas": super::PendingCas,
        },
    });
}

use bindings::spin::key_value::key_value as spin_kv;
use bindings::spin::variables::variables as spin_vars;
use bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// An open key-value store (`spin:key-value` store or `wasi:keyvalue` bucket).
pub struct OpenStore {
    label: String,
}

/// A `wasi:keyvalue/atomics.cas` handle: the value the key held when it was created, which
/// `swap` requires to be still there.
pub struct PendingCas {
    label: String,
    key: String,
    expected: Option<Vec<u8>>,
}

/// What one component's instances share: built once per component at load.
#[derive(Clone)]
pub(crate) struct ComponentEnv {
    pub(crate) clock: ShiftedClock,
    pub(crate) id: Arc<str>,
    pub(crate) allowed_stores: Arc<HashSet<String>>,
    pub(crate) kv: KvStore,
    pub(crate) variables: Arc<ResolvedVariables>,
    pub(crate) faults: FaultSlot,
}

/// The wall clock the guests read: the system's, moved by what a test asked for
/// ([`crate::App::advance_clock`], [`crate::App::set_clock`]), shared by every instance of the
/// app. Spin has no such control; tests use it to see what the app answers days later (an
/// expired prescription, a filing after its year) without waiting, and benchmarks to run on a
/// fixed business day of the catalogue they import, whatever the date.
#[derive(Clone, Default)]
pub(crate) struct ShiftedClock {
    offset_ms: Arc<AtomicI64>,
}

impl ShiftedClock {
    pub(crate) fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// From now on the clock reads `to`, and runs on from there.
    pub(crate) fn set(&self, to: SystemTime) {
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.offset_ms.store(ms(to) - ms(SystemTime::now()), Ordering::Relaxed);
    }
}

impl HostWallClock for ShiftedClock {
    fn resolution(&self) -> Duration {
        WallClock::default().resolution()
    }

    fn now(&self) -> Duration {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        let system = WallClock::default().now();
        let magnitude = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 { system + magnitude } else { system.saturating_sub(magnitude) }
    }
}

/// A failure the host injects into one request, for tests of recovery (Spin has no such
/// thing): at the request's `n`-th key-value data operation (opening a store not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Operation `n` fails with a store error and does not happen; the request goes on.
    FailOp(u64),
    /// The instance dies just before operation `n`: neither it nor any later operation of the
    /// request reaches the store, the instance is discarded and the client gets an empty 500,
    /// as when a Spin instance is killed mid-request.
    KillAtOp(u64),
}

/// The fault armed for the next request any component of the app handles, and how many
/// injected faults struck.
#[derive(Clone, Default)]
pub(crate) struct FaultSlot(Arc<(std::sync::Mutex<Option<Fault>>, AtomicU64)>);

impl FaultSlot {
    pub(crate) fn arm(&self, fault: Fault) {
        *self.0.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
    }

    pub(crate) fn take(&self) -> Option<Fault> {
        self.0.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn struck(&self) {
        self.0.1.fetch_add(1, Ordering::Relaxed);
    }

    /// Faults that struck so far (a request with fewer operations than the fault's is spared).
    pub(crate) fn strikes(&self) -> u64 {
        self.0.1.load(Ordering::Relaxed)
    }
}

/// The Spin-specific state of one instance.
pub(crate) struct SpinState {
    env: ComponentEnv,
    /// Our own resources (stores, buckets, CAS handles), apart from WASI's table.
    resources: ResourceTable,
    /// Operations since the last reset; the pool resets it at the start of each request,
    /// which is exact because an instance serves one request at a time.
    pub(crate) ops: KvOps,
    /// The fault injected into the current request, if any, and whether it killed the instance.
    pub(crate) fault: Option<Fault>,
    pub(crate) killed: bool,
}

impl SpinState {
    /// Counts a data operation and applies the request's fault: `Err` when the operation must
    /// not reach the store.
    fn count(&mut self, count: fn(&mut KvOps)) -> Result<(), KvError> {
        count(&mut self.ops);
        let n = self.ops.total() - self.ops.open;
        match self.fault {
            Some(Fault::FailOp(at)) if n == at => {
                self.env.faults.struck();
                Err(KvError(format!("injected fault at operation {n}")))
            }
            Some(Fault::KillAtOp(at)) if n >= at => {
                if !self.killed {
                    self.env.faults.struck();
                }
                self.killed = true;
                Err(KvError(format!("instance killed before operation {n}")))
            }
            _ => Ok(()),
        }
    }
}

/// Everything a component instance's `Store` holds.
pub(crate) struct HostState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) spin: SpinState,
}

impl HostState {
    pub(crate) fn new(env: ComponentEnv) -> Self {
        Self {
            table: ResourceTable::new(),
            // The guest's stdout/stderr go to ours, as with `spin up`; no environment, args or
            // preopened directories, as the manifest grants none.
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().wall_clock(env.clock.clone()).build(),
            http: WasiHttpCtx::new(),
            spin: SpinState {
                env,
                resources: ResourceTable::new(),
                ops: KvOps::default(),
                fault: None,
                killed: false,
            },
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: wasmtime_wasi_http::p3::default_hooks(),
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// Adds the Spin-specific imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    fn spin(state: &mut HostState) -> &mut SpinState {
        &mut state.spin
    }
    bindings::SpinImports::add_to_linker::<HostState, Spin>(linker, spin)
}

/// The `HasData` marker that projects a `HostState` onto its `SpinState`.
struct Spin;

impl HasData for Spin {
    type Data<'a> = &'a mut SpinState;
}

impl SpinState {
    fn store_label(&self, store: &Resource<OpenStore>) -> Option<String> {
        self.resources.get(store).ok().map(|s| s.label.clone())
    }

    fn open_store(&mut self, label: String) -> Result<Resource<OpenStore>, OpenError> {
        self.ops.open += 1;
        // Labels are checked against the defined stores at load, so an allowed label exists.
        if !self.env.allowed_stores.contains(&label) {
            return Err(OpenError::AccessDenied);
        }
        self.resources
            .push(OpenStore { label })
            .map_err(|_| OpenError::TableFull)
    }
}

enum OpenError {
    AccessDenied,
    TableFull,
}

/// Runs `op` against the store behind `store`, counting it with `count`. The store label and
/// KV handle are copied out first so the host state is not borrowed across the await.
async fn with_spin_store<T, R>(
    accessor: &Accessor<T, Spin>,
    store: Resource<OpenStore>,
    count: fn(&mut KvOps),
    op: impl AsyncFnOnce(KvStore, String) -> Result<R, KvError>,
) -> Result<R, spin_kv::Error> {
    let (kv, label) = accessor.with(|mut access| {
        let state = access.get();
        let allowed = state.count(count);
        allowed.map(|()| (state.env.kv.clone(), state.store_label(&store)))
    }).map_err(|e| spin_kv::Error::Other(e.0))?;
    let label = label.ok_or(spin_kv::Error::NoSuchStore)?;
    op(kv, label).await.map_err(|e| spin_kv::Error::Other(e.0))
}

impl spin_kv::Host for SpinState {}

impl spin_kv::HostStore for SpinState {
    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.resources.delete(store)?;
        Ok(())
    }
}

impl<T> spin_kv::HostStoreWithStore<T> for Spin {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> Result<Resource<OpenStore>, spin_kv::Error> {
        accessor.with(|mut access| {
            access.get().open_store(label).map_err(|e| match e {
                OpenError::AccessDenied => spin_kv::Error::AccessDenied,
                OpenError::TableFull => spin_kv::Error::StoreTableFull,
            })
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, spin_kv::Error> {
        with_spin_store(
            accessor,
            store,
            |o| o.get += 1,
            async |kv, label| kv.get(label, key).await,
        )
        .await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), spin_kv::Error> {
        with_spin_store(
            accessor,
            store,
            |o| o.set += 1,
            async |kv, label| kv.set(label, key, value).await,
        )
        .await
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<(), spin_kv::Error> {
        with_spin_store(
            accessor,
            store,
            |o| o.delete += 1,
            async |kv, label| kv.delete(label, key).await,
        )
        .await
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, spin_kv::Error> {
        with_spin_store(
            accessor,
            store,
            |o| o.exists += 1,
            async |kv, label| kv.exists(label, key).await,
        )
        .await
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<(
        StreamReader<String>,
        FutureReader<Result<(), spin_kv::Error>>,
    )> {
        let result = with_spin_store(
            accessor,
            store,
            |o| o.get_keys += 1,
            async |kv, label| kv.keys(label).await,
        )
        .await;
        // The keys are all read before streaming (Spin's SQLite store buffers them too); an
        // error arrives through the future, after an empty stream.
        let (keys, outcome) = match result {
            Ok(keys) => (keys, Ok(())),
            Err(err) => (Vec::new(), Err(err)),
        };
        accessor.with(|mut access| {
            let keys = StreamReader::new(&mut access, keys)?;
            let outcome =
                FutureReader::new(
                    &mut access,
                    async move { Ok::<_, wasmtime::Error>(outcome) },
                )?;
            Ok((keys, outcome))
        })
    }
}

impl spin_vars::Host for SpinState {}

impl<T> spin_vars::HostWithStore<T> for Spin {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, spin_vars::Error> {
        accessor.with(|mut access| {
            let state = access.get();
            state
                .env
                .variables
                .get(&state.env.id, &name)
                .map_err(|e| match e {
                    VariableError::InvalidName(msg) => spin_vars::Error::InvalidName(msg),
                    VariableError::Undefined(msg) => spin_vars::Error::Undefined(msg),
                })
        })
    }
}

fn wasi_err(err: KvError) -> wasi_kv::Error {
    wasi_kv::Error::Other(err.0)
}

impl SpinState {
    /// The label and KV handle behind a bucket, after counting the operation.
    fn bucket(
        &mut self,
        bucket: &Resource<OpenStore>,
        count: fn(&mut KvOps),
    ) -> Result<(KvStore, String), wasi_kv::Error> {
        self.count(count).map_err(wasi_err)?;
        let label = self
            .store_label(bucket)
            .ok_or(wasi_kv::Error::NoSuchStore)?;
        Ok((self.env.kv.clone(), label))
    }

    /// Starts a compare-and-swap: snapshots the key's current value.
    async fn new_cas(
        &mut self,
        label: String,
        key: String,
    ) -> Result<Resource<PendingCas>, wasi_kv::Error> {
        self.ops.cas += 1;
        let expected = self
            .env
            .kv
            .get(label.clone(), key.clone())
            .await
            .map_err(wasi_err)?;
        self.resources
            .push(PendingCas {
                label,
                key,
                expected,
            })
            .map_err(|e| wasi_kv::Error::Other(e.to_string()))
    }
}

impl wasi_kv::Host for SpinState {
    async fn open(&mut self, identifier: String) -> Result<Resource<OpenStore>, wasi_kv::Error> {
        self.open_store(identifier).map_err(|e| match e {
            OpenError::AccessDenied => wasi_kv::Error::AccessDenied,
            OpenError::TableFull => wasi_kv::Error::Other("store table full".into()),
        })
    }
}

impl wasi_kv::HostBucket for SpinState {
    async fn get(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.get += 1)?;
        kv.get(label, key).await.map_err(wasi_err)
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.set += 1)?;
        kv.set(label, key, value).await.map_err(wasi_err)
    }

    async fn delete(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<(), wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.delete += 1)?;
        kv.delete(label, key).await.map_err(wasi_err)
    }

    async fn exists(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.exists += 1)?;
        kv.exists(label, key).await.map_err(wasi_err)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> Result<wasi_kv::KeyResponse, wasi_kv::Error> {
        // All keys come back in one page, so a cursor can only be a misuse (Spin does the same).
        if cursor.is_some() {
            return Err(wasi_kv::Error::Other(
                "list-keys: cursor not supported".into(),
            ));
        }
        let (kv, label) = self.bucket(&bucket, |o| o.get_keys += 1)?;
        let keys = kv.keys(label).await.map_err(wasi_err)?;
        Ok(wasi_kv::KeyResponse { keys, cursor: None })
    }

    async fn drop(&mut self, bucket: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.resources.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for SpinState {
    async fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> Result<i64, wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.increment += 1)?;
        kv.increment(label, key, delta).await.map_err(wasi_err)
    }

    async fn swap(
        &mut self,
        cas: Resource<PendingCas>,
        value: Vec<u8>,
    ) -> Result<(), atomics::CasError> {
        self.ops.swap += 1;
        let PendingCas {
            label,
            key,
            expected,
        } = self
            .resources
            .delete(cas)
            .map_err(|e| atomics::CasError::StoreError(wasi_kv::Error::Other(e.to_string())))?;
        let swapped = self
            .env
            .kv
            .compare_and_swap(label.clone(), key.clone(), expected, value)
            .await
            .map_err(|e| atomics::CasError::StoreError(wasi_err(e)))?;
        if swapped {
            return Ok(());
        }
        // Hand back a fresh handle on the value that beat us, so the guest can retry.
        let retry = self
            .new_cas(label, key)
            .await
            .map_err(atomics::CasError::StoreError)?;
        Err(atomics::CasError::CasFailed(retry))
    }
}

impl atomics::HostCas for SpinState {
    async fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<Resource<PendingCas>, wasi_kv::Error> {
        let label = self
            .store_label(&bucket)
            .ok_or(wasi_kv::Error::NoSuchStore)?;
        self.new_cas(label, key).await
    }

    async fn current(
        &mut self,
        cas: Resource<PendingCas>,
    ) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        // The snapshot taken by `new` is the value `swap` will compare against, so that is the
        // honest answer; re-reading could report a value the swap would then reject.
        let cas = self
            .resources
            .get(&cas)
            .map_err(|e| wasi_kv::Error::Other(e.to_string()))?;
        Ok(cas.expected.clone())
    }

    async fn drop(&mut self, cas: Resource<PendingCas>) -> wasmtime::Result<()> {
        self.resources.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for SpinState {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.get_many += 1)?;
        kv.get_many(label, keys).await.map_err(wasi_err)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.set_many += 1)?;
        kv.set_many(label, key_values).await.map_err(wasi_err)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> Result<(), wasi_kv::Error> {
        let (kv, label) = self.bucket(&bucket, |o| o.delete_many += 1)?;
        kv.delete_many(label, keys).await.map_err(wasi_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(clock: &ShiftedClock) -> SystemTime {
        UNIX_EPOCH + clock.now()
    }

    #[test]
    fn the_clock_is_set_backwards_or_advanced_and_runs_on() {
        let clock = ShiftedClock::default();
        let drift = |a: SystemTime, b: SystemTime| a.duration_since(b).or_else(|e| Ok::<_, ()>(e.duration())).unwrap();
        assert!(drift(reads(&clock), SystemTime::now()) < Duration::from_secs(1));
        let past = UNIX_EPOCH + Duration::from_secs(1_748_826_000); // 2025-06-02T01:00:00Z
        clock.set(past);
        assert!(drift(reads(&clock), past) < Duration::from_secs(1));
        clock.advance(Duration::from_secs(86_400));
        assert!(drift(reads(&clock), past + Duration::from_secs(86_400)) < Duration::from_secs(1));
    }
}
