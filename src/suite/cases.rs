//! Trials made from the declarative cases (`contract::cases`): one trial per file, named
//! `cases::<file name>`, at the level of the case's rule.

use std::sync::Arc;

use crate::checks::{Violation, description_of, show};
use crate::client::Auth;
use crate::contract::cases::{Case, KeyKind};
use crate::runner::{Ctx, HarnessError, Replay, Spec};

use super::step::{bystander_untouched, id_of, update_and_judge};

/// An id in the format of the service that no key has.
fn unused_id() -> String {
    format!("aje{}", &uuid::Uuid::new_v4().simple().to_string()[..17])
}

async fn run_case(ctx: &mut Ctx, case: &Case) -> Result<(), HarnessError> {
    let id = match case.key {
        KeyKind::Fresh => {
            let keys = if case.second_key_in.is_some() { 2 } else { 1 };
            ctx.reserve_keys(keys).await?;
            let before = ctx.fresh_key(&case.start).await?;
            let start = description_of(&before).unwrap_or_default();
            let verdict = case.verdict_for(&start);
            let second = match &case.second_key_in {
                Some(_) if ctx.run.shared_key.is_some() => {
                    return Err(HarnessError::NotApplicable(
                        "needs a second key, and the run may only use the key of --access-key-id"
                            .into(),
                    ));
                }
                Some(_) => {
                    let made = ctx
                        .fresh_key("a second key, which no update may touch")
                        .await?;
                    Some(ctx.read_existing(&id_of(&made)).await?)
                }
                None => None,
            };
            let body = case.body_with(second.as_ref().map(id_of).as_deref());
            let seen = ctx.violations.len();
            let step =
                update_and_judge(ctx, &before, &body, case.sent.as_deref(), &verdict).await?;
            if let Some(second) = &second {
                let member = case.second_key_in.as_deref().unwrap_or_default();
                bystander_untouched(ctx, second, member, seen).await?;
            }
            if let Some(seen) = step.observation {
                ctx.observe(seen);
            }
            return Ok(());
        }
        KeyKind::Missing => unused_id(),
        KeyKind::Deleted => {
            let key = ctx.fresh_key(&case.start).await?;
            let id = id_of(&key);
            if !ctx.delete(&id).await? {
                return Err(HarnessError::Setup(format!("could not delete key {id}")));
            }
            id
        }
    };
    // U9: no key to judge against; the update must be refused and create nothing.
    let (outcome, patch) = ctx
        .update_traced(&id, Some(case.body.clone()), Auth::Token)
        .await?;
    if let Some((codes, rule)) = case.verdict.rejected() {
        let found = crate::checks::update::was_rejected(rule, &outcome, codes);
        ctx.record(found.map(|v| v.seen_in(&patch)));
    }
    if let Some(found) = ctx.read_key(&id).await? {
        ctx.adopt(&id);
        ctx.record([
            Violation::new(case.rule, "updating a missing key created it")
                .received(show(&found))
                .expected("Get still answers NOT_FOUND"),
        ]);
    }
    Ok(())
}

/// One trial per case.
pub fn specs(cases: &[Case]) -> Vec<Spec> {
    cases
        .iter()
        .map(|case| {
            let case = Arc::new(case.clone());
            Spec {
                name: format!("cases::{}", case.name),
                rule: case.rule,
                level: case.level,
                covers: Vec::new(),
                walk: None,
                replay: Some(Replay::Case {
                    file: format!("{}.json", case.name),
                    contents: case.contents.clone(),
                }),
                body: Arc::new(move |ctx| {
                    let case = case.clone();
                    Box::pin(async move { run_case(ctx, &case).await })
                }),
            }
        })
        .collect()
}
