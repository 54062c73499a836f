//! One error type, one wire format: RFC 9457 `application/problem+json` with a stable `code`,
//! a Chinese `title`, the `rule` it enforces (from `domain-rules.md`) and, for rule checks,
//! every violation found so the caller can fix everything in one go.

use http::StatusCode;
use serde::Serialize;

/// Every stable error code the API can return. The codes are part of the public contract
/// (documented in `docs/openapi.yaml`): never rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    RouteNotFound,
    MethodNotAllowed,
    TokenMissing,
    TokenInvalid,
    TokenExpired,
    TokenRevoked,
    RoleForbidden,
    BodyTooLarge,
    UnsupportedMediaType,
    MalformedJson,
    InvalidBody,
    NotFound,
    StoreUnavailable,
    ServerMisconfigured,
    /// A query parameter is missing or malformed (400); `violations` name each parameter.
    InvalidQuery,
    /// An uploaded catalogue file is unreadable, not the official layout, or has bad rows
    /// (422); `violations` list every bad cell as `/{sheet}/{row}/{column}`.
    InvalidCatalogueFile,
    /// An import clashes with an edition already stored: the same file under another date, or
    /// another file for the same effective date (409, rule C1).
    EditionConflict,
    /// A regional list version breaks a catalogue rule (422): names a code the national
    /// edition lacks or changes a national field (C2), a standard outside C5, or drops a drug
    /// only because it became a regular entry (C8); `violations` list every problem.
    InvalidRegionalList,
    /// A regional list version for a date already in force differs from the stored one: what
    /// was in force is history (409).
    ListVersionConflict,
    /// A path parameter cannot name anything this endpoint could create: a code is 1 to 64
    /// letters, digits, `-` or `_` (400); `violations` name the parameter.
    InvalidPath,
    /// The caller's role may call the endpoint, but not for this record: an agency acts (and
    /// reads personal records) only in the regions it administers: its own, or a province
    /// agency's cities (403).
    OutOfRegion,
    /// An application fails an eligibility rule (422): the person (E1), the institution (I1),
    /// the physician (I3), the drug's lists or coverage (C2, E7), the pharmacy (I4), the
    /// restriction (C9); `violations` list every failed condition.
    NotEligible,
    /// The person already holds a live filing (pending or approved) for this drug (409).
    FilingExists,
    /// The filing's state does not allow the action (409), e.g. approving before the
    /// physician recommended, acting on a revoked filing, renewing too early.
    FilingStateConflict,
    /// Another change to the same record was made at the same time; read it again and retry
    /// (409).
    ConcurrentUpdate,
    /// A prescription fails the pre-check (422): the patient (E1), the institution and
    /// physician (I1, I3, P4), the filing (E5, I4), the drugs (C1, C2, C9), mixing (P3), paper
    /// (P1), the pharmacy (I2, P2), supply and validity limits; `violations` list every one.
    PrescriptionRefused,
    /// A pre-check's trace code is from an earlier day: pre-check the prescription again (409).
    PrecheckExpired,
    /// The institution's prescription number was already uploaded with another content (409).
    RxNumberReused,
    /// The prescription's validity ended (409, rule P8).
    RxExpired,
    /// The prescription's stage does not allow the step (409, rule P6/P8): reviewing twice,
    /// dispensing before review, again or after revocation, revoking after dispensing.
    RxStateConflict,
    /// A traceability code was already used by another dispensing (409, rules P7, M3).
    PackAlreadyUsed,
    /// The settlement cannot be computed (422): the region published no settlement policy for
    /// the date, a drug's standard is not available (a `*` amount not supplied, C6), the lines
    /// do not match what was dispensed; `violations` say which.
    SettlementRefused,
    /// The prescription is already settled by another settlement (409, rule S8).
    AlreadySettled,
    /// The party's settlement number was already used for another request (409).
    SettlementNumberReused,
    /// A report's download (CSV, xlsx) could not be written (503): e.g. more rows than a
    /// sheet holds; the JSON form of the same report still answers.
    ReportUnwritable,
    /// The alert's state does not allow the action (409, rule M3): a closed alert takes notes
    /// only.
    AlertStateConflict,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 36] = [
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TokenMissing,
        ErrorCode::TokenInvalid,
        ErrorCode::TokenExpired,
        ErrorCode::TokenRevoked,
        ErrorCode::RoleForbidden,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MalformedJson,
        ErrorCode::InvalidBody,
        ErrorCode::NotFound,
        ErrorCode::StoreUnavailable,
        ErrorCode::ServerMisconfigured,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidCatalogueFile,
        ErrorCode::EditionConflict,
        ErrorCode::InvalidRegionalList,
        ErrorCode::ListVersionConflict,
        ErrorCode::InvalidPath,
        ErrorCode::OutOfRegion,
        ErrorCode::NotEligible,
        ErrorCode::FilingExists,
        ErrorCode::FilingStateConflict,
        ErrorCode::ConcurrentUpdate,
        ErrorCode::PrescriptionRefused,
        ErrorCode::PrecheckExpired,
        ErrorCode::RxNumberReused,
        ErrorCode::RxExpired,
        ErrorCode::RxStateConflict,
        ErrorCode::PackAlreadyUsed,
        ErrorCode::SettlementRefused,
        ErrorCode::AlreadySettled,
        ErrorCode::SettlementNumberReused,
        ErrorCode::ReportUnwritable,
        ErrorCode::AlertStateConflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::RouteNotFound => "ROUTE_NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::TokenMissing => "TOKEN_MISSING",
            ErrorCode::TokenInvalid => "TOKEN_INVALID",
            ErrorCode::TokenExpired => "TOKEN_EXPIRED",
            ErrorCode::TokenRevoked => "TOKEN_REVOKED",
            ErrorCode::RoleForbidden => "ROLE_FORBIDDEN",
            ErrorCode::BodyTooLarge => "BODY_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::MalformedJson => "MALFORMED_JSON",
            ErrorCode::InvalidBody => "INVALID_BODY",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::StoreUnavailable => "STORE_UNAVAILABLE",
            ErrorCode::ServerMisconfigured => "SERVER_MISCONFIGURED",
            ErrorCode::InvalidQuery => "INVALID_QUERY",
            ErrorCode::InvalidCatalogueFile => "INVALID_CATALOGUE_FILE",
            ErrorCode::EditionConflict => "EDITION_CONFLICT",
            ErrorCode::InvalidRegionalList => "INVALID_REGIONAL_LIST",
            ErrorCode::ListVersionConflict => "LIST_VERSION_CONFLICT",
            ErrorCode::InvalidPath => "INVALID_PATH",
            ErrorCode::OutOfRegion => "OUT_OF_REGION",
            ErrorCode::NotEligible => "NOT_ELIGIBLE",
            ErrorCode::FilingExists => "FILING_EXISTS",
            ErrorCode::FilingStateConflict => "FILING_STATE_CONFLICT",
            ErrorCode::ConcurrentUpdate => "CONCURRENT_UPDATE",
            ErrorCode::PrescriptionRefused => "PRESCRIPTION_REFUSED",
            ErrorCode::PrecheckExpired => "PRECHECK_EXPIRED",
            ErrorCode::RxNumberReused => "RX_NUMBER_REUSED",
            ErrorCode::RxExpired => "RX_EXPIRED",
            ErrorCode::RxStateConflict => "RX_STATE_CONFLICT",
            ErrorCode::PackAlreadyUsed => "PACK_ALREADY_USED",
            ErrorCode::SettlementRefused => "SETTLEMENT_REFUSED",
            ErrorCode::AlreadySettled => "ALREADY_SETTLED",
            ErrorCode::SettlementNumberReused => "SETTLEMENT_NUMBER_REUSED",
            ErrorCode::ReportUnwritable => "REPORT_UNWRITABLE",
            ErrorCode::AlertStateConflict => "ALERT_STATE_CONFLICT",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::RouteNotFound | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::TokenMissing
            | ErrorCode::TokenInvalid
            | ErrorCode::TokenExpired
            | ErrorCode::TokenRevoked => StatusCode::UNAUTHORIZED,
            ErrorCode::RoleForbidden | ErrorCode::OutOfRegion => StatusCode::FORBIDDEN,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::MalformedJson | ErrorCode::InvalidQuery | ErrorCode::InvalidPath => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody
            | ErrorCode::InvalidCatalogueFile
            | ErrorCode::InvalidRegionalList
            | ErrorCode::NotEligible
            | ErrorCode::PrescriptionRefused
            | ErrorCode::SettlementRefused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::EditionConflict
            | ErrorCode::ListVersionConflict
            | ErrorCode::FilingExists
            | ErrorCode::FilingStateConflict
            | ErrorCode::ConcurrentUpdate
            | ErrorCode::PrecheckExpired
            | ErrorCode::RxNumberReused
            | ErrorCode::RxExpired
            | ErrorCode::RxStateConflict
            | ErrorCode::PackAlreadyUsed
            | ErrorCode::AlreadySettled
            | ErrorCode::SettlementNumberReused
            | ErrorCode::AlertStateConflict => StatusCode::CONFLICT,
            ErrorCode::StoreUnavailable | ErrorCode::ServerMisconfigured | ErrorCode::ReportUnwritable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The title people read (Chinese, for the staff who operate these systems).
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::RouteNotFound => "接口不存在",
            ErrorCode::MethodNotAllowed => "请求方法不允许",
            ErrorCode::TokenMissing => "缺少访问令牌",
            ErrorCode::TokenInvalid => "访问令牌无效",
            ErrorCode::TokenExpired => "访问令牌已过期",
            ErrorCode::TokenRevoked => "访问令牌已注销",
            ErrorCode::RoleForbidden => "无权访问",
            ErrorCode::BodyTooLarge => "请求体过大",
            ErrorCode::UnsupportedMediaType => "不支持的内容类型",
            ErrorCode::MalformedJson => "请求体不是合法的JSON",
            ErrorCode::InvalidBody => "请求内容不符合要求",
            ErrorCode::NotFound => "记录不存在",
            ErrorCode::StoreUnavailable => "存储暂不可用",
            ErrorCode::ServerMisconfigured => "服务配置错误",
            ErrorCode::InvalidQuery => "查询参数不符合要求",
            ErrorCode::InvalidCatalogueFile => "目录文件不符合要求",
            ErrorCode::EditionConflict => "目录版本冲突",
            ErrorCode::InvalidRegionalList => "地方目录不符合要求",
            ErrorCode::ListVersionConflict => "地方目录版本冲突",
            ErrorCode::InvalidPath => "路径参数不符合要求",
            ErrorCode::OutOfRegion => "超出管辖区域",
            ErrorCode::NotEligible => "不符合备案条件",
            ErrorCode::FilingExists => "已有有效备案",
            ErrorCode::FilingStateConflict => "备案状态不允许此操作",
            ErrorCode::ConcurrentUpdate => "记录已被同时修改",
            ErrorCode::PrescriptionRefused => "处方未通过预核验",
            ErrorCode::PrecheckExpired => "预核验已过期",
            ErrorCode::RxNumberReused => "处方编号已被使用",
            ErrorCode::RxExpired => "处方已失效",
            ErrorCode::RxStateConflict => "处方状态不允许此操作",
            ErrorCode::PackAlreadyUsed => "追溯码已被使用",
            ErrorCode::SettlementRefused => "无法结算",
            ErrorCode::AlreadySettled => "已结算",
            ErrorCode::SettlementNumberReused => "结算编号已被使用",
            ErrorCode::ReportUnwritable => "报表文件无法生成",
            ErrorCode::AlertStateConflict => "预警状态不允许此操作",
        }
    }
}

