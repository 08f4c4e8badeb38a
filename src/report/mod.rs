//! Reports. [`RunReport`] is the whole run as data, built once from the outcome log and the
//! run's facts; the verdict is decided there. The reporters only read it:
//! - [`console`]: observed behaviours, expectations, problems and the closing line;
//! - [`junit`]: JUnit XML (`--junit`);
//! - [`summary`]: Markdown (`--summary`, and `$GITHUB_STEP_SUMMARY`);
//! - [`diff`]: two runs of the same trials compared (`diff`), with its own console, Markdown
//!   and JSON forms;
//! - [`html`]: one self-contained page for people (`--html`);
//! - [`har`]: every exchange of the run in HAR 1.2 (`--har`);
//! - the JSON report (`--json`) is the serialisation of [`RunReport`] itself, its shape
//!   documented by `schemas/report.schema.json`.

pub mod console;
pub mod diff;
pub mod har;
pub mod html;
pub mod junit;
pub mod summary;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::checks::Violation;
use crate::contract::{Level, rules};
use crate::exit;
use crate::runner::{Expected, Outcome, Record, Replay, Status, failure_text};

/// The run's verdict, from which the exit code follows (`src/exit.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every selected trial passed or failed as expected; nothing was left behind.
    Passed,
    /// The target broke the contract, or an expected failure did not happen (stale entry).
    Failed,
    /// The harness could not test: trials errored, nothing was selected, a must rule went
    /// unexercised in an unfiltered run, or keys were left behind.
    HarnessError,
    /// Ctrl-C or SIGTERM: the remaining trials were not started.
    Interrupted,
}

impl Verdict {
    /// The process exit code of a run with this verdict (`src/exit.rs`).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Passed => exit::PASSED,
            Verdict::Failed => exit::CONTRACT_FAILURE,
            Verdict::HarnessError => exit::HARNESS_ERROR,
            Verdict::Interrupted => exit::INTERRUPTED,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::HarnessError => "harness error",
            Verdict::Interrupted => "interrupted",
        }
    }
}

/// Trials counted by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub expected_failures: usize,
    pub stale: usize,
    pub errors: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        self.total += 1;
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::ExpectedFailure => self.expected_failures += 1,
            Status::Stale => self.stale += 1,
            Status::Error => self.errors += 1,
            Status::Skipped => self.skipped += 1,
        }
    }
}

/// One violation, with every text redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViolationReport {
    pub rule: &'static str,
    pub rule_title: &'static str,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub received: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expected: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The route of the matrix where a checker found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<&'static str>,
}

impl ViolationReport {
    fn new(v: &Violation, redact: &dyn Fn(&str) -> String) -> Self {
        let opt = |o: &Option<String>| o.as_deref().map(redact);
        ViolationReport {
            rule: v.rule,
            rule_title: rules::find(v.rule).map_or("", |r| r.title),
            title: redact(&v.title),
            pointer: v.pointer.clone(),
            received: redact(&v.received),
            expected: redact(&v.expected),
            request: opt(&v.request),
            reproduce: opt(&v.curl),
            detail: opt(&v.detail),
            route: v.route,
        }
    }
}

/// One trial.
#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    pub name: String,
    pub area: String,
    pub rule: &'static str,
    pub level: Level,
    pub status: Status,
    pub duration_seconds: f64,
    pub requests: usize,
    /// The longest run of the trial's requests that waited for each other.
    pub chain: usize,
    /// Creates the trial sent (each makes one key at most).
    pub keys_created: usize,
    pub violations: Vec<ViolationReport>,
    /// The text shown on the console for a failure or an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// Skipped because the setup lacks what it needs (a second account, keys of its own):
    /// reported as not run, and not counted against the coverage floor.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unavailable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_failure: Option<Expected>,
    pub observations: Vec<String>,
    /// What `replay` sends again (a case's file, a property's shortest failing sequence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
}

/// How much of one rule the run exercised.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub rule: &'static str,
    pub level: Level,
    pub title: &'static str,
    /// Trials of this rule that ran.
    pub trials: usize,
    /// Requests those trials sent.
    pub requests: usize,
}

