//! The tour: one key driven through every method once (create, get, list, update, read the
//! operation back, list operations, provoke three errors, delete). It runs once per run, on
//! first use, and each per-response rule's trial reports the tour's findings for its rule.

use serde_json::Value;

use super::spec;
use crate::checks::operation::{Method, types_name_the_messages};
use crate::checks::response::Expect;
use crate::checks::timestamps::{designators_are_upper_case, timestamps_are_ordered};
use crate::checks::{Violation, operation};
use crate::contract::{DocKind, Level};
use crate::runner::{Ctx, HarnessError, Spec};
use crate::target::Auth;

/// What the tour found, by level: the universal checks' findings, and those of the checks
/// only the tour runs (T4, T6, O4 type URLs, O6 read-backs).
#[derive(Debug, Clone, Default)]
pub struct Tour {
    pub must: Vec<Violation>,
    pub should: Vec<Violation>,
    /// Why the tour could not finish, if it could not.
    pub error: Option<HarnessError>,
    /// Requests the tour sent (every tour trial judged all of them).
    pub requests: usize,
}

/// The rules whose trials are views of the tour.
const TOUR_MUST_RULES: [&str; 17] = [
    "S1", "T1", "T2", "T3", "T5", "O1", "O2", "O3", "O4", "O6", "O8", "O9", "E1", "E3", "E4", "L2",
    "X1",
];

async fn walk(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let key = ctx.fresh_key("conformance tour").await?;
    let id = key["id"].as_str().unwrap_or_default().to_string();
    ctx.read_existing(&id).await?;
    ctx.call(
        run.api.list(&run.service_account_id, None),
        Expect::listing(&run.service_account_id),
    )
    .await?;
    let body = serde_json::json!({"updateMask": "description", "description": "conformance tour, updated"});
    let update_expect = Expect::new(DocKind::UpdateOperation).for_key(&id);
    let first = ctx
        .call(
            run.api.update(&id, Some(body.to_string()), Auth::Token),
            update_expect.clone(),
        )
        .await?;
    let done = ctx.finish_operation(&first, update_expect.clone()).await?;
    let mut finished = Vec::new();
    if let Some(done) = done {
        read_back(ctx, &done, &update_expect).await?;
        finished.push((done, update_expect.clone()));
    }
    ctx.call(
        run.api.list_operations(&id),
        Expect::new(DocKind::OperationList).for_key(&id),
    )
    .await?;
    let unknown = format!("{id}0unknown");
    ctx.call(
        run.api.get(&unknown, Auth::Token),
        Expect::new(DocKind::AccessKey),
    )
    .await?;
    let too_long = serde_json::json!({"updateMask": "description", "description": "x".repeat(257)});
    let rejected = ctx
        .call(
            run.api.update(&id, Some(too_long.to_string()), Auth::Token),
            update_expect.clone(),
        )
        .await?;
    ctx.finish_operation(&rejected, update_expect).await?;
    ctx.call(
        run.api.get(&id, Auth::Missing),
        Expect::new(DocKind::AccessKey),
    )
    .await?;
    if run.shared_key.is_some() {
        // A borrowed key (--access-key-id) is never deleted: the tour ends here.
        return Ok(());
    }
    let delete_expect = Expect::new(DocKind::DeleteOperation).for_key(&id);
    let deleting = ctx.call(run.api.delete(&id), delete_expect.clone()).await?;
    if let Some(done) = ctx
        .finish_operation(&deleting, delete_expect.clone())
        .await?
    {
        finished.push((done, delete_expect));
    }
    if ctx.read_key(&id).await?.is_none() {
        ctx.run.ledger_deleted(&id);
        // Operations outlive their key: both read back as they finished.
        for (done, expect) in &finished {
            read_back(ctx, done, expect).await?;
        }
    }
    Ok(())
}

/// Reads a finished operation back at /operations/{id}: it must be readable (O6, should) and
/// the same operation (O6, must).
async fn read_back(ctx: &mut Ctx, done: &Value, expect: &Expect) -> Result<(), HarnessError> {
    let Some(op_id) = done.get("id").and_then(Value::as_str) else {
        return Ok(());
    };
    let run = ctx.run.clone();
    let read = ctx
        .call(run.api.get_operation(op_id), expect.clone())
        .await?;
    match &read.json {
        Ok(json) if read.is_success() => {
            ctx.record(
                operation::read_back_is_the_same(done, json)
                    .into_iter()
                    .map(|v| v.seen_in(&read)),
            );
        }
        _ => ctx.record([Violation::new(
            "O6",
            format!(
                "a finished operation could not be read back: HTTP {}",
                read.status
            ),
        )
        .should()
        .received(read.snippet())
        .expected("the operation at /operations/{id}, also after its key was deleted")
        .seen_in(&read)]),
    }
    Ok(())
}

