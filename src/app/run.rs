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
use crate::client::auth::Source;
use crate::client::{Api, Client};
use crate::contract::Schemas;
use crate::exit;
use crate::reference::{self, Options};
use crate::report::{self, Facts, Keys, RunReport};
use crate::runner::{self, Expected, Generation, Plan, Run};

/// The second service account of the embedded reference server (its token is made per run).
const EMBEDDED_ALT_ACCOUNT: &str = "ajesecondaccount0000";

/// `accesskey-conformance run`, as a sequence of named phases. A phase that cannot go on
/// returns the exit code that ends the run.
pub fn run(mut args: RunArgs) -> ExitCode {
    if args.plan {
        return super::plan::plan(&args);
    }
    match phases(&mut args, None) {
        Ok(code) | Err(code) => code,
    }
}

/// The phases of a run of the suite, or (`replay`) of the given trials.
pub(crate) fn phases(
    args: &mut RunArgs,
    trials: Option<Vec<runner::Spec>>,
) -> Result<ExitCode, ExitCode> {
    let prepared = setup(args, trials, false)?;
    let done = go(args, prepared)?;
    finish(args, &done)
}

/// A target made ready for the trials: the runtime, the target (the embedded server kept
/// alive), the contract, the run's shared state and its ledger, the trials and the plan.
pub(crate) struct Prepared {
    rt: tokio::runtime::Runtime,
    target: Target,
    cases: Vec<crate::contract::cases::Case>,
    run: Arc<Run>,
    ledger: Option<std::path::PathBuf>,
    specs: Vec<runner::Spec>,
    plan: Plan,
    replaying: bool,
}

/// A run that has been executed: its report, its shared state (the records, the archive,
/// the redaction) and its ledger file.
pub(crate) struct Executed {
    pub report: RunReport,
    pub run: Arc<Run>,
    ledger: Option<std::path::PathBuf>,
}

/// Loads the contract, sets up the target and the run, and proves the target answers (one
/// cheap request). `trace` keeps each trial's Updates in the model's terms (`diff`). With
/// `--list`, lists the trials and ends there.
pub(crate) fn setup(
    args: &mut RunArgs,
    trials: Option<Vec<runner::Spec>>,
    trace: bool,
) -> Result<Prepared, ExitCode> {
    if args.access_key_id.is_some() {
        // One key, so one trial at a time.
        args.test.test_threads = Some(1);
    }
    let rt = runtime().map_err(|e| harness(format!("cannot start the async runtime: {e}")))?;
    let contract = load_contract(args)?;
    let target = target(args, &rt)?;
    let replaying = trials.is_some();
    let specs = trials.unwrap_or_else(|| crate::suite::specs(&contract.cases));
    let plan = plan(args, &specs)?;
    let digest = crate::contract::digest(&contract.schemas, &contract.cases);
    let (run, ledger) = prepare(args, &rt, &target, contract.schemas, &digest, trace)?;
    if args.test.list {
        drop(runner::execute(&run, &specs, &args.test, &plan));
        return Err(exit::code(exit::PASSED));
    }
    preflight(&run, &rt)?;
    Ok(Prepared {
        rt,
        target,
        cases: contract.cases,
        run,
        ledger,
        specs,
        plan,
        replaying,
    })
}

/// Runs the trials on a prepared target, sweeps what is left, and builds the report.
pub(crate) fn go(args: &RunArgs, prepared: Prepared) -> Result<Executed, ExitCode> {
    let began = Began::now();
    let Prepared {
        rt,
        target,
        cases,
        run,
        ledger,
        specs,
        plan,
        replaying,
    } = prepared;
    eprintln!(
        "target: {} (operations: {}); seed {}",
        target.base_url, target.operation_url, run.generation.seed
    );
    let borrowed = borrow_key(args, &run, &rt)?;
    watch_signals(&rt, run.clone());
    if let Some(limit) = args.keys.run_timeout {
        let run = run.clone();
        rt.spawn(async move {
            tokio::time::sleep(limit).await;
            eprintln!(
                "--run-timeout: {:.0} s have passed; stopping the running trials and deleting the run's keys",
                limit.as_secs_f64()
            );
            run.expire();
        });
    }
    drop(runner::execute(&run, &specs, &args.test, &plan));
    let left = run.sweep();
    let restore_problem = borrowed.and_then(|key| restore(&run, &rt, key));
    let mut report = build_report(
        args,
        &run,
        &target,
        &cases,
        &began,
        (left, ledger.as_deref()),
        replaying,
    );
    if let Some(problem) = restore_problem {
        report.add_problem(problem);
    }
    Ok(Executed {
        report,
        run,
        ledger,
    })
}

