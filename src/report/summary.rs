//! The Markdown summary (`--summary PATH`, and appended to `$GITHUB_STEP_SUMMARY` when set):
//! the verdict first, then counts, each failure with its first violation and reproduction,
//! expectations, harness errors, the observed behaviours and the coverage table.

use std::fmt::Write;

use super::{RunReport, Verdict};
use crate::runner::Status;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The summary as Markdown.
pub fn markdown(report: &RunReport) -> String {
    let mut md = String::new();
    let mark = match report.verdict {
        Verdict::Passed => "✅",
        Verdict::Failed => "❌",
        Verdict::HarnessError => "⚠️",
        Verdict::Interrupted => "⏹️",
    };
    let _ = writeln!(
        md,
        "# {mark} accesskey-conformance: {} (exit {})\n",
        report.verdict.as_str(),
        report.exit_code
    );
    let _ = writeln!(
        md,
        "Target `{}` (operations `{}`), level `{}`, seed `{}`, harness {}, started {}, {:.2} s, {} requests ({} generated update steps), keys created {}, deleted {}, left {}.\n",
        report.target,
        report.operation_url,
        report.level.as_str(),
        report.seed,
        report.version,
        report.started,
        report.duration_seconds,
        report.requests,
        report.generated_steps,
        report.keys.created,
        report.keys.deleted,
        report.keys.unconfirmed()
    );

    let _ = writeln!(
        md,
        "| | passed | failed | expected failures | stale | harness errors | skipped |\n|---|---|---|---|---|---|---|"
    );
    let row = |md: &mut String, name: &str, c: &super::Counts| {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            c.passed, c.failed, c.expected_failures, c.stale, c.errors, c.skipped
        );
    };
    row(&mut md, "**all**", &report.totals);
    for (level, c) in &report.by_level {
        row(&mut md, &format!("level {}", level.as_str()), c);
    }
    for (area, c) in &report.by_area {
        row(&mut md, &format!("area {area}"), c);
    }

    for problem in &report.problems {
        let _ = writeln!(md, "\n> ⚠️ harness error: {problem}");
    }
    if let Some(partial) = &report.partial {
        let _ = writeln!(md, "\n> partial verdict: {partial}");
    }

    let failed: Vec<_> = report
        .trials
        .iter()
        .filter(|t| t.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(md, "\n## Failures\n");
        for t in failed {
            let _ = writeln!(md, "### `{}` ({}, {})\n", t.name, t.rule, t.level.as_str());
            if let Some(v) = t.violations.first() {
                let _ = writeln!(md, "**[{}] {}**: {}\n", v.rule, v.rule_title, v.title);
                if !v.received.is_empty() {
                    let _ = writeln!(md, "- received: `{}`", cell(&v.received));
                }
                if !v.expected.is_empty() {
                    let _ = writeln!(md, "- expected: {}", cell(&v.expected));
                }
                if let Some(r) = &v.request {
                    let _ = writeln!(md, "- request: `{}`", cell(r));
                }
                if let Some(c) = &v.reproduce {
                    let _ = writeln!(md, "\n```sh\n{c}\n```");
                }
                if let Some(d) = &v.detail {
                    let _ = writeln!(
                        md,
                        "\n<details><summary>steps</summary>\n\n```\n{d}\n```\n</details>"
                    );
                }
            }
            let groups = t.grouped();
            if let Some(more) = groups.first().and_then(|(_, more)| more.as_ref()) {
                let _ = writeln!(md, "\n{more}.");
            }
            for (v, more) in groups.iter().skip(1) {
                let _ = writeln!(
                    md,
                    "\n- [{}] {}{}",
                    v.rule,
                    cell(&v.title),
                    more.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
                );
            }
            md.push('\n');
        }
    }

    let listed = |status: Status| report.trials.iter().filter(move |t| t.status == status);
    if listed(Status::Stale).next().is_some() {
        let _ = writeln!(md, "\n## Stale expected failures\n");
        for t in listed(Status::Stale) {
            let _ = writeln!(
                md,
                "- `{}` passed: remove it from the expected-failures file",
                t.name
            );
        }
    }
    if listed(Status::ExpectedFailure).next().is_some() {
        let _ = writeln!(md, "\n## Expected failures\n");
        for t in listed(Status::ExpectedFailure) {
            let e = t.expected_failure.as_ref();
            let _ = write!(
                md,
                "- `{}`: {}",
                t.name,
                e.map_or("", |e| e.reason.as_str())
            );
            if let Some(issue) = e.and_then(|e| e.issue.as_deref()) {
                let _ = write!(md, " ({issue})");
            }
            md.push('\n');
        }
    }
    if listed(Status::Error).next().is_some() {
        let _ = writeln!(md, "\n## Harness errors (not tested)\n");
        for t in listed(Status::Error) {
            let _ = writeln!(
                md,
                "- `{}`: {}",
                t.name,
                cell(t.message.as_deref().unwrap_or(""))
            );
        }
    }
    if !report.observed.is_empty() {
        let _ = writeln!(md, "\n## Observed behaviours (info)\n");
        for o in &report.observed {
            let _ = writeln!(md, "- `{}`: {}", o.trial, o.behaviour);
        }
    }
    let unavailable: Vec<_> = report.trials.iter().filter(|t| t.unavailable).collect();
    if !unavailable.is_empty() {
        let _ = writeln!(md, "\n## Not run (the setup lacks what they need)\n");
        for t in unavailable {
            let _ = writeln!(
                md,
                "- `{}`: {}",
                t.name,
                cell(t.skip_reason.as_deref().unwrap_or(""))
            );
        }
    }
    let m = &report.matrix;
    if !m.rows.is_empty() {
        let _ = write!(md, "\n## Route matrix\n\n| checker | rule |");
        for route in &m.routes {
            let _ = write!(md, " {route} |");
        }
        let _ = write!(md, "\n|---|---|");
        for _ in &m.routes {
            md.push_str("---|");
        }
        md.push('\n');
        for row in &m.rows {
            let _ = write!(md, "| `{}` | {} |", row.trial, row.rule);
            for c in &row.cells {
                let mark = match c.state {
                    super::CellState::Ran => "ok".to_string(),
                    super::CellState::Failed => format!("**FAIL** ({})", c.violations),
                    super::CellState::NotRun => "not run".to_string(),
                    super::CellState::NotCovered => "·".to_string(),
                };
                let _ = write!(md, " {mark} |");
            }
            md.push('\n');
        }
    }
    let _ = writeln!(
        md,
        "\n## Coverage\n\n| rule | level | title | trials run | requests |\n|---|---|---|---|---|"
    );
    for c in &report.coverage {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.rule,
            c.level.as_str(),
            cell(c.title),
            c.trials,
            c.requests
        );
    }
    let _ = writeln!(md, "\nDigest of schemas and cases: `{}`", report.digest);
    md
}
