//! One Update judged against the model: send the body, follow the operation, read the key
//! back, and compare what happened with the outcomes the model allows. Cases and properties
//! are both made of such steps.

use serde_json::Value;

use crate::checks::update::{UpdateOutcome, code_name, immutable_fields_kept, judge};
use crate::checks::{Violation, description_of, show};
use crate::client::{Auth, Exchange};
use crate::contract::model::{Quirk, Verdict};
use crate::runner::{Ctx, HarnessError};

/// What one step sent, expected and saw. The texts a report shows are made only when a
/// report is (most steps pass).
#[derive(Debug, Clone)]
pub struct Step {
    pub body: String,
    verdict: Verdict,
    outcome: UpdateOutcome,
    /// Every violation recorded while the step ran (universal checks included).
    pub violations: Vec<Violation>,
    /// The answer to the Update request.
    patch: Exchange,
    /// The key as read after the step; `None` when it could not be read.
    pub after: Option<Value>,
    /// For an open (U8) input: which reading the target chose.
    pub observation: Option<String>,
}

impl Step {
    /// The outcomes the model allowed.
    pub fn expected(&self) -> String {
        self.verdict.describe()
    }

    /// What the target did, in the model's terms.
    pub fn observed(&self) -> String {
        match &self.outcome {
            UpdateOutcome::Applied(_) => match self.after.as_ref().and_then(description_of) {
                Some(d) => format!(
                    "applied, description {d:?} ({} characters)",
                    d.chars().count()
                ),
                None => "applied; the key could not be read back".to_string(),
            },
            UpdateOutcome::Rejected { code } => {
                format!("rejected with {} ({code})", code_name(*code))
            }
            UpdateOutcome::Unreadable => {
                "no readable outcome (see the response checks)".to_string()
            }
        }
    }

    /// How to repeat the Update request.
    pub fn curl(&self) -> String {
        self.patch.curl()
    }
}

pub fn id_of(key: &Value) -> String {
    key.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// "updateMask \"*\": applied as a full replacement", for an input with one open aspect
/// (inputs mixing several say little about each, so they are not recorded).
fn observation(verdict: &Verdict, outcome: &UpdateOutcome) -> Option<String> {
    if verdict.allowed.len() < 2 {
        return None;
    }
    let mut quirks = verdict.quirks.clone();
    quirks.sort();
    quirks.dedup();
    let (input, accepted) = match quirks.as_slice() {
        [one] => (one.input(), one.accepted_reading()),
        // A snake_case output-only name is one input with two aspects.
        [a, b]
            if [*a, *b].contains(&Quirk::SnakeCasePath)
                && [*a, *b].contains(&Quirk::OutputOnlyPath) =>
        {
            (
                Quirk::SnakeCasePath.input(),
                Quirk::SnakeCasePath.accepted_reading(),
            )
        }
        // Output-only paths with their values in the body: one input too.
        [a, b]
            if [*a, *b].contains(&Quirk::OutputOnlyPath)
                && [*a, *b].contains(&Quirk::UnknownBodyField) =>
        {
            (
                "output-only mask paths with values in the body",
                "applied with the paths and the values ignored",
            )
        }
        _ => return None,
    };
    let reading = match outcome {
        UpdateOutcome::Rejected { code } => format!("rejected with {}", code_name(*code)),
        UpdateOutcome::Applied(_) => accepted.to_string(),
        UpdateOutcome::Unreadable => return None,
    };
    Some(format!("{input}: {reading}"))
}

/// Sends `body` to the key `before` describes and judges the outcome with `verdict`.
/// `sent` is the description text the body carries.
pub async fn update_and_judge(
    ctx: &mut Ctx,
    before: &Value,
    body: &str,
    sent: Option<&str>,
    verdict: &Verdict,
) -> Result<Step, HarnessError> {
    let id = id_of(before);
    let seen = ctx.violations.len();
    let (outcome, patch) = ctx
        .update_traced(&id, Some(body.to_string()), Auth::Token)
        .await?;
    let after = Some(ctx.read_existing(&id).await?);
    // Each finding points at the Update that showed it, with a curl to repeat it.
    let judged: Vec<Violation> = judge(verdict, sent, before, &outcome, after.as_ref())
        .into_iter()
        .map(|v| {
            if v.request.is_none() {
                v.seen_in(&patch)
            } else {
                v
            }
        })
        .collect();
    let observation = judged
        .is_empty()
        .then(|| observation(verdict, &outcome))
        .flatten();
    ctx.record(judged);
    let step = Step {
        body: body.to_string(),
        verdict: verdict.clone(),
        outcome,
        violations: ctx.violations[seen..].to_vec(),
        patch,
        after,
        observation,
    };
    ctx.trace(body, step.observed(), verdict.allowed.len() > 1);
    Ok(step)
}

/// U4: the key whose id the body carried (under `member`) reads back exactly as it was. When
/// it changed, the update went to it instead of the path's key, so what the step found wrong
/// with the path's key (violations from `seen` on) is that same defect: charged to U4.
pub async fn bystander_untouched(
    ctx: &mut Ctx,
    before: &serde_json::Value,
    member: &str,
    seen: usize,
) -> Result<(), HarnessError> {
    let id = id_of(before);
    let after = ctx.read_key(&id).await?;
    let changed: Vec<Violation> = match &after {
        None => vec![
            Violation::new(
                "U4",
                format!("the key named by the body's {member} is gone"),
            )
            .expected("the path names the key; a key named in the body stays as it was"),
        ],
        Some(after) => immutable_fields_kept(before, after)
            .into_iter()
            .chain((description_of(before) != description_of(after)).then(|| {
                Violation::new("U4", "its description changed")
                    .at("/description")
                    .received(show(after))
                    .expected(show(before))
            }))
            .map(|mut v| {
                v.title = format!("the key named by the body's {member} changed: {}", v.title);
                v.charged_to("U4")
            })
            .collect(),
    };
    if !changed.is_empty() {
        for v in ctx.violations.iter_mut().skip(seen) {
            if v.rule != "U4" {
                *v = v.clone().charged_to("U4");
            }
        }
        ctx.record(changed);
    }
    Ok(())
}