/// When the run began, by the wall clock (for the reports) and by a monotonic one.
struct Began {
    wall: chrono::DateTime<chrono::FixedOffset>,
    instant: std::time::Instant,
}

impl Began {
    fn now() -> Self {
        Began {
            wall: chrono::Local::now().fixed_offset(),
            instant: std::time::Instant::now(),
        }
    }
}

/// The contract data the run judges by.
pub(crate) struct Contract {
    pub schemas: Schemas,
    pub cases: Vec<crate::contract::cases::Case>,
}

/// Loads the schemas (embedded, or `--schemas`) and the cases (built in, and `--cases`).
pub(crate) fn load_contract(args: &RunArgs) -> Result<Contract, ExitCode> {
    let schemas = match &args.schemas {
        Some(dir) => Schemas::from_dir(dir),
        None => Schemas::embedded(),
    }
    .map_err(usage)?;
    let cases = crate::contract::cases::load(args.cases.as_deref(), !args.no_builtin_cases)
        .map_err(usage)?;
    Ok(Contract { schemas, cases })
}

/// What the user asked of the selection: the level and the expected failures.
pub(crate) fn plan(args: &RunArgs, specs: &[runner::Spec]) -> Result<Plan, ExitCode> {
    let expected = match &args.expected_failures {
        Some(path) => expected_failures(path, specs).map_err(usage)?,
        None => BTreeMap::new(),
    };
    Ok(Plan {
        level: args.level,
        expected,
    })
}

/// The default seed: fixed by the harness's version and the contract data the run judges by,
/// so that a CI gate gets the same generated sequences, and so the same verdict, from the same
/// suite on the same target (the flapping a fresh seed per run brings is left to
/// `--random-seed`).
fn suite_seed(digest: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(format!("{} {digest}", env!("CARGO_PKG_VERSION")));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(bytes)
}

/// The generated part's settings for these flags. Polled operations cost wall time, and a
/// URL costs quota: fewer sequences there, and fewer replays when shrinking a failure; every
/// step waits, so more of them overlap.
pub(crate) fn generation(args: &RunArgs, schemas_digest: &str) -> Generation {
    let frugal = is_frugal(args);
    Generation {
        seed: match (args.seed, args.random_seed) {
            (Some(seed), _) => seed,
            (None, true) => random_seed(),
            (None, false) => suite_seed(schemas_digest),
        },
        cases: args
            .proptest_cases
            .unwrap_or_else(|| default_proptest_cases(args)),
        shrink_iters: if frugal {
            REMOTE_SHRINK_ITERS
        } else {
            EMBEDDED_SHRINK_ITERS
        },
        // Each extra lane needs a key of its own: none with one borrowed key or a bound on
        // live keys.
        lanes: if args.access_key_id.is_some() || args.keys.max_live_keys.is_some() {
            1
        } else if frugal {
            REMOTE_PROPERTY_LANES
        } else {
            EMBEDDED_PROPERTY_LANES
        },
    }
}

/// Trials working at once: `--test-threads`, or the default for the kind of target.
pub(crate) fn workers(args: &RunArgs) -> usize {
    args.test
        .test_threads
        .unwrap_or(if args.target.base_url.is_some() {
            REMOTE_WORKERS
        } else {
            EMBEDDED_WORKERS
        })
}

