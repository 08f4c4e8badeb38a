//! `run --plan`: what a run with these flags would do, worked out without sending anything.
//! The trials it would start (the level and the filters applied as the runner applies them),
//! the keys each one creates at most, an estimate of its requests, and the checkers of the
//! route matrix it could not play. The per-trial figures are data (`plan_costs.json`),
//! measured on the embedded server at the default level and scaled here by the generation
//! settings: a property's requests grow with its sequences, its keys with its lanes.
//! `UPDATE_PLAN_COSTS=1 cargo test --test plan` measures them again.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::harness;
use super::run::{generation, load_contract, second_account, workers};
use crate::cli::RunArgs;
use crate::contract::Level;
use crate::exit;
use crate::runner::Spec;
use crate::suite::routes::CHECKERS;

/// What one default run against the embedded server measured (see the module's doc).
const COSTS: &str = include_str!("plan_costs.json");

#[derive(Debug, Deserialize)]
struct Costs {
    measured: Measured,
    trials: BTreeMap<String, Cost>,
}

/// The run the figures come from.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Measured {
    /// When it was measured (YYYY-MM-DD).
    pub date: String,
    /// How it was measured.
    pub command: String,
    /// Requests the whole run sent, and the keys it created.
    pub requests: u64,
    pub keys: u64,
    /// Requests outside the trials (the first probe, the sweep).
    pub outside_trials: u64,
    /// Its generation settings: sequences per property, lanes per property.
    pub cases: u32,
    pub lanes: usize,
}

/// One trial's figures in the measured run: the requests it sent and the Creates.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
struct Cost {
    requests: f64,
    keys: u32,
}

/// The plan, as `--json` writes it (shape: `schemas/plan.schema.json`).
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub harness: &'static str,
    pub version: &'static str,
    /// The URL, or "embedded" for the embedded reference server.
    pub target: String,
    pub level: Level,
    pub seed: u64,
    pub generation: Settings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    pub trials: Vec<PlannedTrial>,
    pub totals: Totals,
    /// Route-matrix checkers that would be reported as not run, and why.
    pub not_run: Vec<NotRun>,
    /// The run the estimate is scaled from.
    pub measured: Measured,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    /// Generated sequences per property trial.
    pub cases: u32,
    /// Sequences of one property played side by side, each on a key of its own.
    pub lanes: usize,
    /// Trials working at once.
    pub workers: usize,
}

#[derive(Debug, Serialize)]
pub struct PlannedTrial {
    pub name: String,
    pub rule: &'static str,
    pub level: Level,
    /// Whether the run would start it (its level and the filters select it).
    pub selected: bool,
    /// Why it would not start, or would start and report itself as not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keys it creates at most (fewer when it takes a key another trial passed on).
    pub keys_at_most: u32,
    pub requests_estimate: u64,
    /// Whether its figures were measured (false: the mean of its kind, for a case of
    /// `--cases` or a trial newer than the measurement).
    pub measured: bool,
    /// The shared walk it is a view of: the walk's requests and keys are its figures, and
    /// they count once in the totals however many of its views run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Totals {
    /// Trials the run would start.
    pub trials: usize,
    pub keys_at_most: u64,
    /// Requests, the first probe and the sweep included.
    pub requests_estimate: u64,
}

#[derive(Debug, Serialize)]
pub struct NotRun {
    pub checker: &'static str,
    pub rule: &'static str,
    pub reason: String,
}

/// `run --plan`: prints the plan, writes it as JSON when `--json` names a file; exit 0.
pub fn plan(args: &RunArgs) -> ExitCode {
    match build(args) {
        Ok(report) => {
            print!("{}", text(&report));
            if let Some(path) = &args.outputs.json {
                let json = match serde_json::to_string_pretty(&report) {
                    Ok(json) => json,
                    Err(e) => return harness(format!("cannot write the plan as JSON: {e}")),
                };
                if let Err(e) = std::fs::write(path, json + "\n") {
                    return harness(format!(
                        "cannot write the plan to `{}`: {e}",
                        path.display()
                    ));
                }
            }
            exit::code(exit::PASSED)
        }
        Err(code) => code,
    }
}

