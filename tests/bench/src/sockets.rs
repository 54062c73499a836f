//! The keep-alive stall in front of Spin (issue 20): Spin sets no `TCP_NODELAY` and writes a
//! response's head before its body, so on a reused connection the body waits for the client's
//! delayed ACK (~40 ms on Linux). Measured through the host with its sockets as Spin's
//! (`HostOptions::spin_sockets`) and as the test host's own, each with a client that reuses
//! one connection and with one that opens a connection per request: what a reverse proxy in
//! front of Spin does when it keeps no upstream connections alive (`deploy/nginx.conf`).

use crate::{Options, serve_with};
use serde::Serialize;
use std::fmt;
use std::time::{Duration, Instant};

/// Sequential requests per measured case.
const REQUESTS: usize = 300;
/// The endpoint: the app's cheapest, so the figures are the sockets', not the app's.
const PATH: &str = "/api/catalogue/status";

/// One case: the host's sockets, the client's connections, and the latencies.
#[derive(Debug, Serialize)]
pub struct Case {
    pub sockets: &'static str,
    pub connections: &'static str,
    pub requests: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub cases: Vec<Case>,
}

impl Report {
    /// The stall is reproduced (Spin's sockets on a reused connection are at least ten times
    /// slower at the median than on new connections) and the mitigation removes it.
    pub fn passed(&self) -> bool {
        let p50 = |sockets: &str, connections: &str| self.cases.iter().find(|c| c.sockets == sockets && c.connections == connections).map_or(0.0, |c| c.p50_ms);
        p50("Spin's", "reused") >= 10.0 * p50("Spin's", "one per request")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "keep-alive in front of Spin: GET {PATH}, {REQUESTS} sequential requests per case")?;
        writeln!(f, "{:<22} {:<18} {:>8} {:>8}", "host sockets", "connections", "p50 ms", "p99 ms")?;
        for case in &self.cases {
            writeln!(f, "{:<22} {:<18} {:>8.2} {:>8.2}", case.sockets, case.connections, case.p50_ms, case.p99_ms)?;
        }
        writeln!(f, "stall reproduced and removed by a connection per request: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

/// Runs the four cases.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut cases = Vec::new();
    for (sockets, spin) in [("Spin's", true), ("test host's (nodelay)", false)] {
        let served = serve_with(options, spin).await?;
        let reused = reqwest::Client::builder().no_proxy().build()?;
        let fresh = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build()?;
        for (connections, client) in [("reused", &reused), ("one per request", &fresh)] {
            let mut latencies = Vec::with_capacity(REQUESTS);
            for _ in 0..REQUESTS {
                let started = Instant::now();
                let answer = client.get(format!("{}{PATH}", served.base)).send().await?;
                anyhow::ensure!(answer.status() == 200, "{PATH} answered {}", answer.status());
                answer.bytes().await?;
                latencies.push(started.elapsed());
            }
            latencies.sort_unstable();
            let at = |p: f64| latencies[((p * REQUESTS as f64).ceil() as usize).saturating_sub(1).min(REQUESTS - 1)];
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            cases.push(Case { sockets, connections, requests: REQUESTS, p50_ms: ms(at(0.50)), p99_ms: ms(at(0.99)) });
        }
    }
    Ok(Report { cases })
}
