//! The `diff` report: two runs of the same seeded trials, one per target, compared trial by
//! trial. A trial differs when its status or the rules it broke differ, when one side made an
//! observation the other did not, or when one of its Updates ended differently (in the
//! model's terms: applied with which description, or rejected with which code). Ids of the
//! keys each run created, and the runs' markers, are taken out of every text first, and
//! numbers are ignored when observations are compared (how many polls an operation took, how
//! many keys a List walk saw while other trials ran): what is left is behaviour, not
//! identity or timing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Counts, RunReport, Verdict};
use crate::contract::Level;
use crate::exit;
use crate::runner::{Outcome, Record, Status};

/// At most this many differing steps are listed per trial (the rest are counted).
pub const STEPS_SHOWN: usize = 10;

/// One side of the comparison, as its run left it.
pub struct Side<'a> {
    pub report: &'a RunReport,
    pub records: &'a [Record],
    /// Redacts secrets and takes the run's own key ids and markers out of a text.
    pub clean: &'a dyn Fn(&str) -> String,
}

/// The whole comparison as data; the console, Markdown and JSON forms read it.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub harness: &'static str,
    pub version: &'static str,
    pub seed: u64,
    pub a: SideSummary,
    pub b: SideSummary,
    /// Trials run on both sides.
    pub compared: usize,
    /// No trial differs.
    pub same: bool,
    pub exit_code: u8,
    pub differences: Vec<TrialDiff>,
}

/// A side's verdict and counts.
#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    pub target: String,
    pub verdict: Verdict,
    pub totals: Counts,
    /// Trials of must level that failed: any of them fails the diff.
    pub must_failures: usize,
    pub requests: u64,
    pub problems: Vec<String>,
}

/// How one trial ended on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialSide {
    pub status: Status,
    /// The rules its violations name, each once.
    pub rules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One trial that behaved differently.
#[derive(Debug, Clone, Serialize)]
pub struct TrialDiff {
    pub name: String,
    pub rule: &'static str,
    pub level: Level,
    pub a: TrialSide,
    pub b: TrialSide,
    /// Observations made on A only, and on B only.
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
    /// The first [`STEPS_SHOWN`] Updates that ended differently.
    pub steps: Vec<StepDiff>,
    /// How many Updates ended differently in all.
    pub differing_steps: usize,
}

/// One Update that ended differently on the two sides.
#[derive(Debug, Clone, Serialize)]
pub struct StepDiff {
    pub at: String,
    pub request: String,
    /// What each side did; `None` when the side did not get to this step.
    pub a: Option<String>,
    pub b: Option<String>,
    /// The contract allows more than one outcome for this input (U8): both may be right.
    pub open: bool,
}

fn summary(report: &RunReport) -> SideSummary {
    SideSummary {
        target: report.target.clone(),
        verdict: report.verdict,
        totals: report.totals,
        must_failures: must_failures(report),
        requests: report.requests,
        problems: report.problems.clone(),
    }
}

fn must_failures(report: &RunReport) -> usize {
    report
        .trials
        .iter()
        .filter(|t| t.level == Level::Must && t.status == Status::Failed)
        .count()
}