/// The run's shared state: the API with its first token, the generated part's settings, the
/// limits the user set, and the ledger file (its path, when the run keeps one).
fn prepare(
    args: &RunArgs,
    rt: &tokio::runtime::Runtime,
    target: &Target,
    schemas: Schemas,
    schemas_digest: &str,
    trace: bool,
) -> Result<(Arc<Run>, Option<std::path::PathBuf>), ExitCode> {
    let client = Client::new(
        args.target.transport.timeout,
        target.loopback,
        args.target.transport.cacert.as_deref(),
    )
    .map_err(usage)?;
    let api = rt
        .block_on(Api::with_source(
            client,
            &target.base_url,
            &target.operation_url,
            target.source.clone(),
        ))
        .map_err(|e| {
            let message = format!("cannot get an IAM token: {e}");
            if e.method == "token-command" {
                usage(message)
            } else {
                harness(message)
            }
        })?;
    let mut api = api;
    if let Some(source) = &target.alt_source {
        rt.block_on(api.add_alt(source.clone())).map_err(|e| {
            let message = format!("cannot get the second account's IAM token: {e}");
            if e.method == "token-command" {
                usage(message)
            } else {
                harness(message)
            }
        })?;
    }
    let token = api.token();
    let mut run = Run::new(
        api,
        schemas,
        target.account.clone(),
        args.target.operation_timeout,
        rt.handle().clone(),
        &token,
    );
    run.generation = generation(args, schemas_digest);
    run.set_workers(workers(args));
    run.alt_account = target.alt_account.clone();
    run.clock_tolerance = chrono::Duration::from_std(args.target.clock_tolerance)
        .unwrap_or(chrono::Duration::minutes(5));
    run.min_interval = args
        .keys
        .max_rps
        .map(|rps| std::time::Duration::from_secs_f64(1.0 / rps));
    run.keep_keys = args.keys.keep_keys;
    run.max_requests = args.keys.max_requests;
    run.trace = trace;
    run.max_live_keys = args.keys.max_live_keys.map(|n| n as usize);
    run.key_slots = args
        .keys
        .max_live_keys
        .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize)));
    run.shared_key = args.access_key_id.clone();
    if !args.keys.keep_keys && args.keys.max_live_keys.is_none() && args.access_key_id.is_none() {
        run.pool_keys();
    }
    if args.outputs.har.is_some() {
        run.keep_archive();
    }
    for text in &target.hidden {
        run.add_redacted(text);
    }
    // A ledger for a real target (the embedded server's keys die with the process anyway).
    let ledger = match (&args.keys.ledger, args.target.base_url.is_some()) {
        (Some(path), _) => Some(path.clone()),
        (None, true) if !args.test.list => Some(runner::ledger::default_path()),
        (None, _) => None,
    };
    if let Some(path) = &ledger {
        let file = runner::ledger::LedgerFile::create(
            path,
            &target.base_url,
            &target.operation_url,
            &run.service_account_id,
            run.alt_account.as_deref(),
            &run.marker_prefix(),
            args.keys.ledger.is_some(),
        )
        .map_err(usage)?;
        run.ledger_file = Some(file);
    }
    Ok((Arc::new(run), ledger))
}

/// One cheap request first, so that an unreachable or throttling target is one clear error,
/// not one per trial.
fn preflight(run: &Arc<Run>, rt: &tokio::runtime::Runtime) -> Result<(), ExitCode> {
    let probe = rt.block_on(async {
        let mut ctx = runner::Ctx::for_trial(run.clone(), "preflight");
        let list = run.api.list(&run.service_account_id, None, None);
        ctx.call(list, Expect::listing(&run.service_account_id))
            .await
    });
    match probe {
        Ok(_) => Ok(()),
        Err(runner::HarnessError::Transport(e)) => Err(harness(format!(
            "the target cannot be reached: {}",
            run.redact(&e.to_string())
        ))),
        Err(e) => Err(harness(format!(
            "the target cannot be tested: {}",
            run.redact(&e.to_string())
        ))),
    }
}

