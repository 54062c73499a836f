//! Key-value storage behind both `spin:key-value` and `wasi:keyvalue`, and the per-request
//! operation counts that benchmarks read.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use redis_store::RedisStore;
use rusqlite::{Connection, TransactionBehavior, named_params, params};

/// Which storage the key-value interfaces use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvBackend {
    /// A process-local map, empty at start: fast and isolated, for tests.
    Memory,
    /// A SQLite file with Spin's own schema, so data persists across restarts and the file
    /// can be inspected or reused by a real `spin up`.
    Sqlite(PathBuf),
    /// A Redis (or Valkey) server, used as Spin's Redis store uses it (see [`redis_store`]).
    Redis {
        /// `redis://host:port/db`, as in Spin's runtime config.
        url: String,
        /// Prepended to every key. Empty is Spin's behaviour; tests give each app its own
        /// prefix so that many apps can share one server without seeing each other's keys.
        namespace: String,
    },
}

/// How the SQLite store keeps its file. Spin sets no pragma: SQLite's default rollback journal
/// with `synchronous = FULL`, so every commit that changes a page waits for the disk's flushes
/// (about 1 ms on the project's 2-core VMs; an upsert of the value already stored changes no
/// page and costs no flush).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteJournal {
    /// As Spin: no pragma.
    #[default]
    Spin,
    /// `journal_mode = WAL`, `synchronous = NORMAL`: commits are not flushed one by one, so a
    /// benchmark measures the components rather than the disk (what this host did before it
    /// followed Spin). A crash can lose the last commits, not corrupt the file.
    Wal,
}

impl KvBackend {
    /// Where Spin keeps the default store when no runtime config says otherwise.
    pub fn default_sqlite_path(manifest_dir: &Path) -> PathBuf {
        manifest_dir.join(".spin").join("sqlite_key_value.db")
    }
}

mod redis_store;

/// How many key-value operations of each kind a request performed.
///
/// Batch operations count once per call, not once per key, because that is the number of
/// round trips a real backend would make.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvOps {
    pub open: u64,
    pub get: u64,
    pub set: u64,
    pub delete: u64,
    pub exists: u64,
    pub get_keys: u64,
    pub increment: u64,
    /// `wasi:keyvalue/atomics.cas.new`: starts a compare-and-swap by reading the current value.
    pub cas: u64,
    /// `wasi:keyvalue/atomics.swap`: one compare-and-swap attempt, successful or not.
    pub swap: u64,
    pub get_many: u64,
    pub set_many: u64,
    pub delete_many: u64,
}

impl KvOps {
    fn fields(&self) -> [(&'static str, u64); 12] {
        [
            ("open", self.open),
            ("get", self.get),
            ("set", self.set),
            ("delete", self.delete),
            ("exists", self.exists),
            ("get_keys", self.get_keys),
            ("increment", self.increment),
            ("cas", self.cas),
            ("swap", self.swap),
            ("get_many", self.get_many),
            ("set_many", self.set_many),
            ("delete_many", self.delete_many),
        ]
    }

    /// All operations, store opens included.
    pub fn total(&self) -> u64 {
        self.fields().iter().map(|(_, n)| n).sum()
    }
}

/// `get=1,set=0,...`: the value of the `serve` binary's `x-host-kv-ops` header.
impl fmt::Display for KvOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, count)) in self.fields().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}={count}")?;
        }
        Ok(())
    }
}

/// A failure of the storage itself; the guest sees it as `error::other(message)`.
#[derive(Debug)]
pub(crate) struct KvError(pub(crate) String);

impl<E: fmt::Display> From<E> for KvError {
    fn from(err: E) -> Self {
        Self(err.to_string())
    }
}

type KvResult<T> = Result<T, KvError>;

