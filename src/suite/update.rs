//! Update trials: each creates its own key, sends one kind of Update, and checks the outcome
//! and the key read back afterwards.

use serde_json::{Value, json};

use super::spec;
use crate::checks::response::Expect;
use crate::checks::update::{
    UpdateOutcome, description_is, immutable_fields_kept, nothing_changed, response_matches_read,
    was_applied, was_rejected,
};
use crate::checks::{Violation, description_of};
use crate::contract::DocKind;
use crate::runner::{Ctx, HarnessError, Spec};
use crate::target::Auth;

const INVALID_ARGUMENT: i64 = 3;
const NOT_FOUND: i64 = 5;
const PERMISSION_DENIED: i64 = 7;

fn id_of(key: &Value) -> String {
    key.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// 256 characters of 2-, 3- and 4-byte UTF-8 (Cyrillic, the euro sign, an emoji).
pub fn multibyte(chars: usize) -> String {
    "я€ж😀".chars().cycle().take(chars).collect()
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

/// Sends `body` (raw text) to a fresh key and checks that it is rejected with one of `codes`
/// (`rule`) and that the key is unchanged (U6).
pub async fn expect_rejected(
    ctx: &mut Ctx,
    rule: &'static str,
    body: &str,
    codes: &[i64],
) -> Result<(), HarnessError> {
    let before = ctx.fresh_key("must stay as it is").await?;
    let id = id_of(&before);
    let outcome = ctx.update(&id, Some(body.to_string()), Auth::Token).await?;
    ctx.record(was_rejected(rule, &outcome, codes));
    if let UpdateOutcome::Rejected { .. } = outcome {
        let after = ctx.read_existing(&id).await?;
        ctx.record(nothing_changed(&before, &after));
    }
    Ok(())
}

async fn u1_masked_value_is_stored(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body =
        json!({"updateMask": "description", "description": "set by the conformance harness"});
    expect_applied(ctx, "U1", "before", body, "set by the conformance harness").await
}

const EXACT: &str =
    "  two spaces, a tab\t, é and e\u{301}, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, a zero-width\u{200b}space, \"quotes\" \\ ";

async fn u1_value_kept_code_point_for_code_point(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body = json!({"updateMask": "description", "description": EXACT});
    expect_applied(ctx, "U1", "before", body, EXACT).await
}

async fn u2_masked_absent_value_resets(ctx: &mut Ctx) -> Result<(), HarnessError> {
    expect_applied(
        ctx,
        "U2",
        "to be reset",
        json!({"updateMask": "description"}),
        "",
    )
    .await
}

async fn u2_masked_null_value_resets(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body = json!({"updateMask": "description", "description": null});
    expect_applied(ctx, "U2", "to be reset", body, "").await
}

async fn u3_no_mask_sets_the_value(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body = json!({"description": "replaced without a mask"});
    expect_applied(ctx, "U3", "before", body, "replaced without a mask").await
}

async fn u3_no_mask_empty_body_resets(ctx: &mut Ctx) -> Result<(), HarnessError> {
    expect_applied(ctx, "U3", "to be replaced", json!({}), "").await
}

async fn u4_identity_fields_unchanged(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let before = ctx.fresh_key("identity").await?;
    let id = id_of(&before);
    for text in ["first change", "second change"] {
        let body = json!({"updateMask": "description", "description": text});
        let outcome = ctx.update(&id, Some(body.to_string()), Auth::Token).await?;
        ctx.record(was_applied("U4", &outcome));
        let after = ctx.read_existing(&id).await?;
        ctx.record(immutable_fields_kept(&before, &after));
    }
    Ok(())
}

async fn u5_256_characters_accepted(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let text = multibyte(256);
    let body = json!({"updateMask": "description", "description": text});
    expect_applied(ctx, "U5", "short", body, &text).await
}

async fn u5_257_characters_rejected(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body = json!({"updateMask": "description", "description": multibyte(257)});
    expect_rejected(ctx, "U5", &body.to_string(), &[INVALID_ARGUMENT]).await
}

async fn u6_rejected_update_changes_nothing(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body = json!({"updateMask": ["description"], "description": "must not be stored"});
    expect_rejected(ctx, "U6", &body.to_string(), &[INVALID_ARGUMENT]).await
}

async fn u7_unknown_mask_path_rejected(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let body =
        json!({"updateMask": "description,noSuchField", "description": "must not be stored"});
    expect_rejected(ctx, "U7", &body.to_string(), &[INVALID_ARGUMENT]).await
}

async fn u8_unknown_body_field(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let before = ctx.fresh_key("before").await?;
    let id = id_of(&before);
    let body = json!({"updateMask": "description", "description": "with an extra field", "colour": "blue"});
    let outcome = ctx.update(&id, Some(body.to_string()), Auth::Token).await?;
    let after = ctx.read_existing(&id).await?;
    match outcome {
        UpdateOutcome::Rejected {
            code: INVALID_ARGUMENT,
        } => {
            ctx.observe("an unknown body field: rejected with INVALID_ARGUMENT");
            ctx.record(nothing_changed(&before, &after));
        }
        UpdateOutcome::Applied(_) => {
            ctx.observe("an unknown body field: ignored, the update applied");
            ctx.record(description_is("U8", &after, "with an extra field"));
            ctx.record(immutable_fields_kept(&before, &after));
        }
        UpdateOutcome::Rejected { code } => {
            ctx.record([Violation::new(
                "U8",
                "an unknown body field got neither documented reading",
            )
            .received(format!("rejection with code {code}"))
            .expected("INVALID_ARGUMENT, or the update applied with the field ignored")]);
        }
        UpdateOutcome::Unreadable => {}
    }
    Ok(())
}

async fn expect_not_found(ctx: &mut Ctx, id: &str) -> Result<(), HarnessError> {
    let body = json!({"updateMask": "description", "description": "must not exist"});
    let outcome = ctx.update(id, Some(body.to_string()), Auth::Token).await?;
    ctx.record(was_rejected(
        "U9",
        &outcome,
        &[NOT_FOUND, PERMISSION_DENIED],
    ));
    if let Some(found) = ctx.read_key(id).await? {
        ctx.adopt(id);
        ctx.record([Violation::new("U9", "updating a missing key created it")
            .received(crate::checks::show(&found))
            .expected("Get still answers NOT_FOUND")]);
    }
    Ok(())
}

async fn u9_unknown_key_not_found(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let id = format!("aje{}", &uuid::Uuid::new_v4().simple().to_string()[..17]);
    expect_not_found(ctx, &id).await
}

async fn u9_deleted_key_not_found(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let key = ctx.fresh_key("to be deleted").await?;
    let id = id_of(&key);
    if !ctx.delete(&id).await? {
        return Err(HarnessError::Setup(format!("could not delete key {id}")));
    }
    expect_not_found(ctx, &id).await
}

/// Sends several bodies to one key; each must be rejected with INVALID_ARGUMENT.
async fn rejects_each(ctx: &mut Ctx, bodies: &[&str]) -> Result<(), HarnessError> {
    let before = ctx.fresh_key("must stay as it is").await?;
    let id = id_of(&before);
    let mut all_rejected = true;
    for body in bodies {
        let outcome = ctx
            .update(&id, Some((*body).to_string()), Auth::Token)
            .await?;
        all_rejected &= matches!(outcome, UpdateOutcome::Rejected { .. });
        if let Some(v) = was_rejected("U10", &outcome, &[INVALID_ARGUMENT]) {
            ctx.record([v.received(format!("body {body}"))]);
        }
    }
    if all_rejected {
        let after = ctx.read_existing(&id).await?;
        ctx.record(nothing_changed(&before, &after));
    }
    Ok(())
}

async fn u10_body_not_an_object_rejected(ctx: &mut Ctx) -> Result<(), HarnessError> {
    rejects_each(
        ctx,
        &[
            "[]",
            "\"description\"",
            "42",
            "{\"updateMask\": \"description\"",
        ],
    )
    .await
}

async fn u10_wrong_json_types_rejected(ctx: &mut Ctx) -> Result<(), HarnessError> {
    rejects_each(
        ctx,
        &[
            r#"{"updateMask": "description", "description": 42}"#,
            r#"{"updateMask": "description", "description": {"text": "x"}}"#,
            r#"{"updateMask": "description", "description": true}"#,
            r#"{"updateMask": 7, "description": "x"}"#,
            r#"{"updateMask": {"paths": ["description"]}, "description": "x"}"#,
        ],
    )
    .await
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
    let mut page_token: Option<String> = None;
    for _ in 0..50 {
        let page = ctx
            .call(
                run.api.list(&run.service_account_id, page_token.as_deref()),
                Expect::new(DocKind::ListResponse),
            )
            .await?;
        let Ok(json) = &page.json else { return Ok(()) };
        if !page.is_success() {
            return Ok(());
        }
        let listed = json
            .get("accessKeys")
            .and_then(Value::as_array)
            .and_then(|keys| {
                keys.iter()
                    .find(|k| k.get("id").and_then(Value::as_str) == Some(id.as_str()))
            });
        if let Some(listed) = listed {
            if description_of(listed).as_deref() != Some("visible in List") {
                ctx.record([Violation::new(
                    "O5",
                    "List shows the key as it was before the update",
                )
                .at("/description")
                .received(crate::checks::show(listed))
                .expected("description \"visible in List\"")
                .seen_in(&page)]);
            }
            return Ok(());
        }
        match json.get("nextPageToken").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => page_token = Some(t.to_string()),
            _ => break,
        }
    }
    ctx.record([Violation::new(
        "O5",
        "List by service account does not show the updated key",
    )
    .expected(format!("key {id} in the list"))]);
    Ok(())
}

async fn o7_unfinished_operations_finish(ctx: &mut Ctx) -> Result<(), HarnessError> {
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
            "update::u1_masked_value_is_stored",
            "U1",
            u1_masked_value_is_stored
        ),
        spec!(
            "update::u1_value_kept_code_point_for_code_point",
            "U1",
            u1_value_kept_code_point_for_code_point
        ),
        spec!(
            "update::u2_masked_absent_value_resets",
            "U2",
            u2_masked_absent_value_resets
        ),
        spec!(
            "update::u2_masked_null_value_resets",
            "U2",
            u2_masked_null_value_resets
        ),
        spec!(
            "update::u3_no_mask_sets_the_value",
            "U3",
            u3_no_mask_sets_the_value
        ),
        spec!(
            "update::u3_no_mask_empty_body_resets",
            "U3",
            u3_no_mask_empty_body_resets
        ),
        spec!(
            "update::u4_identity_fields_unchanged",
            "U4",
            u4_identity_fields_unchanged
        ),
        spec!(
            "update::u5_256_multibyte_characters_accepted",
            "U5",
            u5_256_characters_accepted
        ),
        spec!(
            "update::u5_257_characters_rejected",
            "U5",
            u5_257_characters_rejected
        ),
        spec!(
            "update::u6_rejected_update_changes_nothing",
            "U6",
            u6_rejected_update_changes_nothing
        ),
        spec!(
            "update::u7_unknown_mask_path_rejected",
            "U7",
            u7_unknown_mask_path_rejected
        ),
        spec!("update::u8_unknown_body_field", "U8", u8_unknown_body_field),
        spec!(
            "update::u9_unknown_key_not_found",
            "U9",
            u9_unknown_key_not_found
        ),
        spec!(
            "update::u9_deleted_key_not_found",
            "U9",
            u9_deleted_key_not_found
        ),
        spec!(
            "update::u10_body_not_an_object_rejected",
            "U10",
            u10_body_not_an_object_rejected
        ),
        spec!(
            "update::u10_wrong_json_types_rejected",
            "U10",
            u10_wrong_json_types_rejected
        ),
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
