//! Bounded and honest runs (R5, R6) against the kinds of target that once made runs endless
//! or their closing line untrue: Update or Delete operations that never finish, operations
//! done with neither result nor change, updates never committed, errors sent with HTTP 200,
//! answers compressed although the request accepted only `identity`. At default settings
//! every run ends within 60 s (the sweep included), finds the defect (exit 1), and its
//! closing counts are the server's: the keys it says are left are the keys the server
//! still holds, and what it says it created, with the Creates it could not settle, is what
//! the server made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use accesskey_conformance::reference::{Fault, Options};
use common::{TOKEN, run_against, start_with};

fn bounded(fault: Fault) {
    let mut options = Options::new(TOKEN);
    options.faults = vec![fault];
    let (made, alive) = (options.keys_made.clone(), options.keys_alive.clone());
    let url = start_with(options);
    let started = Instant::now();
    let v = run_against(&url, &[]);
    let took = started.elapsed();
    // Printed for BENCHMARKS.md (`cargo test --test bounded -- --nocapture`).
    eprintln!("{fault}: the run took {took:?}");
    assert!(took < Duration::from_secs(60), "{fault}: {took:?}");
    assert_eq!(v.code, 1, "{fault}: {}", v.stdout);
    let keys = &v.json["keys"];
    let created = keys["created"].as_u64().unwrap() as usize;
    let left = keys["left"].as_array().unwrap().len();
    let unsettled = keys["unconfirmed_creates"].as_array().unwrap().len();
    // A Create the run could not settle may or may not have made a key: the server's
    // counts lie between what the run knows and that plus the unsettled ones.
    let (made, alive) = (made.load(Ordering::SeqCst), alive.load(Ordering::SeqCst));
    assert!(
        (left..=left + unsettled).contains(&alive),
        "{fault}: the run says {left} key(s) and {unsettled} unsettled Create(s) are left, the server holds {alive}\n{}",
        v.stdout
    );
    assert!(
        (created..=created + unsettled).contains(&made),
        "{fault}: the run created {created} and has {unsettled} unsettled Create(s), the server made {made}\n{}",
        v.stdout
    );
    let closing = v.stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        closing.contains(&format!("left {}", left + unsettled)),
        "{fault}: {closing}"
    );
    if left + unsettled > 0 {
        // The run says what it may have left, with the marker that finds it.
        assert!(
            v.stdout.contains("not confirmed deleted") || v.stdout.contains("never found"),
            "{fault}: {}",
            v.stdout
        );
        assert!(
            v.stdout.contains("carries the marker `akc "),
            "{}",
            v.stdout
        );
        assert!(v.stdout.contains("cleanup --ledger"), "{}", v.stdout);
    }
}

#[test]
fn update_operations_that_never_finish() {
    bounded(Fault::NeverCompletes);
}

#[test]
fn delete_operations_that_never_finish() {
    bounded(Fault::DeletesNeverFinish);
}

#[test]
fn operations_done_with_neither_result_nor_change() {
    bounded(Fault::OperationsDoneWithoutEffect);
}

#[test]
fn updates_never_committed() {
    bounded(Fault::UpdateNeverCommitted);
}

#[test]
fn errors_sent_with_http_200() {
    bounded(Fault::ErrorsWithHttp200);
}

#[test]
fn answers_compressed_although_nobody_asked() {
    bounded(Fault::UnaskedGzip);
}
