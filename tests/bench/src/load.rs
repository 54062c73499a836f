//! The load generator: like `wrk -c<n>`, `n` workers each keep one connection open and send
//! the next request as soon as the previous answer is read, until a deadline (or, for requests
//! that change state and may be sent only once, until every request was sent).

use crate::cpu::CpuTimes;
use crate::Site;
use crate::kv::KvCount;
use bytes::Bytes;
use reqwest::Method;
use spin_test_host::KV_OPS_HEADER;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One request to send: a GET without a token (a mini-program's lookup), or a JSON POST as a
/// role.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub token: Option<Arc<str>>,
    pub json: Option<Bytes>,
    /// Another server than the site's (`http://host:port`): the floor's minimal components,
    /// served beside the app (issue 19).
    pub base: Option<Arc<str>>,
}

impl Call {
    pub fn get(path: String) -> Call {
        Call { method: Method::GET, path, token: None, json: None, base: None }
    }

    /// A GET to another server than the site's.
    pub fn get_at(base: &Arc<str>, path: String) -> Call {
        Call { base: Some(base.clone()), ..Call::get(path) }
    }

    /// A GET with a token.
    pub fn get_as(path: String, token: &Arc<str>) -> Call {
        Call { token: Some(token.clone()), ..Call::get(path) }
    }

    pub fn post(path: String, token: &Arc<str>, body: &serde_json::Value) -> Call {
        Call { method: Method::POST, path, token: Some(token.clone()), json: Some(Bytes::from(body.to_string())), base: None }
    }

    pub fn put(path: String, token: &Arc<str>, body: &serde_json::Value) -> Call {
        Call { method: Method::PUT, ..Call::post(path, token, body) }
    }
}

/// How the workers take the phase's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turns {
    /// Round robin until the deadline: for requests that can be repeated.
    Cycle,
    /// Each call once, until the deadline or the last call: for requests that use something up
    /// (a prescription is dispensed once).
    Once,
}

/// One request as the client saw it.
pub struct Sample {
    /// From sending the request to having read the whole response body.
    pub latency: Duration,
    /// The key-value operations of a `200` (none from a deployment), or why the request
    /// counts as an error.
    pub outcome: Result<Option<KvCount>, String>,
}

/// Every request of one measured phase.
pub struct Phase {
    /// From the first request sent to the last answer read.
    pub elapsed: Duration,
    pub samples: Vec<Sample>,
    /// The share of the machine's CPU other processes used meanwhile, where known.
    pub others_cpu: Option<f64>,
    /// With [`Turns::Once`], whether the calls ran out before the deadline.
    pub ran_out: bool,
}

impl Phase {
    /// Phases of one endpoint measured at different times, as one.
    pub fn merge(phases: impl IntoIterator<Item = Phase>) -> Phase {
        let mut merged = Phase { elapsed: Duration::ZERO, samples: Vec::new(), others_cpu: None, ran_out: false };
        let mut busy = Vec::new();
        for phase in phases {
            merged.elapsed += phase.elapsed;
            merged.samples.extend(phase.samples);
            merged.ran_out |= phase.ran_out;
            busy.extend(phase.others_cpu.map(|share| share * phase.elapsed.as_secs_f64()));
        }
        // weighted by time, known only if known for every part
        if !busy.is_empty() && !merged.elapsed.is_zero() {
            merged.others_cpu = Some(busy.iter().sum::<f64>() / merged.elapsed.as_secs_f64());
        }
        merged
    }
}

/// One client per connection: each worker has one request in flight at a time, so its client
/// keeps exactly one connection open, and the connection count is the concurrency, as with wrk.
/// The same clients serve every phase, so measured phases start on open connections. With
/// `connection_close`, every request says `Connection: close` and goes on a new connection
/// (against a bare Spin, whose reused connections stall: deploy/README.md).
pub fn clients(concurrency: usize, connection_close: bool) -> anyhow::Result<Vec<reqwest::Client>> {
    let client = || {
        let builder = reqwest::Client::builder().no_proxy();
        if connection_close {
            let close = reqwest::header::HeaderMap::from_iter([(reqwest::header::CONNECTION, reqwest::header::HeaderValue::from_static("close"))]);
            builder.pool_max_idle_per_host(0).default_headers(close).build()
        } else {
            builder.pool_max_idle_per_host(1).build()
        }
    };
    Ok((0..concurrency).map(|_| client()).collect::<Result<_, _>>()?)
}

/// Sends `calls` (taken in turn by all workers) with one worker per client for `duration`,
/// and records each request; a `200` (or a `201`: a settlement's first answer) with the host's
/// key-value header is a success (without it, from a deployment).
pub(crate) async fn drive(clients: &[reqwest::Client], site: &Site, calls: &Arc<[Call]>, duration: Duration, turns: Turns) -> anyhow::Result<Phase> {
    drive_from(clients, site, calls, 0, duration, turns).await
}

