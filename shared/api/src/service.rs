//! The request pipeline every component runs: route → config → authenticate → authorize →
//! body → handler → response. Handlers only see requests that passed every step.

use crate::auth;
use crate::config;
use crate::ctx::{Ctx, RequestParts, TokenCheck};
use crate::error::{ApiError, ErrorCode};
use crate::reply::Reply;
use crate::route::{Match, Route, Routes};
use bytes::Bytes;
use http::{HeaderValue, Method, header};
use http_body_util::{BodyExt, Full, Limited};
use rules::role::{Principal, Role};
use std::time::Instant;
use store::SpinKv;

pub type Response = http::Response<Full<Bytes>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves one request with a component's route table and handler.
pub async fn serve<B, E>(
    request: http::Request<B>,
    routes: &Routes<E>,
    handler: impl AsyncFnOnce(E, Ctx) -> Result<Reply, ApiError>,
) -> Response
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
    E: Copy + 'static,
{
    let started = Instant::now();
    let method = request.method().clone();
    let (parts, body) = request.into_parts();
    // taken by the step that reads it; an answer given before that drains it first. A GET or
    // HEAD that declares no body has none (RFC 9112 §6.3): nothing to read or drain, which
    // saves the body stream's round trips on every lookup (issue 19)
    let mut body = (!is_bodiless(&method, &parts.headers)).then_some(body);
    let mut template = "(unmatched)";
    let mut drain_limit = UNMATCHED_DRAIN_LIMIT;
    let result = match routes.find(&method, parts.uri.path()) {
        Match::NotFound => Err(ApiError::new(ErrorCode::RouteNotFound, "no endpoint at this path")),
        Match::WrongMethod(allowed) => Err(method_not_allowed(&allowed)),
        Match::Found { route, params } => {
            template = route.path;
            drain_limit = route.body_limit;
            run(parts, &mut body, route, params, handler).await
        }
    };
    if let Some(unread) = body {
        drain(unread, drain_limit).await;
    }
    let (response, code) = match result {
        Ok(reply) => (reply_response(reply), None),
        Err(error) => (problem_response(&error), Some(error.code)),
    };
    // before the configuration is read (an unmatched route on a new instance): the default
    let log = config::loaded().map(|c| c.request_log).unwrap_or_default();
    if log.records(response.status()) {
        log_request(&method, template, response.status(), code, started);
    }
    response
}

/// One line of the request log: a JSON object, so a log shipper reads it without a pattern.
/// It names the route template, never the concrete path (paths can carry personal codes), and
/// an error's stable code, never its detail (details can name a person's records).
fn log_request(method: &Method, route: &str, status: http::StatusCode, code: Option<ErrorCode>, started: Instant) {
    let line = serde_json::json!({
        "method": method.as_str(),
        "route": route,
        "status": status.as_u16(),
        "code": code.map(|c| c.as_str()),
        "ms": started.elapsed().as_micros() as f64 / 1000.0,
    });
    eprintln!("{line}");
}

/// How much of a body sent to no endpoint is drained before the answer.
const UNMATCHED_DRAIN_LIMIT: usize = 64 * 1024;

/// Reads and drops a body the answer did not need (a 401, 403 or 404 before the body was read),
/// up to `limit` bytes: under Spin, answering before the body was read sometimes ends the
/// response early on a keep-alive connection (57 of 4,601 such answers, `spin-notes.md`).
/// Frames are dropped as they come, so nothing is buffered; a body beyond the limit is left.
async fn drain<B>(body: B, limit: usize)
where
    B: http_body::Body,
{
    let mut body = std::pin::pin!(body);
    let mut read = 0usize;
    while read <= limit {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, bytes::Buf::remaining),
            _ => return,
        }
    }
}

async fn run<B, E: Copy>(
    parts: http::request::Parts,
    body: &mut Option<B>,
    route: &'static Route<E>,
    params: Vec<(String, String)>,
    handler: impl AsyncFnOnce(E, Ctx) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let config = config::load().await?;
    let now = config.now(chrono::Utc::now())?;

    let (principal, token_id) = authenticate(&parts.headers, config, now.timestamp())?;
    let token = token_id.as_deref().map(TokenCheck::unread).unwrap_or_default();
    if !route.allows(principal.role()) {
        return Err(forbidden(route, principal.role()));
    }

    // The body is read only after the caller is authorized, so an anonymous client cannot make
    // a component buffer a large body for a route it may not call (it is drained, unbuffered).
    // A signed token's revocation is read later (TokenCheck), so a revoked token's holder can
    // make it buffer up to the route's limit: that holder once was a known user.
    let body = match body.take() {
        Some(body) => read_body(&parts.headers, body, route.body_limit).await?,
        None => Bytes::new(),
    };
    let request = RequestParts {
        params,
        query: parts.uri.query().unwrap_or("").to_string(),
        content_type: parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string),
        body,
    };
    let answer = handler(route.endpoint, Ctx::new(principal, token_id, config, now, request, token.clone())).await;
    // a handler that used no store has not read the revocation yet: no answer without it
    if token.is_unread() {
        token.settle(&SpinKv::new()).await?;
    }
    answer
}

