//! `replay`: the failed trials of a run's JSON report, sent again: still failing against the
//! faulty target, passing against a fixed one, named trials alone, and bad input (a broken
//! report, another harness version, an unknown trial) a usage error naming the problem.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use accesskey_conformance::reference::{Fault, Options};
use common::{ACCOUNT, TOKEN, Verdict, harness, keys_on, run_against, start_with};
use serde_json::Value;

fn server(faults: Vec<Fault>) -> String {
    let mut options = Options::new(TOKEN);
    options.faults = faults;
    start_with(options)
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("akc-replay-{}-{name}", std::process::id()))
}

/// `replay REPORT [TRIALS] --base-url URL` with the test credentials and a JSON report of it.
fn replay(report: &std::path::Path, url: &str, trials: &[&str]) -> (i32, String, Value) {
    let json = temp(&format!("replayed-{}.json", common::uuid_like()));
    let mut args = vec![
        "replay",
        report.to_str().unwrap(),
        "--base-url",
        url,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(trials);
    let out = harness(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    std::fs::remove_file(&json).ok();
    (out.status.code().unwrap_or(-1), text, replayed)
}

fn failing_report() -> (std::path::PathBuf, Verdict, String) {
    let faulty = server(vec![Fault::TrimsDescription]);
    let report = temp(&format!("run-{}.json", common::uuid_like()));
    let v = run_against(
        &faulty,
        &["--seed", "3", "--json", report.to_str().unwrap()],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    (report, v, faulty)
}

fn names(report: &Value) -> Vec<String> {
    report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn failures_replay_against_the_faulty_target_and_pass_against_a_fixed_one() {
    let (report, v, faulty) = failing_report();
    let failed: Vec<String> = v.failed.keys().cloned().collect();
    assert!(failed.iter().any(|n| n.starts_with("cases::")));
    assert!(failed.iter().any(|n| n.starts_with("properties::")));

    let (code, text, replayed) = replay(&report, &faulty, &[]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(names(&replayed), failed, "the failed trials, and only they");
    assert!(
        replayed["trials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "failed"),
        "{text}"
    );
    assert!(text.contains("left 0"), "{text}");

    let fixed = server(vec![]);
    let (code, text, replayed) = replay(&report, &fixed, &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(names(&replayed), failed);
    assert_eq!(keys_on(&fixed), 0);
    assert!(!text.contains(TOKEN));
    std::fs::remove_file(&report).ok();
}

#[test]
fn named_trials_are_replayed_alone() {
    let (report, _, faulty) = failing_report();
    let (code, text, replayed) = replay(
        &report,
        &faulty,
        &[
            "cases::surrounding_whitespace_kept_applied",
            "operation::o7_unfinished_operations_finish",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert_eq!(
        names(&replayed),
        [
            "cases::surrounding_whitespace_kept_applied",
            "operation::o7_unfinished_operations_finish"
        ]
    );
    let status = |name: &str| {
        replayed["trials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(
        status("cases::surrounding_whitespace_kept_applied"),
        "failed"
    );
    assert_eq!(
        status("operation::o7_unfinished_operations_finish"),
        "passed"
    );
    std::fs::remove_file(&report).ok();
}

#[test]
fn bad_reports_and_unknown_trials_are_usage_errors() {
    let (report, _, faulty) = failing_report();
    let (code, text, _) = replay(&report, &faulty, &["cases::no_such_trial"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cases::no_such_trial"), "{text}");

    let broken = temp("broken.json");
    std::fs::write(&broken, "{\"harness\": \"accesskey-conformance\", ").unwrap();
    let (code, text, _) = replay(&broken, &faulty, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not JSON"), "{text}");

    let mut other: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    other["version"] = Value::from("0.0.1");
    let older = temp("older.json");
    std::fs::write(&older, other.to_string()).unwrap();
    let (code, text, _) = replay(&older, &faulty, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("0.0.1"), "{text}");

    let (code, text, _) = replay(&temp("missing.json"), &faulty, &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cannot read the report"), "{text}");
    for path in [report, broken, older] {
        std::fs::remove_file(path).ok();
    }
}
