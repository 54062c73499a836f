//! The whole benchmark in a fraction of a second per endpoint, asserting only what must hold
//! on any machine: the import succeeded, nothing failed, and each request stayed within its
//! key-value reads. Timing targets belong to `scripts/bench.sh`, never to a test.

use catalogue_bench::{Options, Store, run};
use std::num::NonZeroUsize;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_runs_without_errors_and_within_the_read_budget() {
    let options = Options {
        store: Store::Memory,
        concurrency: NonZeroUsize::new(4).expect("non-zero"),
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(300),
    };
    let report = run(&options).await.expect("the benchmark runs; build the components first (scripts/test.sh does)");
    eprintln!("{report}");

    assert!(matches!(report.import.status, 200 | 201), "{report}");
    assert_eq!(report.import.entries as usize, report.codes, "every imported entry can be looked up");
    for (name, endpoint) in [("baseline", &report.baseline), ("lookup", &report.lookup), ("search", &report.search)] {
        assert!(endpoint.requests > 0, "{name} sent no request");
        assert_eq!(endpoint.errors, 0, "{name}: {:?}", endpoint.error_samples);
        assert_eq!(endpoint.kv_writes_max, 0, "{name} writes nothing");
    }
    assert_eq!((report.baseline.kv_reads_min, report.baseline.kv_reads_max), (1, 1), "the baseline is one read");
    for (name, endpoint) in [("lookup", &report.lookup), ("search", &report.search)] {
        assert!(endpoint.warm_kv_reads_max <= 2, "{name}: a warm instance read {} times", endpoint.warm_kv_reads_max);
        assert!(
            endpoint.catalogue_loads <= endpoint.catalogue_loads_allowed,
            "{name}: {} catalogue loads, more than instance turnover explains ({})",
            endpoint.catalogue_loads,
            endpoint.catalogue_loads_allowed
        );
    }
}
