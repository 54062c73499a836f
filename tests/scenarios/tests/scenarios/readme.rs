//! The README runs as written (issue 20, item 9): every command of a ```sh block of README.md,
//! then of deploy/README.md, is run with bash, in order and in one shell session (so `TOKEN=…`
//! and functions carry over, as in a reader's terminal), against a fresh demo: the app as
//! `spin up` serves it (demo data, development secret) on this run's store, with its sandbox
//! clock on the README's business date and on a free port. What each command prints is checked.
//!
//! - Finding the examples: a command is a line of a `sh` block and the lines it runs on to (a
//!   trailing `\`, a quote or `$(` left open: `bash -n` says whether it is complete, as a shell
//!   reading a paste decides). `#` lines between commands are prose; `# → …` lines right under a
//!   command show what it prints. New sections and blocks need nothing here.
//! - Running them: each command is written to a file of its own and sourced by one bash process
//!   (`set -o pipefail`) in the workspace root, where the README's relative paths point, with
//!   `http://127.0.0.1:3000` replaced by the test app's address. `curl` is a shell function that
//!   runs curl quietly (`-sS`), keeps each answer's head to read its status (`-D`), and puts `-O`
//!   downloads in a scratch directory, never the work tree.
//! - Checking them: a command must exit 0; each HTTP answer must have the status its `# →` line
//!   starts with (`# → 401 …`), else a 2xx; what it printed, or for `NAME=…` the value kept, must
//!   match its `# →` lines, where `…` stands for any text (ids, tokens, times). A command that
//!   prints with no `# →` under it fails, as does a `NAME=…` that keeps nothing or `null`.
//!
//! Commands that cannot run in a test are in [`SKIPPED`], each with its reason, and listed in the
//! test's output; an entry that matches no command fails the test, so the list stays current.
//! Examples that show a bug of the app (not of the README) are in [`KNOWN_BUGS`]: they must fail
//! until it is fixed, then the entry goes.

use scenarios::TestApp;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The documents whose examples run, in this order, from the workspace root.
const DOCUMENTS: [&str; 2] = ["README.md", "deploy/README.md"];

/// The address the examples are written for (where `spin up` and `serve` listen).
const DOCUMENTED_BASE: &str = "http://127.0.0.1:3000";

/// The business date the examples are written for (README, Run it): inside the demo's 2024
/// agreements, which end on 2025-12-31 or 2026-12-31. The clock starts at noon that day.
const BUSINESS_NOON: &str = "2026-06-01T12:00:00+08:00";

/// The line under a command that shows what it prints.
const SHOWS: &str = "# →";

/// Commands not run: a command containing the pattern is skipped, for the reason given.
const SKIPPED: &[(&str, &str)] = &[
    ("spin up", "needs Spin 4.1 or later, which the test machines do not have: the test host stands in for it"),
    ("--bin serve", "starts the server: the test serves the same app itself (demo data, business date 2026-06-01, a free port)"),
    ("redis-server", "starts a Redis server: the scenario suite's Redis run (scripts/test.sh) covers that store"),
    ("scripts/test.sh", "the test command, which runs this test"),
    ("scripts/web-build.sh", "scripts/test.sh runs it before every test; runs of the suite at once would race on web/dist"),
    ("scripts/browser-test.sh", "scripts/test.sh runs the browser tests beside the scenario runs"),
    ("scripts/bench.sh", "a benchmark, minutes long (`cargo test -p app-bench` runs its code briefly)"),
    ("scripts/bench-wrk.sh", "a benchmark with wrk, minutes long, which the test machines need not have"),
    ("cargo run -p app-bench", "a benchmark (deploy/README.md's sockets figures), as above"),
    ("spin registry", "publishes the app to a container registry: needs Spin and the registry's credentials"),
    ("kubectl", "acts on a Kubernetes cluster, which the test machines do not have (.ci/run validates the manifests)"),
    ("127.0.0.1:8080", "reaches the app on a cluster through kubectl's port-forward, as above"),
    ("scripts/validate-manifests.sh", ".ci/run runs it before the tests"),
];

/// Examples that fail because of a bug in the app, not in the README: a command containing the
/// pattern must fail its check (a pass means the bug was fixed: remove the entry).
const KNOWN_BUGS: &[(&str, &str)] = &[];

/// One command of a document, with what the document shows it prints.
#[derive(Debug, Clone)]
struct Example {
    /// `README.md:215`
    place: String,
    command: String,
    shows: Vec<String>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `text` is one whole command to bash, or runs on to the next line. A syntax error
/// other than an unexpected end is an error of the document.
fn is_complete(text: &str) -> Result<bool, String> {
    if text.ends_with('\\') {
        return Ok(false);
    }
    let checked = Command::new("bash")
        .args(["-n", "-c", text])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("bash does not run: {e}"))?;
    if checked.status.success() {
        return Ok(true);
    }
    let error = String::from_utf8_lossy(&checked.stderr);
    if error.contains("unexpected EOF") || error.contains("unexpected end of file") {
        Ok(false)
    } else {
        Err(error.trim().to_string())
    }
}

