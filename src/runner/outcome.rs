//! The vocabulary of the outcome log: a trial's [`Spec`], how it ended ([`Outcome`]), and the
//! [`Record`] kept of it, read with the user's expectation as a [`Status`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{Ctx, HarnessError};
use crate::checks::Violation;
use crate::contract::Level;

/// The future a trial body returns.
pub type TrialFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HarnessError>> + Send + 'a>>;

/// The body of a trial: given the trial's context, the work it does.
pub type Body = Arc<dyn for<'a> Fn(&'a mut Ctx) -> TrialFuture<'a> + Send + Sync>;

/// A trial of the suite: a name, the rule it tests, its level, and its body.
#[derive(Clone)]
pub struct Spec {
    pub name: String,
    pub rule: &'static str,
    pub level: Level,
    pub body: Body,
    /// What sends again exactly what the trial sends (a case's file), when it is data.
    pub replay: Option<Replay>,
    /// A checker of the route matrix: the routes it covers (empty for other trials).
    pub covers: Vec<&'static str>,
    /// The shared walk this trial is a view of (its requests are sent once, however many of
    /// its views run; `run --plan` counts them so).
    pub walk: Option<&'static str>,
}

/// What `replay` needs to send again exactly what made a trial fail. Trials without it are
/// replayed by running them again by name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Replay {
    /// A declarative case: its file name and contents, as the run loaded them.
    Case { file: String, contents: String },
    /// A property's shortest failing sequence: the Update bodies sent after the reset
    /// (`ajebystanderofthisrun` stands for the bystander key's id), and the profile whose
    /// model judged them.
    Sequence {
        profile: String,
        bodies: Vec<String>,
    },
}

/// One Update of a trial in the model's terms, kept when the run traces (`diff`): where it
/// was in the trial, the body sent, and what the target did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TraceStep {
    /// `step N`, or `sequence S step N` in a property trial (step 0 resets the key).
    pub at: String,
    pub request: String,
    pub answer: String,
    /// The contract allows more than one outcome for this input (U8).
    pub open: bool,
}

/// One cell of the route matrix as a checker's trial left it: the checker ran on the route
/// (whether it failed there is read from the violations' routes), or did not, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub route: &'static str,
    pub not_run: Option<String>,
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    /// The target broke the contract.
    Fail(Vec<Violation>),
    /// The harness could not test (unreachable target, unusable answer to a setup step).
    Error(String),
    Skipped(String),
}

/// A trial the user expects to fail (`--expected-failures`), and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expected {
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
}

/// One line of the outcome log.
#[derive(Debug, Clone)]
pub struct Record {
    pub name: String,
    pub rule: &'static str,
    pub level: Level,
    pub outcome: Outcome,
    /// Set when the trial is listed in the expected-failures file.
    pub expected: Option<Expected>,
    pub observations: Vec<String>,
    pub duration: Duration,
    pub requests: usize,
    /// The longest run of those requests that waited for each other.
    pub chain: usize,
    /// Creates it sent (each makes one key at most).
    pub keys_created: usize,
    /// What sends again what made the trial fail, when it is data.
    pub replay: Option<Replay>,
    /// Its Updates in the model's terms, when the run traces (`diff`).
    pub trace: Vec<TraceStep>,
    /// A matrix checker's routes (from its spec) and the cells it reached.
    pub covers: Vec<&'static str>,
    pub cells: Vec<Cell>,
    /// Skipped because the setup lacks what the trial needs (a second account, a key it
    /// may delete): such a trial is reported as not run, with the reason, and does not count
    /// against the coverage floor.
    pub unavailable: bool,
}

/// How a trial counts for the verdict: its outcome read together with the expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    /// Failed, as the expected-failures file says it would: does not fail the run.
    ExpectedFailure,
    /// Listed as expected to fail, but passed: the entry is stale and fails the run.
    Stale,
    Error,
    Skipped,
}

impl Status {
    /// As the reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::ExpectedFailure => "expected-failure",
            Status::Stale => "stale",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }
}

impl Record {
    /// The area is the first segment of the name (`update::...` → `update`).
    pub fn area(&self) -> &str {
        self.name.split("::").next().unwrap_or("")
    }

    /// A trial that did not run, and why.
    pub(super) fn untried(spec: &Spec, expected: Option<Expected>, reason: String) -> Self {
        Record {
            name: spec.name.clone(),
            rule: spec.rule,
            level: spec.level,
            outcome: Outcome::Skipped(reason),
            expected,
            observations: Vec::new(),
            duration: Duration::ZERO,
            requests: 0,
            chain: 0,
            keys_created: 0,
            replay: spec.replay.clone(),
            trace: Vec::new(),
            covers: spec.covers.clone(),
            cells: Vec::new(),
            unavailable: false,
        }
    }

    pub fn status(&self) -> Status {
        match (&self.outcome, &self.expected) {
            (Outcome::Pass, None) => Status::Passed,
            (Outcome::Pass, Some(_)) => Status::Stale,
            (Outcome::Fail(_), None) => Status::Failed,
            (Outcome::Fail(_), Some(_)) => Status::ExpectedFailure,
            (Outcome::Error(_), _) => Status::Error,
            (Outcome::Skipped(_), _) => Status::Skipped,
        }
    }
}

/// "…and 30 more like it (ids a, b, c, and 27 more)": the rest of a group of violations.
pub fn alike(count: usize, ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().skip(1).take(3).map(String::as_str).collect();
    let rest = ids.len().saturating_sub(1 + shown.len());
    let mut text = format!("…and {} more like it", count - 1);
    if !shown.is_empty() {
        text.push_str(&format!(" (also {}", shown.join(", ")));
        if rest > 0 {
            text.push_str(&format!(", and {rest} more"));
        }
        text.push(')');
    }
    text
}

/// The text libtest-mimic prints for a failed or errored trial.
pub fn failure_text(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Fail(violations) => {
            // Violations of one rule that read alike but for ids show once, with a count.
            let groups = crate::checks::grouped(
                violations
                    .iter()
                    .map(|v| (v.rule, v.title.as_str(), v.request.as_deref())),
            );
            let mut text = format!("{} contract violation(s):", violations.len());
            for (first, count, ids) in groups {
                text.push_str(&format!("\n  {}", violations[first]));
                if count > 1 {
                    text.push_str(&format!("\n    {}", alike(count, &ids)));
                }
            }
            Some(text)
        }
        Outcome::Error(e) => Some(format!("harness error (could not test): {e}")),
        _ => None,
    }
}
