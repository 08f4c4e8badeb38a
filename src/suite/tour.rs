//! The tour: one key driven through every method once (create, get, list, update, read the
//! operation back, list operations, provoke three errors, delete, read both operations back).
//! It runs once per run, on first use, and each per-response rule's trial is a view of its
//! findings (`shared`).

use serde_json::Value;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::shared::{Findings, View, views};
use crate::checks::operation::{Method, types_name_the_messages};
use crate::checks::proto3;
use crate::checks::response::Expect;
use crate::checks::timestamps::{designators_are_upper_case, timestamps_are_ordered};
use crate::checks::update::UpdateOutcome;
use crate::checks::{Violation, operation};
use crate::client::{Auth, Exchange};
use crate::contract::model::code_name;
use crate::contract::{DocKind, Level};
use crate::runner::{Ctx, HarnessError, Run, Spec};

async fn walk(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let key = ctx.fresh_key("conformance tour").await?;
    let id = key["id"].as_str().unwrap_or_default().to_string();
    ctx.read_existing(&id).await?;
    ctx.call(
        run.api.list(&run.service_account_id, None, None),
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
        finished.push((done, update_expect));
    }
    ctx.call(
        run.api.list_operations(&id),
        Expect::new(DocKind::OperationList).for_key(&id),
    )
    .await?;
    let unknown = format!("{id}0unknown");
    let missing = ctx
        .call(
            run.api.get(&unknown, Auth::Token),
            Expect::new(DocKind::AccessKey),
        )
        .await?;
    ctx.observe(format!("Get of an unknown key: {}", error_answer(&missing)));
    let too_long = serde_json::json!({"updateMask": "description", "description": "x".repeat(257)});
    let (outcome, answer) = ctx
        .update_traced(&id, Some(too_long.to_string()), Auth::Token)
        .await?;
    ctx.observe(format!(
        "an Update with a 257-character description: {}",
        rejection_form(&outcome, &answer)
    ));
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
    let gone = {
        let _changing = run.changing_keys().await;
        let deleting = ctx.call(run.api.delete(&id), delete_expect.clone()).await?;
        if let Some(done) = ctx
            .finish_operation(&deleting, delete_expect.clone())
            .await?
        {
            finished.push((done, delete_expect));
        }
        let gone = ctx.read_key(&id).await?.is_none();
        if gone {
            ctx.run.ledger_deleted(&id);
        }
        gone
    };
    if gone {
        // Operations outlive their key: both read back as they finished.
        for (done, expect) in &finished {
            read_back(ctx, done, expect).await?;
        }
    }
    Ok(())
}

/// An error answer in the model's terms: its code's name and the HTTP status.
fn error_answer(e: &Exchange) -> String {
    if e.is_success() {
        return format!("HTTP {} without an error", e.status);
    }
    match e
        .json
        .as_ref()
        .ok()
        .and_then(|j| j.get("code"))
        .and_then(Value::as_i64)
    {
        Some(code) => format!("{} (HTTP {})", code_name(code), e.status),
        None => format!("HTTP {} without a Status code", e.status),
    }
}

/// How an Update was refused: at once as an HTTP error, or by an operation that ends with
/// an error (the contract allows both).
fn rejection_form(outcome: &UpdateOutcome, answer: &Exchange) -> String {
    match outcome {
        UpdateOutcome::Rejected { code } if !answer.is_success() => format!(
            "rejected at once, {} (HTTP {})",
            code_name(*code),
            answer.status
        ),
        UpdateOutcome::Rejected { code } => {
            format!("rejected by an operation ending with {}", code_name(*code))
        }
        UpdateOutcome::Applied(_) => "applied, not refused".into(),
        UpdateOutcome::Unreadable => "an answer read neither as applied nor as refused".into(),
    }
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

/// Runs the tour with its own context and adds the findings of the tour-only checks.
async fn take_tour(run: Arc<Run>) -> Findings {
    let mut ctx = Ctx::for_trial(run, "tour");
    ctx.keep_exchanges = true;
    let walked = walk(&mut ctx).await;
    let cleaned = ctx.clean_up().await;
    let mut tour = Findings {
        error: walked.and(cleaned).err(),
        requests: ctx.requests,
        keys_created: ctx.keys_created,
        violations: std::mem::take(&mut ctx.violations),
        observations: std::mem::take(&mut ctx.observations),
    };
    tour.observations.push(strict_proto3_reading(
        &ctx.exchanges,
        ctx.run.create_answer(),
    ));
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
        tour.violations.extend(
            timestamps_are_ordered(json)
                .into_iter()
                .chain(designators_are_upper_case(json))
                .map(|v| v.seen_in(exchange)),
        );
        let op_id = json.get("id").and_then(Value::as_str).unwrap_or_default();
        let is_operation = exchange.method != "GET" || exchange.url.contains("/operations/");
        if let (true, Some(method)) = (is_operation, methods.get(op_id)) {
            tour.violations.extend(
                types_name_the_messages(json, *method)
                    .into_iter()
                    .map(|v| v.seen_in(exchange)),
            );
        }
    }
    tour
}

