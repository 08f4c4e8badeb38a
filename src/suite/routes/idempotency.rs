//! Idempotency-Key on every mutation. I1: a Create, Update or Delete sent twice with the same
//! key and body acts once (the repeat of a Create names the same key and no second key
//! exists; the repeat of an Update or Delete returns the same operation). I2: the same key
//! with another body, recorded as the target answers it.

use serde_json::{Value, json};

use super::{answer_text, id_of, in_safe_order, marked_keys};
use crate::checks::Violation;
use crate::checks::description_of;
use crate::checks::response::Expect;
use crate::client::{Auth, Exchange, Request, RouteAim};
use crate::contract::DocKind;
use crate::contract::routes::{Effect, Route};
use crate::runner::{Ctx, HarnessError};

/// The id an answer names: the key of a Create's answer, or the operation of an Update's or
/// Delete's.
fn named_id(route: &Route, e: &Exchange) -> Option<String> {
    let json = e.json.as_ref().ok().filter(|_| e.is_success())?;
    let id = match route.effect {
        Effect::Creates => json.pointer("/accessKey/id"),
        _ => json.get("id"),
    };
    id.and_then(Value::as_str).map(str::to_string)
}

/// A Create of a key in the run's account whose description carries a fresh marker.
fn create_request(ctx: &Ctx, route: &Route, label: &str) -> (Request, String) {
    let run = &ctx.run;
    let marker = run.next_marker();
    let aim = RouteAim {
        account: run.service_account_id.clone(),
        ..RouteAim::default()
    };
    let body = json!({
        "serviceAccountId": run.service_account_id,
        "description": format!("{label} [{marker}]"),
    });
    (
        run.api
            .route_request(route, &aim, Auth::Token, Some(body.to_string())),
        marker,
    )
}

/// A mutation of a key (`Changes` or `Deletes`) aimed at `id`, with `description` for an
/// Update.
fn key_request(ctx: &Ctx, route: &Route, id: &str, description: &str) -> Request {
    let aim = RouteAim {
        account: ctx.run.service_account_id.clone(),
        key: crate::client::segment(id),
        ..RouteAim::default()
    };
    let body = (route.effect == Effect::Changes)
        .then(|| json!({"updateMask": "description", "description": description}).to_string());
    ctx.run.api.route_request(route, &aim, Auth::Token, body)
}

fn expect_for(route: &Route, id: &str) -> Expect {
    let kind = route.answer.unwrap_or(DocKind::UpdateOperation);
    Expect::new(kind).for_key(id)
}

/// Sends a mutation of a key and follows its operation to the end; the first answer.
async fn mutate(
    ctx: &mut Ctx,
    route: &Route,
    id: &str,
    request: Request,
) -> Result<Exchange, HarnessError> {
    let run = ctx.run.clone();
    let expect = expect_for(route, id);
    let answer = if route.effect == Effect::Deletes {
        let _changing = run.changing_keys().await;
        ctx.call(request, expect.clone()).await?
    } else {
        ctx.call(request, expect.clone()).await?
    };
    let done = ctx.finish_operation(&answer, expect).await?;
    // A Delete whose operation ended with its (empty) response has deleted the key; any
    // other ending leaves it to the trial's clean-up to confirm.
    let deleted = matches!(
        done.as_ref().and_then(crate::checks::operation::result_of),
        Some(crate::checks::operation::OpResult::Response(_))
    );
    if route.effect == Effect::Deletes && deleted {
        run.ledger_deleted(id);
    }
    Ok(answer)
}

