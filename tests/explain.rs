//! `explain RULE` and `rules`: every rule of the table is explained, with a source and what
//! tests it; an unknown id is a usage error; RULES.md is `rules --markdown` as it is now.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use accesskey_conformance::contract::RULES;

#[test]
fn every_rule_is_explained_with_its_source_and_tests() {
    for rule in RULES {
        let out = common::harness(&["explain", &rule.id.to_lowercase()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}: {text}", rule.id);
        assert!(
            text.starts_with(&format!("{} ({})", rule.id, rule.level)),
            "{text}"
        );
        assert!(
            text.contains("\nSource: "),
            "{}: no source\n{text}",
            rule.id
        );
        assert!(
            text.contains("Tested by:"),
            "{}: nothing tests it\n{text}",
            rule.id
        );
    }
}

#[test]
fn an_unknown_rule_is_a_usage_error() {
    let out = common::harness(&["explain", "Z9"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no rule `Z9`") && stderr.contains("U4"),
        "{stderr}"
    );
}

#[test]
fn the_rules_table_in_the_repository_is_current() {
    let out = common::harness(&["rules", "--markdown"]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(table.lines().count(), RULES.len() + 2);
    let kept = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/RULES.md")).unwrap();
    assert!(
        kept.contains(&table),
        "RULES.md is out of date: regenerate its table with `cargo run -- rules --markdown`"
    );
}
