//! The judge of mutation testing (`scripts/mutants`, configured by `.cargo/mutants.toml`):
//! the harness's default run against the embedded reference server, with a fixed seed. On a
//! mutant of the reference server, a run that still passes means no check observed what
//! the mutant changed. On the real server it must pass, so this is also a plain test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn the_default_run_passes_against_the_embedded_server() {
    let out = common::harness(&["run", "-q", "--seed", "1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The reference server's other behaviour: operations that finish only after being read.
/// (Its code of polling and finishing is reached only here.)
#[test]
fn the_default_run_passes_against_the_embedded_server_in_async_mode() {
    let out = common::harness(&["run", "-q", "--seed", "1", "--reference-mode", "async"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
