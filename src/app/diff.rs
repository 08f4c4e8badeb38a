//! `accesskey-conformance diff`: the same seeded trials against two targets (A and B), then
//! the comparison (`report::diff`). Both targets are set up and reached before any trial runs,
//! so an unreachable B is one clear error at once; then A's run, then B's, each with
//! everything `run` promises (ledger, cleanup, redaction).

use std::process::ExitCode;
use std::sync::Arc;

use aho_corasick::AhoCorasick;

use super::run::{close_ledger, default_proptest_cases, go, setup};
use super::{harness, parse_base_url, random_seed, usage};
use crate::cli::{AuthArgs, DiffArgs, RunArgs};
use crate::exit;
use crate::report::diff::{DiffReport, Side};
use crate::runner::Run;

/// `accesskey-conformance diff`.
pub fn diff(args: DiffArgs) -> ExitCode {
    match compare(&args) {
        Ok(code) | Err(code) => code,
    }
}

fn compare(args: &DiffArgs) -> Result<ExitCode, ExitCode> {
    let seed = args.seed.unwrap_or_else(random_seed);
    let (mut a, mut b) = sides(args, seed).map_err(usage)?;
    let ready_a = setup(&mut a, None, true).map_err(|code| said("A", code))?;
    let ready_b = setup(&mut b, None, true).map_err(|code| said("B (--other-url)", code))?;
    eprint!("A: ");
    let done_a = go(&a, ready_a)?;
    close_ledger(&a, &done_a);
    eprintln!("A: {}", side_line(&done_a.report));
    eprint!("B: ");
    let done_b = go(&b, ready_b)?;
    close_ledger(&b, &done_b);
    eprintln!("B: {}", side_line(&done_b.report));
    let clean_a = cleaner(&done_a.run);
    let clean_b = cleaner(&done_b.run);
    let records_a = done_a.run.records();
    let records_b = done_b.run.records();
    let report = DiffReport::build(
        seed,
        &Side {
            report: &done_a.report,
            records: &records_a,
            clean: &clean_a,
        },
        &Side {
            report: &done_b.report,
            records: &records_b,
            clean: &clean_b,
        },
    );
    print!("{}", report.console());
    write(args, &report).map_err(harness)?;
    Ok(exit::code(report.exit_code))
}

/// One side's verdict in a line.
fn side_line(report: &crate::report::RunReport) -> String {
    let t = &report.totals;
    format!(
        "{}: {} passed, {} failed, {} harness errors, {} skipped; {} requests",
        report.verdict.as_str(),
        t.passed,
        t.failed,
        t.errors,
        t.skipped,
        report.requests
    )
}

/// Which side an early exit belongs to (the error itself is already printed).
fn said(side: &str, code: ExitCode) -> ExitCode {
    if code != exit::code(exit::PASSED) {
        eprintln!("(that was target {side}; no trial has run)");
    }
    code
}

