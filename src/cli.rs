//! The command line: `run` (the suite, with libtest-mimic's flags flattened in) and `serve`
//! (the reference server on its own).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::contract::Level;
use crate::reference::{CreateAnswer, Fault, Masks, Mode, Paging, RetryAfter, Style};

#[derive(Debug, Parser)]
#[command(
    name = "accesskey-conformance",
    version,
    about = "Conformance harness for the Yandex Cloud IAM AWS-compatible access keys API (AccessKey.Update)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the conformance suite against --base-url, or against the embedded reference server.
    Run(Box<RunArgs>),
    /// Serve the reference implementation of the API.
    Serve(ServeArgs),
    /// Delete the keys a run left behind, as its ledger file lists them.
    Cleanup(CleanupArgs),
    /// Send again what made the trials of an earlier run fail (its `--json` report) and judge
    /// the answers by the same rules.
    Replay(Box<ReplayArgs>),
    /// Run the same seeded trials against two targets and report where they behave
    /// differently, in the model's terms.
    Diff(Box<DiffArgs>),
    /// List every rule the harness checks: id, level, what it asks, what tests it, its source.
    Rules(RulesArgs),
    /// Explain one rule: what it asks, where it comes from, which trials test it on which
    /// routes.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Print the table in Markdown (as the README links to it).
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The rule's id, as failures name it (U2, O6, A1, ...).
    #[arg(value_name = "RULE")]
    pub rule: String,
}

/// How the harness authenticates to a target. When several are given, the key file wins over
/// the command, and the command over the token.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// IAM token for the target (never printed).
    #[arg(long, env = "YC_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// A command that prints an IAM token, e.g. `yc iam create-token`; run again to refresh.
    #[arg(long, value_name = "CMD")]
    pub token_command: Option<String>,

    /// A service account authorized key (path, or the JSON itself): the harness signs a
    /// PS256 JWT and exchanges it for IAM tokens, renewing them before they expire.
    #[arg(
        long,
        env = "YC_SERVICE_ACCOUNT_KEY_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub service_account_key_file: Option<String>,

    /// The IAM tokens endpoint for --service-account-key-file.
    #[arg(long, value_name = "URL", default_value = crate::client::auth::DEFAULT_TOKEN_URL)]
    pub token_url: String,
}

/// A second account, for the rules that need one (A2: another account's token is refused on
/// every route; A3: List of one account never shows the other's keys). Without these flags
/// the checkers that need them are reported as not run; the embedded server has a second
/// account of its own.
#[derive(Debug, Clone, Args)]
pub struct AltArgs {
    /// A second service account whose keys the run may create and delete with its own
    /// credentials (rule A3; with a second account's token, also the account that token may
    /// list, which proves the token works).
    #[arg(long, value_name = "ID")]
    pub alt_service_account_id: Option<String>,

    /// IAM token of a second account that has no access to --service-account-id (rule A2;
    /// never printed).
    #[arg(
        long,
        env = "ALT_YC_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub alt_token: Option<String>,

    /// A command that prints the second account's IAM token; rerun to refresh.
    #[arg(long, value_name = "CMD")]
    pub alt_token_command: Option<String>,

    /// The second account's service account authorized key (path, or the JSON itself);
    /// its service account is the default --alt-service-account-id.
    #[arg(long, value_name = "FILE")]
    pub alt_service_account_key_file: Option<String>,
}

/// How requests reach the target.
#[derive(Debug, Clone, Args)]
pub struct TransportArgs {
    /// Deadline of one request, body included, in seconds. A request that gets no answer
    /// within it is sent once more (same Idempotency-Key), so a stall costs at most twice it.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub timeout: Duration,

    /// Also trust the CA certificates of this PEM file (beside the system's roots).
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The ledger file of the run (its path is printed when keys are left).
    #[arg(long, value_name = "PATH")]
    pub ledger: PathBuf,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// IAM base URL, when it differs from the one the ledger names.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Base URL of the operation service, when it differs from the ledger's.
    #[arg(long, value_name = "URL")]
    pub operation_url: Option<String>,

