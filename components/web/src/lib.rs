//! The `web` component: serves the web app (`web/`, built by `npm run build` to `web/dist`)
//! at `/` and `/app/...`. Its files are embedded at build time (`build.rs`): nothing is read
//! from disk or fetched at run time, and it needs no key-value store or variable.
//!
//! - `/` redirects to `/app/`;
//! - `/app/assets/…` are Vite's content-hashed files: cached for a year, `immutable`;
//! - any other file of `dist` is served at `/app/<name>` with `no-cache` (revalidated by ETag);
//! - every other `/app/...` path is the single-page app's: `index.html` (`no-cache`), whose
//!   router shows the page;
//! - text files are sent gzip-compressed (compressed once, at build) when the client accepts it.
//!
//! The pages call the API with the user's token; this component knows nothing of the domain.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};

/// One embedded file.
pub struct Asset {
    /// The URL path it is served at.
    pub path: &'static str,
    pub content_type: &'static str,
    /// A content-hashed file that never changes under its name.
    pub immutable: bool,
    /// A strong validator: a hash of the content.
    pub etag: &'static str,
    pub body: &'static [u8],
    /// The same, gzip-compressed at build time, where that is smaller.
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const INDEX: &str = "/app/index.html";
/// The pages load only their own scripts and styles; the QR code is an inline `data:` image.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/// The embedded file served at `path`, if any.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.binary_search_by(|a| a.path.cmp(path)).ok().map(|i| &ASSETS[i])
}

/// Answers one request: `method`, the URL `path` (no query), and the request's
/// `Accept-Encoding` and `If-None-Match` header values.
pub fn respond(method: &Method, path: &str, accept_encoding: Option<&str>, if_none_match: Option<&str>) -> Response<Bytes> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == "/" || path.is_empty() {
        let mut response = text(StatusCode::FOUND, "/app/\n");
        response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/app/"));
        return response;
    }
    let found = match asset(path) {
        Some(found) => Some(found),
        // a missing hashed file is a 404, not the app: a stale page must not parse HTML as script
        None if path.starts_with("/app/assets/") => None,
        None if path == "/app" || path.starts_with("/app/") => asset(INDEX),
        None => None,
    };
    let Some(file) = found else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let mut response = if if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == file.etag || t.trim() == "*")) {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let gzip = file.gzip.filter(|_| accepts_gzip(accept_encoding));
        let body = if method == Method::HEAD { Bytes::new() } else { Bytes::from_static(gzip.unwrap_or(file.body)) };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
        if gzip.is_some() {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(file.etag));
    if file.gzip.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    let cache = if file.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if file.content_type.starts_with("text/html") {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// `Accept-Encoding` names gzip (or `*`) without refusing it (`q=0`).
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|value| {
        value.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0)));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

fn text(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(target_arch = "wasm32")]
mod spin_entry {
    use bytes::Bytes;
    use http_body_util::Full;

    #[spin_sdk::http_service]
    async fn handle(request: spin_sdk::http::Request) -> http::Response<Full<Bytes>> {
        let header = |name: http::header::HeaderName| request.headers().get(name).and_then(|v| v.to_str().ok());
        let response = super::respond(
            request.method(),
            request.uri().path(),
            header(http::header::ACCEPT_ENCODING),
            header(http::header::IF_NONE_MATCH),
        );
        let status = response.status().as_u16();
        eprintln!("{} web -> {status}", request.method());
        response.map(Full::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn the_root_redirects_to_the_app_and_other_methods_are_refused() {
        let root = respond(&Method::GET, "/", None, None);
        assert_eq!((root.status(), root.headers()[header::LOCATION].to_str().unwrap()), (StatusCode::FOUND, "/app/"));
        assert_eq!(respond(&Method::POST, "/app/", None, None).status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(respond(&Method::GET, "/app/assets/missing-0000.js", None, None).status(), StatusCode::NOT_FOUND);
        assert_eq!(respond(&Method::GET, "/elsewhere", None, None).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn app_paths_serve_the_index_and_hashed_assets_are_immutable() {
        let Some(index) = asset(INDEX) else {
            eprintln!("web/dist was not built: only the routing without assets is checked");
            assert_eq!(respond(&Method::GET, "/app/patient", None, None).status(), StatusCode::NOT_FOUND);
            return;
        };
        let page = respond(&Method::GET, "/app/patient/drugs/x", Some("gzip"), None);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(page.headers()[header::ETAG], index.etag);
        assert!(page.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        let again = respond(&Method::GET, "/app/", None, Some(index.etag));
        assert_eq!((again.status(), again.body().len()), (StatusCode::NOT_MODIFIED, 0));
        let hashed = ASSETS.iter().find(|a| a.path.starts_with("/app/assets/")).expect("a hashed asset");
        let script = respond(&Method::GET, hashed.path, None, None);
        assert_eq!(script.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(script.body().as_ref(), hashed.body);
    }
}
