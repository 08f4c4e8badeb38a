//! The harness against real servers over loopback: the reference server (clean and with each
//! fault), hostile servers, and bad command lines. Each test runs the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use accesskey_conformance::contract::routes::ROUTES;
use accesskey_conformance::reference::{Fault, Masks, Mode, Options, Paging, Style};
use accesskey_conformance::suite::routes::CHECKERS;
use common::{TOKEN, run_against, run_with, start_reference, start_with};

fn clean_run(mode: Mode, style: Style, masks: Masks) {
    let url = start_reference(mode, style, masks, vec![]);
    let v = run_against(&url, &[]);
    assert_eq!(v.code, 0, "{v:#?}");
    assert!(v.failed.is_empty() && v.errored.is_empty(), "{v:#?}");
    assert!(v.passed >= 30, "{v:#?}");
    assert!(v.stdout.contains("left 0"), "{}", v.stdout);
    every_cell_ran(&v);
}

/// Every cell of the route matrix (checker x covered route) ran: the cells are listed from
/// the checker table, so a checker or a route added later is asked for too.
fn every_cell_ran(v: &common::Verdict) {
    let ran = v.cells("ran");
    for checker in CHECKERS {
        for route in checker.routes() {
            assert!(
                ran.contains(&(checker.trial.to_string(), route.name.to_string())),
                "cell {} x {} did not run: {:#?}",
                checker.trial,
                route.name,
                v.json["matrix"]
            );
        }
    }
    let covered: usize = CHECKERS.iter().map(|c| c.routes().len()).sum();
    assert_eq!(ran.len(), covered, "{:#?}", v.json["matrix"]);
    assert!(ROUTES.len() >= 7);
}

