//! Walks shared by several trials. Some rules are best judged from one walk through the API
//! (the tour: every method once; the List walk: several page sizes over the same keys). The
//! walk runs once, on first use, and each trial is a [`View`] of it: the walk's findings of one
//! rule at one level. One view per walk also takes the findings no other view claims, so that
//! none is lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::checks::Violation;
use crate::contract::Level;
use crate::runner::{Ctx, HarnessError, Run, Spec};

/// What one walk found.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub violations: Vec<Violation>,
    /// Why the walk could not finish, if it could not.
    pub error: Option<HarnessError>,
    /// Requests the walk sent (each view judged all of them).
    pub requests: usize,
    /// Creates the walk sent.
    pub keys_created: usize,
    /// What the walk observed (reported by the first view).
    pub observations: Vec<String>,
}

/// The walk itself: given the run, what it found.
pub type Walk = fn(Arc<Run>) -> Pin<Box<dyn Future<Output = Findings> + Send>>;

/// One trial over a walk: its name, and the rule and level whose findings it reports.
pub struct View {
    pub name: &'static str,
    pub rule: &'static str,
    pub level: Level,
}

/// The trials of one walk (`name`: how the plan calls it). The first view also reports the findings that no view claims.
pub fn views(name: &'static str, walk: Walk, views: Vec<View>) -> Vec<Spec> {
    let cell: Arc<OnceCell<Findings>> = Arc::new(OnceCell::new());
    let claimed: Arc<Vec<(&'static str, Level)>> =
        Arc::new(views.iter().map(|v| (v.rule, v.level)).collect());
    views
        .into_iter()
        .enumerate()
        .map(|(i, view)| {
            let cell = cell.clone();
            let claimed = claimed.clone();
            let (rule, level) = (view.rule, view.level);
            Spec {
                name: view.name.to_string(),
                rule,
                level,
                body: Arc::new(move |ctx: &mut Ctx| {
                    let cell = cell.clone();
                    let claimed = claimed.clone();
                    Box::pin(async move {
                        let run = ctx.run.clone();
                        let findings = cell.get_or_init(|| walk(run)).await;
                        ctx.requests += findings.requests;
                        ctx.keys_created += findings.keys_created;
                        // A walk's requests follow one another.
                        ctx.chain += findings.requests;
                        if i == 0 {
                            ctx.observations
                                .extend(findings.observations.iter().cloned());
                        }
                        ctx.record(
                            findings
                                .violations
                                .iter()
                                .filter(|v| {
                                    (v.rule == rule && v.level == level)
                                        || (i == 0 && !claimed.contains(&(v.rule, v.level)))
                                })
                                .cloned(),
                        );
                        match &findings.error {
                            Some(HarnessError::NotApplicable(why)) => {
                                Err(HarnessError::NotApplicable(why.clone()))
                            }
                            Some(e) => Err(HarnessError::Setup(format!(
                                "the shared walk stopped early: {e}"
                            ))),
                            None => Ok(()),
                        }
                    })
                }),
                replay: None,
                covers: Vec::new(),
                walk: Some(name),
            }
        })
        .collect()
}
