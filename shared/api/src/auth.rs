//! Bearer tokens: JWTs signed with HMAC-SHA256 under the `token_secret` Spin variable,
//! carrying the caller's [`Principal`] (role + subject), a `jti` for revocation, and expiry.

use crate::error::{ApiError, ErrorCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rules::role::Principal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

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
    unexpired(decode(secret, token)?, now)
}

/// A token's claims, if its signature verifies and its subject is well formed; expiry is not
/// looked at.
fn decode(secret: &[u8], token: &str) -> Result<Claims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked by `unexpired` against the request's own clock reading, not the
    // library's, so that every rule in a request sees the same instant.
    validation.validate_exp = false;
    validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
    let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => ApiError::new(ErrorCode::TokenInvalid, "token signature does not verify"),
            _ => ApiError::new(ErrorCode::TokenInvalid, "token is not a well-formed token of this service"),
        })?
        .claims;
    if claims.principal.validate().is_err() {
        return Err(ApiError::new(ErrorCode::TokenInvalid, "token subject is malformed"));
    }
    Ok(claims)
}

fn unexpired(claims: Claims, now: i64) -> Result<Claims, ApiError> {
    if claims.exp <= now {
        return Err(ApiError::new(ErrorCode::TokenExpired, "token has expired; ask for a new one"));
    }
    Ok(claims)
}

/// How many verified tokens an instance keeps: the callers of one instance's life (Spin reuses
/// an instance for up to 128 requests), a few hundred bytes each.
const TOKENS_KEPT: usize = 256;

/// The tokens an instance has verified, so that a caller's next request with the same token
/// skips decoding it and checking its signature (issue 19: about 4% of a filing check's CPU).
/// Only a token whose signature verified is kept, with the secret it verified under (another
/// secret finds nothing kept); its expiry is checked at every use, and its revocation by the
/// caller per request as before. A lookup hashes the whole token, so a forged token only ever
/// meets a kept one that is equal to it. Full, it starts over.
pub struct VerifiedTokens {
    kept: Mutex<Option<Kept>>,
}

struct Kept {
    secret: Vec<u8>,
    claims: HashMap<String, Claims>,
}

impl VerifiedTokens {
    pub const fn new() -> Self {
        Self { kept: Mutex::new(None) }
    }

    /// As [`verify`], answered from the tokens kept where it can be.
    pub fn verify(&self, secret: &[u8], token: &str, now: i64) -> Result<Claims, ApiError> {
        // every use is one map operation: a poisoned lock leaves nothing half-done
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept = match kept.as_mut() {
            Some(kept) if kept.secret == secret => kept,
            _ => kept.insert(Kept { secret: secret.to_vec(), claims: HashMap::new() }),
        };
        if let Some(claims) = kept.claims.get(token) {
            return unexpired(claims.clone(), now);
        }
        let claims = verify(secret, token, now)?;
        if kept.claims.len() >= TOKENS_KEPT {
            kept.claims.clear();
        }
        kept.claims.insert(token.to_string(), claims.clone());
        Ok(claims)
    }
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::new()
    }
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
    fn a_kept_token_is_answered_as_verify_answers_it() {
        let tokens = VerifiedTokens::new();
        let (token, issued) = issue(SECRET, pharmacist(), NOW, 60).unwrap();
        assert_eq!(tokens.verify(SECRET, &token, NOW).unwrap(), issued);
        // kept now: the same claims, and still refused once expired
        assert_eq!(tokens.verify(SECRET, &token, NOW + 59).unwrap(), issued);
        assert_eq!(tokens.verify(SECRET, &token, NOW + 60).unwrap_err().code, ErrorCode::TokenExpired);
        // another secret finds nothing kept: the token no longer verifies
        let other = b"another-secret-another-secret-xx";
        assert_eq!(tokens.verify(other, &token, NOW).unwrap_err().code, ErrorCode::TokenInvalid);
        assert_eq!(tokens.verify(SECRET, &token, NOW).unwrap(), issued);
    }

    #[test]
    fn a_token_that_does_not_verify_is_never_kept() {
        let tokens = VerifiedTokens::new();
        let (token, _) = issue(SECRET, pharmacist(), NOW, 60).unwrap();
        let tampered = token.replacen('.', ".e", 1);
        for _ in 0..2 {
            assert_eq!(tokens.verify(SECRET, &tampered, NOW).unwrap_err().code, ErrorCode::TokenInvalid);
        }
        let (expired, _) = issue(SECRET, pharmacist(), NOW - 120, 60).unwrap();
        assert_eq!(tokens.verify(SECRET, &expired, NOW).unwrap_err().code, ErrorCode::TokenExpired);
        assert!(tokens.kept.lock().unwrap().as_ref().unwrap().claims.is_empty());
    }

    #[test]
    fn the_tokens_kept_are_bounded() {
        let tokens = VerifiedTokens::new();
        for _ in 0..TOKENS_KEPT + 1 {
            let (token, _) = issue(SECRET, pharmacist(), NOW, 60).unwrap();
            tokens.verify(SECRET, &token, NOW).unwrap();
        }
        assert!(tokens.kept.lock().unwrap().as_ref().unwrap().claims.len() <= TOKENS_KEPT);
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