/// Runs the tour with its own context and sorts its findings.
async fn take_tour(run: std::sync::Arc<crate::runner::Run>) -> Tour {
    let mut ctx = Ctx::new(run);
    let walked = walk(&mut ctx).await;
    let cleaned = ctx.clean_up().await;
    let mut tour = Tour {
        error: walked.and(cleaned).err(),
        requests: ctx.requests,
        ..Tour::default()
    };
    for v in std::mem::take(&mut ctx.violations) {
        if v.level == Level::Must {
            tour.must.push(v);
        } else {
            tour.should.push(v);
        }
    }
    // Which method each operation id came from, so that polls are judged by the right names.
    let mut methods = std::collections::BTreeMap::new();
    for exchange in &ctx.exchanges {
        let method = match exchange.method.as_str() {
            "PATCH" => Method::Update,
            "DELETE" => Method::Delete,
            _ => continue,
        };
        if let Some(id) = exchange
            .json
            .as_ref()
            .ok()
            .and_then(|j| j.get("id"))
            .and_then(Value::as_str)
        {
            methods.insert(id.to_string(), method);
        }
    }
    for exchange in &ctx.exchanges {
        let Ok(json) = &exchange.json else { continue };
        if !exchange.is_success() {
            continue;
        }
        tour.should.extend(
            timestamps_are_ordered(json)
                .into_iter()
                .chain(designators_are_upper_case(json))
                .map(|v| v.seen_in(exchange)),
        );
        let op_id = json.get("id").and_then(Value::as_str).unwrap_or_default();
        let is_operation = exchange.method != "GET" || exchange.url.contains("/operations/");
        if let (true, Some(method)) = (is_operation, methods.get(op_id)) {
            tour.should.extend(
                types_name_the_messages(json, *method)
                    .into_iter()
                    .map(|v| v.seen_in(exchange)),
            );
        }
    }
    tour
}

/// The tour's findings for one rule at one level; takes the tour first if no trial has yet.
async fn report(ctx: &mut Ctx, rule: &'static str, level: Level) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let tour = run.tour.get_or_init(|| take_tour(run.clone())).await;
    let pool = if level == Level::Must {
        &tour.must
    } else {
        &tour.should
    };
    ctx.record(pool.iter().filter(|v| v.rule == rule).cloned());
    ctx.requests += tour.requests;
    if rule == "S1" {
        // Findings of rules that have no tour trial are not lost: S1's trial carries them.
        ctx.record(
            tour.must
                .iter()
                .filter(|v| !TOUR_MUST_RULES.contains(&v.rule))
                .cloned(),
        );
    }
    match &tour.error {
        Some(HarnessError::NotApplicable(why)) => Err(HarnessError::NotApplicable(why.clone())),
        Some(e) => Err(HarnessError::Setup(format!("the tour stopped early: {e}"))),
        None => Ok(()),
    }
}

macro_rules! tour_trial {
    ($fn:ident, $rule:literal, $level:expr) => {
        async fn $fn(ctx: &mut Ctx) -> Result<(), HarnessError> {
            report(ctx, $rule, $level).await
        }
    };
}

tour_trial!(s1, "S1", Level::Must);
tour_trial!(t1, "T1", Level::Must);
tour_trial!(t2, "T2", Level::Must);
tour_trial!(t3, "T3", Level::Must);
tour_trial!(t4, "T4", Level::Should);
tour_trial!(t5, "T5", Level::Must);
tour_trial!(t6, "T6", Level::Should);
tour_trial!(o1, "O1", Level::Must);
tour_trial!(o2, "O2", Level::Must);
tour_trial!(o3, "O3", Level::Must);
tour_trial!(o4, "O4", Level::Must);
tour_trial!(o4_types, "O4", Level::Should);
tour_trial!(o6, "O6", Level::Must);
tour_trial!(o6_readable, "O6", Level::Should);
tour_trial!(o8, "O8", Level::Must);
tour_trial!(o9, "O9", Level::Must);
tour_trial!(e1, "E1", Level::Must);
tour_trial!(e3, "E3", Level::Must);
tour_trial!(e4, "E4", Level::Must);
tour_trial!(l2, "L2", Level::Must);
tour_trial!(x1, "X1", Level::Must);

pub fn specs() -> Vec<Spec> {
    vec![
        spec!("responses::s1_bodies_match_the_schemas", "S1", s1),
        spec!("timestamps::t1_rfc3339_grammar", "T1", t1),
        spec!("timestamps::t2_real_calendar_instants", "T2", t2),
        spec!("timestamps::t3_within_the_protobuf_range", "T3", t3),
        spec!("timestamps::t4_later_fields_not_before_created", "T4", t4),
        spec!("timestamps::t5_instants_tell_the_true_time", "T5", t5),
        spec!("timestamps::t6_upper_case_designators", "T6", t6),
        spec!("operation::o1_never_both_error_and_response", "O1", o1),
        spec!("operation::o2_done_carries_a_result", "O2", o2),
        spec!("operation::o3_pending_carries_no_response", "O3", o3),
        spec!("operation::o4_metadata_names_the_key", "O4", o4),
        spec!(
            "operation::o4_type_urls_name_the_messages",
            "O4",
            Level::Should,
            o4_types
        ),
        spec!("operation::o6_read_back_is_the_same_operation", "O6", o6),
        spec!(
            "operation::o6_readable_by_id_even_after_delete",
            "O6",
            Level::Should,
            o6_readable
        ),
        spec!("operation::o8_id_present_description_short", "O8", o8),
        spec!("operation::o9_envelope_is_readable", "O9", o9),
        spec!("errors::e1_status_body_matches_http_status", "E1", e1),
        spec!("errors::e3_no_server_errors", "E3", e3),
        spec!("errors::e4_json_labelled_and_utf8", "E4", e4),
        spec!("list::l2_only_the_account_asked_for", "L2", l2),
        spec!("security::x1_no_secret_no_undocumented_field", "X1", x1),
    ]
}
