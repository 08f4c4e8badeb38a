//! Auth trials (E2): an Update without a token, or with one no IAM issued, is answered
//! UNAUTHENTICATED and changes nothing.

use serde_json::json;

use super::spec;
use crate::checks::update::{UpdateOutcome, nothing_changed, was_rejected};
use crate::client::Auth;
use crate::runner::{Ctx, HarnessError, Spec};

const UNAUTHENTICATED: i64 = 16;

async fn unauthenticated(ctx: &mut Ctx, auth: Auth) -> Result<(), HarnessError> {
    let before = ctx.fresh_key("must stay as it is").await?;
    let id = before["id"].as_str().unwrap_or_default().to_string();
    let body =
        json!({"updateMask": "description", "description": "sent without valid credentials"});
    let outcome = ctx.update(&id, Some(body.to_string()), auth).await?;
    ctx.record(was_rejected("E2", &outcome, &[UNAUTHENTICATED]));
    if !matches!(outcome, UpdateOutcome::Unreadable) {
        let after = ctx.read_existing(&id).await?;
        ctx.record(
            nothing_changed(&before, &after)
                .into_iter()
                .map(|v| v.charged_to("E2")),
        );
    }
    Ok(())
}

async fn e2_missing_token_unauthenticated(ctx: &mut Ctx) -> Result<(), HarnessError> {
    unauthenticated(ctx, Auth::Missing).await
}

async fn e2_invalid_token_unauthenticated(ctx: &mut Ctx) -> Result<(), HarnessError> {
    unauthenticated(ctx, Auth::Invalid).await
}

pub fn specs() -> Vec<Spec> {
    vec![
        spec!(
            "errors::e2_missing_token_unauthenticated",
            "E2",
            e2_missing_token_unauthenticated
        ),
        spec!(
            "errors::e2_invalid_token_unauthenticated",
            "E2",
            e2_invalid_token_unauthenticated
        ),
    ]
}