/// The embedded server (no URL) has a second account: the default run covers every cell.
#[test]
fn default_run_covers_every_cell_of_the_matrix() {
    let dir = std::env::temp_dir().join(format!("akc-matrix-{}", common::uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("report.json");
    let out = common::harness(&["run", "-q", "--json", json.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = common::Verdict {
        code: 0,
        failed: Default::default(),
        errored: Vec::new(),
        passed: 0,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::new(),
        junit: String::new(),
        json: serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap(),
    };
    every_cell_ran(&v);
    assert!(v.stdout.contains("route matrix"), "{}", v.stdout);
    std::fs::remove_dir_all(&dir).ok();
}

/// Without a second account the checkers that need one are reported as not run, with the
/// reason, and the run still passes (it tested everything it could).
#[test]
fn without_a_second_account_its_checkers_are_not_run_with_the_reason() {
    let url = start_reference(Mode::Sync, Style::Live, Masks::Strict, vec![]);
    let v = run_with(&url, &[]);
    assert_eq!(v.code, 0, "{v:#?}");
    let not_run = v.cells("not-run");
    for route in ROUTES {
        assert!(
            not_run.contains(&(
                "routes::a2_other_accounts_token_refused".to_string(),
                route.name.to_string()
            )),
            "{route:?}"
        );
    }
    assert!(not_run.contains(&(
        "routes::a3_other_accounts_keys_never_listed".to_string(),
        "List".to_string()
    )));
    assert!(v.stdout.contains("not run:"), "{}", v.stdout);
    assert!(v.stdout.contains("--alt-token"), "{}", v.stdout);
    let a2 = v.json["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "routes::a2_other_accounts_token_refused")
        .unwrap();
    assert_eq!(a2["status"], "skipped");
    assert_eq!(a2["unavailable"], true);
    assert!(v.junit.contains("--alt-service-account-id"), "{}", v.junit);
}

/// Honest variants of the surface the matrix walks: ragged paging, many keys of other
/// accounts (and of the second account) before the run, operations finished late.
#[test]
fn matrix_raises_no_false_alarm_on_honest_variants() {
    let mut options = Options::new(TOKEN);
    options.paging = Paging::Ragged;
    options.existing_keys = vec![
        (
            accesskey_conformance::reference::NEIGHBOUR_ACCOUNT.to_string(),
            7,
        ),
        (common::ALT_ACCOUNT.to_string(), 3),
        (common::ACCOUNT.to_uppercase(), 2),
    ];
    let v = run_against(&start_with(options), &[]);
    assert_eq!(v.code, 0, "{v:#?}");
    every_cell_ran(&v);
    let mut options = Options::new(TOKEN);
    options.mode = Mode::Async;
    options.finish_after = Some(std::time::Duration::from_millis(30));
    options.style = Style::Varied;
    let v = run_against(&start_with(options), &[]);
    assert_eq!(v.code, 0, "{v:#?}");
    every_cell_ran(&v);
}

#[test]
fn clean_server_passes_sync_live() {
    clean_run(Mode::Sync, Style::Live, Masks::Strict);
}

#[test]
fn clean_server_passes_async_live_lenient() {
    clean_run(Mode::Async, Style::Live, Masks::Lenient);
}

#[test]
fn clean_server_passes_sync_sample() {
    clean_run(Mode::Sync, Style::Sample, Masks::Strict);
}

#[test]
fn clean_server_passes_sync_proto3_lenient() {
    clean_run(Mode::Sync, Style::Proto3, Masks::Lenient);
}

#[test]
fn clean_server_passes_async_sample_lenient() {
    clean_run(Mode::Async, Style::Sample, Masks::Lenient);
}

#[test]
fn clean_server_passes_async_proto3() {
    clean_run(Mode::Async, Style::Proto3, Masks::Strict);
}

/// Offsets other than UTC, 0 to 9 fractional digits, pretty-printed bodies, a charset in
/// capitals: valid proto3 JSON, so no false alarm.
#[test]
fn clean_server_passes_sync_varied() {
    clean_run(Mode::Sync, Style::Varied, Masks::Strict);
}

#[test]
fn clean_server_passes_async_varied_lenient() {
    clean_run(Mode::Async, Style::Varied, Masks::Lenient);
}

/// The rules that compare instants still catch their faults when the instants are spelled at
/// different offsets and with different digits (a comparison of the texts would not).
#[test]
fn instant_rules_catch_their_faults_in_varied_spellings() {
    for fault in [Fault::ModifiedBeforeCreated, Fault::ShiftedInstants] {
        let url = start_reference(Mode::Sync, Style::Varied, Masks::Strict, vec![fault]);
        let v = run_against(&url, &[]);
        assert_eq!(v.code, 1, "{fault}: {v:#?}");
        let required: BTreeSet<String> = fault.rules().iter().map(|r| r.to_string()).collect();
        let allowed: BTreeSet<String> = required
            .iter()
            .cloned()
            .chain(fault.may_also().iter().map(|r| r.to_string()))
            .collect();
        let reported = v.rules();
        assert!(
            required.is_subset(&reported) && reported.is_subset(&allowed),
            "{fault}: {:#?}",
            v.failed
        );
    }
}

/// Runs the harness against a server with one fault; exactly the fault's rules must be
/// reported (and perhaps those it may also break), and at least the named trials must fail.
/// A checker of the route matrix must fail on at least two routes where it covers two.
/// Faults that break a target's runs as a whole rather than one rule (operations that never
/// finish or never act, answers nobody can read): `tests/bounded.rs` shows that runs against
/// them end in bounded time and say truthfully what they left.
const BOUNDED_RUN_FAULTS: &[Fault] = &[
    Fault::DeletesNeverFinish,
    Fault::OperationsDoneWithoutEffect,
    Fault::UpdateNeverCommitted,
    Fault::UnaskedGzip,
];

/// Faults a checker of the matrix catches on at least two routes (the tests assert it).
const ON_TWO_ROUTES: &[Fault] = &[
    Fault::SkipsAuth,
    Fault::AuthOnlyOnMutations,
    Fault::TokenPrefixMatch,
    Fault::OwnershipCheckedOnKeysOnly,
    Fault::SoftDeleteSeenOnlyByGet,
    Fault::ListsShowFirstWrite,
    Fault::IdempotencyIgnored,
    Fault::IdsMatchedCaseInsensitively,
    Fault::LongIdCrashes,
];

fn fault_is_caught(fault: Fault, must_fail: &[&str]) {
    let (mode, style, extra): (Mode, Style, &[&str]) = match fault {
        Fault::ResponseWhilePending => (Mode::Async, Style::Sample, &[]),
        Fault::NeverCompletes => (Mode::Async, Style::Sample, &["--operation-timeout", "0.3"]),
        Fault::MetadataWrongType => (Mode::Sync, Style::Proto3, &[]),
        _ => (Mode::Sync, Style::Sample, &[]),
    };
    let url = start_reference(mode, style, Masks::Strict, vec![fault]);
    let v = run_against(&url, extra);
    assert_eq!(v.code, 1, "{fault}: {v:#?}");
    let required: BTreeSet<String> = fault.rules().iter().map(|r| r.to_string()).collect();
    let allowed: BTreeSet<String> = required
        .iter()
        .cloned()
        .chain(fault.may_also().iter().map(|r| r.to_string()))
        .collect();
    let reported = v.rules();
    assert!(
        required.is_subset(&reported) && reported.is_subset(&allowed),
        "{fault}: reported {reported:?}, expected {required:?} (perhaps also {:?}): {:#?}",
        fault.may_also(),
        v.failed
    );
    for name in must_fail {
        assert!(
            v.failed.contains_key(*name),
            "{fault}: {name} did not fail: {:#?}",
            v.failed
        );
        if let Some(checker) = CHECKERS
            .iter()
            .find(|c| c.trial == *name)
            .filter(|_| ON_TWO_ROUTES.contains(&fault))
        {
            let failed = v
                .cells("failed")
                .into_iter()
                .filter(|(trial, _)| trial == name)
                .count();
            let wanted = checker.routes().len().min(2);
            assert!(
                failed >= wanted,
                "{fault}: {name} failed on {failed} route(s), wanted {wanted}: {:#?}",
                v.json["matrix"]
            );
        }
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
            !output.contains(common::ALT_TOKEN),
            "{fault}: second token in output"
        );
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
                assert!(
                    tested.contains(&fault) || BOUNDED_RUN_FAULTS.contains(&fault),
                    "no test for fault {fault}"
                );
            }
        }

        /// Every checker of the matrix that can fail is shown to: some fault's test names
        /// its trial, and (for a checker covering several routes) a fault it catches on two.
        #[test]
        fn every_checker_has_a_fault() {
            let named: Vec<(Fault, &[&str])> = vec![$((Fault::$fault, &[$($trial),*])),*];
            for checker in CHECKERS.iter().filter(|c| c.level != accesskey_conformance::contract::Level::Info) {
                let faults: Vec<Fault> = named
                    .iter()
                    .filter(|(_, trials)| trials.contains(&checker.trial))
                    .map(|(f, _)| *f)
                    .collect();
                assert!(!faults.is_empty(), "no fault for {}", checker.trial);
                if checker.routes().len() > 1 {
                    assert!(
                        faults.iter().any(|f| ON_TWO_ROUTES.contains(f)),
                        "no fault caught on two routes by {}",
                        checker.trial
                    );
                }
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
    t5_shifted_instants: ShiftedInstants => ["timestamps::t5_instants_tell_the_true_time", "cases::mask_with_value_applied"];
    t6_lowercase_designators: LowercaseDesignators => ["timestamps::t6_upper_case_designators"];
    o1_both_error_and_response: BothErrorAndResponse => ["operation::o1_never_both_error_and_response", "cases::mask_with_value_applied"];
    o2_done_without_result: DoneWithoutResult => ["operation::o2_done_carries_a_result"];
    o3_response_while_pending: ResponseWhilePending => ["operation::o3_pending_carries_no_response"];
    o4_metadata_wrong_key: MetadataWrongKey => ["operation::o4_metadata_names_the_key"];
    o4_metadata_wrong_type: MetadataWrongType => ["operation::o4_type_urls_name_the_messages"];
    o5_stale_update_response: StaleUpdateResponse => ["operation::o5_response_equals_later_get"];
    o5_stale_list: StaleList => ["operation::o5_list_sees_the_write"];
    o6_operation_not_readable: OperationNotReadable => ["operation::o6_readable_by_id_even_after_delete"];
    o6_forgets_operations_of_deleted_keys: ForgetsOperationsOfDeletedKeys => ["operation::o6_readable_by_id_even_after_delete"];
    o6_operation_read_back_stale: OperationReadBackStale => ["operation::o6_read_back_is_the_same_operation"];
    o7_never_completes: NeverCompletes => ["operation::o7_unfinished_operations_finish"];
    o8_long_operation_description: LongOperationDescription => ["operation::o8_id_present_description_short"];
    o9_done_not_boolean: DoneNotBoolean => ["operation::o9_envelope_is_readable", "cases::mask_with_value_applied"];
    u1_trims_description: TrimsDescription => ["cases::surrounding_whitespace_kept_applied", "properties::u1_u6_update_sequences_match_the_model"];
    u1_replaces_non_ascii: ReplacesNonAscii => ["cases::unicode_kept_code_point_for_code_point_applied", "properties::u1_u6_update_sequences_match_the_model"];
    u2_ignores_reset: IgnoresReset => ["cases::mask_without_value_resets_applied", "cases::mask_with_null_value_resets_applied", "properties::u1_u6_update_sequences_match_the_model"];
    u3_no_mask_merges: NoMaskMerges => ["cases::no_mask_empty_body_resets_applied", "properties::u1_u6_update_sequences_match_the_model"];
    u3_no_mask_is_no_op: NoMaskIsNoOp => ["cases::no_mask_sets_value_applied", "properties::u1_u6_update_sequences_match_the_model"];
    u4_update_changes_key_id: UpdateChangesKeyId => ["cases::identity_fields_kept_applied"];
    u4_mass_assignment: MassAssignment => ["cases::identity_members_beside_mask_either", "cases::identity_members_without_mask_either", "properties::u8_open_masks_get_a_documented_reading"];
    u4_body_access_key_id_wins: BodyAccessKeyIdWins => ["cases::access_key_id_of_another_key_either"];
    u4_update_forgets_last_used: UpdateForgetsLastUsed => ["properties::u1_u6_update_sequences_match_the_model"];
    u5_counts_bytes: CountsBytes => ["cases::cyrillic_256_characters_applied"];
    u5_counts_graphemes: CountsGraphemes => ["cases::combining_257_code_points_rejected"];
    u6_applies_before_rejecting: AppliesBeforeRejecting => ["cases::wrongly_typed_mask_changes_nothing_rejected", "properties::u7_masks_with_unknown_paths_rejected"];
    u7_ignores_unknown_paths: IgnoresUnknownPaths => ["cases::unknown_mask_path_rejected", "properties::u7_masks_with_unknown_paths_rejected"];
    u9_update_creates_missing_key: UpdateCreatesMissingKey => ["cases::unknown_key_rejected"];
    u10_coerces_types: CoercesTypes => ["cases::description_is_a_number_rejected", "cases::body_is_an_array_rejected"];
    e1_wrong_http_status: WrongHttpStatus => ["errors::e1_status_body_matches_http_status"];
    e2_skips_auth: SkipsAuth => ["routes::e2_no_or_unknown_token_refused", "routes::a1_near_miss_credentials_refused"];
    e3_list_internal_error: ListInternalError => ["errors::e3_no_server_errors"];
    e4_content_type_text_plain: ContentTypeTextPlain => ["errors::e4_json_labelled_and_utf8", "cases::mask_with_value_applied"];
    e4_latin1_messages: Latin1Messages => ["errors::e4_json_labelled_and_utf8", "cases::unknown_key_rejected"];
    l1_list_paging_skips: ListPagingSkips => ["list::l1_walks_show_each_key_once"];
    l1_page_tokens_refused: PageTokensRefused => ["list::l1_walks_show_each_key_once"];
    l2_list_ignores_account: ListIgnoresAccount => ["list::l2_only_the_account_asked_for", "list::l1_walks_show_each_key_once"];
    l3_list_ignores_page_size: ListIgnoresPageSize => ["list::l3_pages_within_page_size"];
    x1_secret_in_get: SecretInGet => ["security::x1_no_secret_no_undocumented_field"];
    x1_typed_plain_keys: TypedPlainKeys => ["security::x1_no_secret_no_undocumented_field"];
    a1_auth_only_on_mutations: AuthOnlyOnMutations => ["routes::e2_no_or_unknown_token_refused", "routes::a1_near_miss_credentials_refused"];
    a1_token_prefix_match: TokenPrefixMatch => ["routes::a1_near_miss_credentials_refused"];
    a2_ownership_checked_on_keys_only: OwnershipCheckedOnKeysOnly => ["routes::a2_other_accounts_token_refused"];
    a3_list_filter_lost_on_next_page: ListFilterLostOnNextPage => ["routes::a3_other_accounts_keys_never_listed"];
    a3_account_filter_uses_like: AccountFilterUsesLike => ["routes::a3_near_miss_account_ids_list_nothing"];
    g1_soft_delete_seen_only_by_get: SoftDeleteSeenOnlyByGet => ["routes::g1_deleted_key_gone_on_every_path", "cases::deleted_key_rejected"];
    g1_get_cache_kept_after_delete: GetCacheKeptAfterDelete => ["routes::g1_deleted_key_gone_on_every_path"];
    g2_lists_show_first_write: ListsShowFirstWrite => ["routes::g2_every_read_path_sees_the_update", "operation::o5_list_sees_the_write"];
    i1_idempotency_ignored: IdempotencyIgnored => ["routes::i1_repeated_mutation_acts_once"];
    i1_idempotency_only_with_id: IdempotencyOnlyWithId => ["routes::i1_repeated_mutation_acts_once"];
    i1_idempotency_by_body_hash: IdempotencyByBodyHash => ["routes::i1_repeated_mutation_acts_once"];
    p1_ids_matched_case_insensitively: IdsMatchedCaseInsensitively => ["routes::p1_ids_matched_exactly"];
    e3_bad_page_token_crashes: BadPageTokenCrashes => ["routes::e3_malformed_inputs_get_no_server_error"];
    e3_long_id_crashes: LongIdCrashes => ["routes::e3_malformed_inputs_get_no_server_error"];
    u4_masked_identity_paths_applied: MaskedIdentityPathsApplied => ["cases::service_account_path_with_value_either"];
    e1_errors_with_http_200: ErrorsWithHttp200 => ["errors::e1_status_body_matches_http_status", "cases::unknown_key_rejected"];
}
