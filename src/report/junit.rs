//! JUnit XML from a [`RunReport`]: one testsuite per area, one testcase per trial. Contract
//! failures and stale expectations are `<failure>`, harness errors `<error>`, skipped trials
//! and expected failures `<skipped>` with the reason. The run's facts are testsuite
//! properties, so the file alone says what was tested, how, and with which data. Only the
//! elements of the common JUnit schema are used (testcase properties are not), so Jenkins,
//! GitLab and the GitHub report actions all read it.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunReport, TrialReport};
use crate::runner::Status;

/// Builds the JUnit document.
pub fn build(report: &RunReport) -> Report {
    let started = chrono::DateTime::parse_from_rfc3339(&report.started).ok();
    let mut junit = Report::new("accesskey-conformance");
    if let Some(t) = started {
        junit.set_timestamp(t);
    }
    junit.set_time(std::time::Duration::from_secs_f64(report.duration_seconds));
    for area in report.by_area.keys() {
        let mut suite = TestSuite::new(area.as_str());
        if let Some(t) = started {
            suite.set_timestamp(t);
        }
        for (name, value) in [
            ("target", report.target.clone()),
            ("operation-url", report.operation_url.clone()),
            ("harness-version", report.version.to_string()),
            ("seed", report.seed.to_string()),
            ("digest", report.digest.clone()),
            ("started", report.started.clone()),
            ("level", report.level.as_str().to_string()),
            ("verdict", report.verdict.as_str().to_string()),
            ("keys-created", report.keys.created.to_string()),
            ("keys-deleted", report.keys.deleted.to_string()),
            ("keys-left", report.keys.unconfirmed().to_string()),
        ] {
            suite.add_property(Property::new(name, value));
        }
        for problem in &report.problems {
            suite.add_property(Property::new("harness-error", problem.as_str()));
        }
        if let Some(partial) = &report.partial {
            suite.add_property(Property::new("partial", partial.as_str()));
        }
        if !report.problems.is_empty() {
            suite.set_system_err(
                report
                    .problems
                    .iter()
                    .map(|p| format!("harness error: {p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        for t in report.trials.iter().filter(|t| &t.area == area) {
            suite.add_test_case(test_case(t));
        }
        junit.add_test_suite(suite);
    }
    junit
}

fn first_violation(t: &TrialReport) -> Option<String> {
    t.violations
        .first()
        .map(|v| format!("{} {}: {}", v.rule, v.rule_title, v.title))
}

fn test_case(t: &TrialReport) -> TestCase {
    let status = match t.status {
        Status::Passed => TestCaseStatus::success(),
        Status::Failed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            if let Some(first) = first_violation(t) {
                s.set_message(first);
            }
            if let Some(rule) = t.violations.first().map(|v| v.rule) {
                s.set_type(rule);
            }
            s.set_description(t.message.clone().unwrap_or_default());
            s
        }
        Status::Stale => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(
                "stale expected failure: the trial passed; remove it from the expected-failures file",
            );
            s.set_type("stale-expectation");
            s
        }
        Status::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(t.message.clone().unwrap_or_default());
            s.set_type("harness-error");
            s
        }
        Status::ExpectedFailure => {
            let mut s = TestCaseStatus::skipped();
            let expected = t.expected_failure.as_ref();
            let mut message = format!(
                "expected failure: {}",
                expected.map_or("", |e| e.reason.as_str())
            );
            if let Some(issue) = expected.and_then(|e| e.issue.as_deref()) {
                message.push_str(&format!(" ({issue})"));
            }
            s.set_message(message);
            s.set_description(t.message.clone().unwrap_or_default());
            s
        }
        Status::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(t.skip_reason.clone().unwrap_or_default());
            s
        }
    };
    let mut case = TestCase::new(t.name.as_str(), status);
    case.set_classname(format!("accesskey-conformance.{}", t.area));
    case.set_time(std::time::Duration::from_secs_f64(t.duration_seconds));
    // Testcase-level <properties> are outside the schema strict consumers validate against,
    // so the rule, level and request count go to the first line of <system-out>.
    let mut out = format!(
        "rule {}, level {}, {} request(s)",
        t.rule,
        t.level.as_str(),
        t.requests
    );
    for o in &t.observations {
        out.push_str(&format!("\nobserved: {o}"));
    }
    case.set_system_out(out);
    case
}
