//! Ready for a live target: throttling with and without Retry-After, answers lost after the
//! request took effect (Idempotency-Key), slow and replicated operation services, request
//! pacing. Each runs the binary against a reference server that behaves that way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use accesskey_conformance::reference::{Mode, Options, RetryAfter, Throttle};
use common::{ACCOUNT, TOKEN, keys_on, run_against, start_with};
use serde_json::Value;

const SMALL: &[&str] = &["--proptest-cases", "3"];

fn throttled(every: u32, retry_after: RetryAfter, only_429: bool, after_effect: bool) -> String {
    let mut options = Options::new(TOKEN);
    options.throttle = Some(Throttle {
        every,
        retry_after,
        only_429,
        after_effect,
    });
    start_with(options)
}

#[test]
fn one_in_ten_throttled_with_retry_after_passes() {
    for form in [RetryAfter::Seconds, RetryAfter::Date] {
        let url = throttled(10, form, false, false);
        let v = run_against(&url, SMALL);
        assert_eq!(v.code, 0, "{form:?}: {v:#?}");
        assert_eq!(keys_on(&url), 0);
    }
}

#[test]
fn one_in_ten_throttled_without_retry_after_passes() {
    let url = throttled(10, RetryAfter::None, false, false);
    let v = run_against(&url, SMALL);
    assert_eq!(v.code, 0, "{v:#?}");
    assert_eq!(keys_on(&url), 0);
}

#[test]
fn always_throttled_is_a_harness_error_and_leaves_nothing() {
    let url = throttled(1, RetryAfter::Seconds, true, false);
    let started = std::time::Instant::now();
    let v = run_against(&url, SMALL);
    assert_eq!(v.code, 3, "{v:#?}");
    assert!(v.stderr.contains("429"), "{}", v.stderr);
    assert!(!v.stderr.contains(TOKEN));
    assert!(started.elapsed().as_secs() < 30, "gave up too slowly");
    assert_eq!(keys_on(&url), 0);
}

/// Every fourth answer is lost after the request took effect; the retries carry the same
/// Idempotency-Key, so no Create runs twice and nothing is left behind.
#[test]
fn lost_answers_are_retried_without_acting_twice() {
    let url = throttled(4, RetryAfter::Seconds, false, true);
    let v = run_against(&url, SMALL);
    assert_eq!(v.code, 0, "{v:#?}");
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
    assert_eq!(keys_on(&url), 0, "a retried create made a second key");
}

#[test]
fn replicated_operations_with_a_poll_interval_pass() {
    let mut options = Options::new(TOKEN);
    options.mode = Mode::Async;
    options.operation_not_found_reads = 2;
    options.poll_interval = Some(0.01);
    let url = start_with(options);
    let v = run_against(&url, SMALL);
    assert_eq!(v.code, 0, "{v:#?}");
}

#[test]
fn max_rps_paces_the_requests() {
    let url = start_with(Options::new(TOKEN));
    let started = std::time::Instant::now();
    let v = run_against(
        &url,
        &[
            "--max-rps",
            "200",
            "--level",
            "must",
            "--skip",
            "properties::",
        ],
    );
    assert_eq!(v.code, 0, "{v:#?}");
    // About 130 requests at 200 per second take at least half a second.
    assert!(
        started.elapsed().as_millis() >= 500,
        "{:?}",
        started.elapsed()
    );
}