/// The state of one cell of the route matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// The checker ran on the route and found nothing wrong there.
    Ran,
    /// The checker found violations on the route.
    Failed,
    /// The checker covers the route but did not run on it (see the reason).
    NotRun,
    /// The checker does not apply to the route.
    NotCovered,
}

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Ran => "ran",
            CellState::Failed => "failed",
            CellState::NotRun => "not run",
            CellState::NotCovered => "not covered",
        }
    }
}

/// One cell: a checker on a route.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixCell {
    pub route: &'static str,
    pub state: CellState,
    /// Violations found on the route.
    pub violations: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One checker's row.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixRow {
    pub trial: String,
    pub rule: &'static str,
    pub level: Level,
    pub cells: Vec<MatrixCell>,
}

/// The route matrix: every checker of the rules that hold on every route, against every
/// route of the REST surface.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub routes: Vec<&'static str>,
    pub rows: Vec<MatrixRow>,
}

impl Matrix {
    /// The matrix as the records of a run left it.
    fn build(records: &[Record], trials: &[TrialReport]) -> Self {
        let routes: Vec<&'static str> = crate::contract::routes::ROUTES
            .iter()
            .map(|r| r.name)
            .collect();
        let rows = records
            .iter()
            .zip(trials)
            .filter(|(r, _)| !r.covers.is_empty())
            .map(|(record, trial)| {
                let cells = routes
                    .iter()
                    .map(|&route| {
                        let violations = trial
                            .violations
                            .iter()
                            .filter(|v| v.route == Some(route))
                            .count();
                        let cell = record.cells.iter().find(|c| c.route == route);
                        let (state, reason) = if !record.covers.contains(&route) {
                            (CellState::NotCovered, None)
                        } else if violations > 0 {
                            (CellState::Failed, None)
                        } else if let Some(why) = &trial.skip_reason {
                            (CellState::NotRun, Some(why.clone()))
                        } else {
                            match cell.map(|c| &c.not_run) {
                                Some(None) => (CellState::Ran, None),
                                Some(Some(why)) => (CellState::NotRun, Some(why.clone())),
                                None => (
                                    CellState::NotRun,
                                    Some(match trial.status {
                                        Status::Error => {
                                            "the trial stopped before this route (a harness error)"
                                                .to_string()
                                        }
                                        _ => "the trial did not reach this route".to_string(),
                                    }),
                                ),
                            }
                        };
                        MatrixCell {
                            route,
                            state,
                            violations,
                            reason,
                        }
                    })
                    .collect();
                MatrixRow {
                    trial: record.name.clone(),
                    rule: record.rule,
                    level: record.level,
                    cells,
                }
            })
            .collect();
        Matrix { routes, rows }
    }
}

/// A behaviour the contract leaves open, as the target showed it.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub trial: String,
    pub behaviour: String,
}

/// The run's keys, told truthfully (R6): what it created, what it confirmed deleted, and what
/// it could not confirm gone.
#[derive(Debug, Clone, Serialize)]
pub struct Keys {
    /// Keys the run knows it created (from readable Create answers, or found by its marker).
    pub created: usize,
    /// Of those, the ones confirmed deleted (a finished Delete, or NOT_FOUND).
    pub deleted: usize,
    /// Ids of keys the run created and could not confirm deleted.
    pub left: Vec<String>,
    /// Creates that may have made a key the run never found (an answer lost in transit or
    /// unreadable, and List could not settle it), in words.
    pub unconfirmed_creates: Vec<String>,
    /// The marker every key of the run carries in its description (`cleanup` finds them).
    pub marker: String,
    /// The command that deletes what is left, when the run kept a ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
    /// `--keep-keys`: the keys were left on purpose.
    pub kept: bool,
}

impl Keys {
    /// Keys that may still exist: known ids and Creates that could not be settled. "left 0"
    /// is printed only when this is 0.
    pub fn unconfirmed(&self) -> usize {
        self.left.len() + self.unconfirmed_creates.len()
    }

