//! Servers that differ from the reference in ways the contract allows must pass (no false
//! alarm), and servers a harness cannot read must neither stall the run nor leave keys behind.
//! Each test runs the binary against a reference server set up that way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use accesskey_conformance::reference::{
    CreateAnswer, Fault, Mode, NEIGHBOUR_ACCOUNT, Options, Paging, Style,
};
use common::{ACCOUNT, TOKEN, Verdict, keys_on, run_against, start_with};

const FEW: &[&str] = &["--proptest-cases", "4"];

fn passes(options: Options, extra: &[&str]) -> Verdict {
    let url = start_with(options);
    let v = run_against(&url, extra);
    assert_eq!(v.code, 0, "{v:#?}");
    assert!(v.failed.is_empty() && v.errored.is_empty(), "{v:#?}");
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
    v
}

#[test]
fn an_honestly_skewed_clock_passes() {
    for skew in [70, -70] {
        let mut options = Options::new(TOKEN);
        options.clock_skew = chrono::Duration::seconds(skew);
        passes(options, FEW);
    }
}

#[test]
fn a_skewed_clock_without_date_header_passes() {
    let mut options = Options::new(TOKEN);
    options.clock_skew = chrono::Duration::seconds(-70);
    options.date_header = false;
    options.style = Style::Proto3;
    passes(options, FEW);
}

#[test]
fn a_clock_off_by_more_than_the_tolerance_fails_t5_only() {
    let mut options = Options::new(TOKEN);
    options.clock_skew = chrono::Duration::seconds(70);
    let url = start_with(options);
    let v = run_against(&url, &["--clock-tolerance", "30", "--proptest-cases", "2"]);
    assert_eq!(v.code, 1, "{v:#?}");
    assert_eq!(v.rules(), ["T5".to_string()].into(), "{v:#?}");
    assert!(
        v.failed
            .contains_key("timestamps::t5_instants_tell_the_true_time")
    );
}

/// Short pages with tokens, an empty last page, opaque tokens, and keys that were there
/// before the run; those keys are still there, as they were, afterwards.
#[test]
fn ragged_paging_and_keys_from_before_pass_and_stay() {
    for style in [Style::Sample, Style::Proto3] {
        let mut options = Options::new(TOKEN);
        options.paging = Paging::Ragged;
        options.style = style;
        options.existing_keys = vec![(ACCOUNT.to_string(), 4), (NEIGHBOUR_ACCOUNT.to_string(), 2)];
        let url = start_with(options);
        let v = run_against(&url, FEW);
        assert_eq!(v.code, 0, "{style:?}: {v:#?}");
        assert_eq!(keys_on(&url), 4, "the keys from before the run are gone");
    }
}

#[test]
fn operations_that_finish_late_pass() {
    for style in [Style::Sample, Style::Proto3] {
        let mut options = Options::new(TOKEN);
        options.mode = Mode::Async;
        options.style = style;
        options.finish_after = Some(Duration::from_millis(120));
        options.poll_interval = Some(0.05);
        passes(options, FEW);
    }
}

/// O9 and R5: every operation's `done` is a string, and operations finish late. Nothing can be
/// followed, so nothing is waited for: the run ends quickly with O9 failures, and every key is
/// still deleted (the harness watches the key itself disappear).
#[test]
fn unreadable_operations_end_the_run_quickly_and_leave_nothing() {
    let mut options = Options::new(TOKEN);
    options.mode = Mode::Async;
    options.finish_after = Some(Duration::from_millis(100));
    options.faults = vec![Fault::DoneNotBoolean];
    let url = start_with(options);
    let started = Instant::now();
    let v = run_against(&url, &[]);
    let took = started.elapsed();
    assert_eq!(v.code, 1, "{v:#?}");
    assert_eq!(v.rules(), ["O9".to_string()].into(), "{v:#?}");
    assert!(v.errored.is_empty(), "{v:#?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
    assert_eq!(keys_on(&url), 0);
}

/// R3: a Create answered 200 with a body the harness cannot read still made a key. The
/// harness finds it (by an id in the body, or by its marker in List), deletes it, and creates
/// no other key: one Create in all, nothing left.
#[test]
fn unreadable_create_answers_make_one_key_and_leave_none() {
    for form in [CreateAnswer::Renamed, CreateAnswer::Reshaped] {
        let mut options = Options::new(TOKEN);
        options.create_answer = form;
        let journal = accesskey_conformance::reference::Journal::default();
        options.journal = Some(journal.clone());
        let url = start_with(options);
        let v = run_against(&url, &[]);
        assert_eq!(v.code, 1, "{form:?}: {v:#?}");
        assert!(v.rules().contains("S1"), "{form:?}: {v:#?}");
        assert!(v.stdout.contains("left 0"), "{form:?}: {}", v.stdout);
        assert_eq!(keys_on(&url), 0, "{form:?}");
        let creates = journal
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "POST" && r.target.ends_with("/accessKeys"))
            .count();
        assert_eq!(creates, 1, "{form:?}: keys created");
        assert!(
            v.errored.iter().all(|t| !t.is_empty()) && !v.errored.is_empty(),
            "{form:?}: trials that need a key are errors: {v:#?}"
        );
        assert!(
            !v.stdout.contains("YCM") && !v.junit.contains("YCM"),
            "{form:?}: the secret under another name leaked"
        );
    }
}

/// R5: a CI job being cancelled. The target's update operations never finish, so trials are
/// polling when SIGTERM comes: they stop at once, the sweep deletes their keys, and the
/// process ends within a few seconds with its closing line.
#[test]
fn sigterm_while_polling_ends_quickly_and_deletes_every_key() {
    let mut options = Options::new(TOKEN);
    options.mode = Mode::Async;
    options.faults = vec![Fault::NeverCompletes];
    let url = start_with(options);
    let child = common::spawn_run_holding_keys(&url, &["--test-threads", "4"]);
    // Let the trials reach their polling.
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(took < Duration::from_secs(6), "took {took:?} after SIGTERM");
    assert!(stdout.contains("left 0"), "{stdout}");
    assert_eq!(keys_on(&url), 0);
}

/// R5: a target that fails every request alike (a broken deployment) ends the run early with
/// that finding, instead of one failure per trial.
#[test]
fn a_target_failing_every_request_alike_ends_the_run_early() {
    let mut options = Options::new(TOKEN);
    options.broken = Some(500);
    let url = start_with(options);
    let v = run_against(&url, &[]);
    assert_eq!(v.code, 1, "{}", v.stdout);
    // The 500s are E3; the unknown-key case also sees INTERNAL where NOT_FOUND belongs (U9).
    assert!(v.rules().contains("E3"), "{:?}", v.failed);
    assert!(
        v.rules().iter().all(|r| r == "E3" || r == "U9"),
        "{:?}",
        v.failed
    );
    assert!(
        v.junit
            .contains("not started: the target answered 30 requests in a row with HTTP 500"),
        "{}",
        v.junit
    );
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
}
