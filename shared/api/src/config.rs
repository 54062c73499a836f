//! Per-deployment settings from Spin variables (declared in `spin.toml`), read once per
//! component instance: variables cannot change while an instance lives.

use crate::error::{ApiError, ErrorCode};
use std::sync::OnceLock;

/// The token secret `spin.toml` ships for local development. It is accepted only while demo
/// data is on: a production deployment (demo_data = "false") must set its own.
pub const DEV_TOKEN_SECRET: &str = "dev-only-secret-not-for-production-use";

/// Secrets shorter than this are refused: HMAC-SHA256 wants at least 256 bits of key.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    token_secret: String,
    /// The region this deployment serves (`admdvs`, GB/T 2260 code).
    pub region_code: String,
    /// Whether an empty store is filled with demo data.
    pub demo_data: bool,
    /// The sandbox clock's shift as configured (`+30d`, `-12h`, `+90m`; empty: none).
    pub sandbox_clock: String,
    /// Which answers get a line in the request log (the `request_log` variable).
    pub request_log: RequestLog,
    /// Whether a request reads the keys it is about to need in one `get_many` (the
    /// `kv_read_ahead` variable: `sqlite`, Spin's default store, or `off`; store::ReadAhead).
    pub kv_read_ahead: bool,
}

/// The `kv_read_ahead` variable: `sqlite` (reading ahead, with counters in Spin's SQLite
/// format) or `off` (Redis: its `get_many` is unusable). Anything else is reported and reads
/// one key at a time, which is right on every store.
pub fn parse_kv_read_ahead(text: &str) -> bool {
    match text.trim().to_ascii_lowercase().as_str() {
        "sqlite" => true,
        "off" | "" => false,
        other => {
            eprintln!("configuration error: kv_read_ahead {other:?} is not sqlite or off: reading one key at a time");
            false
        }
    }
}

/// Which answers the request log records, one JSON line each on stderr (Spin writes a
/// component's stderr to a file: on Spin a line per request costs about a tenth of an empty
/// handler's throughput, issue 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestLog {
    /// Every answer.
    All,
    /// Answers with a 4xx or 5xx status: what an operator acts on.
    #[default]
    Errors,
    /// None (the configuration errors are still written).
    Off,
}

impl RequestLog {
    /// `all`, `errors` or `off`; an unknown value logs everything, so a typo never hides a
    /// failure (and is itself reported).
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "all" => Self::All,
            "errors" | "" => Self::Errors,
            "off" => Self::Off,
            other => {
                eprintln!("configuration error: request_log {other:?} is not all, errors or off: logging every request");
                Self::All
            }
        }
    }

    /// Whether an answer of `status` gets a line.
    pub fn records(self, status: http::StatusCode) -> bool {
        match self {
            Self::All => true,
            Self::Errors => status.is_client_error() || status.is_server_error(),
            Self::Off => false,
        }
    }
}

impl Config {
    pub fn new(token_secret: String, region_code: String, demo_data: bool) -> Self {
        Self { token_secret, region_code, demo_data, sandbox_clock: String::new(), request_log: RequestLog::default(), kv_read_ahead: false }
    }

    /// With reading ahead on or off (the `kv_read_ahead` variable).
    pub fn with_kv_read_ahead(self, kv_read_ahead: bool) -> Self {
        Self { kv_read_ahead, ..self }
    }

    /// With the request log set to `log` (the `request_log` variable).
    pub fn with_request_log(self, log: RequestLog) -> Self {
        Self { request_log: log, ..self }
    }

    /// With the sandbox clock shifted by `shift` (the `sandbox_clock` variable).
    pub fn with_sandbox_clock(self, shift: String) -> Self {
        Self { sandbox_clock: shift.trim().to_string(), ..self }
    }

    /// The time a request runs at: the real time, shifted by the sandbox clock where one is
    /// set; refused when it is set in production (demo data off) or malformed.
    pub fn now(&self, real: chrono::DateTime<chrono::Utc>) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
        if self.sandbox_clock.is_empty() {
            return Ok(real);
        }
        let misconfigured = |why: String| {
            eprintln!("configuration error: {why}");
            ApiError::new(ErrorCode::ServerMisconfigured, "the sandbox clock is not usable on this deployment")
        };
        if !self.demo_data {
            return Err(misconfigured("sandbox_clock is set while demo_data is off: a production clock cannot be shifted".into()));
        }
        let shift = parse_shift(&self.sandbox_clock).ok_or_else(|| misconfigured(format!("sandbox_clock {:?} is not like +30d, -12h or +90m", self.sandbox_clock)))?;
        real.checked_add_signed(shift).ok_or_else(|| misconfigured("sandbox_clock moves the clock out of range".into()))
    }

    /// The secret that signs tokens, or an error when it must not be used: too short, or the
    /// development default in a deployment without demo data.
    pub fn token_secret(&self) -> Result<&[u8], ApiError> {
        let misconfigured = |why: &str| {
            eprintln!("configuration error: {why}");
            ApiError::new(ErrorCode::ServerMisconfigured, "authentication is not configured on this deployment")
        };
        if self.token_secret.len() < MIN_SECRET_BYTES {
            return Err(misconfigured("token_secret is shorter than 32 bytes"));
        }
        if self.token_secret == DEV_TOKEN_SECRET && !self.demo_data {
            return Err(misconfigured("token_secret is the development default while demo_data is off"));
        }
        Ok(self.token_secret.as_bytes())
    }
}

