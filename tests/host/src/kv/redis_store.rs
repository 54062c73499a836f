//! The key-value store on Redis, used exactly as Spin's Redis store (`spin-key-value-redis`)
//! uses it, so that what the app does on Spin with Redis it does here too:
//!
//! - one multiplexed connection (a `ConnectionManager`) shared by every request;
//! - keys as the guest names them (no store label in them: Spin maps a label to a server);
//! - `increment` is `INCRBY`: counters are decimal text, not SQLite's 8 bytes;
//! - `get-keys` is `KEYS *`; `set-many` is `MSET`; `delete-many` one `DEL`;
//! - `get-many` sends `KEYS` with the key list where `MGET` was meant, which Redis refuses for
//!   more than one key (Spin's bug, reproduced, so a guest that relies on it fails here too);
//! - compare-and-swap writes under `WATCH`/`MULTI`/`EXEC` and then reports failure: Spin ends
//!   each swap with `UNWATCH <key>`, which Redis refuses, and turns that error into `CasFailed`
//!   after the write landed.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client};
use std::sync::Arc;

use super::{KvError, KvResult};

#[derive(Clone)]
pub(crate) struct RedisStore {
    client: Client,
    connection: ConnectionManager,
    /// Prepended to every key (empty: Spin's behaviour; see [`super::KvBackend::Redis`]).
    namespace: Arc<str>,
}

impl RedisStore {
    pub(crate) async fn open(url: &str, namespace: &str) -> anyhow::Result<Self> {
        let client = Client::open(url).map_err(|e| anyhow::anyhow!("invalid Redis URL {url:?}: {e}"))?;
        let connection = client
            .get_connection_manager()
            .await
            .map_err(|e| anyhow::anyhow!("connecting to Redis at {url}: {e}"))?;
        Ok(Self { client, connection, namespace: namespace.into() })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.namespace)
    }

    fn conn(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub(crate) async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.conn().get(self.key(key)).await?)
    }

    pub(crate) async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        Ok(self.conn().set(self.key(key), value).await?)
    }

    pub(crate) async fn delete(&self, key: &str) -> KvResult<()> {
        Ok(self.conn().del(self.key(key)).await?)
    }

    pub(crate) async fn exists(&self, key: &str) -> KvResult<bool> {
        Ok(self.conn().exists(self.key(key)).await?)
    }

    pub(crate) async fn keys(&self) -> KvResult<Vec<String>> {
        // `KEYS *` as Spin sends it; a namespace narrows the pattern (it holds no glob
        // characters: the host chooses it).
        let keys: Vec<String> = self.conn().keys(format!("{}*", self.namespace)).await?;
        let mut keys: Vec<String> =
            keys.into_iter().map(|k| k[self.namespace.len()..].to_string()).collect();
        keys.sort();
        Ok(keys)
    }

    pub(crate) async fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        // Spin's `get_many` calls `keys(list)`, i.e. `KEYS k1 k2 …`: kept, on purpose.
        Ok(self.conn().keys(keys).await?)
    }

    pub(crate) async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        let entries: Vec<(String, &[u8])> =
            entries.iter().map(|(k, v)| (self.key(k), v.as_slice())).collect();
        Ok(self.conn().mset(&entries).await?)
    }

    pub(crate) async fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        Ok(self.conn().del(keys).await?)
    }

    pub(crate) async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        Ok(self.conn().incr(self.key(key), delta).await?)
    }

    /// Writes `new` if the key still holds `expected`, on a connection of its own (a `WATCH`
    /// is per connection), then reports failure whatever happened, as Spin does.
    pub(crate) async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let key = self.key(key);
        let mut own = self.client.get_multiplexed_async_connection().await?;
        redis::cmd("WATCH").arg(&key).exec_async(&mut own).await?;
        let current: Option<Vec<u8>> = own.get(&key).await?;
        if current.as_deref() == expected {
            // EXEC answers nil (nothing written) if the key changed since WATCH
            let _: Option<()> = redis::pipe().atomic().set(&key, new).query_async(&mut own).await?;
        }
        // Spin's closing `UNWATCH <key>` is refused by Redis ("wrong number of arguments"),
        // and Spin reports that as the swap failing.
        match redis::cmd("UNWATCH").arg(&key).exec_async(&mut own).await {
            Ok(()) => Err(KvError("UNWATCH with a key unexpectedly succeeded".into())),
            Err(_) => Ok(false),
        }
    }
}
