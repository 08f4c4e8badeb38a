//! [`execute`]: the trials of one run, overlapped. Every selected trial is a tokio task on the
//! run's runtime; at most `concurrency` of them work at once (their requests overlap, which is
//! what a remote target needs). libtest-mimic then reports them in name order, one line as
//! each result is ready, so the console and the reports read the same whatever the
//! concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use tokio::sync::oneshot;

use super::outcome::{Expected, Outcome, Record, Spec, Status, failure_text};
use super::{Ctx, HarnessError, Run};
use crate::contract::Level;

/// What the user asked about the selection: the highest level to run and the expected
/// failures. (How many trials work at once is the run's: `Run::set_workers`.)
#[derive(Debug, Clone)]
pub struct Plan {
    pub level: Level,
    pub expected: BTreeMap<String, Expected>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            level: Level::Info,
            expected: BTreeMap::new(),
        }
    }
}

/// Runs one trial body with its own context, then cleans up, and classifies the result (and
/// whether it was skipped because the setup lacks what it needs).
async fn run_spec(run: Arc<Run>, spec: &Spec) -> (Outcome, Ctx, bool) {
    let mut ctx = Ctx::for_trial(run, &spec.name);
    let result = (spec.body)(&mut ctx).await;
    let cleanup = ctx.clean_up().await;
    let result = result.and(cleanup);
    let unavailable = matches!(result, Err(HarnessError::NotApplicable(_)));
    let outcome = match (ctx.violations.is_empty(), result) {
        (false, _) => Outcome::Fail(std::mem::take(&mut ctx.violations)),
        (true, Err(HarnessError::NotApplicable(why))) => Outcome::Skipped(why),
        (true, Err(HarnessError::Interrupted)) if ctx.run.is_expired() => {
            Outcome::Error("stopped by --run-timeout while it ran".into())
        }
        (true, Err(HarnessError::Interrupted)) => {
            Outcome::Skipped("interrupted while it ran".into())
        }
        (true, Err(e)) => Outcome::Error(e.to_string()),
        (true, Ok(())) => Outcome::Pass,
    };
    (outcome, ctx, unavailable)
}

/// A selected trial as a task: waits for a free worker, runs, records its outcome.
async fn trial_task(run: Arc<Run>, spec: Spec, expected: Option<Expected>) -> Record {
    let place = run
        .unless_interrupted(run.workers.clone().acquire_owned())
        .await;
    let stopped = |run: &Run| {
        if run.is_expired() {
            "not started: the run reached --run-timeout".to_string()
        } else {
            "interrupted".to_string()
        }
    };
    let Ok(Ok(_worker)) = place else {
        return Record::untried(&spec, expected, stopped(&run));
    };
    if run.is_interrupted() {
        return Record::untried(&spec, expected, stopped(&run));
    }
    if let Some(why) = run.over_budget() {
        return Record::untried(&spec, expected, why);
    }
    if let Some(why) = run.failing_alike() {
        return Record::untried(&spec, expected, run.redact(&why));
    }
    let started = Instant::now();
    run.trial_running(&spec.name, true);
    let (outcome, ctx, unavailable) = run_spec(run.clone(), &spec).await;
    run.trial_running(&spec.name, false);
    let mut record = Record::untried(&spec, expected, String::new());
    record.observations = ctx.observations;
    record.duration = started.elapsed();
    record.requests = ctx.requests;
    record.chain = ctx.chain;
    record.keys_created = ctx.keys_created;
    if ctx.replay.is_some() {
        record.replay = ctx.replay;
    }
    record.trace = ctx.trace;
    record.cells = ctx.cells;
    record.unavailable = unavailable;
    record.outcome = outcome;
    record
}

/// How libtest-mimic shows a record.
fn completion(run: &Run, record: &Record) -> Result<Completion, Failed> {
    match (record.status(), &record.outcome, &record.expected) {
        (Status::Skipped, Outcome::Skipped(why), _) => Ok(Completion::ignored_with(why.clone())),
        (Status::ExpectedFailure, _, Some(e)) => Ok(Completion::ignored_with(format!(
            "expected failure: {}",
            e.reason
        ))),
        (Status::Stale, _, _) => Err(Failed::from(
            "stale expectation: the trial passed; remove it from the expected-failures file",
        )),
        (_, outcome, _) => match failure_text(outcome) {
            Some(m) => Err(Failed::from(run.redact(&m))),
            None => Ok(Completion::Completed),
        },
    }
}

/// The order trials start in: the long ones first (generated sequences and G1, then the
/// tour, whose first view sets it going), so that they do not end the run alone; the List walk
/// last but one wave, when many of the run's keys rest in the pool for it to look for.
fn start_order(spec: &Spec) -> u8 {
    // G1 pauses a second between its two looks: it starts with the long ones.
    if spec.name.starts_with("routes::g1") {
        return 0;
    }
    match spec.name.split("::").next() {
        Some("properties") => 0,
        Some("responses") => 1,
        Some("list") => 3,
        _ => 2,
    }
}

/// Runs the selected trials and records every outcome (skipped ones included) in `run`.
/// Trials above `plan.level` are not run; after an interruption no trial starts; an expected
/// failure shows as ignored with its reason and a stale expectation as a failure. libtest's
/// `--test-threads` is the user's bound on concurrency (`Run::set_workers`); libtest-mimic
/// itself reports from one thread.
pub fn execute(
    run: &Arc<Run>,
    specs: &[Spec],
    args: &Arguments,
    plan: &Plan,
) -> libtest_mimic::Conclusion {
    let mut trials = Vec::new();
    let mut selected = Vec::new();
    for spec in specs {
        let expected = plan.expected.get(&spec.name).cloned();
        if spec.level > plan.level {
            run.push(Record::untried(
                spec,
                expected,
                format!(
                    "level {} is not selected (--level {})",
                    spec.level, plan.level
                ),
            ));
            continue;
        }
        let (tx, rx) = oneshot::channel::<Record>();
        let shown = run.clone();
        let (this, expectation) = (spec.clone(), expected.clone());
        let trial = Trial::ignorable_test(spec.name.clone(), move || {
            let record = rx.blocking_recv().unwrap_or_else(|_| {
                let mut lost = Record::untried(&this, expectation, String::new());
                lost.outcome = Outcome::Error("the trial's task ended without an outcome".into());
                lost
            });
            let shown_as = completion(&shown, &record);
            shown.push(record);
            shown_as
        })
        .with_kind(spec.level.as_str());
        if args.is_filtered_out(&trial) || args.is_ignored(&trial) {
            run.push(Record::untried(spec, expected, "filtered out".into()));
        } else {
            selected.push((spec.clone(), expected, tx));
        }
        trials.push(trial);
    }
    if !args.list {
        selected.sort_by_key(|(spec, _, _)| start_order(spec));
        for (spec, expected, tx) in selected {
            let run = run.clone();
            run.runtime.clone().spawn(async move {
                let record = trial_task(run, spec, expected).await;
                let _ = tx.send(record);
            });
        }
    }
    let mut reporting = args.clone();
    reporting.test_threads = Some(1);
    libtest_mimic::run(&reporting, trials)
}
