//! Operation trials about updates: the response is the key later reads see (O5), and an
//! unfinished operation finishes (O7). The Update semantics themselves (U1-U10) are the
//! declarative cases and the properties.

use serde_json::{Value, json};

use super::spec;
use crate::checks::update::{
    UpdateOutcome, description_is, immutable_fields_kept, response_matches_read, was_applied,
};
use crate::checks::{Violation, description_of};
use crate::client::Auth;
use crate::runner::{Ctx, HarnessError, Spec};

fn id_of(key: &Value) -> String {
    key.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Sends `body` to a fresh key that starts as `start`, and checks that it applied with
/// `expected` as the new description (`rule`), plus U4 and O5 on the way.
pub async fn expect_applied(
    ctx: &mut Ctx,
    rule: &'static str,
    start: &str,
    body: Value,
    expected: &str,
) -> Result<(), HarnessError> {
    let before = ctx.fresh_key(start).await?;
    let id = id_of(&before);
    let outcome = ctx.update(&id, Some(body.to_string()), Auth::Token).await?;
    ctx.record(was_applied(rule, &outcome));
    if let UpdateOutcome::Applied(response) = &outcome {
        let after = ctx.read_existing(&id).await?;
        ctx.record(description_is(rule, &after, expected));
        ctx.record(immutable_fields_kept(&before, &after));
        ctx.record(response_matches_read(&id, response, &after));
    }
    Ok(())
}

async fn o5_response_equals_later_get(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body = json!({"updateMask": "description", "description": "read me back"});
    expect_applied(ctx, "O5", "before", body, "read me back").await
}

async fn o5_list_sees_the_write(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let key = ctx.fresh_key("before").await?;
    let id = id_of(&key);
    let body = json!({"updateMask": "description", "description": "visible in List"});
    if !matches!(
        ctx.update(&id, Some(body.to_string()), Auth::Token).await?,
        UpdateOutcome::Applied(_)
    ) {
        return Ok(());
    }
    let walk = {
        let _still = run.keys_still().await;
        ctx.walk_list(None, 50).await?
    };
    let listed = walk
        .pages
        .iter()
        .flat_map(|p| p.keys.iter().map(move |k| (k, &p.exchange)))
        .find(|(k, _)| k.get("id").and_then(Value::as_str) == Some(id.as_str()));
    match listed {
        Some((listed, page)) => {
            if description_of(listed).as_deref() != Some("visible in List") {
                ctx.record([Violation::new(
                    "O5",
                    "List shows the key as it was before the update",
                )
                .should()
                .at("/description")
                .received(crate::checks::show(listed))
                .expected("description \"visible in List\"")
                .seen_in(page)]);
            }
        }
        // A walk cut short by an unreadable page says nothing (the checks report the page).
        None if walk.unreadable.is_some() => {}
        None => ctx.record([Violation::new(
            "O5",
            "List by service account does not show the updated key",
        )
        .should()
        .expected(format!("key {id} in the list"))]),
    }
    Ok(())
}

async fn o7_unfinished_operations_finish(ctx: &mut Ctx) -> Result<(), HarnessError> {
    ctx.keep_exchanges = true;
    let key = ctx.fresh_key("before").await?;
    let id = id_of(&key);
    let body = json!({"updateMask": "description", "description": "after polling"});
    let outcome = ctx.update(&id, Some(body.to_string()), Auth::Token).await?;
    let polls = ctx
        .exchanges
        .iter()
        .filter(|e| e.url.contains("/operations/"))
        .count();
    ctx.observe(if polls == 0 {
        "the update operation was done in its first answer".to_string()
    } else {
        format!("the update operation was done after {polls} read(s) of /operations/{{id}}")
    });
    ctx.record(was_applied("O7", &outcome));
    Ok(())
}

pub fn specs() -> Vec<Spec> {
    vec![
        spec!(
            "operation::o5_response_equals_later_get",
            "O5",
            o5_response_equals_later_get
        ),
        spec!(
            "operation::o5_list_sees_the_write",
            "O5",
            crate::contract::Level::Should,
            o5_list_sees_the_write
        ),
        spec!(
            "operation::o7_unfinished_operations_finish",
            "O7",
            o7_unfinished_operations_finish
        ),
    ]
}
