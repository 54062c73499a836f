//! Mints a bearer token for local use, signed with the same secret the app reads
//! (`SPIN_VARIABLE_TOKEN_SECRET`, else the development default from `spin.toml`). Prints the
//! token alone on stdout, so `TOKEN=$(cargo run -q -p spin-test-host --bin issue-token -- admin
//! --operator ops-1)` works. Once an admin token exists, the others can be issued
//! through `POST /api/auth/tokens` instead.

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
    if secret.len() < api::config::MIN_SECRET_BYTES {
        bail!("the token secret must be at least {} bytes", api::config::MIN_SECRET_BYTES);
    }
    let now = chrono::Utc::now().timestamp();
    let (token, _) = api::auth::issue(secret.as_bytes(), cli.role.into(), now, cli.ttl)
        .context("cannot issue that token")?;
    println!("{token}");
    Ok(())
}
