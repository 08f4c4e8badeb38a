//! `accesskey-conformance run`: the target (a URL or the embedded reference server), the
//! suite, the reports and the verdict.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use super::{
    EMBEDDED_PROPERTY_LANES, EMBEDDED_PROPTEST_CASES, EMBEDDED_SHRINK_ITERS, EMBEDDED_WORKERS,
    REMOTE_PROPERTY_LANES, REMOTE_PROPTEST_CASES, REMOTE_SHRINK_ITERS, REMOTE_WORKERS,
    YANDEX_IAM_HOST, YANDEX_OPERATION_URL, credentials, harness, is_loopback, parse_base_url,
    random_seed, runtime, usage,
};
use crate::checks::response::Expect;
use crate::cli::RunArgs;
use crate::contract::Schemas;
use crate::exit;
use crate::reference::{self, Options};
use crate::report::{self, Facts, Keys, RunReport};
use crate::runner::{self, Expected, Generation, Plan, Run};
use crate::target::auth::Source;
use crate::target::{Api, Client};

/// `accesskey-conformance run`.
pub fn run(mut args: RunArgs) -> ExitCode {
    if args.access_key_id.is_some() {
        // One key, so one trial at a time.
        args.test.test_threads = Some(1);
    }
    let started_wall = chrono::Local::now().fixed_offset();
    let started = std::time::Instant::now();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return harness(format!("cannot start the async runtime: {e}")),
    };
    let schemas = match &args.schemas {
        Some(dir) => Schemas::from_dir(dir),
        None => Schemas::embedded(),
    };
    let schemas = match schemas {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let cases = match crate::contract::cases::load(args.cases.as_deref(), !args.no_builtin_cases) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let seed = args.seed.unwrap_or_else(random_seed);

    let Target {
        base_url,
        operation_url,
        source,
        account,
        loopback,
        hidden,
        server: _server,
    } = match target(&args, &rt) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let client = match Client::new(
        args.transport.timeout,
        loopback,
        args.transport.cacert.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let api = match rt.block_on(Api::with_source(client, &base_url, &operation_url, source)) {
        Ok(api) => api,
        Err(e) if e.method == "token-command" => {
            return usage(format!("cannot get an IAM token: {e}"));
        }
        Err(e) => return harness(format!("cannot get an IAM token: {e}")),
    };
    let token = api.token();
    let mut run = Run::new(
        api,
        schemas,
        account,
        args.operation_timeout,
        rt.handle().clone(),
        &token,
    );
    // Polled operations cost wall time, and a URL costs quota: fewer sequences there, and
    // fewer replays when shrinking a failure.
    let frugal = args.base_url.is_some() || args.reference_mode == reference::Mode::Async;
    run.generation = Generation {
        seed,
        cases: args.proptest_cases.unwrap_or(if frugal {
            REMOTE_PROPTEST_CASES
        } else {
            EMBEDDED_PROPTEST_CASES
        }),
        shrink_iters: if frugal {
            REMOTE_SHRINK_ITERS
        } else {
            EMBEDDED_SHRINK_ITERS
        },
        // Each extra lane needs a key of its own: none with one borrowed key or a bound on
        // live keys.
        lanes: if args.access_key_id.is_some() || args.max_live_keys.is_some() {
            1
        } else if frugal {
            REMOTE_PROPERTY_LANES
        } else {
            EMBEDDED_PROPERTY_LANES
        },
    };
    run.set_workers(
        args.test
            .test_threads
            .unwrap_or(if args.base_url.is_some() {
                REMOTE_WORKERS
            } else {
                EMBEDDED_WORKERS
            }),
    );
    run.clock_tolerance =
        chrono::Duration::from_std(args.clock_tolerance).unwrap_or(chrono::Duration::minutes(5));
    run.min_interval = args
        .max_rps
        .map(|rps| std::time::Duration::from_secs_f64(1.0 / rps));
    run.keep_keys = args.keep_keys;
    run.max_live_keys = args.max_live_keys.map(|n| n as usize);
    run.key_slots = args
        .max_live_keys
        .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize)));
    run.shared_key = args.access_key_id.clone();
    for text in &hidden {
        run.add_redacted(text);
    }
    // A ledger for a real target (the embedded server's keys die with the process anyway).
    let ledger_path = match (&args.ledger, args.base_url.is_some()) {
        (Some(path), _) => Some(path.clone()),
        (None, true) if !args.test.list => Some(runner::ledger::default_path()),
        (None, _) => None,
    };
    if let Some(path) = &ledger_path {
        match runner::ledger::LedgerFile::create(
            path,
            &base_url,
            &operation_url,
            &run.service_account_id,
            args.ledger.is_some(),
        ) {
            Ok(file) => run.ledger_file = Some(file),
            Err(e) => return usage(e),
        }
    }
    let run = Arc::new(run);

    if !args.test.list {
        // One cheap request first, so an unreachable or throttling target is one clear
        // error, not one per trial.
        let probe = rt.block_on(async {
            let mut ctx = runner::Ctx::new(run.clone());
            let list = run.api.list(&run.service_account_id, None, None);
            ctx.call(list, Expect::listing(&run.service_account_id))
                .await
        });
        match probe {
            Ok(_) => {}
            Err(runner::HarnessError::Transport(e)) => {
                return harness(format!(
                    "the target cannot be reached: {}",
                    run.redact(&e.to_string())
                ));
            }
            Err(e) => {
                return harness(format!(
                    "the target cannot be tested: {}",
                    run.redact(&e.to_string())
                ));
            }
        }
        eprintln!("target: {base_url} (operations: {operation_url}); seed {seed}");
    }

    // --access-key-id: remember the key's description, to put it back at the end.
    let original = match (&args.access_key_id, args.test.list) {
        (Some(id), false) => match rt.block_on(runner::Ctx::new(run.clone()).read_key(id)) {
            Ok(Some(key)) => Some((
                id.clone(),
                crate::checks::description_of(&key).unwrap_or_default(),
            )),
            Ok(None) => return usage(format!("--access-key-id: there is no key `{id}`")),
            Err(e) => return harness(format!("--access-key-id: cannot read key `{id}`: {e}")),
        },
        _ => None,
    };

    let specs = crate::suite::specs(&cases);
    let expected = match &args.expected_failures {
        Some(path) => match expected_failures(path, &specs) {
            Ok(e) => e,
            Err(e) => return usage(e),
        },
        None => BTreeMap::new(),
    };
    let plan = Plan {
        level: args.level,
        expected,
    };
    watch_signals(&rt, run.clone());

    let conclusion = runner::execute(&run, &specs, &args.test, &plan);
    drop(conclusion);
    if args.test.list {
        return exit::code(exit::PASSED);
    }
    let left = run.sweep();
    let mut restore_problem = None;
    if let Some((id, description)) = &original {
        let body = serde_json::json!({"updateMask": "description", "description": description});
        let restored = rt.block_on(async {
            let mut ctx = runner::Ctx::new(run.clone());
            ctx.update(id, Some(body.to_string()), crate::target::Auth::Token)
                .await
        });
        match restored {
            Ok(crate::checks::update::UpdateOutcome::Applied(_)) => {
                eprintln!("restored the description of key {id}");
            }
            other => {
                restore_problem = Some(format!(
                    "could not restore the description of key {id}: {}",
                    run.redact(&format!("{other:?}"))
                ));
            }
        }
    }
    let (created, deleted, _) = run.ledger_counts();
    let facts = Facts {
        target: base_url.clone(),
        operation_url: operation_url.clone(),
        started: started_wall,
        elapsed: started.elapsed(),
        seed,
        digest: crate::contract::digest(&run.schemas, &cases),
        level: args.level,
        requests: run.requests(),
        generated_steps: run.generated_steps(),
        keys: Keys {
            created,
            deleted,
            left,
            kept: args.keep_keys,
        },
        // With one borrowed key some trials cannot run, so the coverage floor does not apply.
        filtered: args.test.filter.is_some()
            || !args.test.skip.is_empty()
            || args.access_key_id.is_some(),
        interrupted: run.is_interrupted(),
    };
    let mut report = RunReport::build(&run.records(), facts, &|t| run.redact(t));
    if let Some(problem) = restore_problem {
        report.add_problem(problem);
    }

    print!("{}", report::console::closing(&report));
    let ledger_written = run.ledger_file.as_ref().is_some_and(|l| l.written());
    if let (Some(path), true) = (&ledger_path, ledger_written) {
        if !report.keys.left.is_empty() {
            eprintln!(
                "ledger: {} (accesskey-conformance cleanup --ledger {} deletes what it lists)",
                path.display(),
                path.display()
            );
        } else if args.ledger.is_none() {
            // Nothing to clean up: the default ledger has done its job.
            let _ = std::fs::remove_file(path);
        }
    }
    if let Err(e) = write_reports(&report, &args) {
        return harness(e);
    }
    exit::code(report.exit_code)
}

