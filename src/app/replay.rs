//! `accesskey-conformance replay REPORT.json [TRIAL...]`: the failed (or named) trials of an
//! earlier run's JSON report, sent again: a case's recorded file, a property's shortest failing
//! sequence, any other trial run again by name. Judged by the same rules, with everything a run
//! promises (ledger, cleanup, redaction, reports), against the target given now.

use std::process::ExitCode;

use serde_json::Value;

use super::usage;
use crate::cli::{ReplayArgs, RunArgs};
use crate::runner::{Replay, Spec};

/// `accesskey-conformance replay`.
pub fn replay(args: ReplayArgs) -> ExitCode {
    match plan(&args) {
        Ok((mut run_args, specs)) => match super::run::phases(&mut run_args, Some(specs)) {
            Ok(code) | Err(code) => code,
        },
        Err(message) => usage(message),
    }
}

/// The run's arguments and the trials to send again, or why the report cannot be replayed.
fn plan(args: &ReplayArgs) -> Result<(RunArgs, Vec<Spec>), String> {
    let shown = args.report.display();
    let text = std::fs::read_to_string(&args.report)
        .map_err(|e| format!("cannot read the report `{shown}`: {e}"))?;
    let report: Value = serde_json::from_str(&text)
        .map_err(|e| format!("the report `{shown}` is not JSON: {e}"))?;
    if report["harness"] != "accesskey-conformance" {
        return Err(format!(
            "`{shown}` is not a JSON report of accesskey-conformance (`run --json`)"
        ));
    }
    let ours = env!("CARGO_PKG_VERSION");
    match report["version"].as_str() {
        Some(v) if v == ours => {}
        Some(v) => {
            return Err(format!(
                "the report `{shown}` was written by accesskey-conformance {v}, this is {ours}: run the suite again with this version"
            ));
        }
        None => return Err(format!("the report `{shown}` has no harness version")),
    }
    let trials = report["trials"]
        .as_array()
        .ok_or_else(|| format!("the report `{shown}` has no trials"))?;
    let name_of = |t: &Value| t["name"].as_str().unwrap_or_default().to_string();
    let selected: Vec<&Value> = if args.trials.is_empty() {
        let failed: Vec<&Value> = trials.iter().filter(|t| t["status"] == "failed").collect();
        if failed.is_empty() {
            return Err(format!(
                "the report `{shown}` has no failed trial: name the trials to replay"
            ));
        }
        failed
    } else {
        let mut named = Vec::new();
        for name in &args.trials {
            let trial = trials.iter().find(|t| name_of(t) == *name).ok_or_else(|| {
                format!("the report `{shown}` has no trial `{name}` (see its \"trials\")")
            })?;
            named.push(trial);
        }
        named
    };
    let builtin = crate::contract::cases::embedded().map_err(|e| e.to_string())?;
    let suite = crate::suite::specs(&builtin);
    let mut specs = Vec::new();
    for trial in selected {
        let name = name_of(trial);
        let recorded = match trial.get("replay") {
            Some(data) => Some(serde_json::from_value::<Replay>(data.clone()).map_err(|e| {
                format!("the report `{shown}`: trial `{name}`: unreadable replay data: {e}")
            })?),
            None => None,
        };
        match recorded {
            Some(Replay::Case { file, contents }) => {
                let stem = file.strip_suffix(".json").unwrap_or(&file).to_string();
                let case = crate::contract::cases::parse(
                    &format!("{file} (recorded in {shown})"),
                    &stem,
                    &contents,
                )
                .map_err(|e| e.to_string())?;
                specs.extend(crate::suite::case_specs(&[case]));
            }
            Some(Replay::Sequence { profile, bodies }) => {
                specs.push(
                    crate::suite::replayed_sequence(&name, &profile, &bodies)
                        .map_err(|e| format!("the report `{shown}`: trial `{name}`: {e}"))?,
                );
            }
            None => {
                let spec = suite.iter().find(|s| s.name == name).ok_or_else(|| {
                    format!(
                        "trial `{name}` of the report `{shown}` is not one of this harness's trials"
                    )
                })?;
                specs.push(spec.clone());
            }
        }
    }
    let mut run = RunArgs::defaults().map_err(|e| e.to_string())?;
    run.target = args.target.clone();
    run.outputs = args.outputs.clone();
    run.keys = args.keys.clone();
    run.seed = report["seed"].as_u64();
    run.test.test_threads = args.test_threads;
    Ok((run, specs))
}