/// `--access-key-id`: the key and its description, to put back at the end.
fn borrow_key(
    args: &RunArgs,
    run: &Arc<Run>,
    rt: &tokio::runtime::Runtime,
) -> Result<Option<(String, String)>, ExitCode> {
    let Some(id) = &args.access_key_id else {
        return Ok(None);
    };
    match rt.block_on(runner::Ctx::for_trial(run.clone(), "setup").read_key(id)) {
        Ok(Some(key)) => Ok(Some((
            id.clone(),
            crate::checks::description_of(&key).unwrap_or_default(),
        ))),
        Ok(None) => Err(usage(format!("--access-key-id: there is no key `{id}`"))),
        Err(e) => Err(harness(format!(
            "--access-key-id: cannot read key `{id}`: {e}"
        ))),
    }
}

/// Puts the borrowed key's description back; the problem, if that fails.
fn restore(
    run: &Arc<Run>,
    rt: &tokio::runtime::Runtime,
    (id, description): (String, String),
) -> Option<String> {
    let body = serde_json::json!({"updateMask": "description", "description": description});
    let restored = rt.block_on(async {
        let mut ctx = runner::Ctx::sweeper(run.clone());
        ctx.update(&id, Some(body.to_string()), crate::client::Auth::Token)
            .await
    });
    match restored {
        Ok(crate::checks::update::UpdateOutcome::Applied(_)) => {
            eprintln!("restored the description of key {id}");
            None
        }
        other => Some(format!(
            "could not restore the description of key {id}: {}",
            run.redact(&format!("{other:?}"))
        )),
    }
}

/// The run as data: the outcome log and the run's facts, read into a verdict.
fn build_report(
    args: &RunArgs,
    run: &Arc<Run>,
    target: &Target,
    cases: &[crate::contract::cases::Case],
    began: &Began,
    (left, ledger): (runner::Unconfirmed, Option<&std::path::Path>),
    replaying: bool,
) -> RunReport {
    let (created, deleted, _) = run.ledger_counts();
    // The command to delete what is left, when something is (and a ledger lists it).
    let cleanup = ledger.filter(|_| !left.is_empty()).map(|path| {
        format!(
            "accesskey-conformance cleanup --ledger {} (with the run's credential flags)",
            path.display()
        )
    });
    let facts = Facts {
        target: target.base_url.clone(),
        operation_url: target.operation_url.clone(),
        started: began.wall,
        elapsed: began.instant.elapsed(),
        seed: run.generation.seed,
        digest: crate::contract::digest(&run.schemas, cases),
        level: args.level,
        requests: run.requests(),
        generated_steps: run.generated_steps(),
        keys: Keys {
            created,
            deleted,
            left: left.ids,
            unconfirmed_creates: left
                .creates
                .iter()
                .map(runner::Uncertain::describe)
                .collect(),
            marker: run.marker_prefix(),
            cleanup,
            kept: args.keys.keep_keys,
        },
        // With one borrowed key some trials cannot run, and a replay selects its trials, so
        // the coverage floor does not apply.
        // A run its request budget cut tested a part of the suite, as a filtered one does.
        filtered: replaying
            || run.trials_over_budget() > 0
            || args.test.filter.is_some()
            || !args.test.skip.is_empty()
            || args.access_key_id.is_some(),
        interrupted: run.is_interrupted() && !run.is_expired(),
    };
    let mut report = RunReport::build(&run.records(), facts, &|t| run.redact(t));
    let cut = run.trials_over_budget();
    if cut > 0 {
        let max = args.keys.max_requests.unwrap_or_default();
        let what = format!(
            "the request budget (--max-requests {max}) was spent: {cut} trial(s) were not run"
        );
        if args.keys.accept_partial {
            report.partial = Some(what);
        } else {
            report.add_problem(format!(
                "{what} (--accept-partial takes the verdict of what ran)"
            ));
        }
    }
    if let (true, Some(limit)) = (run.is_expired(), args.keys.run_timeout) {
        let running = run.running_at_expiry();
        report.add_problem(format!(
            "the run was stopped by --run-timeout after {:.0} s; still running then: {}",
            limit.as_secs_f64(),
            if running.is_empty() {
                "no trial (the sweep or the reports)".to_string()
            } else {
                running.join(", ")
            }
        ));
    }
    report
}