fn trial_side(record: &Record, clean: &dyn Fn(&str) -> String) -> TrialSide {
    let (rules, message) = match &record.outcome {
        Outcome::Fail(violations) => (
            violations
                .iter()
                .map(|v| v.rule.to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            None,
        ),
        Outcome::Error(e) => (Vec::new(), Some(clean(e))),
        Outcome::Skipped(why) => (Vec::new(), Some(clean(why))),
        Outcome::Pass => (Vec::new(), None),
    };
    TrialSide {
        status: record.status(),
        rules,
        message,
    }
}

/// An observation with its numbers taken out, for comparing.
fn shape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// Observations of `mine` whose shape `theirs` lacks.
fn only_in(mine: &[String], theirs: &[String]) -> Vec<String> {
    let shapes: BTreeSet<String> = theirs.iter().map(|o| shape(o)).collect();
    let mut seen = BTreeSet::new();
    mine.iter()
        .filter(|o| !shapes.contains(&shape(o)) && seen.insert(shape(o)))
        .cloned()
        .collect()
}

fn compare_trial(
    a: &Record,
    b: &Record,
    ca: &dyn Fn(&str) -> String,
    cb: &dyn Fn(&str) -> String,
) -> Option<TrialDiff> {
    let side_a = trial_side(a, ca);
    let side_b = trial_side(b, cb);
    let obs_a: Vec<String> = a.observations.iter().map(|o| ca(o)).collect();
    let obs_b: Vec<String> = b.observations.iter().map(|o| cb(o)).collect();
    let only_a = only_in(&obs_a, &obs_b);
    let only_b = only_in(&obs_b, &obs_a);
    let steps_b: BTreeMap<&str, _> = b.trace.iter().map(|t| (t.at.as_str(), t)).collect();
    let mut steps = Vec::new();
    for step in &a.trace {
        let answer_a = ca(&step.answer);
        match steps_b.get(step.at.as_str()) {
            Some(other) => {
                let answer_b = cb(&other.answer);
                if answer_a != answer_b {
                    steps.push(StepDiff {
                        at: step.at.clone(),
                        request: ca(&step.request),
                        a: Some(answer_a),
                        b: Some(answer_b),
                        open: step.open || other.open,
                    });
                }
            }
            None => steps.push(StepDiff {
                at: step.at.clone(),
                request: ca(&step.request),
                a: Some(answer_a),
                b: None,
                open: step.open,
            }),
        }
    }
    let at_a: BTreeSet<&str> = a.trace.iter().map(|t| t.at.as_str()).collect();
    for step in b.trace.iter().filter(|t| !at_a.contains(t.at.as_str())) {
        steps.push(StepDiff {
            at: step.at.clone(),
            request: cb(&step.request),
            a: None,
            b: Some(cb(&step.answer)),
            open: step.open,
        });
    }
    let same = side_a.status == side_b.status
        && side_a.rules == side_b.rules
        && only_a.is_empty()
        && only_b.is_empty()
        && steps.is_empty();
    if same {
        return None;
    }
    let differing_steps = steps.len();
    steps.truncate(STEPS_SHOWN);
    Some(TrialDiff {
        name: a.name.clone(),
        rule: a.rule,
        level: a.level,
        a: side_a,
        b: side_b,
        only_a,
        only_b,
        steps,
        differing_steps,
    })
}

impl DiffReport {
    /// Compares the two runs and decides the exit code: interrupted first, then 1 when they
    /// differ or either side failed a must-level trial, then 3 when either could not test.
    pub fn build(seed: u64, a: &Side, b: &Side) -> Self {
        let by_name: BTreeMap<&str, &Record> =
            b.records.iter().map(|r| (r.name.as_str(), r)).collect();
        let mut ordered: Vec<&Record> = a.records.iter().collect();
        ordered.sort_by(|x, y| x.name.cmp(&y.name));
        let mut compared = 0;
        let mut differences = Vec::new();
        for record in ordered {
            let Some(other) = by_name.get(record.name.as_str()) else {
                continue;
            };
            compared += 1;
            differences.extend(compare_trial(record, other, a.clean, b.clean));
        }
        let (sa, sb) = (summary(a.report), summary(b.report));
        let same = differences.is_empty();
        let verdicts = [sa.verdict, sb.verdict];
        let exit_code = if verdicts.contains(&Verdict::Interrupted) {
            exit::INTERRUPTED
        } else if !same || sa.must_failures + sb.must_failures > 0 {
            exit::CONTRACT_FAILURE
        } else if verdicts.contains(&Verdict::HarnessError) {
            exit::HARNESS_ERROR
        } else {
            exit::PASSED
        };
        DiffReport {
            harness: "accesskey-conformance",
            version: env!("CARGO_PKG_VERSION"),
            seed,
            a: sa,
            b: sb,
            compared,
            same,
            exit_code,
            differences,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The console text: each differing trial, then the closing line.
    pub fn console(&self) -> String {
        let mut out = String::new();
        for d in &self.differences {
            out.push_str(&format!(
                "\ndiffers: {} [{} {}]\n",
                d.name,
                d.rule,
                d.level.as_str()
            ));
            let side = |s: &TrialSide| {
                let mut text = s.status.as_str().to_string();
                if !s.rules.is_empty() {
                    text.push_str(&format!(" (broke {})", s.rules.join(", ")));
                }
                if let Some(m) = &s.message {
                    text.push_str(&format!(": {m}"));
                }
                text
            };
            out.push_str(&format!("  A: {}\n  B: {}\n", side(&d.a), side(&d.b)));
            for o in &d.only_a {
                out.push_str(&format!("  only A observed: {o}\n"));
            }
            for o in &d.only_b {
                out.push_str(&format!("  only B observed: {o}\n"));
            }
            for s in &d.steps {
                out.push_str(&format!(
                    "  {} PATCH {}{}\n    A: {}\n    B: {}\n",
                    s.at,
                    s.request,
                    if s.open {
                        " (an open input: either may be right)"
                    } else {
                        ""
                    },
                    s.a.as_deref().unwrap_or("(not played)"),
                    s.b.as_deref().unwrap_or("(not played)"),
                ));
            }
            if d.differing_steps > d.steps.len() {
                out.push_str(&format!(
                    "  ... and {} more Update(s) that ended differently\n",
                    d.differing_steps - d.steps.len()
                ));
            }
        }
        out.push_str(&format!(
            "\ndiff: {} of {} trial(s) differ (seed {}); A {}: {}; B {}: {}; exit {}\n",
            self.differences.len(),
            self.compared,
            self.seed,
            self.a.target,
            self.a.verdict.as_str(),
            self.b.target,
            self.b.verdict.as_str(),
            self.exit_code
        ));
        out
    }

    /// The Markdown form (`--summary`).
    pub fn markdown(&self) -> String {
        let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
        let mut out = format!(
            "## accesskey-conformance diff: {}\n\n",
            if self.same { "the same" } else { "different" }
        );
        out.push_str(&format!(
            "Seed {}; {} trial(s) compared, {} differ.\n\n| side | target | verdict | passed | failed | errors | must failures |\n|---|---|---|---|---|---|---|\n",
            self.seed,
            self.compared,
            self.differences.len()
        ));
        for (name, s) in [("A", &self.a), ("B", &self.b)] {
            out.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} | {} |\n",
                cell(&s.target),
                s.verdict.as_str(),
                s.totals.passed,
                s.totals.failed,
                s.totals.errors,
                s.must_failures
            ));
        }
        if !self.differences.is_empty() {
            out.push_str("\n| trial | rule | A | B | what differs |\n|---|---|---|---|---|\n");
            for d in &self.differences {
                let mut what = Vec::new();
                what.extend(d.only_a.iter().map(|o| format!("only A: {o}")));
                what.extend(d.only_b.iter().map(|o| format!("only B: {o}")));
                if let Some(s) = d.steps.first() {
                    what.push(format!(
                        "{} Update(s), first {} `{}`: A {}, B {}",
                        d.differing_steps,
                        s.at,
                        s.request,
                        s.a.as_deref().unwrap_or("not played"),
                        s.b.as_deref().unwrap_or("not played")
                    ));
                }
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} |\n",
                    d.name,
                    d.rule,
                    d.a.status.as_str(),
                    d.b.status.as_str(),
                    cell(&what.join("; "))
                ));
            }
        }
        out
    }
}
