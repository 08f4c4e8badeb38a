//! Exit codes, in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every selected trial passed |
//! | 1 | the target broke the contract (at least one trial failed) |
//! | 2 | usage or configuration error (bad flag, URL, schema directory, missing token) |
//! | 3 | harness error: the harness could not test (unreachable target, setup failures, keys left behind) |
//!
//! Contract failures take precedence over harness errors: a run with both exits 1 and reports
//! the harness errors beside the failures.

use std::process::ExitCode;

pub const PASSED: u8 = 0;
pub const CONTRACT_FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const HARNESS_ERROR: u8 = 3;

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