/// The tokens this instance verified (`auth::VerifiedTokens`).
static VERIFIED_TOKENS: auth::VerifiedTokens = auth::VerifiedTokens::new();

/// Establishes the caller. No `Authorization` header: `Public`. A header that does not hold a
/// valid, unexpired token is refused even on public routes, so a client with a broken token
/// learns it at once rather than silently getting public answers; a revoked one is refused
/// with the request's first store operation or before its answer (TokenCheck).
fn authenticate(headers: &http::HeaderMap, config: &config::Config, now: i64) -> Result<(Principal, Option<String>), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok((Principal::Public, None));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(auth::bearer_token)
        .ok_or_else(|| unauthorized(ErrorCode::TokenInvalid, "use Authorization: Bearer <token>"))?;
    let claims = VERIFIED_TOKENS.verify(config.token_secret()?, token, now).map_err(with_challenge)?;
    Ok((claims.principal, Some(claims.jti)))
}

/// A GET or HEAD without `Content-Length` (or with 0) and without `Transfer-Encoding`: a
/// request without a body.
fn is_bodiless(method: &Method, headers: &http::HeaderMap) -> bool {
    let declared = headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).is_some_and(|length| length.as_bytes() != b"0");
    matches!(*method, Method::GET | Method::HEAD) && !declared
}

async fn read_body<B>(headers: &http::HeaderMap, body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let too_large = || ApiError::new(ErrorCode::BodyTooLarge, format!("the body may hold at most {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // A body without Content-Length (chunked) is still cut off at the limit while streaming.
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ApiError::new(ErrorCode::MalformedJson, "the request body could not be read")),
    }
}

pub(crate) fn unauthorized(code: ErrorCode, detail: &str) -> ApiError {
    with_challenge(ApiError::new(code, detail))
}

/// Adds the RFC 6750 challenge every 401 must carry.
fn with_challenge(error: ApiError) -> ApiError {
    if error.status() == http::StatusCode::UNAUTHORIZED {
        error.with_header(header::WWW_AUTHENTICATE, "Bearer")
    } else {
        error
    }
}

fn forbidden<E>(route: &Route<E>, role: Role) -> ApiError {
    if role == Role::Public {
        return unauthorized(ErrorCode::TokenMissing, "this endpoint needs a bearer token");
    }
    let allowed: Vec<&str> = route.roles.iter().map(|r| r.as_str()).collect();
    ApiError::new(
        ErrorCode::RoleForbidden,
        format!("role {} may not call this endpoint; allowed: {}", role.as_str(), allowed.join(", ")),
    )
}

fn method_not_allowed(allowed: &[Method]) -> ApiError {
    let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    ApiError::new(ErrorCode::MethodNotAllowed, format!("allowed: {}", list.join(", ")))
        .with_header(header::ALLOW, list.join(", "))
}

fn reply_response(reply: Reply) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    // Answers depend on the caller and on the day; intermediaries must not reuse them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = reply.file_name.and_then(|name| HeaderValue::try_from(format!("attachment; filename=\"{name}\"")).ok()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn problem_response(error: &ApiError) -> Response {
    let body = serde_json::to_vec(&error.to_problem_json()).unwrap_or_default();
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in &error.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name.clone(), value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_get_or_head_that_declares_no_body_is_bodiless() {
        let headers = |pairs: &[(header::HeaderName, &'static str)]| {
            pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_static(value))).collect::<http::HeaderMap>()
        };
        assert!(is_bodiless(&Method::GET, &headers(&[])));
        assert!(is_bodiless(&Method::HEAD, &headers(&[(header::CONTENT_LENGTH, "0")])));
        assert!(!is_bodiless(&Method::GET, &headers(&[(header::CONTENT_LENGTH, "12")])));
        assert!(!is_bodiless(&Method::GET, &headers(&[(header::CONTENT_LENGTH, "x")])), "a malformed length is read and refused");
        assert!(!is_bodiless(&Method::GET, &headers(&[(header::TRANSFER_ENCODING, "chunked")])));
        // a POST may stream its body without either header (HTTP/2): it is always read
        assert!(!is_bodiless(&Method::POST, &headers(&[])));
        assert!(!is_bodiless(&Method::DELETE, &headers(&[])));
    }
}