/// Works the plan out from the flags, the contract and the measured costs.
pub fn build(args: &RunArgs) -> Result<PlanReport, ExitCode> {
    let costs: Costs = serde_json::from_str(COSTS)
        .map_err(|e| harness(format!("the plan's measured costs do not read: {e}")))?;
    let contract = load_contract(args)?;
    let specs = crate::suite::specs(&contract.cases);
    // The expected-failures file is checked as the run checks it.
    super::run::plan(args, &specs)?;
    let (alt_token, alt_account) = second_account(args)?;
    let digest = crate::contract::digest(&contract.schemas, &contract.cases);
    let settings = generation(args, &digest);
    let shared_key = args.access_key_id.is_some();
    let scale = Scale::new(&costs, settings.cases, settings.lanes);

    let mut not_run = Vec::new();
    for checker in CHECKERS {
        if let Some(reason) = checker.unmet_given(shared_key, alt_token, alt_account) {
            not_run.push(NotRun {
                checker: checker.trial,
                rule: checker.rule,
                reason,
            });
        }
    }
    let mut trials = Vec::new();
    for spec in &specs {
        trials.push(planned(args, spec, &costs, &scale, &not_run));
    }
    let totals = totals(&trials, costs.measured.outside_trials);
    Ok(PlanReport {
        harness: "accesskey-conformance",
        version: env!("CARGO_PKG_VERSION"),
        target: args
            .target
            .base_url
            .clone()
            .unwrap_or_else(|| "embedded".into()),
        level: args.level,
        seed: settings.seed,
        generation: Settings {
            cases: settings.cases,
            lanes: settings.lanes,
            workers: workers(args),
        },
        max_requests: args.keys.max_requests,
        trials,
        totals,
        not_run,
        measured: costs.measured,
    })
}

/// The trials the run would start and what they cost together: a shared walk counts once.
fn totals(trials: &[PlannedTrial], outside_trials: u64) -> Totals {
    let mut walks: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let (mut keys, mut requests, mut count) = (0, outside_trials, 0);
    for t in trials.iter().filter(|t| t.selected) {
        count += 1;
        match t.walk {
            Some(walk) => {
                let w = walks.entry(walk).or_default();
                w.0 = w.0.max(u64::from(t.keys_at_most));
                w.1 = w.1.max(t.requests_estimate);
            }
            None => {
                keys += u64::from(t.keys_at_most);
                requests += t.requests_estimate;
            }
        }
    }
    for (k, r) in walks.values() {
        keys += k;
        requests += r;
    }
    Totals {
        trials: count,
        keys_at_most: keys,
        requests_estimate: requests,
    }
}

/// How the measured figures of generated trials scale to this run's settings.
struct Scale {
    /// This run's sequences per property over the measured run's.
    sequences: f64,
    /// This run's lanes per property over the measured run's (each lane has a key).
    lanes: f64,
    /// The means of cases and of other trials, for trials that were not measured.
    case_mean: Cost,
    other_mean: Cost,
}

impl Scale {
    fn new(costs: &Costs, cases: u32, lanes: usize) -> Self {
        let measured = &costs.measured;
        let played = |cases: u32, lanes: usize| lanes.min(cases as usize).max(1) as f64;
        let mean = |pick: &dyn Fn(&str) -> bool| {
            let picked: Vec<&Cost> = costs
                .trials
                .iter()
                .filter(|(name, _)| pick(name))
                .map(|(_, c)| c)
                .collect();
            let n = picked.len().max(1) as f64;
            Cost {
                requests: picked.iter().map(|c| c.requests).sum::<f64>() / n,
                keys: (picked.iter().map(|c| f64::from(c.keys)).sum::<f64>() / n).ceil() as u32,
            }
        };
        Scale {
            sequences: f64::from(cases) / f64::from(measured.cases.max(1)),
            lanes: played(cases, lanes) / played(measured.cases, measured.lanes),
            case_mean: mean(&|name| name.starts_with("cases::")),
            other_mean: mean(&|name| !is_generated(name) && !name.starts_with("cases::")),
        }
    }
}

/// Trials whose requests grow with the generation settings.
fn is_generated(name: &str) -> bool {
    name.starts_with("properties::")
}

