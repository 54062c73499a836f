//! The load generator: like `wrk -c<n>`, `n` workers each keep one connection open and send
//! the next request as soon as the previous answer is read, until a deadline.

use crate::cpu::CpuTimes;
use crate::kv::KvCount;
use spin_test_host::KV_OPS_HEADER;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One request as the client saw it.
pub struct Sample {
    /// From sending the request to having read the whole response body.
    pub latency: Duration,
    /// The key-value operations of a `200`, or why the request counts as an error.
    pub outcome: Result<KvCount, String>,
}

/// Every request of one measured phase.
pub struct Phase {
    /// From the first request sent to the last answer read.
    pub elapsed: Duration,
    pub samples: Vec<Sample>,
    /// The share of the machine's CPU other processes used meanwhile, where known.
    pub others_cpu: Option<f64>,
}

/// One client per connection: each worker has one request in flight at a time, so its client
/// keeps exactly one connection open, and the connection count is the concurrency, as with wrk.
/// The same clients serve every phase, so measured phases start on open connections.
pub fn clients(concurrency: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    let client = || reqwest::Client::builder().no_proxy().pool_max_idle_per_host(1).build();
    Ok((0..concurrency).map(|_| client()).collect::<Result<_, _>>()?)
}

/// Sends GETs for `paths` (taken in turn, round robin over all workers) with one worker per
/// client for `duration`, and records each request.
pub async fn drive(clients: &[reqwest::Client], base: &str, paths: &Arc<[String]>, duration: Duration) -> anyhow::Result<Phase> {
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = CpuTimes::now();
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, base, paths, next) = (client.clone(), base.to_owned(), paths.clone(), next.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let path = &paths[next.fetch_add(1, Ordering::Relaxed) % paths.len()];
                    samples.push(request(&client, &base, path).await);
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await?);
    }
    let elapsed = started.elapsed();
    let others_cpu = cpu.zip(CpuTimes::now()).map(|(before, after)| after.others_since(&before));
    Ok(Phase { elapsed, samples, others_cpu })
}

async fn request(client: &reqwest::Client, base: &str, path: &str) -> Sample {
    let sent = Instant::now();
    let outcome = answer(client, &format!("{base}{path}")).await.map_err(|e| format!("GET {path}: {e:#}"));
    Sample { latency: sent.elapsed(), outcome }
}

/// A `200` with the host's key-value header is a success; anything else is an error.
async fn answer(client: &reqwest::Client, url: &str) -> anyhow::Result<KvCount> {
    let response = client.get(url).send().await?;
    let status = response.status();
    let kv_ops = response.headers().get(KV_OPS_HEADER).map(|v| v.to_str().map(str::to_owned));
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::OK {
        anyhow::bail!("status {status}: {}", String::from_utf8_lossy(&body));
    }
    match kv_ops {
        Some(Ok(header)) => header.parse(),
        Some(Err(_)) => anyhow::bail!("{KV_OPS_HEADER} is not text"),
        None => anyhow::bail!("no {KV_OPS_HEADER} header: was the app loaded with kv_op_header?"),
    }
}
