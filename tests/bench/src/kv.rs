//! The key-value operations of one request, as the test host reports them in its
//! `x-host-kv-ops` response header (`open=1,get=0,...,increment=1,...`).

use anyhow::{Context as _, bail};

/// One request's key-value operations, folded into reads and writes, plus the `get`s that tell
/// a request that loaded a new instance's caches apart from a warm answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KvCount {
    pub reads: u64,
    pub writes: u64,
    /// Reads of stored values (counters are read with `increment`).
    pub gets: u64,
}

impl KvCount {
}

/// Operations that read. `increment` is here because the app reads counters only as
/// `increment(key, 0)` on request paths (ARCHITECTURE.md) and the header does not carry the
/// delta; the scenario tests count it the same way. `cas` reads the current value.
const READS: [&str; 6] = ["get", "exists", "increment", "get_many", "get_keys", "cas"];
const WRITES: [&str; 5] = ["set", "delete", "set_many", "delete_many", "swap"];
/// Opening a store is a handle, not a round trip to the data.
const NEITHER: [&str; 1] = ["open"];

impl std::str::FromStr for KvCount {
    type Err = anyhow::Error;

    /// Refuses an operation name it does not know, so a new operation in the host cannot go
    /// uncounted.
    fn from_str(header: &str) -> anyhow::Result<Self> {
        let mut count = KvCount::default();
        for field in header.split(',') {
            let (name, value) = field.split_once('=').with_context(|| format!("{field:?} is not name=count"))?;
            let value: u64 = value.parse().with_context(|| format!("{field:?}: the count is not a number"))?;
            if READS.contains(&name) {
                count.reads += value;
            } else if WRITES.contains(&name) {
                count.writes += value;
            } else if !NEITHER.contains(&name) {
                bail!("unknown key-value operation {name:?}");
            }
            if name == "get" {
                count.gets = value;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_the_host_header_into_reads_and_writes() {
        let header =
            "open=1,get=8,set=2,delete=0,exists=1,get_keys=0,increment=2,cas=0,swap=0,get_many=0,set_many=0,delete_many=1";
        let count: KvCount = header.parse().expect("a well-formed header");
        assert_eq!(count, KvCount { reads: 11, writes: 3, gets: 8 });
    }

    #[test]
    fn refuses_an_operation_it_does_not_know() {
        assert!("open=1,scan=3".parse::<KvCount>().is_err());
        assert!("get".parse::<KvCount>().is_err());
    }
}
