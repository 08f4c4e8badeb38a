//! The harness against real servers over loopback: the reference server (clean and with each
//! fault), hostile servers, and bad command lines. Each test runs the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::OnceLock;

use accesskey_conformance::reference::{self, Fault, Mode, Options, Style};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

const TOKEN: &str = "t1.test-token-0123456789abcdef";
const ACCOUNT: &str = "ajetestaccount";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

fn start_reference(mode: Mode, style: Style, faults: Vec<Fault>) -> String {
    let mut options = Options::new(TOKEN);
    options.mode = mode;
    options.style = style;
    options.faults = faults;
    let server = runtime()
        .block_on(reference::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            options,
        ))
        .unwrap();
    server.base_url()
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accesskey-conformance"))
        .args(args)
        .env_remove("YC_TOKEN")
        .output()
        .unwrap()
}

/// What one run of the harness decided, read back from its JUnit report.
#[derive(Debug)]
struct Verdict {
    code: i32,
    /// Failed trial → the rules of its violations.
    failed: BTreeMap<String, BTreeSet<String>>,
    errored: Vec<String>,
    passed: usize,
    stdout: String,
    stderr: String,
    junit: String,
}

impl Verdict {
    fn rules(&self) -> BTreeSet<String> {
        self.failed.values().flatten().cloned().collect()
    }
}

/// Violation lines in a failure text look like `  [U2] the stored ...`.
fn rules_in(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('['))
        .filter_map(|l| l.split_once(']'))
        .map(|(rule, _)| rule.to_string())
        .collect()
}

fn run_against(url: &str, extra: &[&str]) -> Verdict {
    let junit = std::env::temp_dir().join(format!("akc-{}.xml", uuid_like()));
    let junit_arg = junit.to_str().unwrap().to_string();
    let mut args = vec![
        "run",
        "--base-url",
        url,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--junit",
        &junit_arg,
        "-q",
    ];
    args.extend_from_slice(extra);
    let out = harness(&args);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    std::fs::remove_file(&junit).ok();
    let mut verdict = Verdict {
        code: out.status.code().unwrap_or(-1),
        failed: BTreeMap::new(),
        errored: Vec::new(),
        passed: 0,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        junit: xml.clone(),
    };
    if xml.is_empty() {
        return verdict;
    }
    let report = Report::deserialize_from_str(&xml).unwrap();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            match &case.status {
                TestCaseStatus::Success { .. } => verdict.passed += 1,
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Failure,
                    description,
                    ..
                } => {
                    let text = description
                        .as_ref()
                        .map(|d| d.as_str().to_string())
                        .unwrap_or_default();
                    verdict
                        .failed
                        .insert(case.name.as_str().to_string(), rules_in(&text));
                }
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Error,
                    ..
                } => verdict.errored.push(case.name.as_str().to_string()),
                TestCaseStatus::Skipped { .. } => {}
            }
        }
    }
    verdict
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn clean_run(mode: Mode, style: Style) {
    let url = start_reference(mode, style, vec![]);
    let v = run_against(&url, &[]);
    assert_eq!(v.code, 0, "{v:#?}");
    assert!(v.failed.is_empty() && v.errored.is_empty(), "{v:#?}");
    assert!(v.passed >= 30, "{v:#?}");
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
}

#[test]
fn clean_server_passes_sync_verbose() {
    clean_run(Mode::Sync, Style::Verbose);
}

#[test]
fn clean_server_passes_sync_proto3() {
    clean_run(Mode::Sync, Style::Proto3);
}

#[test]
fn clean_server_passes_async_verbose() {
    clean_run(Mode::Async, Style::Verbose);
}

#[test]
fn clean_server_passes_async_proto3() {
    clean_run(Mode::Async, Style::Proto3);
}