    #[command(flatten)]
    pub transport: TransportArgs,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "`{text}` must be more than 0 and at most 86400 seconds"
        ))
    }
}

fn milliseconds(text: &str) -> Result<Duration, String> {
    match text.trim_end_matches("ms").parse::<u64>() {
        Ok(ms) if ms <= 600_000 => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "`{text}` must be a whole number of milliseconds from 0 to 600000"
        )),
    }
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 100_000.0 => Ok(v),
        _ => Err(format!(
            "`{text}` must be a number of requests per second above 0"
        )),
    }
}

/// What the run talks to, and how: the target (or the embedded reference server) and its
/// credentials, the transport, and the clocks.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// IAM base URL of the target, e.g. https://iam.api.cloud.yandex.net. Without it the suite
    /// runs against the embedded reference server.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Base URL of the operation service. Default: https://operation.api.cloud.yandex.net for
    /// the Yandex IAM host, otherwise the base URL.
    #[arg(long, value_name = "URL")]
    pub operation_url: Option<String>,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Service account that owns the keys the run creates (required with --base-url).
    #[arg(long, value_name = "ID")]
    pub service_account_id: Option<String>,

    #[command(flatten)]
    pub alt: AltArgs,

    #[command(flatten)]
    pub transport: TransportArgs,

    /// How far the target's clock may be from the harness's, in seconds (rule T5; a `Date`
    /// header narrows it down, never beyond this).
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = seconds)]
    pub clock_tolerance: Duration,

    /// How long an operation may stay unfinished before rule O7 fails, in seconds. Once one
    /// operation of a kind (Update, Delete) has outlived it, no other of that kind is waited
    /// for.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    pub operation_timeout: Duration,

    /// Embedded reference server only: when its operations finish.
    #[arg(long, value_enum, default_value = "sync", value_name = "MODE")]
    pub reference_mode: Mode,

    /// Embedded reference server only: how it writes JSON.
    #[arg(long, value_enum, default_value = "live", value_name = "STYLE")]
    pub reference_style: Style,

    /// Embedded reference server only: how it reads the open (U8) inputs.
    #[arg(long, value_enum, default_value = "strict", value_name = "MASKS")]
    pub reference_masks: Masks,

    /// Embedded reference server only: hold every answer back this many milliseconds, as a
    /// remote target would (a round trip).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = milliseconds)]
    pub reference_latency: Duration,
}

/// The report files a run writes.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Write a JUnit XML report to this file.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Write a Markdown summary to this file (also appended to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,

    /// Write the whole run as JSON to this file (shape: schemas/report.schema.json).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report to this file (no scripts, no external assets).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// Write every request and answer of the run to this file, in HAR 1.2 (each entry tagged
    /// with its trial in `_trial`; secrets redacted).
    #[arg(long, value_name = "PATH")]
    pub har: Option<PathBuf>,
}