/// The synchronous operations both backends implement. Every method is atomic on its own;
/// callers hold the backend's lock for exactly one call.
pub(crate) trait Backend: Send {
    fn get(&mut self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>>;
    fn set(&mut self, store: &str, key: &str, value: &[u8]) -> KvResult<()>;
    fn delete(&mut self, store: &str, key: &str) -> KvResult<()>;
    fn keys(&mut self, store: &str) -> KvResult<Vec<String>>;
    fn get_many(
        &mut self,
        store: &str,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>>;
    fn set_many(&mut self, store: &str, entries: &[(String, Vec<u8>)]) -> KvResult<()>;
    fn delete_many(&mut self, store: &str, keys: &[String]) -> KvResult<()>;
    /// Adds `delta` to the counter under `key` (a missing key counts as 0) and returns the new
    /// value; counters are 8 little-endian bytes, as Spin's SQLite store writes them.
    fn increment(&mut self, store: &str, key: &str, delta: i64) -> KvResult<i64>;
    /// Writes `new` only if the key still holds `expected` (`None`: the key must be absent).
    /// Returns whether it wrote.
    fn compare_and_swap(
        &mut self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool>;
}

fn add_to_counter(current: Option<Vec<u8>>, key: &str, delta: i64) -> KvResult<i64> {
    let current = match current {
        None => 0,
        Some(bytes) => {
            let bytes: [u8; 8] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                KvError(format!(
                    "cannot increment {key:?}: it holds {} bytes, not an 8-byte counter",
                    bytes.len()
                ))
            })?;
            i64::from_le_bytes(bytes)
        }
    };
    current
        .checked_add(delta)
        .ok_or_else(|| KvError(format!("incrementing {key:?} by {delta} overflows")))
}

#[derive(Default)]
struct MemoryBackend {
    // store label -> key -> value; a BTreeMap so `get-keys` is deterministic.
    stores: HashMap<String, BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    fn store(&mut self, store: &str) -> &mut BTreeMap<String, Vec<u8>> {
        self.stores.entry(store.to_owned()).or_default()
    }
}

impl Backend for MemoryBackend {
    fn get(&mut self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.store(store).get(key).cloned())
    }

    fn set(&mut self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.store(store).insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, store: &str, key: &str) -> KvResult<()> {
        self.store(store).remove(key);
        Ok(())
    }

    fn keys(&mut self, store: &str) -> KvResult<Vec<String>> {
        Ok(self.store(store).keys().cloned().collect())
    }

    fn get_many(
        &mut self,
        store: &str,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        // as Spin's SQLite store: only the keys that exist
        let map = self.store(store);
        Ok(keys
            .iter()
            .filter_map(|k| Some((k.clone(), Some(map.get(k)?.clone()))))
            .collect())
    }

    fn set_many(&mut self, store: &str, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        self.store(store).extend(entries.iter().cloned());
        Ok(())
    }

    fn delete_many(&mut self, store: &str, keys: &[String]) -> KvResult<()> {
        let map = self.store(store);
        for key in keys {
            map.remove(key);
        }
        Ok(())
    }

    fn increment(&mut self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        let map = self.store(store);
        let next = add_to_counter(map.get(key).cloned(), key, delta)?;
        map.insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn compare_and_swap(
        &mut self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let map = self.store(store);
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
}

/// Spin's SQLite store (`spin-key-value-spin`, `crates/key-value-spin/src/store.rs`, Spin 4.x):
/// one connection behind a mutex, the table `spin_key_value(store, key, value)`, Spin's own
/// statements, no pragma (SQLite's default rollback journal and `synchronous = FULL`: Spin sets
/// no WAL), `increment` and `set_many` each a transaction, `get_many` and `delete_many` one
/// statement over `rarray`. Two things are kept for the tests that share one file between two
/// host processes: a busy timeout (Spin sets none: a second process would fail at once with
/// `SQLITE_BUSY`) and `BEGIN IMMEDIATE` for the transactions that read before they write
/// (Spin's `BEGIN` is deferred: alone on its file, as Spin is, that is the same; two processes
/// could deadlock between the read and the write).
struct SqliteBackend {
    conn: Connection,
}

// Spin's statements, verbatim.
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT(store, key) DO UPDATE SET value=$3";
const SELECT_VALUE: &str = "SELECT value FROM spin_key_value WHERE store=$1 AND key=$2";
const DELETE_KEY: &str = "DELETE FROM spin_key_value WHERE store=$1 AND key=$2";
const SELECT_KEYS: &str = "SELECT key FROM spin_key_value WHERE store=$1";
const SELECT_MANY: &str = "SELECT key, value FROM spin_key_value WHERE store=:name AND key IN rarray(:keys)";
const DELETE_MANY: &str = "DELETE FROM spin_key_value WHERE store=:name AND key IN rarray(:keys)";
const SWAP: &str = "UPDATE spin_key_value SET value=:new_value WHERE store=:name and key=:key and value=:old_value";

impl SqliteBackend {
    fn open(path: &Path, journal: SqliteJournal) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening SQLite key-value store {}", path.display()))?;
        // Not Spin's: another process (a second `serve` in the scenario tests, or `spin up`) may
        // hold the file; wait rather than fail with SQLITE_BUSY. Never waits alone on a file.
        conn.busy_timeout(Duration::from_secs(5))?;
        if journal == SqliteJournal::Wal {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        // Spin's schema, so the file is interchangeable with Spin's default store; and, as
        // Spin, no journal or synchronous pragma.
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                           store TEXT NOT NULL,
                           key   TEXT NOT NULL,
                           value BLOB NOT NULL,

                           PRIMARY KEY (store, key)
                        )",
            [],
        )?;
        // the array module is needed for `rarray` usage in queries (Spin's words)
        rusqlite::vtab::array::load_module(&conn)?;
        Ok(Self { conn })
    }

