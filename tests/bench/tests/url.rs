//! `app-bench --url`: the benchmarks against an app they did not start, seeded through its API
//! alone. The app here is the test host serving spin.toml as a deployment would (demo data on,
//! so the development secret signs the tokens; its sockets as Spin's, so a reused connection
//! would stall), on a port of its own and without the key-value header. Two benchmarks run
//! against the same store, the second after the first's import and under a run id of its own,
//! as repeated runs against one deployment do. Only correctness is asserted, never timing.

use app_bench::{Options, Store, catalogue, settlement};
use spin_test_host::{App, HostOptions, KvBackend};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmarks_run_against_a_running_app_through_its_api() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
    let variables = HashMap::from([("demo_data".to_owned(), "true".to_owned())]);
    let options = HostOptions { kv: KvBackend::Memory, variables, kv_op_header: false, spin_sockets: true, ..HostOptions::default() };
    let app = App::load(&manifest, options).await.expect("the app loads; build the components first (scripts/test.sh does)");
    // a business day inside the 2024 agreements, as a deployment's sandbox_clock would give
    let day = chrono::DateTime::parse_from_rfc3339("2026-05-18T09:00:00+08:00").expect("an instant");
    app.set_clock(day.to_utc().into());
    let (addr, server) = app.listen("127.0.0.1:0".parse().expect("an address")).await.expect("listening");
    let options = Options {
        url: Some(format!("http://{addr}/")),
        connection_close: true,
        ..Options::local(Store::Memory, NonZeroUsize::new(4).expect("non-zero"), Duration::from_millis(200), Duration::from_millis(300))
    };

    let report = catalogue::run(&options).await.expect("the catalogue benchmark runs against the app");
    eprintln!("{report}");
    assert_eq!(report.import.status, 201, "the demo's edition is older: the workbook is imported after it");
    assert_eq!(report.import.effective_from.to_string(), "2025-01-02", "the day after the demo's slice of 2024");
    assert_eq!(report.import.entries as usize, report.codes, "every imported entry can be looked up");
    check(&report.targets, &[("baseline", &report.baseline), ("lookup", &report.lookup), ("search", &report.search)]);
    // issue 19: no floor at a deployment; the baseline column only, no target judged
    assert!(report.issue19.floor.is_none() && report.issue19.rows.iter().all(|r| r.to_floor.is_none() && r.met.is_none()), "{report}");

    // enough dispensed prescriptions that the settlement's warm-up (0.2 s at well over 1,000 a
    // second on the in-memory store) leaves some for the measured turn
    let scale = settlement::Scale { persons: 100, pool: 1200 };
    let report = settlement::run(&options, &scale).await.expect("the settlement benchmark runs against the app");
    eprintln!("{report}");
    assert!(report.run.run_id.starts_with('R'), "codes are stored under a run id");
    assert!(report.pre_settlement_ops.is_none() && report.supervision.landing_ops.is_none(), "kv operations are not measured remotely");
    let s = &report.supervision;
    check(
        &report.targets,
        &[("baseline", &report.baseline), ("pre-settle", &report.pre_settlement), ("settle", &report.settlement), ("month report", &s.month_report), ("landing", &s.landing)],
    );
    server.abort();
}

/// Every endpoint answered without an error and its kv figures say not measured; every target
/// judged on them is skipped with the reason, and the rest passed.
fn check(targets: &[app_bench::Target], endpoints: &[(&str, &app_bench::Endpoint)]) {
    for (name, endpoint) in endpoints {
        assert!(endpoint.requests > 0, "{name} sent no request");
        assert_eq!(endpoint.errors, 0, "{name}: {:?}", endpoint.error_samples);
        assert!(!endpoint.kv_measured && endpoint.kv.is_none(), "{name}: kv figures from an app without the header");
    }
    for target in targets {
        assert!(target.passed, "{}: {}", target.name, target.figure);
        assert_eq!(target.skipped, target.name.contains("kv") || target.name.contains("caches loaded"), "{}: {}", target.name, target.figure);
        if target.skipped {
            assert!(target.figure.starts_with("not measured"), "{}: a skip says why", target.name);
        }
    }
}