fn planned(
    args: &RunArgs,
    spec: &Spec,
    costs: &Costs,
    scale: &Scale,
    not_run: &[NotRun],
) -> PlannedTrial {
    let (cost, measured) = match costs.trials.get(&spec.name) {
        Some(cost) => (*cost, true),
        None if spec.name.starts_with("cases::") => (scale.case_mean, false),
        None => (scale.other_mean, false),
    };
    let (requests, keys) = if is_generated(&spec.name) {
        (
            cost.requests * scale.sequences,
            (f64::from(cost.keys) * scale.lanes).ceil() as u32,
        )
    } else {
        (cost.requests, cost.keys)
    };
    let mut trial = PlannedTrial {
        name: spec.name.clone(),
        rule: spec.rule,
        level: spec.level,
        selected: true,
        reason: None,
        keys_at_most: keys,
        requests_estimate: requests.round() as u64,
        measured,
        walk: spec.walk,
    };
    let unselected = if spec.level > args.level {
        Some(format!(
            "level {} is not selected (--level {})",
            spec.level, args.level
        ))
    } else {
        let probe =
            libtest_mimic::Trial::test(spec.name.clone(), || Ok(())).with_kind(spec.level.as_str());
        (args.test.is_filtered_out(&probe) || args.test.is_ignored(&probe))
            .then(|| "filtered out".to_string())
    };
    if let Some(reason) = unselected {
        trial.selected = false;
        trial.reason = Some(reason);
    } else if let Some(n) = not_run.iter().find(|n| n.checker == spec.name) {
        // It starts, finds what it needs missing, and reports itself as not run.
        trial.reason = Some(format!("reported as not run: {}", n.reason));
        trial.keys_at_most = 0;
        trial.requests_estimate = 0;
    }
    trial
}

/// The plan as the console shows it.
pub fn text(plan: &PlanReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let target = if plan.target == "embedded" {
        "the embedded reference server".to_string()
    } else {
        plan.target.clone()
    };
    let _ = writeln!(
        out,
        "plan of a run against {target} (nothing was sent)\nlevel {}; seed {}; {} sequences per property in {} lane(s); {} trial(s) at once\n",
        plan.level,
        plan.seed,
        plan.generation.cases,
        plan.generation.lanes,
        plan.generation.workers
    );
    let _ = writeln!(out, "{:>5} {:>9}  trial", "keys", "requests");
    for t in plan.trials.iter().filter(|t| t.selected) {
        let mark = if t.measured {
            ""
        } else {
            " (not measured: the mean of its kind)"
        };
        let mut note = t
            .reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        if let Some(walk) = t.walk {
            note.push_str(&format!(
                " (a view of the {walk}: sent once for all its views)"
            ));
        }
        let _ = writeln!(
            out,
            "{:>5} {:>9}  {}{mark}{note}",
            format!("≤{}", t.keys_at_most),
            format!("~{}", t.requests_estimate),
            t.name
        );
    }
    let unselected: Vec<&PlannedTrial> = plan.trials.iter().filter(|t| !t.selected).collect();
    if !unselected.is_empty() {
        let mut why: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &unselected {
            *why.entry(t.reason.as_deref().unwrap_or("not selected"))
                .or_default() += 1;
        }
        let reasons: Vec<String> = why.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let _ = writeln!(
            out,
            "\nnot started: {} trial(s): {}",
            unselected.len(),
            reasons.join("; ")
        );
    }
    if !plan.not_run.is_empty() {
        let _ = writeln!(
            out,
            "\nroute-matrix checkers that would be reported as not run:"
        );
        for n in &plan.not_run {
            let _ = writeln!(out, "  {} ({}): {}", n.checker, n.rule, n.reason);
        }
    }
    let m = &plan.measured;
    let _ = writeln!(
        out,
        "\ntotal: {} trial(s), at most {} key(s) created (each deleted by the run), about {} requests (the first probe and the sweep included)",
        plan.totals.trials, plan.totals.keys_at_most, plan.totals.requests_estimate
    );
    let _ = writeln!(
        out,
        "measured: the default run against the embedded server sent {} requests and {} Creates ({}, {} sequences per property, {} lanes; `{}`)",
        m.requests, m.keys, m.date, m.cases, m.lanes, m.command
    );
    if let Some(max) = plan.max_requests {
        if plan.totals.requests_estimate > max {
            let _ = writeln!(
                out,
                "budget: --max-requests {max} is below the estimate: trials that would start after it is spent are reported as not run, and the run is a harness error unless --accept-partial"
            );
        } else {
            let _ = writeln!(out, "budget: --max-requests {max} covers the estimate");
        }
    }
    if plan.target != "embedded" {
        let _ = writeln!(
            out,
            "a target whose operations are not done at once adds its polls, and the List walks add pages for the keys the account already holds"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_costs_read() {
        let costs: Costs = serde_json::from_str(COSTS).expect("plan_costs.json reads");
        assert!(costs.measured.requests > 0);
        assert!(!costs.trials.is_empty());
    }
}
