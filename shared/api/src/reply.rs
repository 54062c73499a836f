//! Successful responses.

use http::StatusCode;
use serde::Serialize;

/// A successful response: a status and a JSON (or other) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A download's file name (`Content-Disposition: attachment`), ASCII.
    pub file_name: Option<String>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        // Serialising our own response types cannot fail (no maps with non-string keys, no
        // failing Serialize impls); an empty object is a safe fallback all the same.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self { status, content_type: "application/json; charset=utf-8", body, file_name: None }
    }

    /// A body of another type: text, a CSV or a spreadsheet.
    pub fn bytes(content_type: &'static str, body: Vec<u8>) -> Self {
        Self { status: StatusCode::OK, content_type, body, file_name: None }
    }

    /// The same reply as a download named `file_name`.
    pub fn download(self, file_name: impl Into<String>) -> Self {
        Self { file_name: Some(file_name.into()), ..self }
    }

    pub fn ok(value: &impl Serialize) -> Self {
        Self::json(StatusCode::OK, value)
    }

    pub fn created(value: &impl Serialize) -> Self {
        Self::json(StatusCode::CREATED, value)
    }
}
