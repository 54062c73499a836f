//! What a handler gets: the authenticated caller, path parameters, query, body, settings, the
//! request's clock reading, and the store (opened on first use).

use crate::config::Config;
use crate::error::{ApiError, ApiResult, ErrorCode, Violation};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use rules::role::Principal;
use serde::de::DeserializeOwned;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use store::{KeyValue, ReadAhead, Revocations, SpinKv};

/// The store as handlers use it: Spin's, reading ahead where the `kv_read_ahead` variable
/// allows (`store::ReadAhead`).
pub type Kv = ReadAhead<SpinKv>;

pub struct Ctx {
    pub principal: Principal,
    /// The token's id, when the caller presented one.
    pub token_id: Option<String>,
    pub config: &'static Config,
    /// One clock reading per request, so every rule in it sees the same instant.
    pub now: DateTime<Utc>,
    request: RequestParts,
    kv: OnceCell<Kv>,
    token: TokenCheck,
}

/// Whether the caller's token was found revoked. The one read it takes is made with the
/// request's first store operation, folded into its first read-ahead when that comes first
/// (issue 19: no round trip of its own), or after the handler when it used no store. So
/// nothing is read or written for a revoked token, and it gets no answer but 401.
#[derive(Clone, Default)]
pub(crate) struct TokenCheck(Rc<RefCell<TokenState>>);

#[derive(Clone, Default)]
enum TokenState {
    /// No token, or one found unrevoked.
    #[default]
    Passed,
    /// A token (its `jti`) whose revocation is not read yet.
    Unread(String),
    Revoked,
}

impl TokenCheck {
    pub(crate) fn unread(jti: &str) -> Self {
        Self(Rc::new(RefCell::new(TokenState::Unread(jti.to_string()))))
    }

    fn unread_jti(&self) -> Option<String> {
        match &*self.0.borrow() {
            TokenState::Unread(jti) => Some(jti.clone()),
            _ => None,
        }
    }

    /// Reads the revocation if it is unread: an error for a revoked token, now and later.
    pub(crate) async fn settle(&self, kv: &impl store::KeyValue) -> ApiResult<()> {
        let state = self.0.borrow().clone();
        match state {
            TokenState::Passed => Ok(()),
            TokenState::Revoked => Err(revoked()),
            TokenState::Unread(jti) => {
                let revoked_now = Revocations::new(kv).is_revoked(&jti).await?;
                if revoked_now {
                    *self.0.borrow_mut() = TokenState::Revoked;
                    return Err(revoked());
                }
                *self.0.borrow_mut() = TokenState::Passed;
                Ok(())
            }
        }
    }

    /// Whether the revocation still waits to be read.
    pub(crate) fn is_unread(&self) -> bool {
        self.unread_jti().is_some()
    }
}

fn revoked() -> ApiError {
    crate::service::unauthorized(ErrorCode::TokenRevoked, "this token was revoked; ask for a new one")
}

/// The parts of the HTTP request a handler may read.
pub(crate) struct RequestParts {
    pub params: Vec<(String, String)>,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Ctx {
    pub(crate) fn new(
        principal: Principal,
        token_id: Option<String>,
        config: &'static Config,
        now: DateTime<Utc>,
        request: RequestParts,
        token: TokenCheck,
    ) -> Self {
        Self { principal, token_id, config, now, request, kv: OnceCell::new(), token }
    }

    /// A path parameter declared in the route's template. Route tables and handlers are
    /// written together, so a missing one is a bug; it is reported as a 404, not a panic.
    pub fn param(&self, name: &str) -> ApiResult<&str> {
        self.request
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::new(ErrorCode::RouteNotFound, format!("missing path parameter {name}")))
    }

    /// A region code (`admdvs`, six digits) in the path; anything else names no region (404).
    pub fn region_param(&self, name: &str) -> ApiResult<&str> {
        let admdvs = self.param(name)?;
        if !rules::registry::is_admdvs(admdvs) {
            return Err(ApiError::not_found("region (a 6-digit admdvs code)"));
        }
        Ok(admdvs)
    }

