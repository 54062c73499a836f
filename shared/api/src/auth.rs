//! Bearer tokens: JWTs signed with HMAC-SHA256 under the `token_secret` Spin variable,
//! carrying the caller's [`Principal`] (role + subject), a `jti` for revocation, and expiry.

use crate::error::{ApiError, ErrorCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rules::role::Principal;
use serde::{Deserialize, Serialize};

/// Tokens live at most 30 days; revocation covers the rest.
pub const MAX_TOKEN_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// The claims inside a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(flatten)]
    pub principal: Principal,
    /// Unique token id, the handle for revocation.
    pub jti: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// Why a token could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("{0} must be 1 to 64 letters, digits, '-' or '_'")]
    InvalidSubject(&'static str),
    #[error("the lifetime must be 1 to {MAX_TOKEN_TTL_SECONDS} seconds")]
    InvalidTtl,
}

/// Signs a new token for `principal`, valid for `ttl_seconds` from `now` (seconds).
pub fn issue(secret: &[u8], principal: Principal, now: i64, ttl_seconds: i64) -> Result<(String, Claims), IssueError> {
    principal.validate().map_err(|e| IssueError::InvalidSubject(e.field))?;
    if !(1..=MAX_TOKEN_TTL_SECONDS).contains(&ttl_seconds) {
        return Err(IssueError::InvalidTtl);
    }
    let claims = Claims { principal, jti: uuid::Uuid::new_v4().to_string(), iat: now, exp: now + ttl_seconds };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
        .map_err(|_| IssueError::InvalidTtl)?;
    Ok((token, claims))
}

/// Verifies a token's signature and expiry at `now` (seconds) and returns its claims.
/// Revocation is checked by the caller, which has the store.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<Claims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against the request's own clock reading, not the library's,
    // so that every rule in a request sees the same instant.
    validation.validate_exp = false;
    validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
    let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => ApiError::new(ErrorCode::TokenInvalid, "token signature does not verify"),
            _ => ApiError::new(ErrorCode::TokenInvalid, "token is not a well-formed token of this service"),
        })?
        .claims;
    if claims.exp <= now {
        return Err(ApiError::new(ErrorCode::TokenExpired, "token has expired; ask for a new one"));
    }
    if claims.principal.validate().is_err() {
        return Err(ApiError::new(ErrorCode::TokenInvalid, "token subject is malformed"));
    }
    Ok(claims)
}

/// Extracts the token from an `Authorization: Bearer …` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret";
    const NOW: i64 = 1_780_000_000;

    fn pharmacist() -> Principal {
        Principal::Pharmacist { phar_code: "F420100001".into(), fixmedins_code: "P42010000001".into() }
    }

    #[test]
    fn issued_token_verifies_with_its_principal() {
        let (token, issued) = issue(SECRET, pharmacist(), NOW, 3600).unwrap();
        let claims = verify(SECRET, &token, NOW + 10).unwrap();
        assert_eq!(claims, issued);
        assert_eq!(claims.principal, pharmacist());
    }

    #[test]
    fn expired_token_is_refused_as_expired() {
        let (token, _) = issue(SECRET, pharmacist(), NOW, 60).unwrap();
        assert_eq!(verify(SECRET, &token, NOW + 60).unwrap_err().code, ErrorCode::TokenExpired);
    }

    #[test]
    fn token_signed_with_another_secret_is_invalid() {
        let (token, _) = issue(b"another-secret-another-secret-xx", pharmacist(), NOW, 60).unwrap();
        assert_eq!(verify(SECRET, &token, NOW).unwrap_err().code, ErrorCode::TokenInvalid);
    }

    #[test]
    fn garbage_and_tampered_tokens_are_invalid() {
        assert_eq!(verify(SECRET, "not.a.token", NOW).unwrap_err().code, ErrorCode::TokenInvalid);
        let (token, _) = issue(SECRET, pharmacist(), NOW, 60).unwrap();
        let tampered = token.replacen('.', ".e", 1);
        assert_eq!(verify(SECRET, &tampered, NOW).unwrap_err().code, ErrorCode::TokenInvalid);
    }

    #[test]
    fn refuses_to_issue_for_malformed_subjects_or_ttl() {
        let bad = Principal::Patient { psn_no: "has space".into() };
        assert_eq!(issue(SECRET, bad, NOW, 60).unwrap_err(), IssueError::InvalidSubject("psn_no"));
        assert_eq!(issue(SECRET, pharmacist(), NOW, 0).unwrap_err(), IssueError::InvalidTtl);
        assert_eq!(issue(SECRET, pharmacist(), NOW, MAX_TOKEN_TTL_SECONDS + 1).unwrap_err(), IssueError::InvalidTtl);
    }

    #[test]
    fn parses_bearer_header_case_insensitively() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