/// The commands of `text`'s ```sh blocks (also `bash`, `shell`), in order.
fn examples(document: &str, text: &str) -> Result<Vec<Example>, String> {
    let mut found: Vec<Example> = Vec::new();
    // the fence's info string while inside a block
    let mut fence: Option<String> = None;
    let mut pending: Option<(usize, String)> = None;
    // the last command, while `# →` lines may still follow it
    let mut last: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let trimmed = line.trim_start();
        if pending.is_none() && trimmed.starts_with("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(trimmed.trim_start_matches('`').trim().to_string()),
            };
            last = None;
            continue;
        }
        if !matches!(fence.as_deref(), Some("sh" | "bash" | "shell")) {
            continue;
        }
        let (start, command) = match pending.take() {
            Some((start, mut command)) => {
                command.push('\n');
                command.push_str(line);
                (start, command)
            }
            None => {
                if trimmed.is_empty() {
                    last = None;
                    continue;
                }
                if let Some(shown) = trimmed.strip_prefix(SHOWS) {
                    let index = last.ok_or_else(|| format!("{document}:{n}: `{SHOWS}` with no command right above it"))?;
                    found[index].shows.push(shown.strip_prefix(' ').unwrap_or(shown).to_string());
                    continue;
                }
                if trimmed.starts_with('#') {
                    last = None;
                    continue;
                }
                (n, line.to_string())
            }
        };
        if is_complete(&command).map_err(|e| format!("{document}:{start}: not a shell command: {e}"))? {
            found.push(Example { place: format!("{document}:{start}"), command, shows: Vec::new() });
            last = Some(found.len() - 1);
        } else {
            pending = Some((start, command));
        }
    }
    match pending {
        Some((start, _)) => Err(format!("{document}:{start}: the command does not end before its block does")),
        None => Ok(found),
    }
}

