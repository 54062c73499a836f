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
}

impl Config {
    pub fn new(token_secret: String, region_code: String, demo_data: bool) -> Self {
        Self { token_secret, region_code, demo_data }
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
    );
    Ok(CONFIG.get_or_init(|| config))
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
    fn short_secret_is_refused() {
        let config = Config::new("short".into(), "420100".into(), true);
        assert_eq!(config.token_secret().unwrap_err().code, ErrorCode::ServerMisconfigured);
    }
}