/// I1 on every mutation.
pub async fn i1(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    // The Create's key and the Update's exist at once.
    ctx.reserve_keys(2).await?;
    // The key a Create made is the one the Delete deletes (it must go anyway).
    let mut made: Option<String> = None;
    for route in in_safe_order(routes) {
        ctx.enter_route(route.name);
        match route.effect {
            Effect::Creates => {
                let first = ctx.create_key_sent(None, "routes I1").await?;
                let marker = first.marker.clone();
                let (again, _) = ctx
                    .send_create(first.request.clone(), &marker, None)
                    .await?;
                let (a, b) = (Some(id_of(&first.key)), named_id(route, &again));
                if let (Some(a), Some(b)) = (&a, &b)
                    && a != b
                {
                    ctx.record([Violation::new(
                        "I1",
                        "a Create repeated with its Idempotency-Key and body made another key",
                    )
                    .received(format!("keys {a} and {b}"))
                    .expected("the repeat names the key the first made")
                    .seen_in(&again)]);
                }
                let secret = |e: &Exchange| {
                    e.json
                        .as_ref()
                        .ok()
                        .and_then(|j| j.get("secret"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                if a == b
                    && let (Some(one), Some(two)) = (secret(&first.answer), secret(&again))
                    && one != two
                {
                    ctx.record([Violation::new(
                        "I1",
                        "a Create repeated with its Idempotency-Key and body returned another secret for the key",
                    )
                    .received("a secret other than the first answer's ([redacted])")
                    .expected("the first answer again: the repeat must not act (a new secret is a new credential)")
                    .seen_in(&again)]);
                }
                if !again.is_success() {
                    ctx.record([Violation::new(
                        "I1",
                        "a Create repeated with its Idempotency-Key and body was refused",
                    )
                    .received(answer_text(&again))
                    .expected("the first answer again")
                    .seen_in(&again)]);
                }
                // The same body without an Idempotency-Key, twice: other requests, so two
                // more keys (a server that dedupes by the body answers with an earlier one).
                let mut fresh_ids: Vec<String> = Vec::new();
                // A keyless Create whose answer is not a readable success may or may not have
                // made a key: then the count says nothing.
                let mut unknown = false;
                for _ in 0..2 {
                    let sent = ctx
                        .send_create(
                            first.request.clone().without_idempotency_key(),
                            &marker,
                            None,
                        )
                        .await;
                    let fresh = match sent {
                        Ok((fresh, _)) => fresh,
                        // Lost in transit, and not sent again (it has no key): unknown.
                        Err(HarnessError::Transport(_)) => {
                            unknown = true;
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let Some(c) = named_id(route, &fresh) else {
                        unknown = true;
                        continue;
                    };
                    if a.as_ref() == Some(&c) || fresh_ids.contains(&c) {
                        ctx.record([Violation::new(
                            "I1",
                            "a Create without an Idempotency-Key was answered with the key of an earlier Create of the same body",
                        )
                        .received(format!("key {c}"))
                        .expected(
                            "a new key: only the same Idempotency-Key makes a request a repeat",
                        )
                        .seen_in(&fresh)]);
                    } else {
                        fresh_ids.push(c);
                    }
                }
                let account = run.service_account_id.clone();
                let wanted = format!("[{marker}]");
                let found: Vec<String> = marked_keys(ctx, &account)
                    .await?
                    .into_iter()
                    .filter(|(_, d)| d.contains(&wanted))
                    .map(|(id, _)| id)
                    .collect();
                for id in &found {
                    ctx.adopt_foreign(id);
                }
                // The first and the new ones without a key; another is the repeat's.
                let expected = 1 + fresh_ids.len();
                if unknown {
                    ctx.observe(
                        "Create without an Idempotency-Key: an answer was not a readable success, so the keys were not counted",
                    );
                } else if found.len() > expected {
                    ctx.record([Violation::new(
                        "I1",
                        format!(
                            "{} keys exist after one Create sent twice with the same Idempotency-Key (and twice without)",
                            found.len()
                        ),
                    )
                    .received(found.join(", "))
                    .expected(format!("{expected} key(s)"))]);
                }
                made = a.or_else(|| found.first().cloned());
            }
            Effect::Changes | Effect::Deletes => {
                let id = match (route.effect, made.take()) {
                    (Effect::Deletes, Some(id)) => id,
                    (_, kept) => {
                        made = kept;
                        let key = ctx.fresh_key("routes I1").await?;
                        id_of(&key)
                    }
                };
                let request = key_request(
                    ctx,
                    route,
                    &id,
                    &format!("routes I1 ({})", run.next_marker()),
                );
                let first = mutate(ctx, route, &id, request.clone()).await?;
                let again = mutate(ctx, route, &id, request).await?;
                let (a, b) = (named_id(route, &first), named_id(route, &again));
                match (&a, &b) {
                    (Some(a), Some(b)) if a != b => ctx.record([Violation::new(
                        "I1",
                        format!(
                            "{} repeated with its Idempotency-Key and body started another operation",
                            route.name
                        ),
                    )
                    .received(format!("operations {a} and {b}"))
                    .expected("the repeat returns the first operation")
                    .seen_in(&again)]),
                    (Some(a), None) => ctx.record([Violation::new(
                        "I1",
                        format!(
                            "{} repeated with its Idempotency-Key and body did not return its operation",
                            route.name
                        ),
                    )
                    .received(answer_text(&again))
                    .expected(format!("operation {a} again"))
                    .seen_in(&again)]),
                    _ => {}
                }
            }
            Effect::Reads => {}
        }
        ctx.leave_route();
    }
    Ok(())
}

/// What the answer to a reused Idempotency-Key with another body was, beside the first
/// answer's key or operation.
fn reading(route: &Route, first: Option<&str>, again: &Exchange) -> String {
    let what = if route.effect == Effect::Creates {
        "key"
    } else {
        "operation"
    };
    match (first, named_id(route, again)) {
        _ if !again.is_success() => format!("refused: {}", answer_text(again)),
        (Some(a), Some(b)) if a == b => format!("the first answer again (the same {what})"),
        (_, Some(_)) => format!("acted anew (another {what})"),
        _ => format!("HTTP {} with an answer naming no {what}", again.status),
    }
}

/// I2 on every mutation with a body.
pub async fn i2(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let mut made: Option<String> = None;
    for route in in_safe_order(routes) {
        ctx.enter_route(route.name);
        match route.effect {
            Effect::Creates => {
                let created = ctx.create_key_sent(None, "routes I2, first body").await?;
                let (made_first, request) = (created.key, created.request);
                let key = request.idempotency_key().unwrap_or_default().to_string();
                let (other, other_marker) = create_request(ctx, route, "routes I2, another body");
                let other = other.with_idempotency_key(&key);
                let (again, _) = ctx.send_create(other, &other_marker, None).await?;
                let account = run.service_account_id.clone();
                let wanted = format!("[{other_marker}]");
                let anew: Vec<String> = marked_keys(ctx, &account)
                    .await?
                    .into_iter()
                    .filter(|(_, d)| d.contains(&wanted))
                    .map(|(id, _)| id)
                    .collect();
                for id in &anew {
                    ctx.adopt_foreign(id);
                }
                let first_id = id_of(&made_first);
                ctx.observe(format!(
                    "Create with a reused Idempotency-Key and another body: {}{}",
                    reading(route, Some(first_id.as_str()), &again),
                    if anew.is_empty() {
                        "; no key carries the second body"
                    } else {
                        "; a key with the second body exists"
                    }
                ));
                made = Some(first_id);
            }
            Effect::Changes => {
                let id = match made.take() {
                    Some(id) => id,
                    None => id_of(&ctx.fresh_key("routes I2").await?),
                };
                let (one, two) = ("routes I2, first body", "routes I2, another body");
                let request = key_request(ctx, route, &id, one);
                let key = request.idempotency_key().unwrap_or_default().to_string();
                let first = mutate(ctx, route, &id, request).await?;
                let other = key_request(ctx, route, &id, two).with_idempotency_key(&key);
                let again = mutate(ctx, route, &id, other).await?;
                let shows = match ctx.read_key(&id).await?.as_ref().and_then(description_of) {
                    Some(d) if d == one => "the first body",
                    Some(d) if d == two => "the second body",
                    Some(_) => "neither body",
                    None => "nothing (it is gone)",
                };
                let first_op = named_id(route, &first);
                ctx.observe(format!(
                    "{} with a reused Idempotency-Key and another body: {}; the key then shows {shows}",
                    route.name,
                    reading(route, first_op.as_deref(), &again)
                ));
            }
            Effect::Deletes | Effect::Reads => {}
        }
        ctx.leave_route();
    }
    Ok(())
}
