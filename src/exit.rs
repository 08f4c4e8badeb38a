//! Exit codes, in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | passed: every selected trial passed (expected failures allowed) |
//! | 1 | the target broke the contract (a trial failed), or an expected failure passed (stale entry) |
//! | 2 | usage or configuration error (bad flag, URL, schema or cases directory, expected-failures file, missing token) |
//! | 3 | harness error: the harness could not test (unreachable target, setup failures, nothing selected, a must rule unexercised, keys left behind) |
//! | 130 | interrupted (Ctrl-C or SIGTERM): started trials finished and cleaned up, the rest were skipped |
//!
//! `replay` exits as `run` does, over the replayed trials. `diff` exits 1 when the two targets
//! behave differently or either fails a must-level trial, 3 when either could not be tested
//! (and nothing differs), 0 when they behave the same (`report::diff::DiffReport::build`).
//!
//! Contract failures take precedence over harness errors: a run with both exits 1 and reports
//! the harness errors beside the failures. An interruption takes precedence over both. The
//! verdict of a run maps to its code in `report::Verdict::exit_code`.

use std::process::ExitCode;

pub const PASSED: u8 = 0;
pub const CONTRACT_FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const HARNESS_ERROR: u8 = 3;
pub const INTERRUPTED: u8 = 130;

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
