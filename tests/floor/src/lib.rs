//! The floor an endpoint is compared with (issue 19): `../shared/baseline`'s two minimal
//! handlers, unchanged (`/empty` answers "ok" without touching anything; any other path opens
//! the default store and reads one key), plus the minimal writes the host's store is checked
//! with against Spin's ratios: `/write` (one `set`) and `/write3` (three `set`s) of the value
//! already stored, `/write3new` (three `set`s of new values) and `/incr` (one `increment`
//! through `wasi:keyvalue/atomics`, as the app's counters are). `/empty` and the read run
//! exactly the baseline's code.

#[cfg(target_arch = "wasm32")]
mod spin_entry {
    use spin_sdk::experimental::wasi::keyvalue::{atomics, store as wasi_store};
    use spin_sdk::http::{IntoResponse, Request};
    use spin_sdk::http_service;
    use spin_sdk::key_value::Store;

    #[http_service]
    async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let path = req.uri().path().to_string();
        if path.ends_with("/empty") {
            return Ok(http::Response::builder().status(200).body("ok\n".to_string())?);
        }
        if path.ends_with("/incr") {
            let bucket = wasi_store::open("default").map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let n = atomics::increment(&bucket, "n", 1).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            return Ok(http::Response::builder().status(200).body(format!("{n}\n"))?);
        }
        let store = Store::open_default().await?;
        let (writes, fresh) = super::writes(&path);
        if writes > 0 {
            // the same value each time (SQLite then changes no page: no journal, no flush), or
            // a new one (a real write, as the app's are)
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            for i in 0..writes {
                let value = if fresh { format!("{now:016}-{i}") } else { "0123456789abcdef".to_owned() };
                store.set(&format!("w{i}"), value.as_bytes()).await?;
            }
            return Ok(http::Response::builder().status(200).body(format!("{writes}\n"))?);
        }
        let v = store.get("k").await?;
        let body = format!("{}\n", v.map(|b| b.len()).unwrap_or(0));
        if path.ends_with("/kvlen") {
            return Ok(http::Response::builder().status(200).header("content-length", body.len().to_string()).body(body)?);
        }
        Ok(http::Response::builder().status(200).body(body)?)
    }
}

/// How many `set`s a path asks for, and whether of new values: `/write` one and `/write3`
/// three, of the value already stored; `/write3new` three of new values; anything else none.
pub fn writes(path: &str) -> (usize, bool) {
    if path.ends_with("/write3new") {
        (3, true)
    } else if path.ends_with("/write3") {
        (3, false)
    } else if path.ends_with("/write") {
        (1, false)
    } else {
        (0, false)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_name_their_writes() {
        assert_eq!(super::writes("/write"), (1, false));
        assert_eq!(super::writes("/write3"), (3, false));
        assert_eq!(super::writes("/write3new"), (3, true));
        assert_eq!(super::writes("/kv"), (0, false));
        assert_eq!(super::writes("/empty"), (0, false));
    }
}
