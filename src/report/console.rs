//! What the console shows after libtest's own lines: observed behaviours, expected failures,
//! stale expectations, problems, and the closing line.

use super::{RunReport, Verdict};
use crate::runner::Status;

/// The text printed to stdout at the end of a run.
pub fn closing(report: &RunReport) -> String {
    let mut out = String::new();
    if !report.observed.is_empty() {
        out.push_str("observed behaviours:\n");
        for o in &report.observed {
            out.push_str(&format!("  {}: {}\n", o.trial, o.behaviour));
        }
    }
    let listed = |status: Status| report.trials.iter().filter(move |t| t.status == status);
    if listed(Status::ExpectedFailure).next().is_some() {
        out.push_str("expected failures (they do not fail the run):\n");
        for t in listed(Status::ExpectedFailure) {
            let reason = t
                .expected_failure
                .as_ref()
                .map_or("", |e| e.reason.as_str());
            out.push_str(&format!("  {}: {reason}\n", t.name));
        }
    }
    if listed(Status::Stale).next().is_some() {
        out.push_str("stale expected failures (the trial passed; remove the entry):\n");
        for t in listed(Status::Stale) {
            out.push_str(&format!("  {}\n", t.name));
        }
    }
    for problem in &report.problems {
        out.push_str(&format!("harness error: {problem}\n"));
    }
    let c = &report.totals;
    out.push_str(&format!(
        "conformance: {} passed, {} failed (contract), {} expected failures, {} stale, {} harness errors, {} skipped; {} requests, {} generated update steps; keys created {}, deleted {}, left {}; seed {}; {:.2}s; {}\n",
        c.passed,
        c.failed,
        c.expected_failures,
        c.stale,
        c.errors,
        c.skipped,
        report.requests,
        report.generated_steps,
        report.keys.created,
        report.keys.deleted,
        report.keys.left.len(),
        report.seed,
        report.duration_seconds,
        match report.verdict {
            Verdict::Passed => "PASSED".to_string(),
            v => format!("{} (exit {})", v.as_str().to_uppercase(), report.exit_code),
        }
    ));
    out
}