    fn read(conn: &Connection, store: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        conn.prepare_cached(SELECT_VALUE)?
            .query_map([store, key], |row| row.get::<_, Vec<u8>>(0))?
            .next()
            .transpose()
    }

    /// The keys as SQLite's `rarray` takes them.
    fn key_array(keys: &[String]) -> Rc<Vec<rusqlite::types::Value>> {
        Rc::new(keys.iter().cloned().map(rusqlite::types::Value::from).collect())
    }
}

impl Backend for SqliteBackend {
    fn get(&mut self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(Self::read(&self.conn, store, key)?)
    }

    fn set(&mut self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.conn
            .prepare_cached(UPSERT)?
            .execute(params![store, key, value])?;
        Ok(())
    }

    fn delete(&mut self, store: &str, key: &str) -> KvResult<()> {
        self.conn
            .prepare_cached(DELETE_KEY)?
            .execute(params![store, key])?;
        Ok(())
    }

    fn keys(&mut self, store: &str) -> KvResult<Vec<String>> {
        // Spin's statement has no ORDER BY; SQLite reads it through the primary key's index,
        // so the keys come in key order.
        let mut stmt = self.conn.prepare_cached(SELECT_KEYS)?;
        let keys = stmt
            .query_map(params![store], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    /// As Spin: one statement, and only the keys that exist come back (a missing key is absent
    /// from the answer, not `None`).
    fn get_many(
        &mut self,
        store: &str,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        let mut stmt = self.conn.prepare_cached(SELECT_MANY)?;
        let rows = stmt
            .query_map(named_params! {":name": store, ":keys": Self::key_array(keys)}, |row| {
                <(String, Option<Vec<u8>>)>::try_from(row)
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn set_many(&mut self, store: &str, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (key, value) in entries {
            tx.prepare_cached(UPSERT)?
                .execute(params![store, key, value])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn delete_many(&mut self, store: &str, keys: &[String]) -> KvResult<()> {
        self.conn
            .prepare_cached(DELETE_MANY)?
            .execute(named_params! {":name": store, ":keys": Self::key_array(keys)})?;
        Ok(())
    }

    fn increment(&mut self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        // Spin: a transaction, select, then upsert. IMMEDIATE takes the write lock before
        // reading, so another process sharing the file cannot interleave (see the type).
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Spin panics on a value that is not 8 bytes (`expect("incorrect length")`); an error
        // here.
        let next = add_to_counter(Self::read(&tx, store, key)?, key, delta)?;
        tx.prepare_cached(UPSERT)?
            .execute(params![store, key, next.to_le_bytes()])?;
        tx.commit()?;
        Ok(next)
    }

    /// As Spin's `swap`: expecting a value, one `UPDATE … WHERE value = expected` that must
    /// change one row; expecting none (the key was absent when the swap began), an upsert that
    /// writes whatever is there now (Spin's, not a comparison).
    fn compare_and_swap(
        &mut self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let rows = match expected {
            Some(old) => self.conn.prepare_cached(SWAP)?.execute(named_params! {
                ":name": store,
                ":key": key,
                ":old_value": old,
                ":new_value": new,
            })?,
            None => {
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                let rows = tx.prepare_cached(UPSERT)?.execute(params![store, key, new])?;
                tx.commit()?;
                rows
            }
        };
        Ok(rows == 1)
    }
}

/// A shared handle on the key-value data of one app. Cheap to clone.
#[derive(Clone)]
pub(crate) enum KvStore {
    /// The in-memory map or SQLite: synchronous calls, each under the backend's lock.
    Local {
        backend: Arc<Mutex<dyn Backend>>,
        /// SQLite calls block on file I/O: they run in place under `block_in_place`, as Spin
        /// runs them (the worker hands its other tasks to another thread meanwhile); the
        /// in-memory map is fast enough to use in place without it.
        blocking: bool,
    },
    /// A Redis server, over one multiplexed connection as Spin's store keeps it.
    Redis(RedisStore),
}

/// `SPIN_TEST_HOST_KV_TRACE=1`: every get, get_many, set, set_many, delete, exists and increment is written to
/// stderr with its key (an increment with its delta: `+0` reads a counter), each request's
/// operations after a `kv request METHOD PATH` line, to see which keys a request touches (a
/// benchmark's budget moved, say).
/// `what` is formatted only when tracing: the host measures the app, so an untraced operation
/// allocates nothing for it.
pub(crate) fn trace(op: &str, what: impl std::fmt::Display) {
    if tracing() {
        eprintln!("kv {op} {what}");
    }
}

fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SPIN_TEST_HOST_KV_TRACE").is_some())
}

/// Dispatches one operation to the backend: `$local` on the locked local backend `b`, `$redis`
/// on the Redis store `r`.
macro_rules! dispatch {
    ($self:ident, |$b:ident| $local:expr, |$r:ident| $redis:expr) => {
        match $self {
            KvStore::Local { backend, blocking } => {
                KvStore::run_local(backend, *blocking, move |$b: &mut dyn Backend| $local).await
            }
            KvStore::Redis($r) => $redis.await,
        }
    };
}

impl KvStore {
    /// A SQLite store as Spin keeps it ([`SqliteJournal::Spin`]).
    #[cfg(test)]
    pub(crate) async fn open(backend: &KvBackend) -> anyhow::Result<Self> {
        Self::open_with(backend, SqliteJournal::Spin).await
    }

    pub(crate) async fn open_with(backend: &KvBackend, journal: SqliteJournal) -> anyhow::Result<Self> {
        Ok(match backend {
            KvBackend::Memory => Self::Local {
                backend: Arc::new(Mutex::new(MemoryBackend::default())),
                blocking: false,
            },
            KvBackend::Sqlite(path) => Self::Local {
                backend: Arc::new(Mutex::new(SqliteBackend::open(path, journal)?)),
                blocking: true,
            },
            KvBackend::Redis { url, namespace } => {
                Self::Redis(RedisStore::open(url, namespace).await?)
            }
        })
    }

    fn lock(backend: &Mutex<dyn Backend>) -> MutexGuard<'_, dyn Backend + 'static> {
        // A panic while holding the lock cannot leave a half-applied write behind (the map
        // insert or the SQLite transaction is all-or-nothing), so the data is still usable.
        backend
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run_local<R: Send + 'static>(
        backend: &Arc<Mutex<dyn Backend>>,
        blocking: bool,
        op: impl FnOnce(&mut dyn Backend) -> KvResult<R> + Send + 'static,
    ) -> KvResult<R> {
        // Spin's SQLite store calls `tokio::task::block_in_place` around each statement, on the
        // thread that runs the guest (before, this host sent each call to tokio's blocking pool
        // and back: two thread hand-offs per operation, which made every key-value operation
        // cost far more than on Spin). `block_in_place` needs a multi-threaded runtime; on a
        // current-thread one (`#[tokio::test]`) the call simply runs in place.
        use tokio::runtime::{Handle, RuntimeFlavor};
        let multi_threaded = Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if blocking && multi_threaded {
            tokio::task::block_in_place(|| op(&mut *Self::lock(backend)))
        } else {
            op(&mut *Self::lock(backend))
        }
    }

    pub(crate) async fn get(&self, store: String, key: String) -> KvResult<Option<Vec<u8>>> {
        trace("get", &key);
        dispatch!(self, |b| b.get(&store, &key), |r| r.get(&key))
    }

    pub(crate) async fn set(&self, store: String, key: String, value: Vec<u8>) -> KvResult<()> {
        trace("set", &key);
        dispatch!(self, |b| b.set(&store, &key, &value), |r| r.set(&key, &value))
    }

    pub(crate) async fn delete(&self, store: String, key: String) -> KvResult<()> {
        trace("delete", &key);
        dispatch!(self, |b| b.delete(&store, &key), |r| r.delete(&key))
    }

    pub(crate) async fn exists(&self, store: String, key: String) -> KvResult<bool> {
        trace("exists", &key);
        dispatch!(self, |b| Ok(b.get(&store, &key)?.is_some()), |r| r.exists(&key))
    }

    pub(crate) async fn keys(&self, store: String) -> KvResult<Vec<String>> {
        dispatch!(self, |b| b.keys(&store), |r| r.keys())
    }

    pub(crate) async fn get_many(
        &self,
        store: String,
        keys: Vec<String>,
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        if tracing() {
            trace("get_many", keys.join(" "));
        }
        dispatch!(self, |b| b.get_many(&store, &keys), |r| r.get_many(&keys))
    }

    pub(crate) async fn set_many(
        &self,
        store: String,
        entries: Vec<(String, Vec<u8>)>,
    ) -> KvResult<()> {
        if tracing() {
            trace("set_many", entries.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>().join(" "));
        }
        dispatch!(self, |b| b.set_many(&store, &entries), |r| r.set_many(&entries))
    }

    pub(crate) async fn delete_many(&self, store: String, keys: Vec<String>) -> KvResult<()> {
        dispatch!(self, |b| b.delete_many(&store, &keys), |r| r.delete_many(&keys))
    }

    pub(crate) async fn increment(&self, store: String, key: String, delta: i64) -> KvResult<i64> {
        trace("increment", format_args!("{key} {delta:+}"));
        dispatch!(self, |b| b.increment(&store, &key, delta), |r| r.increment(&key, delta))
    }

    /// Writes `new` if the key still holds `expected`, and says whether the swap succeeded.
    /// On Redis it says `false` even when it wrote, as Spin's Redis store does.
    pub(crate) async fn compare_and_swap(
        &self,
        store: String,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> KvResult<bool> {
        dispatch!(
            self,
            |b| b.compare_and_swap(&store, &key, expected.as_deref(), &new),
            |r| r.compare_and_swap(&key, expected.as_deref(), &new)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spin-test-host-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join(".spin").join("sqlite_key_value.db")
    }

    async fn concurrent_increments(store: KvStore) {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..25 {
                        store
                            .increment("default".into(), "n".into(), 1)
                            .await
                            .map_err(|e| e.0)?;
                    }
                    Ok::<_, String>(())
                })
            })
            .collect();
        for task in tasks {
            task.await
                .expect("task panicked")
                .expect("increment failed");
        }
        let stored = store.get("default".into(), "n".into()).await.expect("get");
        assert_eq!(stored, Some(800i64.to_le_bytes().to_vec()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn increment_is_atomic_in_memory() {
        concurrent_increments(KvStore::open(&KvBackend::Memory).await.expect("open")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn increment_is_atomic_in_sqlite() {
        let path = temp_db("atomic");
        concurrent_increments(KvStore::open(&KvBackend::Sqlite(path)).await.expect("open")).await;
    }

    #[tokio::test]
    async fn sqlite_persists_across_reopen() {
        let path = temp_db("persist");
        {
            let store = KvStore::open(&KvBackend::Sqlite(path.clone())).await.expect("open");
            store
                .set("default".into(), "a".into(), b"1".to_vec())
                .await
                .expect("set");
            store
                .increment("default".into(), "n".into(), 41)
                .await
                .expect("increment");
            store
                .set("other".into(), "a".into(), b"2".to_vec())
                .await
                .expect("set");
        }
        let store = KvStore::open(&KvBackend::Sqlite(path)).await.expect("reopen");
        assert_eq!(
            store.get("default".into(), "a".into()).await.expect("get"),
            Some(b"1".to_vec())
        );
        assert_eq!(
            store
                .increment("default".into(), "n".into(), 1)
                .await
                .expect("incr"),
            42
        );
        assert_eq!(
            store.keys("default".into()).await.expect("keys"),
            ["a", "n"]
        );
    }

    #[tokio::test]
    async fn compare_and_swap_checks_the_expected_value() {
        for backend in [KvBackend::Memory, KvBackend::Sqlite(temp_db("cas"))] {
            let store = KvStore::open(&backend).await.expect("open");
            let cas = |expected: Option<&[u8]>, new: &[u8]| {
                store.compare_and_swap(
                    "s".into(),
                    "k".into(),
                    expected.map(<[u8]>::to_vec),
                    new.to_vec(),
                )
            };
            assert!(
                cas(None, b"a").await.expect("cas"),
                "absent key, expecting absent"
            );
            // Spin's SQLite store upserts when the swap began on an absent key, whatever is
            // there now; the map compares
            assert_eq!(
                cas(None, b"a").await.expect("cas"),
                matches!(backend, KvBackend::Sqlite(_)),
                "present key, expecting absent"
            );
            assert!(
                !cas(Some(b"x"), b"b").await.expect("cas"),
                "wrong expected value"
            );
            assert!(cas(Some(b"a"), b"b").await.expect("cas"));
            assert_eq!(
                store.get("s".into(), "k".into()).await.expect("get"),
                Some(b"b".to_vec())
            );
        }
    }

    #[tokio::test]
    async fn sqlite_is_spins_store() {
        let path = temp_db("spin");
        let store = KvStore::open(&KvBackend::Sqlite(path.clone())).await.expect("open");
        store.set("default".into(), "a".into(), b"1".to_vec()).await.expect("set");
        store.set("default".into(), "c".into(), b"3".to_vec()).await.expect("set");
        // get_many: one statement, only the keys that exist
        let many = store.get_many("default".into(), vec!["a".into(), "b".into(), "c".into()]).await.expect("get_many");
        assert_eq!(many, [("a".to_string(), Some(b"1".to_vec())), ("c".to_string(), Some(b"3".to_vec()))]);
        store.delete_many("default".into(), vec!["a".into(), "b".into()]).await.expect("delete_many");
        assert_eq!(store.keys("default".into()).await.expect("keys"), ["c"]);
        drop(store);
        // no pragma: SQLite's default rollback journal, as Spin leaves it (no WAL)
        let conn = Connection::open(&path).expect("open the file");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).expect("journal_mode");
        assert_eq!(mode, "delete");
    }

    #[tokio::test]
    async fn sqlite_in_wal_mode_on_request() {
        let path = temp_db("wal");
        let store = KvStore::open_with(&KvBackend::Sqlite(path.clone()), SqliteJournal::Wal).await.expect("open");
        assert_eq!(store.increment("default".into(), "n".into(), 1).await.expect("incr"), 1);
        let conn = Connection::open(&path).expect("open the file");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).expect("journal_mode");
        assert_eq!(mode, "wal");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_runs_in_place_on_a_multi_threaded_runtime() {
        // block_in_place, as Spin: no panic, and the answers are the same
        let store = KvStore::open(&KvBackend::Sqlite(temp_db("in-place"))).await.expect("open");
        store.set("default".into(), "k".into(), b"v".to_vec()).await.expect("set");
        assert_eq!(store.get("default".into(), "k".into()).await.expect("get"), Some(b"v".to_vec()));
        assert_eq!(store.increment("default".into(), "n".into(), 2).await.expect("incr"), 2);
    }

    #[tokio::test]
    async fn increment_rejects_a_non_counter_value() {
        let store = KvStore::open(&KvBackend::Memory).await.expect("open");
        store
            .set("s".into(), "k".into(), b"abc".to_vec())
            .await
            .expect("set");
        assert!(store.increment("s".into(), "k".into(), 1).await.is_err());
    }

    /// The Redis server the Redis tests use: `SPIN_TEST_REDIS_URL` (CI starts one), else
    /// none, and those tests only say they did not run.
    fn redis_url() -> Option<String> {
        let url = std::env::var("SPIN_TEST_REDIS_URL").ok().filter(|u| !u.is_empty());
        if url.is_none() {
            eprintln!("SPIN_TEST_REDIS_URL is not set: Redis store test not run");
        }
        url
    }

    async fn redis_store(test: &str) -> Option<KvStore> {
        let url = redis_url()?;
        let namespace = format!("host-test:{test}:{}:", std::process::id());
        let store = KvStore::open(&KvBackend::Redis { url, namespace }).await.expect("Redis reachable");
        for key in store.keys("default".into()).await.expect("keys") {
            store.delete("default".into(), key).await.expect("delete");
        }
        Some(store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_increments_atomically_and_stores_decimal_text() {
        let Some(store) = redis_store("incr").await else { return };
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..25 {
                        store.increment("default".into(), "n".into(), 1).await.map_err(|e| e.0)?;
                    }
                    Ok::<_, String>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task panicked").expect("increment failed");
        }
        // Spin's Redis store: INCRBY, so a counter reads back as text (never read it with get)
        assert_eq!(store.get("default".into(), "n".into()).await.expect("get"), Some(b"800".to_vec()));
    }

    #[tokio::test]
    async fn redis_behaves_as_spins_store() {
        let Some(store) = redis_store("spin").await else { return };
        let kv = |k: &str| ("default".to_string(), k.to_string());
        let (s, k) = kv("a");
        store.set(s.clone(), k.clone(), b"1".to_vec()).await.expect("set");
        assert!(store.exists(s.clone(), k.clone()).await.expect("exists"));
        assert!(!store.exists(s.clone(), "b".into()).await.expect("exists"));
        // compare-and-swap writes, then reports failure (Spin's closing UNWATCH is refused)
        let swapped = store.compare_and_swap(s.clone(), k.clone(), Some(b"1".to_vec()), b"2".to_vec()).await.expect("cas");
        assert!(!swapped, "Spin's Redis store never reports a successful swap");
        assert_eq!(store.get(s.clone(), k.clone()).await.expect("get"), Some(b"2".to_vec()));
        // a swap against a stale value writes nothing
        store.compare_and_swap(s.clone(), k.clone(), Some(b"1".to_vec()), b"3".to_vec()).await.expect("cas");
        assert_eq!(store.get(s.clone(), k.clone()).await.expect("get"), Some(b"2".to_vec()));
        // get_many sends KEYS with the key list: refused for two keys
        store.set(s.clone(), "c".into(), b"3".to_vec()).await.expect("set");
        assert!(store.get_many(s.clone(), vec!["a".into(), "c".into()]).await.is_err());
        // set_many (MSET) and delete_many (DEL) work
        store.set_many(s.clone(), vec![("x".into(), b"x".to_vec()), ("y".into(), b"y".to_vec())]).await.expect("mset");
        assert_eq!(store.keys(s.clone()).await.expect("keys"), ["a", "c", "x", "y"]);
        store.delete_many(s.clone(), vec!["x".into(), "y".into()]).await.expect("del");
        assert_eq!(store.keys(s).await.expect("keys"), ["a", "c"]);
    }

    #[test]
    fn ops_header_format() {
        let ops = KvOps {
            get: 2,
            open: 1,
            ..KvOps::default()
        };
        assert_eq!(
            ops.to_string(),
            "open=1,get=2,set=0,delete=0,exists=0,get_keys=0,increment=0,cas=0,swap=0,get_many=0,set_many=0,delete_many=0"
        );
        assert_eq!(ops.total(), 3);
    }
}