    /// The problem a run with unconfirmed keys has, in words.
    pub fn problem(&self) -> Option<String> {
        if self.unconfirmed() == 0 || self.kept {
            return None;
        }
        let mut parts = Vec::new();
        if !self.left.is_empty() {
            parts.push(format!(
                "{} key(s) the run created are not confirmed deleted: {}",
                self.left.len(),
                self.left.join(", ")
            ));
        }
        if !self.unconfirmed_creates.is_empty() {
            parts.push(format!(
                "{} Create(s) may have made a key the run never found: {}",
                self.unconfirmed_creates.len(),
                self.unconfirmed_creates.join("; ")
            ));
        }
        let cleanup = match &self.cleanup {
            Some(command) => format!("; delete them with `{command}`"),
            None => String::new(),
        };
        Some(format!(
            "{}; every key of the run carries the marker `{}` in its description{cleanup}",
            parts.join("; "),
            self.marker
        ))
    }
}

/// Facts of the run that are not in the outcome log.
#[derive(Debug, Clone)]
pub struct Facts {
    pub target: String,
    pub operation_url: String,
    pub started: chrono::DateTime<chrono::FixedOffset>,
    pub elapsed: Duration,
    pub seed: u64,
    pub digest: String,
    pub level: Level,
    pub requests: u64,
    pub generated_steps: u64,
    pub keys: Keys,
    /// A name filter, `--skip` or `--exact` narrowed the selection.
    pub filtered: bool,
    pub interrupted: bool,
}

/// The whole run as data.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub harness: &'static str,
    pub version: &'static str,
    pub target: String,
    pub operation_url: String,
    pub started: String,
    pub duration_seconds: f64,
    pub seed: u64,
    pub digest: String,
    pub level: Level,
    pub verdict: Verdict,
    pub exit_code: u8,
    pub totals: Counts,
    pub by_level: BTreeMap<Level, Counts>,
    pub by_area: BTreeMap<String, Counts>,
    pub requests: u64,
    /// The longest chain of requests that waited for each other in one trial: with enough
    /// workers, the run cannot take less than this many round trips.
    pub longest_chain: usize,
    pub generated_steps: u64,
    pub keys: Keys,
    /// Why the run is a harness error beyond its trials (coverage, selection, leaks).
    pub problems: Vec<String>,
    pub trials: Vec<TrialReport>,
    pub observed: Vec<Observed>,
    pub coverage: Vec<Coverage>,
    /// Checker × route: what ran, failed, or did not run and why.
    pub matrix: Matrix,
    /// Why the verdict covers only part of the suite (a request budget the user accepted
    /// to be cut by).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
}

impl TrialReport {
    /// The trial's violations grouped for people (those of one rule that read alike but for
    /// ids): each group's first violation, and the line that tells how many more, if any.
    pub fn grouped(&self) -> Vec<(&ViolationReport, Option<String>)> {
        crate::checks::grouped(
            self.violations
                .iter()
                .map(|v| (v.rule, v.title.as_str(), v.request.as_deref())),
        )
        .into_iter()
        .map(|(first, count, ids)| {
            (
                &self.violations[first],
                (count > 1).then(|| crate::runner::alike(count, &ids)),
            )
        })
        .collect()
    }
}

fn trial_report(r: &Record, redact: &dyn Fn(&str) -> String) -> TrialReport {
    let violations = match &r.outcome {
        Outcome::Fail(v) => v.iter().map(|v| ViolationReport::new(v, redact)).collect(),
        _ => Vec::new(),
    };
    TrialReport {
        name: r.name.clone(),
        area: r.area().to_string(),
        rule: r.rule,
        level: r.level,
        status: r.status(),
        duration_seconds: r.duration.as_secs_f64(),
        requests: r.requests,
        chain: r.chain,
        keys_created: r.keys_created,
        violations,
        message: failure_text(&r.outcome).map(|t| redact(&t)),
        skip_reason: match &r.outcome {
            Outcome::Skipped(reason) => Some(reason.clone()),
            _ => None,
        },
        unavailable: r.unavailable,
        expected_failure: r.expected.clone(),
        observations: r.observations.iter().map(|o| redact(o)).collect(),
        replay: r.replay.clone(),
    }
}

