//! `serve`: runs a Spin app's HTTP components like `spin up`, without Spin.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Parser;
use spin_test_host::{App, HostOptions, KvBackend, Manifest, SqliteJournal};

/// The `--kv` choice.
#[derive(Clone, Debug)]
enum KvKind {
    /// Spin's default: a SQLite file that persists across restarts.
    Sqlite,
    /// A map that starts empty and is lost on exit.
    Memory,
    /// A Redis server, used as Spin's Redis store uses it.
    Redis(String),
}

fn parse_kv(value: &str) -> Result<KvKind, String> {
    match value {
        "sqlite" => Ok(KvKind::Sqlite),
        "memory" => Ok(KvKind::Memory),
        url if url.starts_with("redis://") || url.starts_with("rediss://") => Ok(KvKind::Redis(url.to_string())),
        other => Err(format!("{other:?} is none of sqlite, memory, redis://host:port[/db]")),
    }
}

#[derive(Debug, Parser)]
#[command(about = "Serve a Spin app's HTTP components like `spin up`, with wasmtime")]
struct Args {
    /// The Spin manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Key-value backend for the `default` store: `sqlite`, `memory` or a Redis URL
    /// (`redis://127.0.0.1:6379/0`, as in Spin's runtime config).
    #[arg(long, value_parser = parse_kv, default_value = "sqlite")]
    kv: KvKind,
    /// SQLite file [default: <manifest dir>/.spin/sqlite_key_value.db, as Spin].
    #[arg(long)]
    sqlite_path: Option<PathBuf>,
    /// Keep the SQLite file in WAL mode with `synchronous = NORMAL` instead of Spin's defaults
    /// (a rollback journal flushed at every commit).
    #[arg(long)]
    sqlite_wal: bool,
    /// Run each component's build command first, like `spin up --build`.
    #[arg(long)]
    build: bool,
    /// Add `x-host-kv-ops: get=1,set=0,...` to each response (Spin has no such header).
    #[arg(long)]
    kv_op_header: bool,
    /// Print a line per request to stderr. Spin prints none: a line per request costs a write
    /// to the terminal or file every time, which benchmarks would count against the app.
    #[arg(long)]
    log_requests: bool,
    /// Serve sockets as Spin does (no TCP_NODELAY, the head written before the body): a reused
    /// connection then stalls as in front of Spin (see deploy/README.md for the mitigation).
    #[arg(long)]
    spin_sockets: bool,
}

/// Runs the `[component.<id>.build]` commands from the manifest directory, in manifest order.
fn build_components(manifest: &Manifest) -> anyhow::Result<()> {
    for (id, component) in &manifest.components {
        let Some(build) = &component.build else {
            continue;
        };
        let workdir = build
            .workdir
            .as_ref()
            .map_or_else(|| manifest.dir.clone(), |w| manifest.dir.join(w));
        eprintln!("Building component {id} with `{}`", build.command);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("running the build command of {id}"))?;
        if !status.success() {
            bail!("build command of component {id} failed ({status})");
        }
    }
    Ok(())
}

fn manifest_dir(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.build {
        build_components(&Manifest::load(&args.manifest)?)?;
    }
    let kv = match args.kv {
        KvKind::Memory => KvBackend::Memory,
        KvKind::Sqlite => KvBackend::Sqlite(
            args.sqlite_path
                .unwrap_or_else(|| KvBackend::default_sqlite_path(&manifest_dir(&args.manifest))),
        ),
        KvKind::Redis(url) => KvBackend::Redis { url, namespace: String::new() },
    };
    let options = HostOptions {
        kv,
        variables: HashMap::new(),
        kv_op_header: args.kv_op_header,
        spin_sockets: args.spin_sockets,
        log_requests: args.log_requests,
        sqlite_journal: if args.sqlite_wal { SqliteJournal::Wal } else { SqliteJournal::Spin },
    };
    let started = Instant::now();
    let app = App::load(&args.manifest, options).await?;
    eprintln!(
        "Loaded components in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let (addr, server) = app.listen(args.listen).await?;

    let base_url = format!("http://{addr}");
    println!("\nServing {base_url}");
    println!("Available Routes:");
    for route in app.routes() {
        println!("  {}: {base_url}{route}", route.component);
        if let Some(description) = app
            .manifest()
            .components
            .get(route.component)
            .and_then(|c| c.description.as_deref())
        {
            println!("    {description}");
        }
    }

    tokio::select! {
        result = server => result.context("the server stopped")?,
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
