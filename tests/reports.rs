//! The reports and the gate: snapshots of the console, JUnit, summary and JSON for a clean run,
//! a run against a faulty server and a run with an expected-failures file; the JSON report
//! against its schema; JUnit read back; levels, the coverage floor, bad expectation files and
//! an interrupted run.
//!
//! Snapshots live in tests/snapshots/. After an intended change of the output, review and
//! accept them with `INSTA_UPDATE=always cargo test --test reports` (or `cargo insta review`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Output;

use accesskey_conformance::reference::{Fault, Masks, Mode, Style};
use common::{ACCOUNT, TOKEN, harness, start_reference};
use quick_junit::{Report, TestCaseStatus};
use regex::Regex;
use serde_json::Value;

/// Everything one run wrote.
struct Written {
    code: i32,
    stdout: String,
    stderr: String,
    junit: String,
    summary: String,
    json: String,
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("akc-reports-{}-{name}", std::process::id()))
}

fn run_with_reports(tag: &str, url: &str, extra: &[&str]) -> Written {
    let (junit, summary, json) = (
        temp(&format!("{tag}.xml")),
        temp(&format!("{tag}.md")),
        temp(&format!("{tag}.json")),
    );
    let mut args = vec![
        "run",
        "--base-url",
        url,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--junit",
        junit.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out: Output = harness(&args);
    let read = |p: &PathBuf| {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        std::fs::remove_file(p).ok();
        text
    };
    Written {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        junit: read(&junit),
        summary: read(&summary),
        json: read(&json),
    }
}

/// Replaces what changes from run to run: ports, ids, instants, durations, the digest.
fn stable(text: &str) -> String {
    let rules = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"\baje[a-v0-9]{17}\b", "[id]"),
        (r"YCAJE[0-9a-f]{20}", "[key-id]"),
        (
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?",
            "[instant]",
        ),
        (r"[0-9a-f]{64}", "[digest]"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[uuid]",
        ),
        (r#"time="[0-9.]+""#, r#"time="[s]""#),
        (
            r#""duration_seconds": [0-9.e-]+"#,
            r#""duration_seconds": [s]"#,
        ),
        (r"\b\d+\.\d+ ?s\b", "[s]"),
        (r"\(\d+ characters\)", "(n characters)"),
        // The marker of the run's keys (a random tag and a counter that concurrency orders).
        (r"akc [0-9a-f]{6}-\d+", "akc [run]-[n]"),
        (r"akc [0-9a-f]{6}-", "akc [run]-"),
        (r"accesskey-conformance-\d{8}T\d{6}-\d+\.ledger", "[ledger]"),
        // The run's totals of requests and keys: whether a walk finds a key resting in the
        // pool or creates one depends on timing (one request and one key either way); each
        // trial's own count stays exact.
        (r"\b\d+ requests\b", "[n] requests"),
        (
            r"keys created \d+, deleted \d+",
            "keys created [n], deleted [n]",
        ),
        (r#"(?m)^  "requests": \d+"#, r#"  "requests": [n]"#),
        // The same holds for the keys of the trials that walk the pool.
        (r#""keys_created": \d+"#, r#""keys_created": [n]"#),
        (
            r#"name="keys-(created|deleted)" value="\d+""#,
            r#"name="keys-$1" value="[n]""#,
        ),
        (
            r#""created": \d+,(\s+)"deleted": \d+"#,
            r#""created": [n],${1}"deleted": [n]"#,
        ),
    ];
    let mut out = text.to_string();
    for (pattern, with) in rules {
        out = Regex::new(pattern)
            .unwrap()
            .replace_all(&out, with)
            .into_owned();
    }
    out
}

/// Small and repeatable: one trial thread, a fixed seed, few generated sequences.
const REPEATABLE: &[&str] = &[
    "--test-threads",
    "1",
    "--seed",
    "5",
    "--proptest-cases",
    "3",
];

fn snapshot_all(name: &str, w: &Written) {
    insta::assert_snapshot!(format!("{name}_console"), stable(&w.stdout));
    insta::assert_snapshot!(format!("{name}_junit"), stable(&w.junit));
    insta::assert_snapshot!(format!("{name}_summary"), stable(&w.summary));
    insta::assert_snapshot!(format!("{name}_json"), stable(&w.json));
}

fn schema_errors(json: &str) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(include_str!("../schemas/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc: Value = serde_json::from_str(json).unwrap();
    validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The counts JUnit consumers read, checked against the JSON report.
fn junit_agrees(xml: &str, json: &str) {
    let report = Report::deserialize_from_str(xml).unwrap();
    let doc: Value = serde_json::from_str(json).unwrap();
    let totals = &doc["totals"];
    let n = |k: &str| totals[k].as_u64().unwrap() as usize;
    assert_eq!(report.tests, n("total"));
    assert_eq!(report.failures, n("failed") + n("stale"));
    assert_eq!(report.errors, n("errors"));
    let skipped = |r: &Report| {
        r.test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .filter(|c| matches!(c.status, TestCaseStatus::Skipped { .. }))
            .count()
    };
    assert_eq!(skipped(&report), n("skipped") + n("expected_failures"));
    for suite in &report.test_suites {
        assert!(!suite.name.is_empty());
        let props: Vec<&str> = suite.properties.iter().map(|p| p.name.as_str()).collect();
        for wanted in [
            "target",
            "operation-url",
            "harness-version",
            "seed",
            "digest",
            "started",
        ] {
            assert!(props.contains(&wanted), "{wanted} missing in {props:?}");
        }
        assert_eq!(suite.tests, suite.test_cases.len());
        for case in &suite.test_cases {
            assert!(case.name.as_str().contains("::"));
            let classname = case.classname.as_ref().unwrap();
            assert!(classname.as_str().starts_with("accesskey-conformance."));
            assert!(case.time.is_some(), "{}", case.name.as_str());
        }
    }
    // The raw attributes the common consumers read are present.
    for attribute in [
        "tests=",
        "failures=",
        "errors=",
        "time=",
        "classname=",
        "name=",
    ] {
        assert!(xml.contains(attribute), "{attribute}");
    }
}

#[test]
fn clean_run_reports() {
    let url = start_reference(Mode::Sync, Style::Sample, Masks::Strict, vec![]);
    let w = run_with_reports("clean", &url, REPEATABLE);
    assert_eq!(w.code, 0, "{}{}", w.stdout, w.stderr);
    assert_eq!(schema_errors(&w.json), Vec::<String>::new());
    junit_agrees(&w.junit, &w.json);
    assert!(w.summary.starts_with("# ✅ accesskey-conformance: passed"));
    snapshot_all("clean", &w);
}

#[test]
fn faulty_run_reports() {
    let url = start_reference(
        Mode::Sync,
        Style::Sample,
        Masks::Strict,
        vec![Fault::IgnoresReset],
    );
    let w = run_with_reports("faulty", &url, REPEATABLE);
    assert_eq!(w.code, 1, "{}{}", w.stdout, w.stderr);
    assert_eq!(schema_errors(&w.json), Vec::<String>::new());
    junit_agrees(&w.junit, &w.json);
    assert!(w.summary.contains("## Failures"));
    assert!(w.summary.contains("curl -sS -X PATCH"));
    assert!(!w.junit.contains(TOKEN) && !w.json.contains(TOKEN) && !w.summary.contains(TOKEN));
    snapshot_all("faulty", &w);
}

#[test]
fn expected_failures_one_expected_one_stale() {
    let url = start_reference(
        Mode::Sync,
        Style::Sample,
        Masks::Strict,
        vec![Fault::StaleList],
    );
    let file = temp("expected.json");
    std::fs::write(
        &file,
        r#"{
  "operation::o5_list_sees_the_write": {"reason": "List is served from a replica", "issue": "https://tracker.example/IAM-1"},
  "routes::g2_every_read_path_sees_the_update": "the same replica",
  "cases::star_mask_either": "thought to fail, but it passes"
}"#,
    )
    .unwrap();
    let mut extra = REPEATABLE.to_vec();
    extra.extend(["--expected-failures", file.to_str().unwrap()]);
    let w = run_with_reports("expected", &url, &extra);
    std::fs::remove_file(&file).ok();
    assert_eq!(w.code, 1, "a stale entry fails the run: {}", w.stdout);
    assert_eq!(schema_errors(&w.json), Vec::<String>::new());
    junit_agrees(&w.junit, &w.json);
    let doc: Value = serde_json::from_str(&w.json).unwrap();
    assert_eq!(doc["totals"]["expected_failures"], 2);
    assert_eq!(doc["totals"]["stale"], 1);
    assert_eq!(doc["totals"]["failed"], 0);
    assert!(
        w.stdout
            .contains("ignored (expected failure: List is served from a replica)")
    );
    snapshot_all("expected", &w);
}

#[test]
fn an_expected_failure_alone_passes_the_run() {
    let url = start_reference(
        Mode::Sync,
        Style::Sample,
        Masks::Strict,
        vec![Fault::StaleList],
    );
    let file = temp("expected-only.json");
    std::fs::write(
        &file,
        r#"{"operation::o5_list_sees_the_write": "known", "routes::g2_every_read_path_sees_the_update": "known"}"#,
    )
    .unwrap();
    let w = run_with_reports(
        "expected-only",
        &url,
        &[
            "--expected-failures",
            file.to_str().unwrap(),
            "--proptest-cases",
            "3",
        ],
    );
    std::fs::remove_file(&file).ok();
    assert_eq!(w.code, 0, "{}", w.stdout);
}

#[test]
fn bad_expected_failure_files_are_usage_errors() {
    for (contents, message) in [
        (r#"{"no::such_trial": "x"}"#, "matches no trial"),
        (r#"["cases::star_mask_either"]"#, "expected a JSON object"),
        ("{", "expected-failures file"),
    ] {
        let file = temp("bad-expected.json");
        std::fs::write(&file, contents).unwrap();
        let out = harness(&["run", "--expected-failures", file.to_str().unwrap()]);
        std::fs::remove_file(&file).ok();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{contents}: {stderr}");
        assert!(stderr.contains(message), "{contents}: {stderr}");
    }
}

#[test]
fn levels_select_trials() {
    let url = start_reference(Mode::Sync, Style::Sample, Masks::Strict, vec![]);
    for (level, allowed) in [("must", &["must"][..]), ("should", &["must", "should"][..])] {
        let w = run_with_reports(level, &url, &["--level", level, "--proptest-cases", "3"]);
        assert_eq!(w.code, 0, "{}", w.stdout);
        let doc: Value = serde_json::from_str(&w.json).unwrap();
        for t in doc["trials"].as_array().unwrap() {
            // A trial the setup cannot run (no second account here) is not run at any level.
            let ran = t["status"] != "skipped" || t["unavailable"] == true;
            let level = t["level"].as_str().unwrap();
            assert_eq!(ran, allowed.contains(&level), "{t}");
        }
    }
}

#[test]
fn a_filter_matching_nothing_is_a_harness_error() {
    let out = harness(&["run", "no_trial_is_called_this"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("no trial was selected"), "{stdout}");
}

#[test]
fn an_unexercised_must_rule_is_a_harness_error() {
    // A user's own case set that has nothing for U9 (or most other U rules).
    let dir = temp("own-cases");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("value_stored_applied.json"),
        r#"{"about": "x", "rule": "U1", "level": "must",
            "request": {"updateMask": "description", "description": "x"}, "expect": {"applied": "x"}}"#,
    )
    .unwrap();
    let out = harness(&[
        "run",
        "--no-builtin-cases",
        "--cases",
        dir.to_str().unwrap(),
        "--proptest-cases",
        "3",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("harness error: must rule U9") && stdout.contains("exercised by no trial"),
        "{stdout}"
    );
}

#[test]
fn the_github_step_summary_is_appended() {
    let file = temp("step-summary.md");
    std::fs::write(&file, "earlier step\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_accesskey-conformance"))
        .args(["run", "-q", "--level", "must", "--proptest-cases", "3"])
        .env("GITHUB_STEP_SUMMARY", &file)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).ok();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text.starts_with("earlier step\n# ✅ accesskey-conformance: passed"),
        "{text}"
    );
}

/// Ctrl-C: running trials finish and clean up, the rest are skipped, exit 130, no key left.
#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_no_key() {
    let url = start_reference(Mode::Async, Style::Sample, Masks::Strict, vec![]);
    let child = common::spawn_run_holding_keys(&url, &["--test-threads", "1"]);
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("left 0"), "{stdout}");
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    // Ask the server itself.
    assert_eq!(common::keys_on(&url), 0);
}
