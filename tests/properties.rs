//! The property trials alone (cases filtered out) against the reference server: clean with
//! any seed, and each field-mask fault caught, charged to its rule, and shrunk to a short
//! report of numbered steps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use accesskey_conformance::reference::{Fault, Masks, Mode, Style};
use common::{Verdict, run_against, start_reference};

const PROPERTIES: &str = "properties::";

fn properties(masks: Masks, faults: Vec<Fault>, seed: &str) -> Verdict {
    let url = start_reference(Mode::Sync, Style::Sample, masks, faults);
    run_against(
        &url,
        &[PROPERTIES, "--seed", seed, "--proptest-cases", "64"],
    )
}

/// The numbers N of every "shrunk to N step(s)" line.
fn shrunk_lengths(text: &str) -> Vec<usize> {
    text.match_indices("shrunk to ")
        .filter_map(|(at, m)| {
            let rest = &text[at + m.len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

#[test]
fn clean_server_passes_with_any_seed() {
    for (masks, seed) in [
        (Masks::Strict, "1"),
        (Masks::Strict, "18446744073709551615"),
        (Masks::Lenient, "2"),
        (Masks::Lenient, "424242"),
    ] {
        let v = properties(masks, vec![], seed);
        assert_eq!(v.code, 0, "{masks:?} seed {seed}: {v:#?}");
        assert_eq!(v.passed, 3, "{v:#?}");
        assert!(v.stdout.contains(&format!("seed {seed};")), "{}", v.stdout);
        assert!(v.junit.contains(&format!("name=\"seed\" value=\"{seed}\"")));
    }
}

fn caught(fault: Fault) {
    let v = properties(Masks::Strict, vec![fault], "11");
    assert_eq!(v.code, 1, "{fault}: {v:#?}");
    assert!(v.errored.is_empty(), "{fault}: {v:#?}");
    let expected: BTreeSet<String> = fault.rules().iter().map(|r| r.to_string()).collect();
    assert_eq!(v.rules(), expected, "{fault}: {:#?}", v.failed);
    assert!(v.failed.keys().all(|name| name.starts_with(PROPERTIES)));
    let lengths = shrunk_lengths(&v.stdout);
    assert!(
        !lengths.is_empty(),
        "{fault}: no shrunk report\n{}",
        v.stdout
    );
    assert!(
        lengths.iter().all(|n| (1..=3).contains(n)),
        "{fault}: shrunk to {lengths:?} steps\n{}",
        v.stdout
    );
    // Every step of the report can be repeated with curl, without the token.
    assert!(v.stdout.contains("1. PATCH body {"), "{}", v.stdout);
    assert!(
        v.stdout.contains("reproduce: curl -sS -X PATCH"),
        "{}",
        v.stdout
    );
    assert!(!v.stdout.contains(common::TOKEN));
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
}

#[test]
fn reset_ignored_is_caught() {
    caught(Fault::IgnoresReset);
}

#[test]
fn no_mask_merge_is_caught() {
    caught(Fault::NoMaskMerges);
}

#[test]
fn no_mask_no_op_is_caught() {
    caught(Fault::NoMaskIsNoOp);
}

#[test]
fn trimming_is_caught() {
    caught(Fault::TrimsDescription);
}

#[test]
fn non_ascii_replaced_is_caught() {
    caught(Fault::ReplacesNonAscii);
}

#[test]
fn partial_apply_of_a_rejected_request_is_caught() {
    caught(Fault::AppliesBeforeRejecting);
}

#[test]
fn unknown_paths_accepted_is_caught() {
    caught(Fault::IgnoresUnknownPaths);
}

/// The same seed gives the same sequences, so a reported failure can be replayed.
#[test]
fn a_seed_replays_the_same_failure() {
    let steps = |v: &Verdict| -> Vec<String> {
        v.stdout
            .lines()
            .filter(|l| l.contains(". PATCH body") || l.contains("shrunk to"))
            .map(str::to_string)
            .collect()
    };
    let first = properties(Masks::Strict, vec![Fault::TrimsDescription], "99");
    let second = properties(Masks::Strict, vec![Fault::TrimsDescription], "99");
    assert!(!steps(&first).is_empty());
    assert_eq!(steps(&first), steps(&second));
}

/// Whatever the concurrency and the latency, the same seed gives the same trials, the same
/// generated sequences, the same verdicts and the same shrunk failure (issue 12).
#[test]
fn a_seed_gives_the_same_verdicts_whatever_the_concurrency_and_latency() {
    // Everything a report says about a sequence, without what differs from run to run.
    let outline = |v: &Verdict| -> (Vec<String>, Vec<String>, String) {
        let steps = v
            .stdout
            .lines()
            .filter(|l| {
                l.contains(". PATCH body")
                    || l.contains("shrunk to")
                    || l.contains("expected:")
                    || l.contains("observed:")
                    || l.contains("broke [")
            })
            .map(|l| {
                regex::Regex::new(r"akc [0-9a-f]{6}-\d+")
                    .unwrap()
                    .replace_all(l, "akc [marker]")
                    .into_owned()
            })
            .collect();
        let verdicts = v
            .failed
            .iter()
            .map(|(name, rules)| format!("{name}: {rules:?}"))
            .collect();
        let generated = v
            .stdout
            .split("generated update steps")
            .next()
            .and_then(|head| head.rsplit("requests, ").next())
            .unwrap_or_default()
            .to_string();
        (steps, verdicts, generated)
    };
    let run = |latency_ms: u64, threads: &str| {
        let mut options = accesskey_conformance::reference::Options::new(common::TOKEN);
        options.faults = vec![Fault::TrimsDescription];
        options.latency = std::time::Duration::from_millis(latency_ms);
        let url = common::start_with(options);
        run_against(
            &url,
            &[
                PROPERTIES,
                "--seed",
                "7",
                "--proptest-cases",
                "24",
                "--test-threads",
                threads,
            ],
        )
    };
    let alone = run(0, "1");
    let crowded = run(5, "32");
    assert_eq!(alone.code, 1, "{alone:#?}");
    assert!(!outline(&alone).0.is_empty(), "{}", alone.stdout);
    assert_eq!(outline(&alone), outline(&crowded));
}

/// A CI gate gets the same verdict from the same suite on the same target: without `--seed`
/// the seed is fixed by the harness's version and contract data, so runs against a server
/// that a property catches only with some seeds agree, run after run, and print the seed.
#[test]
fn the_default_seed_gives_the_same_verdict_run_after_run() {
    let url = start_reference(
        Mode::Sync,
        Style::Sample,
        Masks::Strict,
        vec![Fault::IgnoresUnknownPaths],
    );
    let runs: Vec<Verdict> = (0..3)
        .map(|_| run_against(&url, &[PROPERTIES, "--proptest-cases", "8"]))
        .collect();
    let seed = |v: &Verdict| {
        v.stdout
            .split("; seed ")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .map(str::to_string)
    };
    for v in &runs[1..] {
        assert_eq!(v.code, runs[0].code, "{v:#?}");
        assert_eq!(
            v.failed.keys().collect::<Vec<_>>(),
            runs[0].failed.keys().collect::<Vec<_>>()
        );
        assert_eq!(seed(v), seed(&runs[0]));
    }
    assert!(seed(&runs[0]).is_some(), "{}", runs[0].stdout);
    // --random-seed explores: another seed each run.
    let a = run_against(
        &url,
        &[PROPERTIES, "--proptest-cases", "2", "--random-seed"],
    );
    let b = run_against(
        &url,
        &[PROPERTIES, "--proptest-cases", "2", "--random-seed"],
    );
    assert_ne!(seed(&a), seed(&b));
}
