//! `run --har`: every exchange of a run in HAR 1.2, valid against the format's schema
//! (`schemas/har.schema.json`), as many entries as the run's requests, each tagged with its
//! trial, and no secret in it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use accesskey_conformance::reference::{Mode, Options, Style};
use common::{TOKEN, run_against, start_with};
use serde_json::Value;

#[test]
fn the_har_file_holds_every_exchange_and_no_secret() {
    let mut options = Options::new(TOKEN);
    options.mode = Mode::Async;
    options.style = Style::Proto3;
    let url = start_with(options);
    let dir = std::env::temp_dir().join(format!("akc-har-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (har, json) = (dir.join("run.har"), dir.join("run.json"));
    let v = run_against(
        &url,
        &[
            "--proptest-cases",
            "4",
            "--har",
            har.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stdout);
    let text = std::fs::read_to_string(&har).unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let doc: Value = serde_json::from_str(&text).unwrap();

    let schema: Value = serde_json::from_str(include_str!("../schemas/har.schema.json")).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .take(5)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, report["requests"].as_u64().unwrap());
    // In the order they were sent, each with its trial.
    let started: Vec<&str> = entries
        .iter()
        .map(|e| e["startedDateTime"].as_str().unwrap())
        .collect();
    assert!(started.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        entries
            .iter()
            .all(|e| !e["_trial"].as_str().unwrap().is_empty())
    );
    for trial in ["tour", "preflight", "cases::mask_with_value_applied"] {
        assert!(
            entries.iter().any(|e| e["_trial"] == trial),
            "no entry of {trial}"
        );
    }
    // Operations were polled, and the polls are there.
    assert!(entries.iter().any(|e| {
        e["request"]["url"]
            .as_str()
            .unwrap()
            .contains("/operations/")
    }));
    // No token and no Create secret (the reference server's begin with YCM).
    assert!(!text.contains(TOKEN));
    assert!(!text.contains("\"YCM"), "a Create secret in the HAR file");
    assert!(text.contains("Bearer [redacted]"));
}