/// The closing text, the ledger file, the report files, and the exit code.
fn finish(args: &RunArgs, done: &Executed) -> Result<ExitCode, ExitCode> {
    let report = &done.report;
    print!("{}", report::console::closing(report));
    close_ledger(args, done);
    write_reports(report, args).map_err(harness)?;
    write_har(args, &done.run)?;
    Ok(exit::code(report.exit_code))
}

/// Says where the ledger is when it lists keys left behind; otherwise removes the default
/// one (it has done its job).
pub(crate) fn close_ledger(args: &RunArgs, done: &Executed) {
    let ledger_written = done.run.ledger_file.as_ref().is_some_and(|l| l.written());
    if let (Some(path), true) = (&done.ledger, ledger_written) {
        // Never removed while a key may be left (R6).
        if done.report.keys.unconfirmed() > 0 {
            eprintln!(
                "ledger: {} (accesskey-conformance cleanup --ledger {} deletes what it lists)",
                path.display(),
                path.display()
            );
        } else if args.keys.ledger.is_none() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `--har`: every exchange of the run.
fn write_har(args: &RunArgs, run: &Run) -> Result<(), ExitCode> {
    let Some(path) = &args.outputs.har else {
        return Ok(());
    };
    let har = report::har::build(&run.archived(), &|t| run.redact(t));
    let text = serde_json::to_string_pretty(&har)
        .map_err(|e| harness(format!("cannot render the HAR file: {e}")))?;
    std::fs::write(path, text).map_err(|e| {
        harness(format!(
            "cannot write the HAR file `{}`: {e}",
            path.display()
        ))
    })
}

/// What the run talks to.
struct Target {
    base_url: String,
    operation_url: String,
    source: Source,
    /// The service account whose keys the run creates.
    account: String,
    /// The second account: its credentials (A2) and service account (A3).
    alt_source: Option<Source>,
    alt_account: Option<String>,
    loopback: bool,
    /// Key material to redact.
    hidden: Vec<String>,
    /// The embedded reference server, kept alive for the run.
    _server: Option<reference::Running>,
}

/// Whether a run with these flags has a second account's token and its service account
/// (for `--plan`): the flags are checked as `run` checks them; nothing is started or reached.
pub(crate) fn second_account(args: &RunArgs) -> Result<(bool, bool), ExitCode> {
    if args.target.base_url.is_none() {
        // The embedded server always has its second account.
        return Ok((true, true));
    }
    let rt = runtime().map_err(|e| harness(format!("cannot start the async runtime: {e}")))?;
    let target = target(args, &rt)?;
    Ok((target.alt_source.is_some(), target.alt_account.is_some()))
}

/// The target: a URL from the user (with its credentials), or the embedded reference server.
fn target(args: &RunArgs, rt: &tokio::runtime::Runtime) -> Result<Target, ExitCode> {
    let Some(text) = &args.target.base_url else {
        let token = format!("t1.{}", uuid::Uuid::new_v4().simple());
        let alt = reference::AltAccount {
            token: format!("t1.{}", uuid::Uuid::new_v4().simple()),
            service_account_id: args
                .target
                .alt
                .alt_service_account_id
                .clone()
                .unwrap_or_else(|| EMBEDDED_ALT_ACCOUNT.to_string()),
        };
        let mut options = Options::new(token.clone());
        options.alt = Some(alt.clone());
        options.mode = args.target.reference_mode;
        options.style = args.target.reference_style;
        options.masks = args.target.reference_masks;
        options.latency = args.target.reference_latency;
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
                .target
                .service_account_id
                .clone()
                .unwrap_or_else(|| "ajeconformanceaccount".to_string()),
            alt_source: Some(Source::Fixed(alt.token)),
            alt_account: Some(alt.service_account_id),
            loopback: true,
            hidden: Vec::new(),
            _server: Some(server),
        });
    };
    let base = parse_base_url("--base-url", text).map_err(usage)?;
    let operation_url = match &args.target.operation_url {
        Some(t) => parse_base_url("--operation-url", t)
            .map_err(usage)?
            .to_string(),
        None if base.host_str() == Some(YANDEX_IAM_HOST) => YANDEX_OPERATION_URL.to_string(),
        None => base.to_string(),
    };
    let (source, key_account, hidden) = credentials(&args.target.auth).map_err(usage)?.ok_or_else(|| {
        usage(
            "a target URL needs credentials: --token (or YC_TOKEN), --token-command, or --service-account-key-file",
        )
    })?;
    let account = args
        .target
        .service_account_id
        .clone()
        .or(key_account)
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| {
            usage(
                "a target URL needs --service-account-id (the account whose keys the run creates and deletes)",
            )
        })?;
    let (alt_source, alt_account, hidden) = alt_credentials(&args.target, hidden)?;
    if alt_account.as_deref() == Some(account.as_str()) {
        return Err(usage(
            "--alt-service-account-id must be another service account than --service-account-id",
        ));
    }
    Ok(Target {
        base_url: base.to_string(),
        operation_url,
        source,
        account,
        alt_source,
        alt_account,
        loopback: is_loopback(&base),
        hidden,
        _server: None,
    })
}