/// One thing wrong with a request: where (`field`, a JSON pointer or column name), why, and
/// the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    pub field: String,
    pub reason: String,
}

impl From<rules::registry::FieldProblem> for Violation {
    fn from(problem: rules::registry::FieldProblem) -> Self {
        Violation { rule: problem.rule, field: problem.field, reason: problem.reason }
    }
}

/// An error on its way to the caller as problem JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub rule: Option<&'static str>,
    pub violations: Vec<Violation>,
    /// Extra response headers (`WWW-Authenticate`, `Allow`).
    pub headers: Vec<(http::HeaderName, String)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), rule: None, violations: Vec::new(), headers: Vec::new() }
    }

    pub fn with_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    pub fn with_violations(mut self, violations: Vec<Violation>) -> Self {
        self.violations = violations;
        self
    }

    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The problem document (RFC 9457). `type` is a relative URI naming the code, resolvable
    /// against the API's base; `instance` is left out so no request path (which may carry a
    /// personal identifier) is echoed back.
    pub fn to_problem_json(&self) -> serde_json::Value {
        let mut problem = serde_json::json!({
            "type": format!("/problems/{}", self.code.as_str().to_ascii_lowercase().replace('_', "-")),
            "title": self.code.title(),
            "status": self.status().as_u16(),
            "code": self.code.as_str(),
            "detail": self.detail,
        });
        if let Some(rule) = self.rule {
            problem["rule"] = rule.into();
        }
        if !self.violations.is_empty() {
            problem["violations"] = serde_json::to_value(&self.violations).unwrap_or_default();
        }
        problem
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> Self {
        // The store's message may contain keys; they never hold personal data (see store::keys),
        // but the caller needs none of it either.
        eprintln!("store error: {error}");
        ApiError::new(ErrorCode::StoreUnavailable, "the key-value store could not complete the request; retry later")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_upper_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'), "{s}");
            assert!(code.status().is_client_error() || code.status().is_server_error());
            assert_ne!(code.status(), StatusCode::INTERNAL_SERVER_ERROR, "{s} must not be a 500");
        }
    }

    #[test]
    fn problem_json_carries_code_rule_and_violations() {
        let error = ApiError::new(ErrorCode::InvalidBody, "2 problems")
            .with_rule("P3")
            .with_violations(vec![Violation { rule: Some("P3"), field: "/lines/0".into(), reason: "mixed".into() }]);
        let json = error.to_problem_json();
        assert_eq!(json["status"], 422);
        assert_eq!(json["code"], "INVALID_BODY");
        assert_eq!(json["type"], "/problems/invalid-body");
        assert_eq!(json["rule"], "P3");
        assert_eq!(json["violations"][0]["field"], "/lines/0");
    }
}
