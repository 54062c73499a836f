//! Successful responses.

use http::StatusCode;
use serde::Serialize;

/// A successful response: a status and a JSON (or other) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        // Serialising our own response types cannot fail (no maps with non-string keys, no
        // failing Serialize impls); an empty object is a safe fallback all the same.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self { status, content_type: "application/json; charset=utf-8", body }
    }

    pub fn ok(value: &impl Serialize) -> Self {
        Self::json(StatusCode::OK, value)
    }

    pub fn created(value: &impl Serialize) -> Self {
        Self::json(StatusCode::CREATED, value)
    }
}
