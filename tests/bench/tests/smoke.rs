//! The benchmarks in a fraction of a second per endpoint and at a small scale, asserting only
//! what must hold on any machine: everything was stored, nothing failed, and each request
//! stayed within its key-value budget. Timing targets belong to `scripts/bench.sh`, never to a
//! test.

use app_bench::prescription::Scale;
use app_bench::{Options, Store, catalogue, prescription, settlement};
use std::num::NonZeroUsize;
use std::time::Duration;

fn quick() -> Options {
    Options::local(Store::Memory, NonZeroUsize::new(4).expect("non-zero"), Duration::from_millis(200), Duration::from_millis(300))
}

/// The key-value figures the host's header gave.
fn kv(endpoint: &app_bench::Endpoint) -> &app_bench::KvFigures {
    endpoint.kv.as_ref().expect("the host counts kv operations")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalogue_benchmark_runs_without_errors_and_within_the_read_budget() {
    let report = catalogue::run(&quick()).await.expect("the benchmark runs; build the components first (scripts/test.sh does)");
    eprintln!("{report}");

    assert!(matches!(report.import.status, 200 | 201), "{report}");
    assert_eq!(report.import.entries as usize, report.codes, "every imported entry can be looked up");
    for (name, endpoint) in [("baseline", &report.baseline), ("lookup", &report.lookup), ("search", &report.search)] {
        assert!(endpoint.requests > 0, "{name} sent no request");
        assert_eq!(endpoint.errors, 0, "{name}: {:?}", endpoint.error_samples);
        assert_eq!(kv(endpoint).kv_writes_max, 0, "{name} writes nothing");
    }
    assert_eq!((kv(&report.baseline).kv_reads_min, kv(&report.baseline).kv_reads_max), (1, 1), "the baseline is one read");
    for (name, endpoint) in [("lookup", &report.lookup), ("search", &report.search)] {
        let kv = kv(endpoint);
        assert!(kv.warm_kv_reads_max <= 2, "{name}: a warm instance read {} times", kv.warm_kv_reads_max);
        assert!(
            kv.instance_loads <= kv.instance_loads_allowed,
            "{name}: {} catalogue loads, more than instance turnover explains ({})",
            kv.instance_loads,
            kv.instance_loads_allowed
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prescription_benchmark_stores_its_world_and_counts_equal_operations() {
    let scale = Scale { filings: 200, prescriptions: 600, first_count_at: 100, dispense_pool: 300 };
    let report = prescription::run(&quick(), &scale).await.expect("the benchmark runs; build the components first (scripts/test.sh does)");
    eprintln!("{report}");

    let [first, all] = &report.counts;
    assert_eq!((first.pre_check, first.dispense), (all.pre_check, all.dispense), "{report}");
    for (name, endpoint) in [("baseline", &report.baseline), ("pre-check", &report.pre_check), ("dispense", &report.dispense)] {
        assert!(endpoint.requests > 0, "{name} sent no request");
        assert_eq!(endpoint.errors, 0, "{name}: {:?}", endpoint.error_samples);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_settlement_benchmark_settles_within_its_budgets() {
    let scale = settlement::Scale { persons: 100, pool: 400 };
    let report = settlement::run(&quick(), &scale).await.expect("the benchmark runs; build the components first (scripts/test.sh does)");
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
}