/// What the run may do with keys and requests: the ledger, keeping keys, and the limits.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Write the ledger of created keys here (default with --base-url: a new file in the
    /// system temp directory, removed when the run leaves nothing behind).
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// Do not delete the keys the run creates (for debugging); `cleanup --ledger` removes them.
    #[arg(long)]
    pub keep_keys: bool,

    /// At most this many keys created by the run exist at once (kept keys not counted).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_live_keys: Option<u32>,

    /// At most this many requests per second, across all trial threads.
    #[arg(long, value_name = "N", value_parser = positive_rate)]
    pub max_rps: Option<f64>,

    /// Start no trial once the run has sent this many requests (trials already running
    /// finish; the sweep always runs and is not counted). Trials not started are reported as
    /// not run, and the run is a harness error unless --accept-partial.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,

    /// With --max-requests: a run cut by its budget passes on what it did run (the reports
    /// say the verdict is partial).
    #[arg(long, requires = "max_requests")]
    pub accept_partial: bool,

    /// Stop the run after this many seconds: running trials stop, the sweep deletes the
    /// run's keys, the reports are written, and the run is a harness error (exit 3) naming
    /// what was still running.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub run_timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub outputs: OutputArgs,

    #[command(flatten)]
    pub keys: KeyArgs,

    /// Run trials up to this level: must; should (must and should); info (all, the default).
    #[arg(long, value_enum, default_value = "info", value_name = "LEVEL")]
    pub level: Level,

    /// A JSON file of trials expected to fail: {"trial name": "reason"} or
    /// {"trial name": {"reason": "...", "issue": "URL"}}.
    #[arg(long, value_name = "FILE")]
    pub expected_failures: Option<PathBuf>,

    /// Read the JSON Schemas from this directory instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,

    /// Add the case files (*.json) of this directory to the built-in cases.
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,

    /// Run only the cases of --cases, not the built-in ones.
    #[arg(long)]
    pub no_builtin_cases: bool,

    /// Seed of the generated update sequences (default: one fixed by the harness's version
    /// and its schemas and cases, so that the same suite gives the same verdict on the same
    /// target; the seed used is always printed).
    #[arg(long, value_name = "N", conflicts_with = "random_seed")]
    pub seed: Option<u64>,

    /// Draw a fresh seed for this run (to explore; a CI gate wants the fixed default).
    #[arg(long)]
    pub random_seed: bool,

    /// Generated sequences per property trial (default: 150 against the embedded server in
    /// sync mode; 24 against a --base-url, about 600 requests, or in async mode).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub proptest_cases: Option<u32>,

    /// Test on this existing key instead of creating keys (for tokens that cannot create
    /// them): one trial at a time; trials that must create or delete keys are skipped; the
    /// key's description is restored at the end.
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,

    /// Print the plan of this run and send nothing: the trials that would run, the keys
    /// each creates at most, an estimate of the requests, and the route-matrix checkers
    /// that would not run (as JSON too, into the file --json names).
    #[arg(long, conflicts_with_all = ["junit", "html", "summary", "har"])]
    pub plan: bool,

    #[command(flatten)]
    pub test: libtest_mimic::Arguments,
}

impl RunArgs {
    /// A run's arguments with every default, as if none were given.
    pub fn defaults() -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let command = <Self as clap::Args>::augment_args(clap::Command::new("run"));
        let _ = Cli::command;
        Self::from_arg_matches(&command.try_get_matches_from(["run"])?)
    }
}

/// `replay`: the trials of an earlier run's JSON report, sent again.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The JSON report of the earlier run (`run --json`).
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,

    /// The trials to replay (default: every trial that failed).
    #[arg(value_name = "TRIAL")]
    pub trials: Vec<String>,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub outputs: OutputArgs,

    #[command(flatten)]
    pub keys: KeyArgs,

    /// At most this many trials work at once (default 24 against a URL, 8 embedded).
    #[arg(long, value_name = "N")]
    pub test_threads: Option<usize>,
}