/// What the run talks to.
struct Target {
    base_url: String,
    operation_url: String,
    source: Source,
    /// The service account whose keys the run creates.
    account: String,
    loopback: bool,
    /// Key material to redact.
    hidden: Vec<String>,
    /// The embedded reference server, kept alive for the run.
    server: Option<reference::Running>,
}

/// The target: a URL from the user (with its credentials), or the embedded reference server.
fn target(args: &RunArgs, rt: &tokio::runtime::Runtime) -> Result<Target, ExitCode> {
    let Some(text) = &args.base_url else {
        let token = format!("t1.{}", uuid::Uuid::new_v4().simple());
        let mut options = Options::new(token.clone());
        options.mode = args.reference_mode;
        options.style = args.reference_style;
        options.masks = args.reference_masks;
        options.latency = args.reference_latency;
        let server = rt
            .block_on(reference::start(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                options,
            ))
            .map_err(|e| harness(format!("cannot start the embedded reference server: {e}")))?;
        let url = server.base_url();
        return Ok(Target {
            base_url: url.clone(),
            operation_url: url,
            source: Source::Fixed(token),
            account: args
                .service_account_id
                .clone()
                .unwrap_or_else(|| "ajeconformanceaccount".to_string()),
            loopback: true,
            hidden: Vec::new(),
            server: Some(server),
        });
    };
    let base = parse_base_url("--base-url", text).map_err(usage)?;
    let operation_url = match &args.operation_url {
        Some(t) => parse_base_url("--operation-url", t)
            .map_err(usage)?
            .to_string(),
        None if base.host_str() == Some(YANDEX_IAM_HOST) => YANDEX_OPERATION_URL.to_string(),
        None => base.to_string(),
    };
    let (source, key_account, hidden) = credentials(&args.auth).map_err(usage)?.ok_or_else(|| {
        usage(
            "a target URL needs credentials: --token (or YC_TOKEN), --token-command, or --service-account-key-file",
        )
    })?;
    let account = args
        .service_account_id
        .clone()
        .or(key_account)
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| {
            usage(
                "a target URL needs --service-account-id (the account whose keys the run creates and deletes)",
            )
        })?;
    Ok(Target {
        base_url: base.to_string(),
        operation_url,
        source,
        account,
        loopback: is_loopback(&base),
        hidden,
        server: None,
    })
}