/// A second account: its token source, its service account, and the texts to redact.
type Second = (Option<Source>, Option<String>, Vec<String>);

/// The second account of a target URL: its token source (from the --alt-token flags) and its
/// service account (--alt-service-account-id, or the one its key file names), with the texts
/// to redact added to `hidden`. A token without a service account to prove it on is refused.
fn alt_credentials(
    target: &crate::cli::TargetArgs,
    mut hidden: Vec<String>,
) -> Result<Second, ExitCode> {
    let alt = &target.alt;
    let auth = crate::cli::AuthArgs {
        token: alt.alt_token.clone(),
        token_command: alt.alt_token_command.clone(),
        service_account_key_file: alt.alt_service_account_key_file.clone(),
        token_url: target.auth.token_url.clone(),
    };
    let found = credentials(&auth).map_err(|e| usage(format!("second account: {e}")))?;
    let account = alt
        .alt_service_account_id
        .clone()
        .or_else(|| found.as_ref().and_then(|(_, a, _)| a.clone()))
        .filter(|a| !a.trim().is_empty());
    let source = match found {
        Some((source, _, secrets)) => {
            hidden.extend(secrets);
            Some(source)
        }
        None => None,
    };
    if source.is_some() && account.is_none() {
        return Err(usage(
            "a second account's token needs --alt-service-account-id (a service account that token may list, to show the token works)",
        ));
    }
    Ok((source, account, hidden))
}

/// Writes the reports the flags ask for (and the GitHub step summary when it is set).
fn write_reports(report: &RunReport, args: &RunArgs) -> Result<(), String> {
    let write = |what: &str, path: &std::path::Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the {what} `{}`: {e}", path.display()))
    };
    if let Some(path) = &args.outputs.junit {
        let xml = report::junit::build(report)
            .to_string()
            .map_err(|e| format!("cannot render the JUnit report: {e}"))?;
        write("JUnit report", path, &xml)?;
    }
    if let Some(path) = &args.outputs.json {
        write("JSON report", path, &report.to_json())?;
    }
    if let Some(path) = &args.outputs.html {
        write("HTML report", path, &report::html::render(report))?;
    }
    let markdown = report::summary::markdown(report);
    if let Some(path) = &args.outputs.summary {
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

/// Whether the run is frugal with requests: against a URL (quota) or an embedded server in
/// async mode (every poll costs wall time).
fn is_frugal(args: &RunArgs) -> bool {
    args.target.base_url.is_some() || args.target.reference_mode == reference::Mode::Async
}

/// Generated sequences per property when `--proptest-cases` is not given.
pub fn default_proptest_cases(args: &RunArgs) -> u32 {
    if is_frugal(args) {
        REMOTE_PROPTEST_CASES
    } else {
        EMBEDDED_PROPTEST_CASES
    }
}
