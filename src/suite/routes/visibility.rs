//! What the read paths show after a write. G1: once a Delete's operation is done, the key is
//! gone on every path that names it (Get and Update and a second Delete refused, no page of
//! List showing it), at once and again after a pause (caches), while the operations that
//! acted on it stay readable (O6). G2: once an Update's operation is done, every read path
//! shows the key as the operation's response does.

use std::time::Duration;

use serde_json::Value;

use super::{Subject, answer_text, code_of, id_of, in_safe_order, probe};
use crate::checks::operation::{OpResult, read_back_is_the_same, result_of};
use crate::checks::response::Expect;
use crate::checks::update::response_matches_read;
use crate::checks::{Violation, show};
use crate::client::Auth;
use crate::contract::DocKind;
use crate::contract::routes::{AfterDelete, Route, Shows};
use crate::runner::{Ctx, HarnessError, ListWalk};

const NOT_FOUND: i64 = 5;
const PERMISSION_DENIED: i64 = 7;
/// The pause before the second look (G1: "still a moment later").
const PAUSE: Duration = Duration::from_millis(1100);
/// At most this many pages of 100 keys when List is searched for one key.
const LIST_PAGES: usize = 50;

/// The entry of `id` in a walk, and the page it was on.
fn listed<'a>(walk: &'a ListWalk, id: &str) -> Option<(&'a Value, &'a crate::client::Exchange)> {
    walk.pages
        .iter()
        .flat_map(|p| p.keys.iter().map(move |k| (k, &p.exchange)))
        .find(|(k, _)| k.get("id").and_then(Value::as_str) == Some(id))
}

/// G1 on every route that names the key.
pub async fn g1(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let subject = Subject::make(ctx, "routes G1").await?;
    let (gone, deleted) = ctx.delete_traced(&subject.id).await?;
    if !gone {
        return Err(HarnessError::Setup(format!(
            "the Delete of key {} did not finish, so nothing could be looked at after it",
            subject.id
        )));
    }
    // The operations that acted on the key, as they finished.
    let mut operations = Vec::new();
    if let Some(done) = &subject.finished {
        operations.push((
            subject.operation.clone(),
            DocKind::UpdateOperation,
            done.clone(),
        ));
    }
    if let Some(done) = deleted {
        let op = done
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        operations.push((op, DocKind::DeleteOperation, done));
    }
    let aim = subject.aim(ctx);
    let routes = in_safe_order(routes);
    for (round, when) in [(1, "at once"), (2, "a moment later")] {
        if round == 2 {
            ctx.sleep(PAUSE).await?;
        }
        for route in &routes {
            ctx.enter_route(route.name);
            match route.after_delete {
                AfterDelete::Refuses => {
                    let p = probe(
                        ctx,
                        route,
                        &aim,
                        &subject,
                        &subject.id,
                        Auth::Token,
                        "routes G1",
                    )
                    .await?;
                    let code = code_of(&p.exchange);
                    let refused = !p.exchange.is_success()
                        && code.map_or(matches!(p.exchange.status, 403 | 404), |c| {
                            matches!(c, NOT_FOUND | PERMISSION_DENIED)
                        });
                    let failed_operation = matches!(
                        p.finished.as_ref().and_then(result_of),
                        Some(OpResult::Error { code, .. })
                            if matches!(code, NOT_FOUND | PERMISSION_DENIED)
                    );
                    if !(refused || failed_operation) {
                        ctx.record([Violation::new(
                            "G1",
                            format!(
                                "{} of the deleted key {} was not refused ({when})",
                                route.name, subject.id
                            ),
                        )
                        .received(answer_text(&p.exchange))
                        .expected("NOT_FOUND (5) or PERMISSION_DENIED (7)")
                        .seen_in(&p.exchange)]);
                    }
                }
                AfterDelete::Unlists => {
                    let account = aim.account.clone();
                    let walk = ctx.walk_account(&account, Some(100), LIST_PAGES).await?;
                    if let Some((_, page)) = listed(&walk, &subject.id) {
                        ctx.record([Violation::new(
                            "G1",
                            format!("List still shows the deleted key {} ({when})", subject.id),
                        )
                        .expected("no page showing a key whose Delete is done")
                        .seen_in(page)]);
                    }
                }
                AfterDelete::Open => {
                    let p = probe(
                        ctx,
                        route,
                        &aim,
                        &subject,
                        &subject.id,
                        Auth::Token,
                        "routes G1",
                    )
                    .await?;
                    if round == 1 {
                        ctx.observe(format!(
                            "{} of a deleted key: {}",
                            route.name,
                            match (p.exchange.is_success(), &p.exchange.json) {
                                (true, Ok(json)) => format!(
                                    "HTTP {}, {}",
                                    p.exchange.status,
                                    if json
                                        .get("operations")
                                        .and_then(Value::as_array)
                                        .is_some_and(|o| !o.is_empty())
                                    {
                                        "listing its operations"
                                    } else {
                                        "listing none"
                                    }
                                ),
                                _ => answer_text(&p.exchange),
                            }
                        ));
                    }
                }
                AfterDelete::KeepsOperations => {
                    for (op, kind, done) in &operations {
                        let mut at = aim.clone();
                        at.operation = crate::client::segment(op);
                        let request = ctx.run.api.route_request(route, &at, Auth::Token, None);
                        let read = ctx
                            .call(request, Expect::new(*kind).for_key(&subject.id))
                            .await?;
                        match &read.json {
                            Ok(json) if read.is_success() => {
                                ctx.record(
                                    read_back_is_the_same(done, json)
                                        .into_iter()
                                        .map(|v| v.seen_in(&read)),
                                );
                            }
                            _ => ctx.record([Violation::new(
                                "O6",
                                format!(
                                    "operation {op} of the deleted key cannot be read back ({when})"
                                ),
                            )
                            .should()
                            .received(answer_text(&read))
                            .expected("the operation, also after its key was deleted")
                            .seen_in(&read)]),
                        }
                    }
                }
                AfterDelete::Unaimed => {}
            }
            ctx.leave_route();
        }
    }
    // A target that brought the key back (an Update that makes what it cannot find, a
    // cache): it is the run's to delete again.
    if ctx.read_key(&subject.id).await?.is_some() {
        ctx.run.ledger_undeleted(&subject.id);
    }
    Ok(())
}