/// Whether `text` is `pattern`, where each `…` of the pattern stands for any text.
fn matches(pattern: &str, text: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('…').collect();
    let [first, middle @ .., last] = pieces.as_slice() else { return pattern == text };
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// What the document shows a command prints: the status its first line starts with, if any,
/// and the rest.
fn shown(example: &Example) -> (Option<u16>, Option<String>) {
    if example.shows.is_empty() {
        return (None, None);
    }
    let text = example.shows.join("\n");
    let status = text.get(..3).and_then(|s| s.parse::<u16>().ok()).filter(|_| text.len() == 3 || text[3..].starts_with(' '));
    let rest = if status.is_some() { text[3..].trim() } else { text.trim() };
    (status, Some(rest.to_string()))
}

/// The variable a command starts by assigning (`NAME=…`), if it does.
fn assigned(command: &str) -> Option<&str> {
    let (name, _) = command.split_once('=')?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(name)
}

/// What one run of a command left behind.
struct Ran {
    exit: Option<i32>,
    stdout: String,
    stderr: String,
    statuses: Vec<u16>,
    /// The value of the variable it assigned, when it did.
    value: Option<String>,
}

/// Checks one run against what the document shows.
fn check(example: &Example, ran: &Ran) -> Result<(), String> {
    if ran.exit != Some(0) {
        return Err(format!("exited with {:?}", ran.exit));
    }
    let (status, pattern) = shown(example);
    match status {
        Some(status) if ran.statuses.is_empty() => return Err(format!("no HTTP answer, while the document shows {status}")),
        Some(status) if ran.statuses.iter().any(|s| *s != status) => return Err(format!("HTTP {:?}, while the document shows {status}", ran.statuses)),
        None if ran.statuses.iter().any(|s| !(200..300).contains(s)) => return Err(format!("HTTP {:?}, while the document shows no error", ran.statuses)),
        _ => {}
    }
    let printed = match &ran.value {
        Some(value) if value.is_empty() || value == "null" => return Err(format!("kept {value:?}")),
        Some(value) => value.trim(),
        None => ran.stdout.trim(),
    };
    match pattern {
        Some(pattern) if !pattern.is_empty() && !matches(&pattern, printed) => Err(format!("printed {printed}\n  the document shows {pattern}")),
        None if ran.value.is_none() && !printed.is_empty() => Err(format!("printed {printed}\n  the document shows no `{SHOWS}` for it")),
        _ => Ok(()),
    }
}

/// Runs `examples` in one bash session against `base`, waiting at most `limit`; one [`Ran`]
/// per example, `None` for those skipped.
fn run(examples: &[(Example, bool)], base: &str, limit: Duration) -> Vec<Option<Ran>> {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let dir = scratch.path();
    for sub in ["commands", "results", "headers", "downloads"] {
        std::fs::create_dir(dir.join(sub)).expect("a scratch directory");
    }
    let mut driver = String::from(
        "set -o pipefail\n\
         curl() { command curl -sS -D \"$(mktemp -p \"$README_TEST_DIR/headers\")\" --output-dir \"$README_TEST_DIR/downloads\" \"$@\"; }\n",
    );
    for (i, (example, skipped)) in examples.iter().enumerate() {
        if *skipped {
            continue;
        }
        let command = example.command.replace(DOCUMENTED_BASE, base);
        std::fs::write(dir.join(format!("commands/{i}.sh")), format!("{command}\n")).expect("a command file");
        let r = format!("\"$README_TEST_DIR/results/{i}");
        if let Some(name) = assigned(&example.command) {
            writeln!(driver, "unset {name}").expect("text");
        }
        writeln!(driver, ". \"$README_TEST_DIR/commands/{i}.sh\" >{r}.out\" 2>{r}.err\"; echo $? >{r}.rc\"").expect("text");
        writeln!(
            driver,
            "for h in \"$README_TEST_DIR\"/headers/*; do [ -f \"$h\" ] || continue; tr -d '\\r' <\"$h\" | grep -a '^HTTP/' | tail -n 1; rm -f \"$h\"; done >{r}.status\""
        )
        .expect("text");
        if let Some(name) = assigned(&example.command) {
            writeln!(driver, "if [ -n \"${{{name}+set}}\" ]; then printf '%s' \"${name}\" >{r}.value\"; fi").expect("text");
        }
    }
    std::fs::write(dir.join("driver.sh"), driver).expect("the driver");
    let log = std::fs::File::create(dir.join("driver.log")).expect("a log file");
    let mut child = Command::new("bash")
        .arg(dir.join("driver.sh"))
        .current_dir(workspace())
        .env("README_TEST_DIR", dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the log"))
        .stderr(log)
        .spawn()
        .expect("bash runs");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("the driver's status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the README's examples took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read = |i: usize, ext: &str| std::fs::read_to_string(dir.join(format!("results/{i}.{ext}"))).ok();
    examples
        .iter()
        .enumerate()
        .map(|(i, (_, skipped))| {
            (!skipped).then(|| Ran {
                exit: read(i, "rc").and_then(|rc| rc.trim().parse().ok()),
                stdout: read(i, "out").unwrap_or_default(),
                stderr: read(i, "err").unwrap_or_default(),
                statuses: read(i, "status").unwrap_or_default().lines().filter_map(|l| l.split_whitespace().nth(1)?.parse().ok()).collect(),
                value: read(i, "value"),
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_readme_example_runs_as_written_on_the_demo() {
    let started = Instant::now();
    let mut all = Vec::new();
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(workspace().join(document)).unwrap_or_else(|e| panic!("{document}: {e}"));
        all.extend(examples(document, &text).unwrap_or_else(|e| panic!("{e}")));
    }
    assert!(all.len() > 40, "the README's examples were not found: {all:#?}");
    for tool in ["curl", "jq"] {
        let found = Command::new("bash").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
        assert!(found, "the README's examples need {tool} (apt-get install {tool})");
    }

    let skip_reason = |e: &Example| SKIPPED.iter().find(|(pattern, _)| e.command.contains(pattern)).map(|(_, why)| *why);
    let bug = |e: &Example| KNOWN_BUGS.iter().find(|(pattern, _)| e.command.contains(pattern)).map(|(_, what)| *what);
    let mut problems = Vec::new();
    for (pattern, _) in SKIPPED {
        if !all.iter().any(|e| e.command.contains(pattern)) {
            problems.push(format!("SKIPPED lists {pattern:?}, which no example contains: remove it"));
        }
    }
    for (pattern, _) in KNOWN_BUGS {
        if !all.iter().any(|e| e.command.contains(pattern) && skip_reason(e).is_none()) {
            problems.push(format!("KNOWN_BUGS lists {pattern:?}, which no example run contains: remove it"));
        }
    }
    for e in all.iter().filter(|e| skip_reason(e).is_none() && e.command.contains("curl ") && !e.command.contains(DOCUMENTED_BASE)) {
        problems.push(format!("{}: a curl that does not reach {DOCUMENTED_BASE}: skip it with its reason", e.place));
    }

    // the demo on the business date the README's examples are written for
    let noon = chrono::DateTime::parse_from_rfc3339(BUSINESS_NOON).expect("a time");
    let minutes = (chrono::Utc::now() - noon.with_timezone(&chrono::Utc)).num_minutes();
    let shift = if minutes >= 0 { format!("-{minutes}m") } else { format!("+{}m", -minutes) };
    let app = TestApp::start_demo_with_variables(HashMap::from([("sandbox_clock".to_string(), shift), ("demo_data".to_string(), "true".to_string())])).await;
    let status = app.get("/api/catalogue/status", None).await.json();
    assert_eq!(status["business_date"].as_str(), Some(&BUSINESS_NOON[..10]), "{status}");
    let serving = started.elapsed();

    let plan: Vec<(Example, bool)> = all.iter().map(|e| (e.clone(), skip_reason(e).is_some())).collect();
    let base = app.base.clone();
    let runs = tokio::task::spawn_blocking(move || run(&plan, &base, Duration::from_secs(600))).await.expect("the examples ran");

    let mut report = String::new();
    for (example, ran) in all.iter().zip(&runs) {
        let first_line = example.command.lines().next().unwrap_or_default();
        let (mark, note) = match (ran, skip_reason(example), bug(example)) {
            (None, Some(why), _) => ("skipped", why.to_string()),
            (None, None, _) => unreachable!("only skipped examples are not run"),
            (Some(ran), _, known) => match (check(example, ran), known) {
                (Ok(()), None) => ("ok", String::new()),
                (Err(e), Some(bug)) => ("fails (known bug)", format!("{bug}\n  {e}")),
                (Ok(()), Some(bug)) => {
                    problems.push(format!("{}: passes, but KNOWN_BUGS says it fails ({bug}): fixed? remove the entry", example.place));
                    ("FIXED?", String::new())
                }
                (Err(e), None) => {
                    let stdout = if e.starts_with("printed") { String::new() } else { format!("\n  stdout: {}", ran.stdout.trim()) };
                    problems.push(format!(
                        "{}: {e}\n  command: {}\n  HTTP: {:?}{stdout}\n  stderr: {}",
                        example.place,
                        example.command,
                        ran.statuses,
                        ran.stderr.trim()
                    ));
                    ("FAILED", e)
                }
            },
        };
        writeln!(report, "{mark:>17}  {:<22} {first_line}", example.place).expect("text");
        if !note.is_empty() {
            writeln!(report, "{:>19}{}", "", note.replace('\n', "\n                   ")).expect("text");
        }
    }
    let ran = runs.iter().flatten().count();
    eprintln!("{report}{ran} of {} examples run against {} in {:.1?} (the app started in {serving:.1?})", all.len(), app.base, started.elapsed() - serving);
    assert!(problems.is_empty(), "the README does not run as written:\n{}\n\n{report}", problems.join("\n\n"));
}

#[test]
fn examples_are_split_as_a_shell_reads_them() {
    let text = "intro\n\n```sh\n# prose\ncurl -X POST http://127.0.0.1:3000/a \\\n     -d '{\"a\":1,\n          \"b\":2}'\n# → 201 {\"a\":…}\nX=$(echo \"$(echo hi)\")\n# → hi\n\nls   # a comment with an ' in it\n```\n\n```json\n{\"x\":1}\n```\n";
    let found = examples("T.md", text).expect("examples");
    let commands: Vec<&str> = found.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(
        commands,
        ["curl -X POST http://127.0.0.1:3000/a \\\n     -d '{\"a\":1,\n          \"b\":2}'", "X=$(echo \"$(echo hi)\")", "ls   # a comment with an ' in it"]
    );
    assert_eq!((found[0].place.as_str(), shown(&found[0])), ("T.md:5", (Some(201), Some("{\"a\":…}".to_string()))));
    assert_eq!(shown(&found[1]), (None, Some("hi".to_string())));
    assert_eq!(assigned(&found[1].command), Some("X"));
    assert_eq!(assigned("curl -d a=b"), None);
    assert!(examples("T.md", "```sh\ncurl \"open\n```\n").is_err());
    assert!(examples("T.md", "```sh\n# → 200\n```\n").is_err());
}

#[test]
fn an_ellipsis_stands_for_any_text() {
    assert!(matches("{\"id\":\"FL…\",…,\"state\":\"approved\",…}", "{\"id\":\"FL12\",\"x\":1,\"state\":\"approved\",\"y\":2}"));
    assert!(matches("exact", "exact"));
    assert!(!matches("exact", "exactly"));
    assert!(!matches("{…\"state\":\"approved\"…}", "{\"state\":\"awaiting_office\"}"));
    assert!(!matches("ab…ba", "aba"));
    assert!(matches("…", ""));
}