/// The two runs' arguments: B is A with the --other-* flags applied; both get the seed, the
/// level, the limits, and quiet progress.
fn sides(args: &DiffArgs, seed: u64) -> Result<(RunArgs, RunArgs), String> {
    let mut a = RunArgs::defaults().map_err(|e| e.to_string())?;
    a.target = args.target.clone();
    a.seed = Some(seed);
    a.proptest_cases = args.proptest_cases;
    a.level = args.level;
    a.keys.max_rps = args.max_rps;
    a.test.test_threads = args.test_threads;
    a.test.quiet = true;
    // The trials' own lines would interleave two runs' failures; the comparison says what
    // differs (and `run` against one side says the rest).
    if cfg!(unix) {
        a.test.logfile = Some("/dev/null".into());
    }
    let mut b = RunArgs::defaults().map_err(|e| e.to_string())?;
    b.seed = a.seed;
    b.proptest_cases = a.proptest_cases;
    b.level = a.level;
    b.keys.max_rps = a.keys.max_rps;
    b.test.test_threads = a.test.test_threads;
    b.test.quiet = true;
    b.test.logfile = a.test.logfile.clone();
    b.target = args.target.clone();
    b.target.base_url = args.other_url.clone();
    b.target.operation_url = args.other_operation_url.clone();
    let own_auth = args.other_token.is_some()
        || args.other_token_command.is_some()
        || args.other_service_account_key_file.is_some();
    if own_auth {
        b.target.auth = AuthArgs {
            token: args.other_token.clone(),
            token_command: args.other_token_command.clone(),
            service_account_key_file: args.other_service_account_key_file.clone(),
            token_url: args.target.auth.token_url.clone(),
        };
        // A's second account is A's: B with credentials of its own has none.
        b.target.alt = crate::cli::AltArgs {
            alt_service_account_id: None,
            alt_token: None,
            alt_token_command: None,
            alt_service_account_key_file: None,
        };
    }
    if let Some(id) = &args.other_service_account_id {
        b.target.service_account_id = Some(id.clone());
    }
    if let Some(mode) = args.other_reference_mode {
        b.target.reference_mode = mode;
    }
    if let Some(style) = args.other_reference_style {
        b.target.reference_style = style;
    }
    if let Some(masks) = args.other_reference_masks {
        b.target.reference_masks = masks;
    }
    if let Some(url) = &args.other_url {
        parse_base_url("--other-url", url)?;
    }
    if let Some(url) = &args.other_operation_url {
        parse_base_url("--other-operation-url", url)?;
    }
    if args.other_url.is_none() && args.other_operation_url.is_some() {
        return Err("--other-operation-url needs --other-url".into());
    }
    if args.target.base_url.is_none() && args.target.operation_url.is_some() {
        return Err("--operation-url needs --base-url".into());
    }
    // The same sequences on both sides: without --proptest-cases, the smaller of the two
    // sides' defaults (a URL or async mode plays fewer).
    let cases = args
        .proptest_cases
        .unwrap_or_else(|| default_proptest_cases(&a).min(default_proptest_cases(&b)));
    a.proptest_cases = Some(cases);
    b.proptest_cases = Some(cases);
    Ok((a, b))
}

/// What takes a run's own identity out of a text before the sides are compared: its
/// secrets, the ids of the keys it created (`{key}`), and its markers (`[marker]`).
fn cleaner(run: &Arc<Run>) -> impl Fn(&str) -> String + use<> {
    let run = run.clone();
    let ids = run.created_ids();
    let searcher = AhoCorasick::new(&ids).ok();
    let prefix = format!("[{}", run.marker_prefix());
    move |text: &str| {
        let redacted = run.redact(text);
        let anonymous = match &searcher {
            Some(s) if !ids.is_empty() => s.replace_all(&redacted, &vec!["{key}"; ids.len()]),
            _ => redacted,
        };
        unmark(&anonymous, &prefix)
    }
}

/// `text` with each `[<prefix><n>]` written `[marker]`.
fn unmark(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && after[digits..].starts_with(']') {
            out.push_str("[marker]");
            rest = &after[digits + 1..];
        } else {
            out.push_str(prefix);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `--json` and `--summary`.
fn write(args: &DiffArgs, report: &DiffReport) -> Result<(), String> {
    let put = |what: &str, path: &std::path::Path, text: String| {
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the {what} `{}`: {e}", path.display()))
    };
    if let Some(path) = &args.json {
        put("JSON diff", path, report.to_json())?;
    }
    if let Some(path) = &args.summary {
        put("Markdown diff", path, report.markdown())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unmark;

    #[test]
    fn markers_are_written_alike() {
        assert_eq!(
            unmark(
                "start [akc ab12-7] and [akc ab12-] [akc ab12-33]",
                "[akc ab12-"
            ),
            "start [marker] and [akc ab12-] [marker]"
        );
    }
}