/// The violations of `got` (the key as `route` shows it) against the update's response,
/// charged to G2.
fn same_as_response(route: &str, id: &str, response: &Value, got: &Value) -> Vec<Violation> {
    response_matches_read(id, response, got)
        .into_iter()
        .filter(|v| v.pointer.as_deref() != Some("/response/id"))
        .map(|mut v| {
            v.title = format!(
                "{route} shows the key otherwise than the update's response: {}",
                v.title
            );
            v.charged_to("G2")
        })
        .collect()
}

/// G2 on every read path.
pub async fn g2(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let key = ctx.fresh_key("routes G2").await?;
    let id = id_of(&key);
    let wanted = format!("routes G2, updated ({})", run.next_marker());
    let body = serde_json::json!({"updateMask": "description", "description": wanted});
    let expect = Expect::new(DocKind::UpdateOperation).for_key(&id);
    let first = ctx
        .call(
            run.api.update(&id, Some(body.to_string()), Auth::Token),
            expect.clone(),
        )
        .await?;
    let Some(done) = ctx.finish_operation(&first, expect).await? else {
        // Refused or never finished: the update rules report it; nothing to compare.
        return Ok(());
    };
    let Some(OpResult::Response(response)) = result_of(&done) else {
        return Ok(());
    };
    let op = done
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let subject = Subject {
        id: id.clone(),
        before: key,
        operation: op.clone(),
        operation_kind: DocKind::UpdateOperation,
        finished: Some(done),
    };
    let aim = subject.aim(ctx);
    for route in routes {
        ctx.enter_route(route.name);
        match route.shows {
            Shows::Key => match ctx.read_key(&id).await? {
                Some(got) => ctx.record(same_as_response(route.name, &id, &response, &got)),
                None => ctx.record([Violation::new(
                    "G2",
                    format!("Get does not find key {id} after its update"),
                )
                .expected("the key as the update's response shows it")]),
            },
            Shows::ListEntry => {
                let account = aim.account.clone();
                let walk = ctx.walk_account(&account, Some(100), LIST_PAGES).await?;
                match listed(&walk, &id) {
                    Some((got, page)) => {
                        let found = same_as_response(route.name, &id, &response, got);
                        ctx.record(found.into_iter().map(|v| v.seen_in(page)));
                    }
                    None if walk.unreadable.is_some() || !walk.ended => {}
                    None => ctx.record([Violation::new(
                        "G2",
                        format!("List does not show key {id} after its update"),
                    )
                    .expected("the key, as the update's response shows it")]),
                }
            }
            Shows::OperationResponse => {
                let p = probe(
                    ctx,
                    route,
                    &aim,
                    &subject,
                    &subject.id,
                    Auth::Token,
                    "routes G2",
                )
                .await?;
                // An unreadable operation is O6's finding; a readable one must show the key.
                if let (true, Ok(json)) = (p.exchange.is_success(), &p.exchange.json)
                    && let Some(OpResult::Response(got)) = result_of(json)
                {
                    let found = same_as_response(route.name, &id, &response, &got);
                    ctx.record(found.into_iter().map(|v| v.seen_in(&p.exchange)));
                }
            }
            Shows::OperationsEntry => {
                let p = probe(
                    ctx,
                    route,
                    &aim,
                    &subject,
                    &subject.id,
                    Auth::Token,
                    "routes G2",
                )
                .await?;
                let Ok(json) = &p.exchange.json else {
                    ctx.leave_route();
                    continue;
                };
                if !p.exchange.is_success() {
                    ctx.leave_route();
                    continue;
                }
                let entry = json
                    .get("operations")
                    .and_then(Value::as_array)
                    .and_then(|ops| {
                        ops.iter()
                            .find(|o| o.get("id").and_then(Value::as_str) == Some(op.as_str()))
                    });
                let more = json
                    .get("nextPageToken")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.is_empty());
                match entry.map(|e| (e, result_of(e))) {
                    Some((_, Some(OpResult::Response(got)))) => {
                        let found = same_as_response(route.name, &id, &response, &got);
                        ctx.record(found.into_iter().map(|v| v.seen_in(&p.exchange)));
                    }
                    Some((entry, _)) => ctx.record([Violation::new(
                        "G2",
                        format!(
                            "{} shows the update's finished operation {op} without the key",
                            route.name
                        ),
                    )
                    .received(show(entry))
                    .expected("done, with the updated key as its response")
                    .seen_in(&p.exchange)]),
                    None if more => ctx.observe(format!(
                        "{}: the update's operation is not on the first page",
                        route.name
                    )),
                    None => ctx.record([Violation::new(
                        "G2",
                        format!("{} does not list the update's operation {op}", route.name),
                    )
                    .expected("every operation of the key")
                    .seen_in(&p.exchange)]),
                }
            }
            Shows::Nothing => {}
        }
        ctx.leave_route();
    }
    Ok(())
}