/// Runs the harness against a server with one fault; exactly the fault's rule must be reported,
/// and at least the named trials must fail.
fn fault_is_caught(fault: Fault, must_fail: &[&str]) {
    let (mode, style, extra): (Mode, Style, &[&str]) = match fault {
        Fault::ResponseWhilePending => (Mode::Async, Style::Verbose, &[]),
        Fault::NeverCompletes => (Mode::Async, Style::Verbose, &["--operation-timeout", "0.3"]),
        Fault::MetadataWrongType => (Mode::Sync, Style::Proto3, &[]),
        _ => (Mode::Sync, Style::Verbose, &[]),
    };
    let url = start_reference(mode, style, vec![fault]);
    let v = run_against(&url, extra);
    assert_eq!(v.code, 1, "{fault}: {v:#?}");
    let expected: BTreeSet<String> = [fault.rule().to_string()].into();
    assert_eq!(
        v.rules(),
        expected,
        "{fault}: other rules reported: {:#?}",
        v.failed
    );
    for name in must_fail {
        assert!(
            v.failed.contains_key(*name),
            "{fault}: {name} did not fail: {:#?}",
            v.failed
        );
    }
    assert!(
        v.errored.is_empty(),
        "{fault}: harness errors {:?}\n{}",
        v.errored,
        v.stdout
    );
    assert!(
        v.stdout.contains("left 0"),
        "{fault}: keys left behind\n{}",
        v.stdout
    );
    // R4: neither the token nor any Create secret (the reference server's start with YCM)
    // reaches the console or the report, even when the target leaks a secret (X1).
    for output in [&v.stdout, &v.stderr, &v.junit] {
        assert!(!output.contains(TOKEN), "{fault}: token in output");
        assert!(
            !output.contains("\"YCM") && !output.contains(" YCM"),
            "{fault}: secret in output\n{output}"
        );
    }
}

macro_rules! fault_tests {
    ($($test:ident: $fault:ident => [$($trial:literal),* $(,)?];)*) => {
        $(
            #[test]
            fn $test() {
                fault_is_caught(Fault::$fault, &[$($trial),*]);
            }
        )*

        #[test]
        fn every_fault_has_a_test() {
            let tested = [$(Fault::$fault),*];
            for fault in Fault::ALL {
                assert!(tested.contains(&fault), "no test for fault {fault}");
            }
        }
    };
}

fault_tests! {
    s1_created_by_number: CreatedByNumber => ["responses::s1_bodies_match_the_schemas"];
    t1_space_separator: TimestampSpaceSeparator => ["timestamps::t1_rfc3339_grammar"];
    t2_invalid_date: TimestampInvalidDate => ["timestamps::t2_real_calendar_instants"];
    t3_out_of_range: TimestampOutOfRange => ["timestamps::t3_within_the_protobuf_range"];
    t4_modified_before_created: ModifiedBeforeCreated => ["timestamps::t4_later_fields_not_before_created"];
    o1_both_error_and_response: BothErrorAndResponse => ["operation::o1_never_both_error_and_response", "update::u1_masked_value_is_stored"];
    o2_done_without_result: DoneWithoutResult => ["operation::o2_done_carries_a_result"];
    o3_response_while_pending: ResponseWhilePending => ["operation::o3_pending_carries_no_response"];
    o4_metadata_wrong_key: MetadataWrongKey => ["operation::o4_metadata_names_the_key"];
    o4_metadata_wrong_type: MetadataWrongType => ["operation::o4_type_urls_name_the_messages"];
    o5_stale_update_response: StaleUpdateResponse => ["operation::o5_response_equals_later_get"];
    o5_stale_list: StaleList => ["operation::o5_list_sees_the_write"];
    o6_operation_not_readable: OperationNotReadable => ["operation::o6_readable_by_id_and_stays_done"];
    o7_never_completes: NeverCompletes => ["operation::o7_unfinished_operations_finish"];
    o8_long_operation_description: LongOperationDescription => ["operation::o8_id_present_description_short"];
    u1_trims_description: TrimsDescription => ["update::u1_value_kept_code_point_for_code_point"];
    u2_ignores_reset: IgnoresReset => ["update::u2_masked_absent_value_resets", "update::u2_masked_null_value_resets"];
    u3_no_mask_merges: NoMaskMerges => ["update::u3_no_mask_empty_body_resets"];
    u4_update_changes_key_id: UpdateChangesKeyId => ["update::u4_identity_fields_unchanged"];
    u5_counts_bytes: CountsBytes => ["update::u5_256_multibyte_characters_accepted"];
    u6_applies_before_rejecting: AppliesBeforeRejecting => ["update::u6_rejected_update_changes_nothing"];
    u7_ignores_unknown_paths: IgnoresUnknownPaths => ["update::u7_unknown_mask_path_rejected"];
    u9_update_creates_missing_key: UpdateCreatesMissingKey => ["update::u9_unknown_key_not_found"];
    u10_coerces_types: CoercesTypes => ["update::u10_wrong_json_types_rejected", "update::u10_body_not_an_object_rejected"];
    e1_wrong_http_status: WrongHttpStatus => ["errors::e1_status_body_matches_http_status"];
    e2_skips_auth: SkipsAuth => ["errors::e2_missing_token_unauthenticated", "errors::e2_invalid_token_unauthenticated"];
    e3_list_internal_error: ListInternalError => ["errors::e3_no_server_errors"];
    x1_secret_in_get: SecretInGet => ["security::x1_no_secret_no_undocumented_field"];
}
