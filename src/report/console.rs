//! What the console shows after libtest's own lines: observed behaviours, expected failures,
//! stale expectations, problems, and the closing line.

use super::{CellState, Matrix, RunReport, Verdict};
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
    let unavailable: Vec<_> = report
        .trials
        .iter()
        .filter(|t| t.unavailable && !report.matrix.rows.iter().any(|r| r.trial == t.name))
        .collect();
    if !unavailable.is_empty() {
        out.push_str("not run (the setup lacks what they need):\n");
        for t in unavailable {
            out.push_str(&format!(
                "  {}: {}\n",
                t.name,
                t.skip_reason.as_deref().unwrap_or("")
            ));
        }
    }
    out.push_str(&matrix(&report.matrix));
    for problem in &report.problems {
        out.push_str(&format!("harness error: {problem}\n"));
    }
    if let Some(partial) = &report.partial {
        out.push_str(&format!("partial verdict: {partial}\n"));
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
        report.keys.unconfirmed(),
        report.seed,
        report.duration_seconds,
        match report.verdict {
            Verdict::Passed if report.partial.is_some() => "PASSED (partial)".to_string(),
            Verdict::Passed => "PASSED".to_string(),
            v => format!("{} (exit {})", v.as_str().to_uppercase(), report.exit_code),
        }
    ));
    out
}

/// The route matrix as a table, then the cells that did not run and why.
pub fn matrix(matrix: &Matrix) -> String {
    if matrix.rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "route matrix (checker x route): ok ran, FAIL failed, -- not run, . not covered\n",
    );
    let label = |trial: &str, rule: &str| {
        format!(
            "{} ({rule})",
            trial.strip_prefix("routes::").unwrap_or(trial)
        )
    };
    let width = matrix
        .rows
        .iter()
        .map(|r| label(&r.trial, r.rule).len())
        .max()
        .unwrap_or(0);
    out.push_str(&format!("  {:width$}", ""));
    for route in &matrix.routes {
        out.push_str(&format!(" {route}"));
    }
    out.push('\n');
    let mut not_run = Vec::new();
    for row in &matrix.rows {
        out.push_str(&format!("  {:width$}", label(&row.trial, row.rule)));
        for (cell, route) in row.cells.iter().zip(&matrix.routes) {
            let mark = match cell.state {
                CellState::Ran => "ok",
                CellState::Failed => "FAIL",
                CellState::NotRun => "--",
                CellState::NotCovered => ".",
            };
            out.push_str(&format!(" {mark:<w$}", w = route.len()));
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        let missing: Vec<_> = row
            .cells
            .iter()
            .filter(|c| c.state == CellState::NotRun)
            .collect();
        let covered = row
            .cells
            .iter()
            .filter(|c| c.state != CellState::NotCovered)
            .count();
        let reasons: std::collections::BTreeSet<&str> =
            missing.iter().filter_map(|c| c.reason.as_deref()).collect();
        if !missing.is_empty() && missing.len() == covered && reasons.len() == 1 {
            let reason = reasons.iter().next().copied().unwrap_or_default();
            not_run.push(format!("  {}: {reason}\n", row.trial));
        } else {
            for c in missing {
                not_run.push(format!(
                    "  {} on {}: {}\n",
                    row.trial,
                    c.route,
                    c.reason.as_deref().unwrap_or("")
                ));
            }
        }
    }
    if !not_run.is_empty() {
        out.push_str("not run:\n");
        out.extend(not_run);
    }
    out
}
