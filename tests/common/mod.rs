//! What the integration tests share: a reference server on loopback, the built binary, and a
//! reader of the verdict a run wrote into its JUnit report.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::OnceLock;

use accesskey_conformance::reference::{self, Fault, Masks, Mode, Options, Style};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

pub const TOKEN: &str = "t1.test-token-0123456789abcdef";
pub const ACCOUNT: &str = "ajetestaccount";
/// The second account of the test servers (rules A2, A3).
pub const ALT_TOKEN: &str = "t1.second-account-token-9876543210";
pub const ALT_ACCOUNT: &str = "ajesecondtestaccount";

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

pub fn start_reference(mode: Mode, style: Style, masks: Masks, faults: Vec<Fault>) -> String {
    let mut options = Options::new(TOKEN);
    options.mode = mode;
    options.style = style;
    options.masks = masks;
    options.faults = faults;
    start_with(options)
}

/// A reference server with these options (token [`TOKEN`] unless they say otherwise), and
/// the second account [`ALT_TOKEN`] / [`ALT_ACCOUNT`] unless they name one.
pub fn start_with(mut options: Options) -> String {
    if options.alt.is_none() {
        options.alt = Some(reference::AltAccount {
            token: ALT_TOKEN.to_string(),
            service_account_id: ALT_ACCOUNT.to_string(),
        });
    }
    let server = runtime()
        .block_on(reference::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            options,
        ))
        .unwrap();
    server.base_url()
}

pub fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accesskey-conformance"))
        .args(args)
        .env_remove("YC_TOKEN")
        .env_remove("YC_SERVICE_ACCOUNT_KEY_FILE")
        // A test run must not write into the step summary of the CI job running the tests.
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap()
}

/// What one run of the harness decided, read back from its JUnit report.
#[derive(Debug)]
pub struct Verdict {
    pub code: i32,
    /// Failed trial → the rules of its violations.
    pub failed: BTreeMap<String, BTreeSet<String>>,
    pub errored: Vec<String>,
    pub passed: usize,
    pub stdout: String,
    pub stderr: String,
    pub junit: String,
    /// The JSON report (`Null` when the run wrote none).
    pub json: serde_json::Value,
}

impl Verdict {
    pub fn rules(&self) -> BTreeSet<String> {
        self.failed.values().flatten().cloned().collect()
    }

    /// The cells of the route matrix in the state `state` (`ran`, `failed`, `not-run`),
    /// as `(trial, route)`.
    pub fn cells(&self, state: &str) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for row in self.json["matrix"]["rows"].as_array().into_iter().flatten() {
            for cell in row["cells"].as_array().into_iter().flatten() {
                if cell["state"] == state {
                    out.insert((
                        row["trial"].as_str().unwrap_or_default().to_string(),
                        cell["route"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
        }
        out
    }
}

/// Violation lines in a failure text look like `  [U2] the stored ...`.
pub fn rules_in(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('['))
        .filter_map(|l| l.split_once(']'))
        .map(|(rule, _)| rule.to_string())
        .collect()
}

/// Runs the harness against `url` with the test credentials (both accounts) and `extra`
/// flags, and reads its verdict from its JUnit and JSON reports.
pub fn run_against(url: &str, extra: &[&str]) -> Verdict {
    let mut args = vec![
        "--alt-token",
        ALT_TOKEN,
        "--alt-service-account-id",
        ALT_ACCOUNT,
    ];
    args.extend_from_slice(extra);
    run_with(url, &args)
}

/// [`run_against`] with the first account's credentials only.
pub fn run_with(url: &str, extra: &[&str]) -> Verdict {
    let id = uuid_like();
    let junit = std::env::temp_dir().join(format!("akc-{id}.xml"));
    let json = std::env::temp_dir().join(format!("akc-{id}.json"));
    let junit_arg = junit.to_str().unwrap().to_string();
    let json_arg = json.to_str().unwrap().to_string();
    let mut args = vec![
        "run",
        "--base-url",
        url,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--junit",
        &junit_arg,
        "-q",
    ];
    if !extra.contains(&"--json") {
        args.extend(["--json", &json_arg]);
    }
    args.extend_from_slice(extra);
    let out = harness(&args);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    std::fs::remove_file(&junit).ok();
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    std::fs::remove_file(&json).ok();
    let mut verdict = Verdict {
        code: out.status.code().unwrap_or(-1),
        failed: BTreeMap::new(),
        errored: Vec::new(),
        passed: 0,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        junit: xml.clone(),
        json: report,
    };
    if xml.is_empty() {
        return verdict;
    }
    let report = Report::deserialize_from_str(&xml).unwrap();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            match &case.status {
                TestCaseStatus::Success { .. } => verdict.passed += 1,
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Failure,
                    description,
                    ..
                } => {
                    let text = description
                        .as_ref()
                        .map(|d| d.as_str().to_string())
                        .unwrap_or_default();
                    verdict
                        .failed
                        .insert(case.name.as_str().to_string(), rules_in(&text));
                }
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Error,
                    ..
                } => verdict.errored.push(case.name.as_str().to_string()),
                TestCaseStatus::Skipped { .. } => {}
            }
        }
    }
    verdict
}

pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The access keys a reference server holds for [`ACCOUNT`], asked directly with List.
pub fn keys_on(url: &str) -> usize {
    let listed = runtime().block_on(async {
        http_client()
            .get(format!(
                "{url}/iam/aws-compatibility/v1/accessKeys?serviceAccountId={ACCOUNT}"
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    listed["accessKeys"].as_array().map_or(0, Vec::len)
}

/// Starts `run -q` against `url` with the test credentials and `extra` flags, outputs piped,
/// and returns once the run holds a key (its trials, and its signal watch, have started).
pub fn spawn_run_holding_keys(url: &str, extra: &[&str]) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_accesskey-conformance"))
        .env_remove("YC_TOKEN")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args([
            "run",
            "-q",
            "--base-url",
            url,
            "--token",
            TOKEN,
            "--service-account-id",
            ACCOUNT,
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while keys_on(url) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// A plain reqwest client for the tests' own requests (with the harness's TLS provider).
pub fn http_client() -> reqwest::Client {
    accesskey_conformance::client::install_crypto();
    reqwest::Client::new()
}
