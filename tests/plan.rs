//! `run --plan`: the plan's figures against a measured run of the embedded server, its JSON
//! against `schemas/plan.schema.json`, and a plan that sends nothing.
//!
//! The per-trial figures the plan scales live in `src/app/plan_costs.json`; after a change
//! of the suite, measure them again with `UPDATE_PLAN_COSTS=1 cargo test --test plan`
//! (then this test checks the new figures).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("akc-plan-{}-{name}", common::uuid_like()))
}

/// `run ARGS --json PATH`, with the report read back.
fn run_json(args: &[&str]) -> (i32, String, Value) {
    let path = temp("report.json");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", path.to_str().unwrap()]);
    let out = common::harness(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = std::fs::read_to_string(&path)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|_| panic!("no JSON from {args:?}\n{stdout}\n{stderr}"));
    let _ = std::fs::remove_file(&path);
    (out.status.code().unwrap_or(-1), stdout + &stderr, json)
}

fn schema_valid(plan: &Value) {
    let schema: Value = serde_json::from_str(include_str!("../schemas/plan.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(plan).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Writes the measured figures of `report` (a default run) and `unpooled` (the same with
/// `--keep-keys`: no key passed on, so each trial's Creates are its most) for the plan;
/// `plan` says which trials are views of one shared walk (its requests are sent once).
fn write_costs(report: &Value, unpooled: &Value, plan: &Value) {
    let walks: std::collections::BTreeMap<&str, &str> = plan["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| Some((t["name"].as_str()?, t["walk"].as_str()?)))
        .collect();
    let mut walked: std::collections::BTreeMap<&str, u64> = Default::default();
    let keys: std::collections::BTreeMap<&str, u64> = unpooled["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["keys_created"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut trials = serde_json::Map::new();
    let mut inside = 0;
    for t in report["trials"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let requests = t["requests"].as_u64().unwrap();
        match walks.get(name) {
            Some(walk) => {
                let most = walked.entry(walk).or_default();
                *most = (*most).max(requests);
            }
            None => inside += requests,
        }
        trials.insert(
            name.to_string(),
            json!({"requests": requests, "keys": keys.get(name).copied().unwrap_or(0)}),
        );
    }
    inside += walked.values().sum::<u64>();
    let total = report["requests"].as_u64().unwrap();
    let today = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let costs = json!({
        "measured": {
            "date": today,
            "command": "UPDATE_PLAN_COSTS=1 cargo test --test plan (accesskey-conformance run, and run --keep-keys for the Creates)",
            "requests": total,
            "keys": report["keys"]["created"],
            "outside_trials": total.saturating_sub(inside),
            "cases": 150,
            "lanes": 3
        },
        "trials": trials
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app/plan_costs.json");
    std::fs::write(&path, serde_json::to_string_pretty(&costs).unwrap() + "\n").unwrap();
    panic!(
        "measured again into {}: rebuild and run `cargo test --test plan` to check the figures",
        path.display()
    );
}

#[test]
fn the_estimate_is_within_15_percent_of_the_embedded_run() {
    let (code, out, report) = run_json(&["run", "-q"]);
    assert_eq!(code, 0, "{out}");
    if std::env::var_os("UPDATE_PLAN_COSTS").is_some() {
        let (code, out, unpooled) = run_json(&["run", "-q", "--keep-keys"]);
        assert_eq!(code, 0, "{out}");
        let (code, out, plan) = run_json(&["run", "--plan"]);
        assert_eq!(code, 0, "{out}");
        write_costs(&report, &unpooled, &plan);
    }
    let (code, out, plan) = run_json(&["run", "--plan"]);
    assert_eq!(code, 0, "{out}");
    schema_valid(&plan);
    let unmeasured: Vec<&str> = plan["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["measured"] == false)
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        unmeasured.is_empty(),
        "trials without measured figures (UPDATE_PLAN_COSTS=1 cargo test --test plan): {unmeasured:?}"
    );
    // The figures were measured with the settings the plan scales from.
    assert_eq!(plan["generation"]["cases"], plan["measured"]["cases"]);
    assert_eq!(plan["generation"]["lanes"], plan["measured"]["lanes"]);
    let estimate = plan["totals"]["requests_estimate"].as_f64().unwrap();
    let measured = report["requests"].as_f64().unwrap();
    let off = (estimate - measured).abs() / measured;
    assert!(
        off <= 0.15,
        "the plan estimates {estimate} requests, the run sent {measured} ({:.0} % off)",
        off * 100.0
    );
    // The keys it names are an upper bound on what the run created.
    let keys = plan["totals"]["keys_at_most"].as_u64().unwrap();
    let created = report["keys"]["created"].as_u64().unwrap();
    assert!(
        created <= keys,
        "the run created {created} keys, the plan said at most {keys}"
    );
    // The text says the same figures, beside the measured run's.
    assert!(
        out.contains(&format!("about {} requests", estimate as u64)),
        "{out}"
    );
    assert!(out.contains("measured: the default run"), "{out}");
}

#[test]
fn a_plan_sends_nothing_and_names_what_a_missing_second_account_skips() {
    // A target that would notice any connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (code, out, plan) = run_json(&[
        "run",
        "--plan",
        "--base-url",
        &url,
        "--token",
        common::TOKEN,
        "--service-account-id",
        common::ACCOUNT,
        "--level",
        "must",
        "--max-requests",
        "50",
    ]);
    assert_eq!(code, 0, "{out}");
    schema_valid(&plan);
    assert!(
        listener.accept().is_err(),
        "the plan connected to the target"
    );
    assert!(!out.contains(common::TOKEN), "{out}");
    let not_run: Vec<&str> = plan["not_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["checker"].as_str().unwrap())
        .collect();
    assert!(
        not_run.contains(&"routes::a2_other_accounts_token_refused"),
        "{not_run:?}"
    );
    assert!(out.contains("--alt-service-account-id"), "{out}");
    // Against a URL, the remote generation settings.
    assert_eq!(plan["generation"]["cases"], 24, "{plan:#}");
    // --level must leaves the should and info trials out, with the reason.
    let trials = plan["trials"].as_array().unwrap();
    assert!(
        trials
            .iter()
            .any(|t| t["selected"] == false
                && t["reason"].as_str().unwrap().contains("--level must"))
    );
    assert!(
        trials
            .iter()
            .filter(|t| t["selected"] == true)
            .all(|t| t["level"] == "must")
    );
    assert!(
        out.contains("budget: --max-requests 50 is below the estimate"),
        "{out}"
    );
}

#[test]
fn a_plan_follows_the_filters_and_the_generation_flags() {
    let (code, out, plan) = run_json(&["run", "--plan", "--proptest-cases", "10", "properties::"]);
    assert_eq!(code, 0, "{out}");
    let selected: Vec<&Value> = plan["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["selected"] == true)
        .collect();
    assert!(!selected.is_empty());
    assert!(
        selected
            .iter()
            .all(|t| t["name"].as_str().unwrap().starts_with("properties::"))
    );
    let (_, _, full) = run_json(&["run", "--plan", "properties::"]);
    let sum = |p: &Value| p["totals"]["requests_estimate"].as_u64().unwrap();
    assert!(
        sum(&plan) < sum(&full),
        "{} against {}",
        sum(&plan),
        sum(&full)
    );
}

#[test]
fn a_plan_refuses_what_run_refuses() {
    let out = common::harness(&["run", "--plan", "--base-url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("credentials"));
}

#[test]
fn the_estimate_for_a_url_is_within_15_percent_of_a_run_through_one() {
    let url = common::start_with(accesskey_conformance::reference::Options::new(
        common::TOKEN,
    ));
    let v = common::run_against(&url, &["--seed", "1"]);
    assert_eq!(v.code, 0, "{}", v.stdout);
    let (code, out, plan) = run_json(&[
        "run",
        "--plan",
        "--base-url",
        &url,
        "--token",
        common::TOKEN,
        "--service-account-id",
        common::ACCOUNT,
        "--alt-token",
        common::ALT_TOKEN,
        "--alt-service-account-id",
        common::ALT_ACCOUNT,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(plan["not_run"].as_array().unwrap().is_empty(), "{plan:#}");
    let estimate = plan["totals"]["requests_estimate"].as_f64().unwrap();
    let measured = v.json["requests"].as_f64().unwrap();
    let off = (estimate - measured).abs() / measured;
    assert!(
        off <= 0.15,
        "the plan estimates {estimate} requests against a URL, the run sent {measured} ({:.0} % off)",
        off * 100.0
    );
}
