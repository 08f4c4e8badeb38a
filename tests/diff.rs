//! `diff`: the same seeded trials against two reference servers, compared. Two forms of the
//! same behaviour (the live style and proto3) do not differ at all; the sample style differs
//! only in what a strict proto3 parser says of it; strict and lenient masks differ exactly in
//! the open (U8) inputs, both sides passing; a must-level fault on one side fails the diff;
//! bad input is a clear error with the documented exit code. The JSON form follows
//! `schemas/diff.schema.json` and holds no secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use accesskey_conformance::reference::{Fault, Options};
use common::{ACCOUNT, TOKEN, harness, start_with};
use serde_json::Value;

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "akc-diff-{}-{}-{name}",
        std::process::id(),
        common::uuid_like()
    ))
}

/// `diff` with these flags, its exit code, its output, and its JSON report (checked against
/// the schema, and for the token).
fn diff(flags: &[&str]) -> (i32, String, Value) {
    let json = temp("diff.json");
    let mut args = vec!["diff", "--seed", "11", "--json", json.to_str().unwrap()];
    args.extend_from_slice(flags);
    let out = harness(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read_to_string(&json).unwrap_or_default();
    std::fs::remove_file(&json).ok();
    assert!(
        !raw.contains(TOKEN) && !text.contains(TOKEN),
        "the token leaked"
    );
    let report = if raw.is_empty() {
        Value::Null
    } else {
        let report: Value = serde_json::from_str(&raw).unwrap();
        let schema: Value =
            serde_json::from_str(include_str!("../schemas/diff.schema.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        report
    };
    (out.status.code().unwrap_or(-1), text, report)
}

fn differences(report: &Value) -> &Vec<Value> {
    report["differences"].as_array().unwrap()
}

#[test]
fn the_live_and_proto3_styles_do_not_differ() {
    let (code, text, report) = diff(&["--other-reference-style", "proto3"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["same"], true);
    assert!(report["compared"].as_u64().unwrap() > 50);
    assert!(differences(&report).is_empty(), "{text}");
    assert!(text.contains("diff: 0 of"), "{text}");
}

/// The varied spellings (offsets, 0 to 9 digits, pretty-printed) behave as the live style
/// does; the one difference is what a strict parser makes of Delete's Empty written as
/// `{"@type": …}` without `value` (valid for the contract, refused by prost-reflect).
#[test]
fn the_varied_style_differs_only_in_how_a_strict_parser_reads_its_empty() {
    let (code, text, report) = diff(&["--other-reference-style", "varied"]);
    assert_eq!(code, 1, "{text}");
    let found = differences(&report);
    assert_eq!(found.len(), 1, "{text}");
    let d = &found[0];
    assert_eq!(
        d["name"], "responses::s1_bodies_match_the_schemas",
        "{text}"
    );
    assert_eq!(d["a"]["status"], "passed");
    assert_eq!(d["b"]["status"], "passed");
    assert!(d["steps"].as_array().unwrap().is_empty());
    let only_b = d["only_b"][0].as_str().unwrap();
    assert!(only_b.contains("refuses the answers of DELETE"), "{text}");
    assert!(only_b.contains("'value'"), "{text}");
}

/// Operations that finish at once against operations that must be polled: both within the
/// contract, and the two differ in how operations finish and how a rejection is delivered
/// (an HTTP error, or an operation ending with the error); the generated sequences are the
/// same on both sides (the smaller default count of the two).
#[test]
fn sync_and_async_operations_differ_in_how_they_finish() {
    let (code, text, report) = diff(&["--other-reference-mode", "async"]);
    assert_eq!(code, 1, "{text}");
    let names: Vec<&str> = differences(&report)
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "operation::o7_unfinished_operations_finish",
            "responses::s1_bodies_match_the_schemas"
        ],
        "{text}"
    );
    assert!(!text.contains("(not played)"), "{text}");
    assert!(
        text.contains("rejected at once, INVALID_ARGUMENT (HTTP 400)"),
        "{text}"
    );
    assert!(
        text.contains("rejected by an operation ending with INVALID_ARGUMENT"),
        "{text}"
    );
}

#[test]
fn the_sample_style_differs_only_in_what_a_strict_proto3_parser_reads() {
    let (code, text, report) = diff(&[
        "--reference-style",
        "sample",
        "--other-reference-style",
        "proto3",
    ]);
    assert_eq!(code, 1, "{text}");
    let found = differences(&report);
    assert_eq!(found.len(), 1, "{text}");
    let d = &found[0];
    assert_eq!(d["a"]["status"], "passed");
    assert_eq!(d["b"]["status"], "passed");
    assert!(d["steps"].as_array().unwrap().is_empty());
    assert!(
        d["only_a"][0]
            .as_str()
            .unwrap()
            .contains("strict proto3 JSON parser refuses"),
        "{text}"
    );
    assert!(
        d["only_b"][0]
            .as_str()
            .unwrap()
            .contains("strict proto3 JSON parser reads every answer"),
        "{text}"
    );
}

#[test]
fn strict_and_lenient_masks_differ_exactly_in_the_open_inputs() {
    let (code, text, report) = diff(&["--other-reference-masks", "lenient"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(report["a"]["verdict"], "passed");
    assert_eq!(report["b"]["verdict"], "passed");
    let found = differences(&report);
    assert!(found.len() >= 5, "{text}");
    for d in found {
        let name = d["name"].as_str().unwrap();
        assert_eq!(d["a"]["status"], "passed", "{name}");
        assert_eq!(d["b"]["status"], "passed", "{name}");
        // A case differs only when it is one the contract leaves open.
        assert!(
            name.ends_with("_either") || name.starts_with("properties::"),
            "{name} should not differ: {text}"
        );
        // Where an Update ended differently, the first difference of each sequence is an
        // open input (later steps may differ because the key's state did).
        let mut seen = std::collections::BTreeSet::new();
        for step in d["steps"].as_array().unwrap() {
            let at = step["at"].as_str().unwrap();
            let sequence = at.rsplit_once(" step").map_or(at, |(s, _)| s).to_string();
            if seen.insert(sequence) {
                assert_eq!(step["open"], true, "{name} {at}: {step}");
            }
            assert!(
                !step["request"].as_str().unwrap().contains(ACCOUNT) || name.contains("account")
            );
        }
        // Each differing trial shows its readings: observations on both sides.
        assert!(
            !d["only_a"].as_array().unwrap().is_empty()
                && !d["only_b"].as_array().unwrap().is_empty(),
            "{name}: {text}"
        );
    }
    // The cases that differ are exactly those about open inputs that lenient masks accept.
    let names: Vec<&str> = found.iter().map(|d| d["name"].as_str().unwrap()).collect();
    for open in [
        "cases::snake_case_path_either",
        "cases::other_case_path_either",
        "cases::unknown_body_field_either",
    ] {
        assert!(names.contains(&open), "{open} missing: {names:?}");
    }
    assert!(names.contains(&"properties::u8_open_masks_get_a_documented_reading"));
    // Ids of the runs' keys and their markers are taken out.
    assert!(!text.contains("[akc "), "{text}");
}

#[test]
fn a_must_fault_on_one_side_fails_the_diff_and_names_the_trials() {
    let correct = start_with(Options::new(TOKEN));
    let mut faulty = Options::new(TOKEN);
    faulty.faults = vec![Fault::TrimsDescription];
    let faulty = start_with(faulty);
    let summary = temp("diff.md");
    let (code, text, report) = diff(&[
        "--base-url",
        &correct,
        "--other-url",
        &faulty,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--summary",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(report["a"]["verdict"], "passed");
    assert_eq!(report["b"]["verdict"], "failed");
    assert!(report["b"]["must_failures"].as_u64().unwrap() > 0);
    let found = differences(&report);
    let trimmed = found
        .iter()
        .find(|d| {
            d["b"]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str() == Some("U1"))
        })
        .unwrap_or_else(|| panic!("no trial failing U1 on B: {report:#}"));
    assert_eq!(trimmed["a"]["status"], "passed");
    assert_eq!(trimmed["b"]["status"], "failed");
    let markdown = std::fs::read_to_string(&summary).unwrap();
    std::fs::remove_file(&summary).ok();
    assert!(markdown.contains("different"), "{markdown}");
    assert!(markdown.contains(trimmed["name"].as_str().unwrap()));
}

#[test]
fn bad_input_is_a_clear_error() {
    // An unreachable B: a harness error naming it, before any trial runs on A.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let correct = start_with(Options::new(TOKEN));
    let out = harness(&[
        "diff",
        "--base-url",
        &correct,
        "--other-url",
        &closed,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("cannot be reached") && err.contains("target B"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("test result"));

    // Not a URL: a usage error naming the flag.
    let out = harness(&["diff", "--other-url", "not a url", "--token", TOKEN]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a URL"), "{err}");

    // A URL without credentials for B: a usage error.
    let out = harness(&["diff", "--other-url", &correct]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("credentials"), "{err}");
}