    /// The raw query string (without `?`).
    pub fn query(&self) -> &str {
        &self.request.query
    }

    /// The raw body, for uploads that are not JSON (a catalogue edition's xlsx or CSV).
    pub fn body(&self) -> &[u8] {
        &self.request.body
    }

    /// The request's `Content-Type` header, if it was sent and is text.
    pub fn content_type(&self) -> Option<&str> {
        self.request.content_type.as_deref()
    }

    /// Today's business date in China Standard Time.
    pub fn today(&self) -> NaiveDate {
        rules::time::business_date(self.now)
    }

    /// The request's instant in China Standard Time, RFC 3339, for audit fields.
    pub fn timestamp(&self) -> String {
        self.now.with_timezone(&rules::time::china_standard_time()).to_rfc3339()
    }

    /// The body parsed as JSON. An empty body parses as `{}` so optional-only bodies may be
    /// omitted; anything else must be `application/json`. Syntax errors are 400; a body of the
    /// wrong shape is 422 with the path of the offending field.
    pub fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        let body = &self.request.body;
        if !body.is_empty() && !self.request.content_type.as_deref().is_some_and(is_json_media_type) {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json"));
        }
        let bytes: &[u8] = if body.is_empty() { b"{}" } else { body };
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let field = json_pointer(error.path());
            let inner = error.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    ApiError::new(ErrorCode::InvalidBody, "the body does not have the expected fields")
                        .with_violations(vec![Violation { rule: None, field, reason: inner.to_string() }])
                }
                _ => ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {inner}")),
            }
        })?;
        deserializer
            .end()
            .map_err(|e| ApiError::new(ErrorCode::MalformedJson, format!("trailing data after the JSON value: {e}")))?;
        Ok(value)
    }

    /// The store (requests that never touch it never open it), after the caller's token is
    /// known not to be revoked.
    pub async fn kv(&self) -> ApiResult<&Kv> {
        let kv = self.store();
        self.token.settle(kv).await?;
        Ok(kv)
    }

    /// The store, having read `keys` ahead in one operation (issue 19, `store::ReadAhead`): for
    /// the keys a handler is about to read, in the order it reads them. The token's revocation
    /// is read with them when it is still unread.
    pub async fn read_ahead(&self, mut keys: Vec<String>) -> ApiResult<&Kv> {
        let kv = self.store();
        if let Some(jti) = self.token.unread_jti() {
            keys.push(store::keys::revoked_token(&jti));
        }
        kv.read_ahead(&keys).await?;
        self.token.settle(kv).await?;
        Ok(kv)
    }

    /// The request's store; opening it asks nothing of Spin (`SpinKv` opens on first use).
    fn store(&self) -> &Kv {
        self.kv.get_or_init(|| ReadAhead::new(SpinKv::new(), self.config.kv_read_ahead))
    }
}

fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Reads a typed value out of part of an already parsed body (found at the JSON Pointer `at`),
/// reporting a wrong shape as 422 with the full pointer of the offending field. For bodies
/// whose part's type depends on another part (a path parameter, a tag).
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value, at: &str) -> ApiResult<T> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = format!("{at}{}", json_pointer(error.path()));
        ApiError::new(ErrorCode::InvalidBody, "the body does not have the expected fields")
            .with_violations(vec![Violation { rule: None, field, reason: error.into_inner().to_string() }])
    })
}

/// The JSON Pointer (RFC 6901) of a deserialisation path: `/lines/0/quantity`, `` for the root.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .map(|token| format!("/{token}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // fields exist to be deserialised
    struct Line {
        quantity: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        lines: Vec<Line>,
    }

    fn pointer_of(json: &str) -> String {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let error = serde_path_to_error::deserialize::<_, Body>(&mut deserializer).unwrap_err();
        json_pointer(error.path())
    }

    #[test]
    fn points_at_the_offending_field() {
        assert_eq!(pointer_of(r#"{"lines":[{"quantity":1},{"quantity":-1}]}"#), "/lines/1/quantity");
        assert_eq!(pointer_of(r#"{}"#), "");
    }
}

