//! JUnit XML from the outcome log: one testsuite per area, one testcase per trial;
//! `<failure>` for contract violations, `<error>` for harness errors, `<skipped>` for skips.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::checks::Violation;
use crate::contract::rules;
use crate::runner::{Outcome, Record, failure_text};

/// Run-level facts written as testsuite properties.
pub struct RunInfo {
    pub target: String,
    pub operation_url: String,
    pub started: chrono::DateTime<chrono::FixedOffset>,
    pub elapsed: Duration,
    /// Seed of the generated sequences.
    pub seed: u64,
}

/// Builds the report; `redact` is applied to every text that comes from the target.
pub fn build(records: &[Record], info: &RunInfo, redact: &dyn Fn(&str) -> String) -> Report {
    let mut report = Report::new("accesskey-conformance");
    report.set_timestamp(info.started);
    report.set_time(info.elapsed);
    let mut areas: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        areas.entry(r.area()).or_default().push(r);
    }
    for (area, records) in areas {
        let mut suite = TestSuite::new(area);
        suite.set_timestamp(info.started);
        suite.add_property(Property::new("target", info.target.as_str()));
        suite.add_property(Property::new("operation-url", info.operation_url.as_str()));
        suite.add_property(Property::new("harness-version", env!("CARGO_PKG_VERSION")));
        suite.add_property(Property::new("seed", info.seed.to_string()));
        for r in records {
            suite.add_test_case(test_case(r, redact));
        }
        report.add_test_suite(suite);
    }
    report
}

fn first_line(v: &Violation) -> String {
    format!("{} {}: {}", v.rule, rules::get(v.rule).title, v.title)
}

fn test_case(r: &Record, redact: &dyn Fn(&str) -> String) -> TestCase {
    let status = match &r.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail(violations) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            if let Some(first) = violations.first() {
                s.set_message(redact(&first_line(first)));
                s.set_type(first.rule);
            }
            s.set_description(redact(&failure_text(&r.outcome).unwrap_or_default()));
            s
        }
        Outcome::Error(e) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(redact(e));
            s.set_type("harness-error");
            s
        }
        Outcome::Skipped(reason) => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.as_str());
            s
        }
    };
    let mut case = TestCase::new(r.name.as_str(), status);
    case.set_classname(format!("accesskey-conformance.{}", r.area()));
    case.set_time(r.duration);
    case.add_property(Property::new("rule", r.rule));
    case.add_property(Property::new("level", r.level.as_str()));
    case.add_property(Property::new("requests", r.requests.to_string()));
    if !r.observations.is_empty() {
        case.set_system_out(redact(&r.observations.join("\n")));
    }
    case
}
