//! Tokens: an admin issues them for any role and subject, and revokes them by `jti`.
//! Revocation is enforced by every component (see `api::service`).

use api::auth::{self, IssueError};
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Violation};
use serde::{Deserialize, Serialize};
use store::Revocations;
use store::revocations::Revocation;

/// Staff tokens last a working shift unless asked otherwise.
const DEFAULT_TTL_SECONDS: i64 = 8 * 3600;

#[derive(Deserialize)]
struct IssueRequest {
    #[serde(flatten)]
    principal: Principal,
    ttl_seconds: Option<i64>,
}

#[derive(Serialize)]
struct Issued {
    token: String,
    token_type: &'static str,
    jti: String,
    expires_at: String,
    #[serde(flatten)]
    principal: Principal,
}

/// `POST /api/auth/tokens` (admin).
pub fn issue(ctx: &Ctx) -> ApiResult<Reply> {
    let request: IssueRequest = ctx.json()?;
    if request.principal == Principal::Public {
        return Err(invalid("/role", "public callers need no token"));
    }
    let ttl = request.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    let (token, claims) = auth::issue(ctx.config.token_secret()?, request.principal, ctx.now.timestamp(), ttl)
        .map_err(|error| match error {
            IssueError::InvalidSubject(field) => invalid(&format!("/{field}"), &error.to_string()),
            IssueError::InvalidTtl => invalid("/ttl_seconds", &error.to_string()),
        })?;
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
        .map(|t| t.with_timezone(&rules::time::china_standard_time()).to_rfc3339())
        .unwrap_or_default();
    Ok(Reply::created(&Issued { token, token_type: "Bearer", jti: claims.jti, expires_at, principal: claims.principal }))
}

/// Demo tokens last a working shift too.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoRequest {
    role: String,
    /// One demo identity of the role by its code (`psn_no`, `dr_code`, `fixmedins_code`,
    /// `phar_code`, `admdvs`, `operator`); absent: the first of the demo registry.
    subject: Option<String>,
}

#[derive(Serialize)]
struct DemoIssued {
    #[serde(flatten)]
    issued: Issued,
    /// The demo identity's name, to show who the caller now is.
    name: String,
}

/// `POST /api/auth/demo-tokens` (public, and only while `demo_data` is on): a token for an
/// identity of the demo registry, so the web app's login offers the demo roles in one click.
/// With demo data off the endpoint answers 404 as if it did not exist: a production
/// deployment issues tokens only through an admin.
pub fn issue_demo(ctx: &Ctx) -> ApiResult<Reply> {
    if !ctx.config.demo_data {
        return Err(ApiError::not_found("demo token issuer: demo_data is off on this deployment"));
    }
    let request: DemoRequest = ctx.json()?;
    let Some(identity) = crate::demo::identity(ctx, &request.role, request.subject.as_deref())? else {
        let field = if request.subject.is_some() { "/subject" } else { "/role" };
        return Err(invalid(field, "no such demo identity: role is one of patient, physician, hospital_office, pharmacist, agency, admin, with a subject from the demo registry"));
    };
    let (token, claims) = auth::issue(ctx.config.token_secret()?, identity.principal, ctx.now.timestamp(), DEFAULT_TTL_SECONDS)
        .map_err(|error| invalid("/subject", &error.to_string()))?;
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
        .map(|t| t.with_timezone(&rules::time::china_standard_time()).to_rfc3339())
        .unwrap_or_default();
    let issued = Issued { token, token_type: "Bearer", jti: claims.jti, expires_at, principal: claims.principal };
    Ok(Reply::created(&DemoIssued { issued, name: identity.name }))
}

#[derive(Deserialize)]
struct RevokeRequest {
    reason: String,
}

/// `POST /api/auth/tokens/{jti}/revocation` (admin). Idempotent.
pub async fn revoke(ctx: &Ctx) -> ApiResult<Reply> {
    let jti = ctx.param("jti")?;
    if !rules::role::is_code(jti) {
        return Err(ApiError::not_found("token"));
    }
    let request: RevokeRequest = ctx.json()?;
    if request.reason.trim().is_empty() {
        return Err(invalid("/reason", "say why the token is revoked"));
    }
    let revocation = Revocation {
        jti: jti.to_string(),
        revoked_by: ctx.principal.audit_name(),
        revoked_at: ctx.now.with_timezone(&rules::time::china_standard_time()).to_rfc3339(),
        reason: request.reason,
    };
    let stored = Revocations::new(ctx.kv().await?).revoke(&revocation).await?;
    Ok(Reply::ok(&stored))
}

#[derive(Serialize)]
struct WhoAmI<'a> {
    #[serde(flatten)]
    principal: &'a Principal,
    jti: Option<&'a str>,
}

/// `GET /api/auth/whoami` (anyone): how the service sees the caller, for integrators checking
/// their tokens.
pub fn whoami(ctx: &Ctx) -> ApiResult<Reply> {
    Ok(Reply::ok(&WhoAmI { principal: &ctx.principal, jti: ctx.token_id.as_deref() }))
}

fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, reason.to_string())
        .with_violations(vec![Violation { rule: None, field: field.to_string(), reason: reason.to_string() }])
}