/// [`drive`], taking the calls from number `start` on (with [`Turns::Once`]: the calls before
/// it were used up by earlier phases).
async fn drive_from(clients: &[reqwest::Client], site: &Site, calls: &Arc<[Call]>, start: usize, duration: Duration, turns: Turns) -> anyhow::Result<Phase> {
    let (base, remote) = (site.base.as_str(), site.remote);
    let next = Arc::new(AtomicUsize::new(start));
    let cpu = CpuTimes::now();
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, base, calls, next) = (client.clone(), base.to_owned(), calls.clone(), next.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if turns == Turns::Once && n >= calls.len() {
                        break;
                    }
                    let call = &calls[n % calls.len()];
                    let sent = Instant::now();
                    let outcome = send(&client, &base, call)
                        .await
                        .and_then(|(status, kv, body)| match (status, kv) {
                            (200 | 201, Some(kv)) => Ok(Some(kv)),
                            (200 | 201, None) if remote => Ok(None),
                            (200 | 201, None) => anyhow::bail!("no {KV_OPS_HEADER} header: was the app loaded with kv_op_header?"),
                            _ => anyhow::bail!("status {status}: {}", String::from_utf8_lossy(&body)),
                        })
                        .map_err(|e| format!("{} {}: {e:#}", call.method, call.path));
                    samples.push(Sample { latency: sent.elapsed(), outcome });
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
    // against a deployment the app itself may be one of the other processes
    let others_cpu = cpu.zip(CpuTimes::now()).map(|(before, after)| after.others_since(&before)).filter(|_| !remote);
    let ran_out = turns == Turns::Once && next.load(Ordering::Relaxed) >= calls.len();
    Ok(Phase { elapsed, samples, others_cpu, ran_out })
}

/// An endpoint measured in turns: its calls repeated round robin, or each used up once.
#[derive(Clone)]
pub(crate) enum Calls {
    Cycle(Arc<[Call]>),
    Once(Arc<[Call]>),
}

/// The endpoints take turns of this long each (see [`interleave`]), each turn after an
/// unmeasured part of [`TURN_WARMUP`].
pub(crate) const TURN: Duration = Duration::from_millis(500);
pub(crate) const TURN_WARMUP: Duration = Duration::from_millis(200);

/// How many turns each endpoint takes in `duration`: slices of [`TURN`], at least one.
pub(crate) fn turns(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis() / TURN.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// Measures `endpoints` in turns: after a warm-up each (of [`Calls::Once`], at most the first
/// fifth of its calls), they take [`turns`] turns of `duration / turns` each, every turn after
/// [`TURN_WARMUP`] unmeasured, so that each measures the machine as it is during the same second
/// as the others (a shared machine's throughput drifts by a quarter over a few seconds). A
/// [`Calls::Once`] endpoint goes on where it stopped, and sits out the turns once its calls are
/// used up (its phase then says `ran_out`). One merged phase per endpoint, in order.
pub(crate) async fn interleave(clients: &[reqwest::Client], site: &Site, endpoints: &[Calls], warmup: Duration, duration: Duration) -> anyhow::Result<Vec<Phase>> {
    let mut used = vec![0usize; endpoints.len()];
    for (endpoint, used) in endpoints.iter().zip(&mut used) {
        match endpoint {
            Calls::Cycle(calls) => {
                drive(clients, site, calls, warmup, Turns::Cycle).await?;
            }
            Calls::Once(calls) => {
                let first: Arc<[Call]> = calls[..calls.len() / 5].to_vec().into();
                *used = drive(clients, site, &first, warmup, Turns::Once).await?.samples.len();
            }
        }
    }
    let turns = turns(duration);
    let mut measured: Vec<Vec<Phase>> = endpoints.iter().map(|_| Vec::new()).collect();
    for _ in 0..turns {
        for ((endpoint, used), phases) in endpoints.iter().zip(&mut used).zip(&mut measured) {
            match endpoint {
                Calls::Cycle(calls) => {
                    drive(clients, site, calls, TURN_WARMUP, Turns::Cycle).await?;
                    phases.push(drive(clients, site, calls, duration / turns, Turns::Cycle).await?);
                }
                Calls::Once(calls) if *used < calls.len() => {
                    *used += drive_from(clients, site, calls, *used, TURN_WARMUP, Turns::Once).await?.samples.len();
                    let phase = drive_from(clients, site, calls, *used, duration / turns, Turns::Once).await?;
                    *used += phase.samples.len();
                    phases.push(phase);
                }
                Calls::Once(_) => {}
            }
        }
    }
    Ok(endpoints
        .iter()
        .zip(used)
        .zip(measured)
        .map(|((endpoint, used), phases)| {
            let mut phase = Phase::merge(phases);
            if let Calls::Once(calls) = endpoint {
                phase.ran_out |= used >= calls.len();
            }
            phase
        })
        .collect())
}

/// Sends one call; its status, key-value operations (if the host reported them) and body.
pub async fn send(client: &reqwest::Client, base: &str, call: &Call) -> anyhow::Result<(u16, Option<KvCount>, Bytes)> {
    let base = call.base.as_deref().unwrap_or(base);
    let mut request = client.request(call.method.clone(), format!("{base}{}", call.path));
    if let Some(token) = &call.token {
        request = request.bearer_auth(token);
    }
    if let Some(json) = &call.json {
        request = request.header("content-type", "application/json").body(json.clone());
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let kv = match response.headers().get(KV_OPS_HEADER) {
        Some(header) => Some(header.to_str().map_err(|_| anyhow::anyhow!("{KV_OPS_HEADER} is not text"))?.parse()?),
        None => None,
    };
    Ok((status, kv, response.bytes().await?))
}
