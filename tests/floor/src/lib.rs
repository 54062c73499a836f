//! The floor an endpoint is compared with (issue 19): `../shared/baseline`'s two minimal
//! handlers, unchanged (`/empty` answers "ok" without touching anything; any other path opens
//! the default store and reads one key), plus the minimal writes the host's store is checked
//! with against Spin's ratios: `/write` (one `set`), `/write3` (three `set`s) and `/incr` (one
//! `increment` through `wasi:keyvalue/atomics`, as the app's counters are). Each write path is
//! tested before the store is opened only by the path itself, so `/empty` and the read run
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
        let writes = super::writes(&path);
        if writes > 0 {
            for i in 0..writes {
                store.set(&format!("w{i}"), b"0123456789abcdef").await?;
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

/// How many `set`s a path asks for: `/write` one, `/write3` three, anything else none.
pub fn writes(path: &str) -> usize {
    if path.ends_with("/write3") {
        3
    } else if path.ends_with("/write") {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_name_their_writes() {
        assert_eq!(super::writes("/write"), 1);
        assert_eq!(super::writes("/write3"), 3);
        assert_eq!(super::writes("/kv"), 0);
        assert_eq!(super::writes("/empty"), 0);
    }
}