/// Whether the tour's answers, and a Create answer, are readable by a strict proto3 JSON
/// parser, as generated clients read them (an observation: valid servers may leave `@type`
/// out). The text names the kinds of answer refused, not how many: the tour's key may come
/// from the pool, which changes the count but not the kinds.
fn strict_proto3_reading(exchanges: &[Exchange], create: Option<&Exchange>) -> String {
    let mut refused_kinds: Vec<String> = Vec::new();
    let mut first = None;
    for e in create.into_iter().chain(exchanges) {
        let path = url::Url::parse(&e.url)
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        let Some(message) = proto3::message_for(&e.method, &path, e.status) else {
            continue;
        };
        if let Err(why) = proto3::readable(message, &e.body) {
            let kind = format!("{} {} ({})", e.method, route(&path), e.status);
            if !refused_kinds.contains(&kind) {
                refused_kinds.push(kind);
            }
            first.get_or_insert(format!("{} {path}: {why}", e.method));
        }
    }
    match first {
        None => "a strict proto3 JSON parser reads every answer of the tour and Create's".into(),
        Some(first) => format!(
            "a strict proto3 JSON parser refuses the answers of {}; the first: {first}",
            refused_kinds.join(", ")
        ),
    }
}

/// A path with the ids after `accessKeys/` and `operations/` written `{id}`.
fn route(path: &str) -> String {
    let mut out = Vec::new();
    let mut id_next = false;
    for segment in path.split('/') {
        out.push(if id_next && !segment.is_empty() {
            "{id}"
        } else {
            segment
        });
        id_next = segment == "accessKeys" || segment == "operations";
    }
    out.join("/")
}

fn tour(run: Arc<Run>) -> Pin<Box<dyn Future<Output = Findings> + Send>> {
    Box::pin(take_tour(run))
}

/// The tour's views, the first of which (S1) also reports the findings of rules that have no
/// view of their own.
pub fn specs() -> Vec<Spec> {
    let view = |name, rule, level| View { name, rule, level };
    use Level::{Must, Should};
    views(
        "tour",
        tour,
        vec![
            view("responses::s1_bodies_match_the_schemas", "S1", Must),
            view("timestamps::t1_rfc3339_grammar", "T1", Must),
            view("timestamps::t2_real_calendar_instants", "T2", Must),
            view("timestamps::t3_within_the_protobuf_range", "T3", Must),
            view(
                "timestamps::t4_later_fields_not_before_created",
                "T4",
                Should,
            ),
            view("timestamps::t5_instants_tell_the_true_time", "T5", Must),
            view("timestamps::t6_upper_case_designators", "T6", Should),
            view("operation::o1_never_both_error_and_response", "O1", Must),
            view("operation::o2_done_carries_a_result", "O2", Must),
            view("operation::o3_pending_carries_no_response", "O3", Must),
            view("operation::o4_metadata_names_the_key", "O4", Must),
            view("operation::o4_type_urls_name_the_messages", "O4", Should),
            view("operation::o6_read_back_is_the_same_operation", "O6", Must),
            view(
                "operation::o6_readable_by_id_even_after_delete",
                "O6",
                Should,
            ),
            view("operation::o8_id_present_description_short", "O8", Must),
            view("operation::o9_envelope_is_readable", "O9", Must),
            view("errors::e1_status_body_matches_http_status", "E1", Must),
            view("errors::e3_no_server_errors", "E3", Must),
            view("errors::e4_json_labelled_and_utf8", "E4", Must),
            view("list::l2_only_the_account_asked_for", "L2", Must),
            view("security::x1_no_secret_no_undocumented_field", "X1", Must),
        ],
    )
}