impl RunReport {
    /// Builds the report and decides the verdict. `redact` is applied to every text that
    /// came from the target.
    pub fn build(records: &[Record], facts: Facts, redact: &dyn Fn(&str) -> String) -> Self {
        let trials: Vec<TrialReport> = records.iter().map(|r| trial_report(r, redact)).collect();
        let matrix = Matrix::build(records, &trials);
        let mut totals = Counts::default();
        let mut by_level: BTreeMap<Level, Counts> = BTreeMap::new();
        let mut by_area: BTreeMap<String, Counts> = BTreeMap::new();
        for t in &trials {
            totals.add(t.status);
            by_level.entry(t.level).or_default().add(t.status);
            by_area.entry(t.area.clone()).or_default().add(t.status);
        }
        let coverage: Vec<Coverage> = rules::RULES
            .iter()
            .map(|rule| {
                let ran = trials
                    .iter()
                    .filter(|t| t.rule == rule.id && t.status != Status::Skipped);
                Coverage {
                    rule: rule.id,
                    level: rule.level,
                    title: rule.title,
                    trials: ran.clone().count(),
                    requests: ran.map(|t| t.requests).sum(),
                }
            })
            .collect();
        let observed = trials
            .iter()
            .flat_map(|t| {
                t.observations.iter().map(|o| Observed {
                    trial: t.name.clone(),
                    behaviour: o.clone(),
                })
            })
            .collect();

        let mut problems = Vec::new();
        if !facts.interrupted {
            if totals.total > 0 && totals.skipped == totals.total {
                problems.push(
                    "no trial was selected: the filter and --level match nothing, so nothing was tested"
                        .to_string(),
                );
            } else if !facts.filtered {
                // A rule whose trials all lack what they need (a second account) is reported
                // as not run, with the reason, rather than as a hole in the run.
                let unavailable = |rule: &str| {
                    let mine = trials.iter().filter(|t| t.rule == rule);
                    mine.clone().count() > 0 && mine.clone().all(|t| t.unavailable)
                };
                for c in coverage.iter().filter(|c| c.level == Level::Must) {
                    if c.trials == 0 && !unavailable(c.rule) {
                        problems.push(format!(
                            "must rule {} ({}) was exercised by no trial",
                            c.rule, c.title
                        ));
                    }
                }
            }
        }
        problems.extend(facts.keys.problem());
        let verdict = if facts.interrupted {
            Verdict::Interrupted
        } else if totals.failed + totals.stale > 0 {
            Verdict::Failed
        } else if totals.errors > 0 || !problems.is_empty() {
            Verdict::HarnessError
        } else {
            Verdict::Passed
        };
        RunReport {
            harness: "accesskey-conformance",
            version: env!("CARGO_PKG_VERSION"),
            target: facts.target,
            operation_url: facts.operation_url,
            started: facts
                .started
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            duration_seconds: facts.elapsed.as_secs_f64(),
            seed: facts.seed,
            digest: facts.digest,
            level: facts.level,
            verdict,
            exit_code: verdict.exit_code(),
            totals,
            by_level,
            by_area,
            requests: facts.requests,
            longest_chain: trials.iter().map(|t| t.chain).max().unwrap_or(0),
            generated_steps: facts.generated_steps,
            keys: facts.keys,
            problems,
            trials,
            observed,
            coverage,
            matrix,
            partial: None,
        }
    }

    /// Adds a harness-level problem found after the trials (it can only worsen the verdict).
    pub fn add_problem(&mut self, problem: String) {
        self.problems.push(problem);
        if self.verdict == Verdict::Passed {
            self.verdict = Verdict::HarnessError;
            self.exit_code = self.verdict.exit_code();
        }
    }

    /// The JSON report (`--json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
