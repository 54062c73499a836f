//! Mints a bearer token for local use, signed with the same secret the app reads
//! (`SPIN_VARIABLE_TOKEN_SECRET`, else the development default from `spin.toml`). Prints the
//! token alone on stdout, so `TOKEN=$(cargo run -q -p issue-token -- admin --operator ops-1)`
//! works. A crate of its own, apart from the test host, so that minting the first token builds
//! in seconds rather than compiling wasmtime. Once an admin token exists, the others can be
//! issued through `POST /api/auth/tokens` instead.

use anyhow::{Context, bail};
use api::Principal;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Mint a bearer token for this app's API (local use)")]
struct Cli {
    /// Lifetime in seconds (at most 30 days).
    #[arg(long, default_value_t = 8 * 3600, global = true)]
    ttl: i64,
    #[command(subcommand)]
    role: RoleArgs,
}

#[derive(Subcommand)]
enum RoleArgs {
    Patient {
        #[arg(long)]
        psn_no: String,
    },
    Physician {
        #[arg(long)]
        dr_code: String,
        #[arg(long)]
        fixmedins_code: String,
    },
    HospitalOffice {
        #[arg(long)]
        fixmedins_code: String,
    },
    Pharmacist {
        #[arg(long)]
        phar_code: String,
        #[arg(long)]
        fixmedins_code: String,
    },
    Agency {
        #[arg(long)]
        admdvs: String,
    },
    Admin {
        #[arg(long)]
        operator: String,
    },
}

impl From<RoleArgs> for Principal {
    fn from(role: RoleArgs) -> Self {
        match role {
            RoleArgs::Patient { psn_no } => Principal::Patient { psn_no },
            RoleArgs::Physician { dr_code, fixmedins_code } => Principal::Physician { dr_code, fixmedins_code },
            RoleArgs::HospitalOffice { fixmedins_code } => Principal::HospitalOffice { fixmedins_code },
            RoleArgs::Pharmacist { phar_code, fixmedins_code } => Principal::Pharmacist { phar_code, fixmedins_code },
            RoleArgs::Agency { admdvs } => Principal::Agency { admdvs },
            RoleArgs::Admin { operator } => Principal::Admin { operator },
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let secret = std::env::var("SPIN_VARIABLE_TOKEN_SECRET").unwrap_or_else(|_| api::config::DEV_TOKEN_SECRET.to_string());
    println!("{}", mint(&secret, cli.role.into(), chrono::Utc::now().timestamp(), cli.ttl)?);
    Ok(())
}

/// A token for `principal`, signed with `secret`, issued at `now` for `ttl` seconds.
fn mint(secret: &str, principal: Principal, now: i64, ttl: i64) -> anyhow::Result<String> {
    if secret.len() < api::config::MIN_SECRET_BYTES {
        bail!("the token secret must be at least {} bytes", api::config::MIN_SECRET_BYTES);
    }
    let (token, _) = api::auth::issue(secret.as_bytes(), principal, now, ttl).context("cannot issue that token")?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_is_one_the_app_accepts_and_a_short_secret_is_refused() {
        let admin = Principal::Admin { operator: "ops-1".into() };
        let token = mint(api::config::DEV_TOKEN_SECRET, admin.clone(), 1_750_000_000, 3600).unwrap();
        let claims = api::auth::verify(api::config::DEV_TOKEN_SECRET.as_bytes(), &token, 1_750_000_100).unwrap();
        assert_eq!(claims.principal, admin);
        assert!(mint("short", admin, 1_750_000_000, 3600).is_err());
    }
}