/// `diff`: the same trials against two targets (A: --base-url, B: --other-url), compared.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Target A (`--base-url`, its credentials, transport and clocks; without a URL the
    /// embedded reference server).
    #[command(flatten)]
    pub target: TargetArgs,

    /// IAM base URL of target B. Without it, B is the embedded reference server, set up by
    /// the --other-reference-* flags (each defaults to A's).
    #[arg(long, value_name = "URL")]
    pub other_url: Option<String>,

    /// Base URL of B's operation service (default: as for --operation-url).
    #[arg(long, value_name = "URL")]
    pub other_operation_url: Option<String>,

    /// IAM token for B (never printed). Without any --other-token* or
    /// --other-service-account-key-file, B uses A's credentials.
    #[arg(long, value_name = "TOKEN")]
    pub other_token: Option<String>,

    /// A command that prints an IAM token for B.
    #[arg(long, value_name = "CMD")]
    pub other_token_command: Option<String>,

    /// A service account authorized key for B (path, or the JSON itself).
    #[arg(long, value_name = "FILE")]
    pub other_service_account_key_file: Option<String>,

    /// Service account that owns the keys created on B (default: A's).
    #[arg(long, value_name = "ID")]
    pub other_service_account_id: Option<String>,

    /// Embedded B only: when its operations finish (default: A's --reference-mode).
    #[arg(long, value_enum, value_name = "MODE")]
    pub other_reference_mode: Option<Mode>,

    /// Embedded B only: how it writes JSON (default: A's --reference-style).
    #[arg(long, value_enum, value_name = "STYLE")]
    pub other_reference_style: Option<Style>,

    /// Embedded B only: how it reads the open (U8) inputs (default: A's --reference-masks).
    #[arg(long, value_enum, value_name = "MASKS")]
    pub other_reference_masks: Option<Masks>,

    /// Seed of the generated sequences, the same on both sides (default: a random one).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Generated sequences per property trial (default as for `run`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub proptest_cases: Option<u32>,

    /// Compare trials up to this level: must; should; info (all, the default).
    #[arg(long, value_enum, default_value = "info", value_name = "LEVEL")]
    pub level: Level,

    /// Write the differences as JSON to this file (shape: schemas/diff.schema.json).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write the differences as Markdown to this file.
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,

    /// At most this many requests per second on each side.
    #[arg(long, value_name = "N", value_parser = positive_rate)]
    pub max_rps: Option<f64>,

    /// At most this many trials work at once on each side (default 24 against a URL, 8
    /// embedded).
    #[arg(long, value_name = "N")]
    pub test_threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// The bearer token the server accepts.
    #[arg(long, env = "YC_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: String,

    /// The token of a second account, which may act only on keys of --alt-account.
    #[arg(long, value_name = "TOKEN", requires = "alt_account")]
    pub alt_token: Option<String>,

    /// The service account of the second account.
    #[arg(long, value_name = "ID", requires = "alt_token")]
    pub alt_account: Option<String>,

    /// When operations finish.
    #[arg(long, value_enum, default_value = "sync")]
    pub mode: Mode,

    /// How JSON is written.
    #[arg(long, value_enum, default_value = "live")]
    pub style: Style,

    /// How the open (U8) inputs are read: refused, or accepted with their documented readings.
    #[arg(long, value_enum, default_value = "strict")]
    pub masks: Masks,

    /// Answer every N-th request 429 or 503 (alternately), as a quota-limited service does.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_every: Option<u32>,

    /// With --throttle-every: how throttled answers say when to retry.
    #[arg(long, value_enum, default_value = "seconds", value_name = "FORM")]
    pub retry_after: RetryAfter,

    /// Operations answer NOT_FOUND to their first N reads (a replicated operation service).
    #[arg(long, value_name = "N", default_value = "0")]
    pub early_not_found: u32,

    /// Send x-operation-poll-interval (seconds) with unfinished operations.
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<f64>,

    /// Accept JWTs signed with this service account key at POST /iam/v1/tokens (the key's
    /// JSON with `id`, `service_account_id` and `public_key`).
    #[arg(long, value_name = "FILE")]
    pub authorized_key: Option<PathBuf>,

    /// Hold every answer back this many milliseconds, so that a loopback server behaves like a
    /// remote one (the added round trip).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = milliseconds)]
    pub latency: Duration,

    /// Run the server's clock this many seconds ahead (negative: behind); its Date header
    /// agrees, as an honestly skewed clock's would.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "0",
        allow_hyphen_values = true
    )]
    pub clock_skew: i64,

    /// Send no Date header.
    #[arg(long)]
    pub no_date_header: bool,

    /// How List pages: exact, or ragged (short pages with tokens, an empty last page, opaque
    /// tokens).
    #[arg(long, value_enum, default_value = "exact")]
    pub paging: Paging,

    /// With --mode async: operations finish this many milliseconds after they start, however
    /// often they are read (by default they finish on their second read).
    #[arg(long, value_name = "MS", value_parser = milliseconds)]
    pub operation_delay: Option<Duration>,

    /// Rehearse a Create answer a client cannot read (the key is still made).
    #[arg(long, value_enum, default_value = "documented", value_name = "FORM")]
    pub create_answer: CreateAnswer,

    /// Break one rule on purpose (for demonstrations and the project's tests).
    #[arg(long, hide = true, value_name = "FAULT")]
    pub fault: Vec<Fault>,
}
