//! The two commands end to end: [`run`] sets up the target, executes the suite, writes the
//! reports and returns the exit code; [`serve`] runs the reference server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::checks::response::Expect;
use crate::cli::{AuthArgs, CleanupArgs, RunArgs, ServeArgs};
use crate::contract::{DocKind, Schemas};
use crate::exit;
use crate::reference::{self, Options};
use crate::report::{self, Facts, Keys, RunReport};
use crate::runner::{self, Expected, Generation, Plan, Run};
use crate::target::auth::{ServiceAccountKey, Source};
use crate::target::{Api, Client};

const YANDEX_IAM_HOST: &str = "iam.api.cloud.yandex.net";
const YANDEX_OPERATION_URL: &str = "https://operation.api.cloud.yandex.net";

/// Generated sequences per property trial against the embedded server: about 1,300 update
/// steps in all, still about a second.
const EMBEDDED_PROPTEST_CASES: u32 = 150;
/// The same against a URL (about 600 requests in the generated part), or against the
/// embedded server in asynchronous mode (where every step waits for its polls).
const REMOTE_PROPTEST_CASES: u32 = 24;

fn random_seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    exit::code(exit::USAGE)
}

fn harness(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    exit::code(exit::HARNESS_ERROR)
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Checks a base URL given on the command line.
fn parse_base_url(flag: &str, text: &str) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(text).map_err(|e| format!("{flag} `{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{flag} `{text}` must be an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{flag} `{text}` must not have a query or fragment"));
    }
    Ok(url)
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

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

    // The target: a URL from the user, or the embedded reference server.
    let mut hidden: Vec<String> = Vec::new();
    let (base_url, operation_url, source, account, loopback, _server) = match &args.base_url {
        Some(text) => {
            let base = match parse_base_url("--base-url", text) {
                Ok(u) => u,
                Err(e) => return usage(e),
            };
            let operation = match &args.operation_url {
                Some(t) => match parse_base_url("--operation-url", t) {
                    Ok(u) => u.to_string(),
                    Err(e) => return usage(e),
                },
                None if base.host_str() == Some(YANDEX_IAM_HOST) => {
                    YANDEX_OPERATION_URL.to_string()
                }
                None => base.to_string(),
            };
            let (source, key_account, secrets) = match credentials(&args.auth) {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return usage(
                        "a target URL needs credentials: --token (or YC_TOKEN), --token-command, or --service-account-key-file",
                    );
                }
                Err(e) => return usage(e),
            };
            hidden = secrets;
            let Some(account) = args
                .service_account_id
                .clone()
                .or(key_account)
                .filter(|a| !a.trim().is_empty())
            else {
                return usage(
                    "a target URL needs --service-account-id (the account whose keys the run creates and deletes)",
                );
            };
            let loopback = is_loopback(&base);
            (base.to_string(), operation, source, account, loopback, None)
        }
        None => {
            let token = format!("t1.{}", uuid::Uuid::new_v4().simple());
            let mut options = Options::new(token.clone());
            options.mode = args.reference_mode;
            options.style = args.reference_style;
            options.masks = args.reference_masks;
            let started = rt.block_on(reference::start(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                options,
            ));
            let server = match started {
                Ok(s) => s,
                Err(e) => {
                    return harness(format!("cannot start the embedded reference server: {e}"));
                }
            };
            let url = server.base_url();
            let account = args
                .service_account_id
                .clone()
                .unwrap_or_else(|| "ajeconformanceaccount".to_string());
            (
                url.clone(),
                url,
                Source::Fixed(token),
                account,
                true,
                Some(server),
            )
        }
    };
    let client = match Client::new(args.timeout, loopback, args.cacert.as_deref()) {
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
    run.generation = Generation {
        seed,
        // Polled operations cost wall time, and a URL costs quota: fewer sequences there.
        cases: args.proptest_cases.unwrap_or(
            if args.base_url.is_some() || args.reference_mode == reference::Mode::Async {
                REMOTE_PROPTEST_CASES
            } else {
                EMBEDDED_PROPTEST_CASES
            },
        ),
    };
    run.min_interval = args
        .max_rps
        .map(|rps| std::time::Duration::from_secs_f64(1.0 / rps));
    run.keep_keys = args.keep_keys;
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
            let list = run.api.list(&run.service_account_id, None);
            ctx.call(list, Expect::new(DocKind::ListResponse)).await
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
        interrupted: Arc::new(AtomicBool::new(false)),
    };
    watch_signals(&rt, plan.interrupted.clone());

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
        interrupted: plan.interrupted.load(Ordering::SeqCst),
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

/// Sets `interrupted` on the first Ctrl-C or SIGTERM: trials not yet started are skipped,
/// running ones finish and clean up. A second signal ends the process at once.
fn watch_signals(rt: &tokio::runtime::Runtime, interrupted: Arc<AtomicBool>) {
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
            interrupted.store(true, Ordering::SeqCst);
            eprintln!(
                "interrupted: finishing the running trials and deleting their keys (press Ctrl-C again to stop at once)"
            );
        }
    });
}

/// A token source, the service account of its key (if any), and texts to redact.
type Credentials = (Source, Option<String>, Vec<String>);

