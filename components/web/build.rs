//! Embeds the web app's built files (`web/dist`, made by `npm ci && npm run build` in `web/`)
//! into the component: a table of every file with its content type, cache policy, ETag and a
//! gzip copy compressed here, once, at build time. Nothing is read or downloaded at run time.
//!
//! A wasm build without `web/dist` fails and says how to make it. A native build (the workspace's
//! tests only read the crate's functions) embeds whatever is there, possibly nothing.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dist = std::env::var_os("WEB_DIST").map(PathBuf::from).unwrap_or_else(|| manifest_dir.join("../../web/dist"));
    println!("cargo:rerun-if-env-changed=WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    } else if wasm {
        panic!(
            "\n\nweb/dist/index.html is missing: the web component embeds the built web app.\n\
             Build it first:  (cd web && npm ci && npm run build)\n\
             (scripts/web-build.sh does the same; spin.toml's build command runs it.)\n\n"
        );
    } else {
        println!("cargo:warning=web/dist is missing: this native build embeds no web assets");
    }
    files.sort();

    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (n, (url, path)) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(path).unwrap();
        let etag = format!("\"{}\"", hex(&Sha256::digest(&bytes)[..12]));
        let content_type = content_type(url);
        let gzip = if compressible(content_type) && bytes.len() > 256 {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&bytes).unwrap();
            let zipped = encoder.finish().unwrap();
            (zipped.len() < bytes.len() * 9 / 10).then_some(zipped)
        } else {
            None
        };
        let gzip = match gzip {
            Some(zipped) => {
                let gz_path = out_dir.join(format!("asset-{n}.gz"));
                std::fs::write(&gz_path, zipped).unwrap();
                format!("Some(include_bytes!({:?}))", gz_path.display().to_string())
            }
            None => "None".to_string(),
        };
        // Vite names what it builds under assets/ by content hash: those never change.
        let immutable = url.starts_with("/app/assets/");
        writeln!(
            table,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, immutable: {immutable}, etag: {etag:?}, body: include_bytes!({:?}), gzip: {gzip} }},",
            path.canonicalize().unwrap().display().to_string()
        )
        .unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("assets.rs"), table).unwrap();
}

/// Every file under `dir`, with the URL it is served at (`/app/` + its path in dist).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            files.push((format!("/app/{relative}"), path));
        }
    }
}

fn content_type(url: &str) -> &'static str {
    match url.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.starts_with("application/json") || content_type == "image/svg+xml" || content_type.starts_with("application/manifest")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
