//! The HTML report (`--html PATH`): one self-contained page for people. The verdict and the
//! counts come first, then each failed trial with its rule, violations, the shrunk sequence and
//! the curl lines that reproduce it, the harness errors, the expectations, the observed
//! behaviours, the coverage by rule and level, and the run's facts (seed, digest). No script,
//! no external asset: the page's Content-Security-Policy allows only its own inline style, so
//! a browser opening it from a CI artifact fetches nothing. Every text is escaped; the texts
//! that came from the target were redacted when the report was built.

use std::fmt::Write;

use super::{CellState, Counts, RunReport, TrialReport, Verdict, ViolationReport};
use crate::runner::Status;

/// `&`, `<`, `>`, `"` and `'` as character references.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fragment id for a trial name (`cases::x` → `trial-cases--x`).
fn anchor(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("trial-{id}")
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}
header.verdict{padding:1.2rem 1.5rem;color:#fff}
header.passed{background:#1f7a3a}header.failed{background:#b42318}
header.harness-error{background:#a15c00}header.interrupted{background:#4b5563}
header h1{margin:0;font-size:1.7rem}header p{margin:.3rem 0 0}
h2{margin-top:2rem;border-bottom:2px solid #d0d4da;padding-bottom:.2rem}
table{border-collapse:collapse;background:#fff;margin:.5rem 0}
th,td{border:1px solid #d0d4da;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#eef0f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.unexercised td{background:#fff4e5}
article.trial{background:#fff;border:1px solid #d0d4da;border-left:5px solid #b42318;margin:1rem 0;padding:.6rem 1rem}
article.trial h3{margin:.2rem 0 .5rem;font-size:1.05rem}
.rule{display:inline-block;background:#1b1f24;color:#fff;border-radius:3px;padding:0 .4rem;font-size:.85rem}
.level{color:#57606a;font-size:.85rem}
.violation{border-top:1px dashed #d0d4da;padding:.4rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.4rem 0}
dt{color:#57606a}dd{margin:0;overflow-wrap:anywhere}
pre{background:#1b1f24;color:#e6edf3;padding:.6rem .8rem;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere;border-radius:4px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
td.ran{color:#1a7f37}td.cell-failed{background:#ffebe9;color:#cf222e;font-weight:600}
td.not-run{background:#fff4e5;color:#a15c00}td.not-covered{color:#8c959f;text-align:center}
.problem{background:#fff4e5;border-left:5px solid #a15c00;padding:.4rem .8rem;margin:.4rem 0}
footer{color:#57606a;font-size:.9rem;margin-top:2rem}
";

/// The page.
pub fn render(report: &RunReport) -> String {
    let mut page = String::new();
    let verdict = report.verdict;
    let class = match verdict {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::HarnessError => "harness-error",
        Verdict::Interrupted => "interrupted",
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>accesskey-conformance: {} ({})</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        verdict.as_str(),
        escape(&report.target)
    );
    let _ = write!(
        page,
        "<header class=\"verdict {class}\" id=\"verdict\"><h1>accesskey-conformance: {}</h1>\
         <p>exit code {} · target <code>{}</code> · {} passed, {} failed, {} harness error(s) of {} trial(s)</p></header>\n<main>\n",
        verdict.as_str(),
        report.exit_code,
        escape(&report.target),
        report.totals.passed,
        report.totals.failed,
        report.totals.errors,
        report.totals.total
    );
    counts(&mut page, report);
    for problem in &report.problems {
        let _ = writeln!(
            page,
            "<p class=\"problem\"><strong>Harness error:</strong> {}</p>",
            escape(problem)
        );
    }
    if let Some(partial) = &report.partial {
        let _ = writeln!(
            page,
            "<p class=\"problem\"><strong>Partial verdict:</strong> {}</p>",
            escape(partial)
        );
    }
    failures(&mut page, report);
    listed(&mut page, report);
    observed(&mut page, report);
    matrix(&mut page, report);
    coverage(&mut page, report);
    facts(&mut page, report);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

fn counts(page: &mut String, report: &RunReport) {
    page.push_str(
        "<section id=\"counts\"><h2>Counts</h2><table><thead><tr><th></th><th>passed</th><th>failed</th>\
         <th>expected failures</th><th>stale</th><th>harness errors</th><th>skipped</th><th>total</th></tr></thead><tbody>\n",
    );
    let row = |page: &mut String, name: &str, c: &Counts| {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(name),
            c.passed,
            c.failed,
            c.expected_failures,
            c.stale,
            c.errors,
            c.skipped,
            c.total
        );
    };
    row(page, "all", &report.totals);
    for (level, c) in &report.by_level {
        row(page, &format!("level {}", level.as_str()), c);
    }
    for (area, c) in &report.by_area {
        row(page, &format!("area {area}"), c);
    }
    page.push_str("</tbody></table></section>\n");
}

fn violation(page: &mut String, v: &ViolationReport) {
    let _ = write!(
        page,
        "<div class=\"violation\"><p><span class=\"rule\">{}</span> <strong>{}</strong>: {}</p><dl>",
        escape(v.rule),
        escape(v.rule_title),
        escape(&v.title)
    );
    let mut item = |name: &str, value: &str| {
        let _ = write!(
            page,
            "<dt>{name}</dt><dd><code>{}</code></dd>",
            escape(value)
        );
    };
    if let Some(p) = &v.pointer {
        item("at", p);
    }
    if !v.received.is_empty() {
        item("received", &v.received);
    }
    if !v.expected.is_empty() {
        item("expected", &v.expected);
    }
    if let Some(r) = &v.request {
        item("request", r);
    }
    page.push_str("</dl>");
    if let Some(c) = &v.reproduce {
        let _ = write!(
            page,
            "<p>Reproduce:</p><pre class=\"reproduce\"><code>{}</code></pre>",
            escape(c)
        );
    }
    if let Some(d) = &v.detail {
        let _ = write!(
            page,
            "<p>Steps (the shrunk sequence, each with its curl):</p><pre class=\"sequence\"><code>{}</code></pre>",
            escape(d)
        );
    }
    page.push_str("</div>\n");
}

fn trial_heading(page: &mut String, t: &TrialReport) {
    let _ = writeln!(
        page,
        "<article class=\"trial\" id=\"{}\"><h3><code>{}</code> <span class=\"rule\">{}</span> <span class=\"level\">{}</span></h3>",
        anchor(&t.name),
        escape(&t.name),
        escape(t.rule),
        t.level.as_str()
    );
}

fn failures(page: &mut String, report: &RunReport) {
    let failed: Vec<&TrialReport> = report
        .trials
        .iter()
        .filter(|t| matches!(t.status, Status::Failed | Status::Stale))
        .collect();
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(
        page,
        "<section id=\"failures\"><h2>Failed trials ({})</h2>",
        failed.len()
    );
    for t in failed {
        trial_heading(page, t);
        if t.status == Status::Stale {
            page.push_str(
                "<p>Listed as an expected failure, but it passed: remove it from the expected-failures file.</p>\n",
            );
        }
        for (v, more) in t.grouped() {
            violation(page, v);
            if let Some(more) = more {
                let _ = writeln!(page, "<p class=\"alike\">{}</p>", escape(&more));
            }
        }
        page.push_str("</article>\n");
    }
    page.push_str("</section>\n");
}

/// Harness errors, expected failures and skipped trials.
fn listed(page: &mut String, report: &RunReport) {
    let of = |status: Status| -> Vec<&TrialReport> {
        report
            .trials
            .iter()
            .filter(|t| t.status == status)
            .collect()
    };
    let errors = of(Status::Error);
    if !errors.is_empty() {
        let _ = writeln!(
            page,
            "<section id=\"errors\"><h2>Harness errors: not tested ({})</h2>",
            errors.len()
        );
        for t in errors {
            trial_heading(page, t);
            let _ = writeln!(
                page,
                "<pre>{}</pre></article>",
                escape(t.message.as_deref().unwrap_or(""))
            );
        }
        page.push_str("</section>\n");
    }
    let expected = of(Status::ExpectedFailure);
    if !expected.is_empty() {
        page.push_str("<section id=\"expected\"><h2>Expected failures</h2><ul>\n");
        for t in expected {
            let e = t.expected_failure.as_ref();
            let _ = writeln!(
                page,
                "<li><code>{}</code>: {}{}</li>",
                escape(&t.name),
                escape(e.map_or("", |e| e.reason.as_str())),
                e.and_then(|e| e.issue.as_deref())
                    .map(|i| format!(" ({})", escape(i)))
                    .unwrap_or_default()
            );
        }
        page.push_str("</ul></section>\n");
    }
    let skipped = of(Status::Skipped);
    if !skipped.is_empty() {
        page.push_str("<section id=\"skipped\"><h2>Skipped</h2><ul>\n");
        for t in skipped {
            let _ = writeln!(
                page,
                "<li><code>{}</code>: {}</li>",
                escape(&t.name),
                escape(t.skip_reason.as_deref().unwrap_or(""))
            );
        }
        page.push_str("</ul></section>\n");
    }
}

fn observed(page: &mut String, report: &RunReport) {
    if report.observed.is_empty() {
        return;
    }
    page.push_str(
        "<section id=\"observed\"><h2>Observed behaviours (info: where the contract leaves a choice)</h2>\
         <table><thead><tr><th>trial</th><th>behaviour</th></tr></thead><tbody>\n",
    );
    for o in &report.observed {
        let _ = writeln!(
            page,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            escape(&o.trial),
            escape(&o.behaviour)
        );
    }
    page.push_str("</tbody></table></section>\n");
}

/// The route matrix: a row per checker, a column per route.
fn matrix(page: &mut String, report: &RunReport) {
    let m = &report.matrix;
    if m.rows.is_empty() {
        return;
    }
    page.push_str(
        "<section id=\"matrix\"><h2>Route matrix: every checker on every route it covers</h2>\
         <table><thead><tr><th>checker</th><th>rule</th>",
    );
    for route in &m.routes {
        let _ = write!(page, "<th>{}</th>", escape(route));
    }
    page.push_str("</tr></thead><tbody>\n");
    for row in &m.rows {
        let _ = write!(
            page,
            "<tr><td><code>{}</code></td><td>{}</td>",
            escape(&row.trial),
            escape(row.rule)
        );
        for cell in &row.cells {
            let (class, text) = match cell.state {
                CellState::Ran => ("ran", "ran".to_string()),
                CellState::Failed => ("cell-failed", format!("failed ({})", cell.violations)),
                CellState::NotRun => ("not-run", "not run".to_string()),
                CellState::NotCovered => ("not-covered", "·".to_string()),
            };
            let title = cell
                .reason
                .as_deref()
                .map(|r| format!(" title=\"{}\"", escape(r)))
                .unwrap_or_default();
            let _ = write!(page, "<td class=\"{class}\"{title}>{}</td>", escape(&text));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table>\n");
    let mut reasons = Vec::new();
    for row in &m.rows {
        for cell in row.cells.iter().filter(|c| c.state == CellState::NotRun) {
            let line = format!(
                "<li><code>{}</code> on {}: {}</li>",
                escape(&row.trial),
                escape(cell.route),
                escape(cell.reason.as_deref().unwrap_or(""))
            );
            if !reasons.contains(&line) {
                reasons.push(line);
            }
        }
    }
    if !reasons.is_empty() {
        let _ = writeln!(page, "<h3>Not run</h3><ul>{}</ul>", reasons.join("\n"));
    }
    page.push_str("</section>\n");
}

fn coverage(page: &mut String, report: &RunReport) {
    page.push_str(
        "<section id=\"coverage\"><h2>Coverage by rule</h2><table><thead><tr><th>rule</th><th>level</th>\
         <th>title</th><th>trials run</th><th>requests</th></tr></thead><tbody>\n",
    );
    for c in &report.coverage {
        let _ = writeln!(
            page,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            if c.trials == 0 {
                " class=\"unexercised\""
            } else {
                ""
            },
            escape(c.rule),
            c.level.as_str(),
            escape(c.title),
            c.trials,
            c.requests
        );
    }
    page.push_str("</tbody></table></section>\n");
}

fn facts(page: &mut String, report: &RunReport) {
    let _ = writeln!(
        page,
        "<footer id=\"facts\"><h2>Run</h2><dl>\
         <dt>seed</dt><dd><code>{}</code> (<code>--seed {}</code> plays the same sequences)</dd>\
         <dt>digest of schemas and cases</dt><dd><code>{}</code></dd>\
         <dt>harness</dt><dd>accesskey-conformance {}</dd>\
         <dt>target</dt><dd><code>{}</code> (operations <code>{}</code>)</dd>\
         <dt>level</dt><dd>{}</dd>\
         <dt>started</dt><dd>{}</dd>\
         <dt>duration</dt><dd>{:.2} s</dd>\
         <dt>requests</dt><dd>{} ({} generated update steps; longest chain {})</dd>\
         <dt>keys</dt><dd>created {}, deleted {}, left {}</dd>\
         </dl></footer>",
        report.seed,
        report.seed,
        escape(&report.digest),
        escape(report.version),
        escape(&report.target),
        escape(&report.operation_url),
        report.level.as_str(),
        escape(&report.started),
        report.duration_seconds,
        report.requests,
        report.generated_steps,
        report.longest_chain,
        report.keys.created,
        report.keys.deleted,
        report.keys.unconfirmed()
    );
}

#[cfg(test)]
mod tests {
    use super::{anchor, escape};

    #[test]
    fn markup_in_texts_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(anchor("cases::a b"), "trial-cases--a-b");
    }
}