/// The credentials the flags give: the token source, the key's service account, and texts to
/// redact. `None` when no credentials were given. The key file wins over the command, and the
/// command over a token (which may come from the environment).
fn credentials(auth: &AuthArgs) -> Result<Option<Credentials>, String> {
    if let Some(file) = auth
        .service_account_key_file
        .as_deref()
        .filter(|f| !f.trim().is_empty())
    {
        let key = ServiceAccountKey::load(file)?;
        parse_base_url("--token-url", &auth.token_url)?;
        let account = Some(key.service_account_id.clone());
        let secrets = key.secrets();
        let source = Source::Key {
            key,
            token_url: auth.token_url.clone(),
        };
        return Ok(Some((source, account, secrets)));
    }
    if let Some(command) = auth
        .token_command
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        return Ok(Some((
            Source::Command(command.to_string()),
            None,
            Vec::new(),
        )));
    }
    Ok(auth
        .token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| (Source::Fixed(t.to_string()), None, Vec::new())))
}

/// `accesskey-conformance cleanup`: deletes what a ledger lists as still present.
pub fn cleanup(args: CleanupArgs) -> ExitCode {
    let ledger = match runner::ledger::read(&args.ledger) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let base = match parse_base_url(
        "the base URL",
        args.base_url.as_deref().unwrap_or(&ledger.base_url),
    ) {
        Ok(u) => u,
        Err(e) => return usage(e),
    };
    let operation = args
        .operation_url
        .clone()
        .unwrap_or_else(|| ledger.operation_url.clone());
    let operation = match parse_base_url("the operation URL", &operation) {
        Ok(u) => u,
        Err(e) => return usage(e),
    };
    let (source, _, hidden) = match credentials(&args.auth) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return usage(
                "cleanup needs credentials: --token (or YC_TOKEN), --token-command, or --service-account-key-file",
            );
        }
        Err(e) => return usage(e),
    };
    if ledger.pending.is_empty() {
        println!(
            "cleanup: the ledger lists {} key(s), all already deleted",
            ledger.created
        );
        return exit::code(exit::PASSED);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return harness(format!("cannot start the async runtime: {e}")),
    };
    let client = match Client::new(args.timeout, is_loopback(&base), args.cacert.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let schemas = match Schemas::embedded() {
        Ok(s) => s,
        Err(e) => return harness(e),
    };
    let api = match rt.block_on(Api::with_source(
        client,
        base.as_str(),
        operation.as_str(),
        source,
    )) {
        Ok(api) => api,
        Err(e) => return harness(format!("cannot get an IAM token: {e}")),
    };
    let token = api.token();
    let mut run = Run::new(
        api,
        schemas,
        ledger.service_account_id.clone(),
        std::time::Duration::from_secs(60),
        rt.handle().clone(),
        &token,
    );
    for text in &hidden {
        run.add_redacted(text);
    }
    // Deletions are written to the same ledger, so a second cleanup knows what is done.
    match runner::ledger::LedgerFile::append_to(&args.ledger) {
        Ok(file) => run.ledger_file = Some(file),
        Err(e) => return usage(e),
    }
    let run = Arc::new(run);
    let mut failed = Vec::new();
    rt.block_on(async {
        let mut ctx = runner::Ctx::new(run.clone());
        for id in &ledger.pending {
            run.ledger_track(id);
            match ctx.delete(id).await {
                Ok(true) => println!("deleted {id}"),
                Ok(false) => failed.push(format!("{id}: the target did not delete it")),
                Err(e) => failed.push(format!("{id}: {}", run.redact(&e.to_string()))),
            }
        }
    });
    println!(
        "cleanup: {} key(s) pending in the ledger, {} deleted or already gone, {} failed",
        ledger.pending.len(),
        ledger.pending.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        exit::code(exit::PASSED)
    } else {
        for f in &failed {
            eprintln!("error: {f}");
        }
        exit::code(exit::HARNESS_ERROR)
    }
}

/// `accesskey-conformance serve`.
pub fn serve(args: ServeArgs) -> ExitCode {
    if args.token.trim().is_empty() {
        return usage("--token must not be empty");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return harness(format!("cannot start the async runtime: {e}")),
    };
    let mut options = Options::new(args.token);
    options.mode = args.mode;
    options.style = args.style;
    options.masks = args.masks;
    options.faults = args.fault;
    options.throttle = args.throttle_every.map(|every| reference::Throttle {
        every,
        retry_after: args.retry_after,
        only_429: false,
        after_effect: false,
    });
    options.operation_not_found_reads = args.early_not_found;
    if let Some(path) = &args.authorized_key {
        match reference::AuthorizedKey::load(path) {
            Ok(key) => options.authorized_key = Some(key),
            Err(e) => return usage(format!("--authorized-key: {e}")),
        }
    }
    options.poll_interval = args.poll_interval.filter(|s| s.is_finite() && *s >= 0.0);
    rt.block_on(async {
        let server = match reference::start(args.listen, options).await {
            Ok(s) => s,
            Err(e) => return usage(format!("cannot listen on {}: {e}", args.listen)),
        };
        println!("listening on {}", server.base_url());
        tokio::select! {
            _ = server.handle => exit::code(exit::PASSED),
            _ = tokio::signal::ctrl_c() => exit::code(exit::PASSED),
        }
    })
}