/// Writes the reports the flags ask for (and the GitHub step summary when it is set).
fn write_reports(report: &RunReport, args: &RunArgs) -> Result<(), String> {
    let write = |what: &str, path: &std::path::Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the {what} `{}`: {e}", path.display()))
    };
    if let Some(path) = &args.junit {
        let xml = report::junit::build(report)
            .to_string()
            .map_err(|e| format!("cannot render the JUnit report: {e}"))?;
        write("JUnit report", path, &xml)?;
    }
    if let Some(path) = &args.json {
        write("JSON report", path, &report.to_json())?;
    }
    let markdown = report::summary::markdown(report);
    if let Some(path) = &args.summary {
        write("summary", path, &markdown)?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write;
        let path = std::path::PathBuf::from(path);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(markdown.as_bytes()))
            .map_err(|e| {
                format!(
                    "cannot append to GITHUB_STEP_SUMMARY `{}`: {e}",
                    path.display()
                )
            })?;
    }
    Ok(())
}

/// One entry of the expected-failures file: a reason, or a reason and an issue link.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ExpectedEntry {
    Reason(String),
    Full {
        reason: String,
        #[serde(default)]
        issue: Option<String>,
    },
}

/// Reads `--expected-failures`: a JSON object from trial name to entry. A name that matches
/// no trial is an error, so a renamed trial cannot hide behind a forgotten entry.
fn expected_failures(
    path: &std::path::Path,
    specs: &[runner::Spec],
) -> Result<BTreeMap<String, Expected>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the expected-failures file `{shown}`: {e}"))?;
    let entries: BTreeMap<String, ExpectedEntry> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "expected-failures file `{shown}`: {e} (expected a JSON object from trial name to a reason, or to {{\"reason\": ..., \"issue\": ...}})"
        )
    })?;
    let mut expected = BTreeMap::new();
    for (name, entry) in entries {
        if !specs.iter().any(|s| s.name == name) {
            return Err(format!(
                "expected-failures file `{shown}`: `{name}` matches no trial (see `run --list`)"
            ));
        }
        let (reason, issue) = match entry {
            ExpectedEntry::Reason(reason) => (reason, None),
            ExpectedEntry::Full { reason, issue } => (reason, issue),
        };
        expected.insert(name, Expected { reason, issue });
    }
    Ok(expected)
}

/// Interrupts the run on the first Ctrl-C or SIGTERM: trials not yet started are skipped,
/// running ones stop waiting at once, and the sweep deletes their keys (within a few
/// seconds). A second signal ends the process at once.
fn watch_signals(rt: &tokio::runtime::Runtime, run: Arc<Run>) {
    rt.spawn(async move {
        let mut count = 0;
        loop {
            let terminate = async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    match signal(SignalKind::terminate()) {
                        Ok(mut s) => {
                            s.recv().await;
                        }
                        Err(_) => std::future::pending::<()>().await,
                    }
                }
                #[cfg(not(unix))]
                std::future::pending::<()>().await
            };
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { return },
                () = terminate => {}
            }
            count += 1;
            if count > 1 {
                eprintln!("interrupted again: stopping now; keys may be left behind");
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
            run.interrupt();
            eprintln!(
                "interrupted: stopping the running trials and deleting their keys (press Ctrl-C again to stop at once)"
            );
        }
    });
}