/// A run killed with SIGKILL leaves keys; `cleanup --ledger` deletes exactly those.
#[cfg(unix)]
#[test]
fn a_killed_run_is_cleaned_up_from_its_ledger() {
    let mut options = Options::new(TOKEN);
    options.mode = Mode::Async;
    let url = start_with(options);
    let ledger = std::env::temp_dir().join(format!("akc-killed-{}.ledger", std::process::id()));
    std::fs::remove_file(&ledger).ok();
    // Once the run holds keys, kill it without warning.
    let mut child = common::spawn_run_holding_keys(&url, &["--ledger", ledger.to_str().unwrap()]);
    child.kill().unwrap();
    child.wait().unwrap();
    let left = keys_on(&url);
    assert!(left > 0, "the kill came too late to leave keys behind");
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert!(!text.contains(TOKEN), "the ledger holds the token");

    let out = common::harness(&[
        "cleanup",
        "--ledger",
        ledger.to_str().unwrap(),
        "--token",
        TOKEN,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(keys_on(&url), 0, "{stdout}");
    // A second cleanup finds nothing to do.
    let again = common::harness(&[
        "cleanup",
        "--ledger",
        ledger.to_str().unwrap(),
        "--token",
        TOKEN,
    ]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("all already deleted"));
    std::fs::remove_file(&ledger).ok();
}

/// --keep-keys leaves every key in place, says so, and the ledger can remove them later.
#[test]
fn kept_keys_stay_until_cleanup() {
    let url = start_with(Options::new(TOKEN));
    let ledger = std::env::temp_dir().join(format!("akc-kept-{}.ledger", std::process::id()));
    std::fs::remove_file(&ledger).ok();
    let v = run_against(
        &url,
        &[
            "--keep-keys",
            "--ledger",
            ledger.to_str().unwrap(),
            "--level",
            "must",
            "--skip",
            "properties::",
        ],
    );
    assert_eq!(v.code, 0, "{v:#?}");
    let kept = keys_on(&url);
    assert!(kept > 0);
    let out = common::harness(&[
        "cleanup",
        "--ledger",
        ledger.to_str().unwrap(),
        "--token",
        TOKEN,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(keys_on(&url), 0);
    std::fs::remove_file(&ledger).ok();
}

#[test]
fn max_live_keys_bounds_the_keys_that_exist_at_once() {
    let options = Options::new(TOKEN);
    let peak = options.peak_keys.clone();
    let url = start_with(options);
    let v = run_against(&url, &["--max-live-keys", "1", "--proptest-cases", "3"]);
    assert_eq!(v.code, 0, "{v:#?}");
    assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// --access-key-id: the suite runs on one existing key, creates none, skips the trials that
/// must create or delete keys, and puts the description back.
#[test]
fn an_existing_key_is_tested_and_restored() {
    let url = start_with(Options::new(TOKEN));
    let created: Value = common::runtime().block_on(async {
        crate::common::http_client()
            .post(format!("{url}/iam/aws-compatibility/v1/accessKeys"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"serviceAccountId": ACCOUNT, "description": "owned by a person"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let id = created["accessKey"]["id"].as_str().unwrap().to_string();
    let v = run_against(&url, &["--access-key-id", &id, "--proptest-cases", "3"]);
    assert_eq!(v.code, 0, "{v:#?}");
    assert!(v.stdout.contains("keys created 0"), "{}", v.stdout);
    assert!(
        v.stderr
            .contains(&format!("restored the description of key {id}"))
    );
    assert_eq!(
        v.junit.matches("<skipped").count(),
        6,
        "only the deleted-key and second-key cases and the checkers that need keys of their own are skipped"
    );
    for name in [
        "routes::g1_deleted_key_gone_on_every_path",
        "routes::i1_repeated_mutation_acts_once",
        "routes::i2_reused_key_with_another_body",
        "routes::a3_other_accounts_keys_never_listed",
    ] {
        assert!(v.junit.contains(name), "{name}");
    }
    // The checkers that do run leave Create and Delete out: the one key must stay.
    assert!(
        v.cells("not-run").contains(&(
            "routes::e2_no_or_unknown_token_refused".to_string(),
            "Delete".to_string()
        )),
        "{:#?}",
        v.json["matrix"]
    );
    assert!(v.junit.contains("the key of --access-key-id"));
    assert_eq!(keys_on(&url), 1);
    let key: Value = common::runtime().block_on(async {
        crate::common::http_client()
            .get(format!("{url}/iam/aws-compatibility/v1/accessKeys/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(key["description"], "owned by a person");
}

/// --max-requests: no trial starts once the budget is spent (the running ones finish, the
/// sweep runs); the trials not started are reported with the reason, and the run is a harness
/// error, or a partial pass with --accept-partial.
#[test]
fn a_request_budget_cuts_the_run_and_says_so() {
    let options = Options::new(TOKEN);
    let alive = options.keys_alive.clone();
    let url = start_with(options);
    let v = run_against(&url, &["--max-requests", "150", "--test-threads", "2"]);
    assert_eq!(v.code, 3, "{}", v.stdout);
    assert!(v.stdout.contains("--max-requests 150"), "{}", v.stdout);
    let cut = v.json["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["skip_reason"]
                .as_str()
                .is_some_and(|r| r.contains("request budget"))
        })
        .count();
    assert!(cut > 0, "{}", v.stdout);
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
    assert_eq!(alive.load(std::sync::atomic::Ordering::SeqCst), 0);
    let partial = run_against(
        &url,
        &[
            "--max-requests",
            "150",
            "--test-threads",
            "2",
            "--accept-partial",
        ],
    );
    assert_eq!(partial.code, 0, "{}", partial.stdout);
    assert!(
        partial.stdout.contains("PASSED (partial)"),
        "{}",
        partial.stdout
    );
    assert!(partial.json["partial"].is_string());
}