/// `+30d`, `-12h`, `+90m`: a signed whole number of days, hours or minutes.
fn parse_shift(text: &str) -> Option<chrono::TimeDelta> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (number, unit) = rest.split_at(rest.len().checked_sub(1)?);
    let n: i64 = number.parse().ok().filter(|n: &i64| *n >= 0)?;
    match unit {
        "d" => chrono::TimeDelta::try_days(sign * n),
        "h" => chrono::TimeDelta::try_hours(sign * n),
        "m" => chrono::TimeDelta::try_minutes(sign * n),
        _ => None,
    }
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The instance's configuration, read from Spin variables on first use.
pub async fn load() -> Result<&'static Config, ApiError> {
    if let Some(config) = CONFIG.get() {
        return Ok(config);
    }
    let config = Config::new(
        variable("token_secret").await?,
        variable("region_code").await?,
        variable("demo_data").await?.trim().eq_ignore_ascii_case("true"),
    )
    .with_sandbox_clock(variable("sandbox_clock").await?)
    .with_request_log(RequestLog::parse(&variable("request_log").await?))
    .with_kv_read_ahead(parse_kv_read_ahead(&variable("kv_read_ahead").await?));
    Ok(CONFIG.get_or_init(|| config))
}

/// The instance's configuration if it has been read, without reading it.
pub fn loaded() -> Option<&'static Config> {
    CONFIG.get()
}

async fn variable(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).await.map_err(|error| {
        eprintln!("variable {name} unavailable: {error:?}");
        ApiError::new(ErrorCode::ServerMisconfigured, format!("setting {name} is not available"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_secret_is_refused_without_demo_data() {
        let production = Config::new(DEV_TOKEN_SECRET.into(), "420100".into(), false);
        assert_eq!(production.token_secret().unwrap_err().code, ErrorCode::ServerMisconfigured);
        let local = Config::new(DEV_TOKEN_SECRET.into(), "420100".into(), true);
        assert!(local.token_secret().is_ok());
    }

    #[test]
    fn the_sandbox_clock_shifts_only_a_demo_deployment() {
        let real = chrono::DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z").unwrap().to_utc();
        let demo = |shift: &str| Config::new(DEV_TOKEN_SECRET.into(), "420100".into(), true).with_sandbox_clock(shift.into());
        assert_eq!(demo("").now(real).unwrap(), real);
        assert_eq!(demo("+30d").now(real).unwrap().to_rfc3339(), "2027-01-03T09:00:00+00:00");
        assert_eq!(demo(" -12h ").now(real).unwrap().to_rfc3339(), "2026-12-03T21:00:00+00:00");
        assert_eq!(demo("+90m").now(real).unwrap().to_rfc3339(), "2026-12-04T10:30:00+00:00");
        for bad in ["30d", "+30", "+d", "+3w", "+-3d", "+1.5d", "+99999999999999d"] {
            assert_eq!(demo(bad).now(real).unwrap_err().code, ErrorCode::ServerMisconfigured, "{bad}");
        }
        let production = Config::new("a-production-secret-of-at-least-32-bytes".into(), "420100".into(), false);
        assert_eq!(production.clone().with_sandbox_clock("+1d".into()).now(real).unwrap_err().code, ErrorCode::ServerMisconfigured);
        assert_eq!(production.now(real).unwrap(), real);
    }

    #[test]
    fn the_request_log_records_every_answer_the_errors_or_none() {
        use http::StatusCode;
        let records = |log: &str| [StatusCode::OK, StatusCode::CREATED, StatusCode::NOT_FOUND, StatusCode::UNPROCESSABLE_ENTITY, StatusCode::SERVICE_UNAVAILABLE].map(|s| RequestLog::parse(log).records(s));
        assert_eq!(records("all"), [true; 5]);
        assert_eq!(records(" Errors "), [false, false, true, true, true]);
        assert_eq!(records(""), [false, false, true, true, true], "the default");
        assert_eq!(records("off"), [false; 5]);
        assert_eq!(records("verbose"), [true; 5], "a typo logs everything");
    }

    #[test]
    fn reading_ahead_is_on_only_where_the_store_is_said_to_be_sqlite() {
        assert!(parse_kv_read_ahead("sqlite"));
        assert!(parse_kv_read_ahead(" SQLite "));
        assert!(!parse_kv_read_ahead("off"));
        assert!(!parse_kv_read_ahead(""));
        assert!(!parse_kv_read_ahead("redis"), "anything else reads one key at a time, right on every store");
    }

    #[test]
    fn short_secret_is_refused() {
        let config = Config::new("short".into(), "420100".into(), true);
        assert_eq!(config.token_secret().unwrap_err().code, ErrorCode::ServerMisconfigured);
    }
}
