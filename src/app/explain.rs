//! `accesskey-conformance rules` and `explain RULE`: what each rule means, where it comes
//! from, and which trials and checkers of the route matrix test it on which routes.

use std::process::ExitCode;

use super::usage;
use crate::cli::{ExplainArgs, RulesArgs};
use crate::contract::{RULES, Rule, explain};
use crate::exit;
use crate::suite::routes::CHECKERS;

/// What tests a rule: the trials named for it, the matrix checkers with their routes, and
/// whether every answer of a run is held to it.
fn tested_by(rule: &Rule, cases: &[crate::contract::cases::Case]) -> Vec<String> {
    let mut out = Vec::new();
    if explain::EVERY_ANSWER.contains(&rule.id) {
        out.push("every answer of a run (the checks each response gets)".to_string());
    }
    for spec in crate::suite::specs(cases)
        .iter()
        .filter(|s| s.rule == rule.id)
    {
        match CHECKERS.iter().find(|c| c.trial == spec.name) {
            Some(checker) => {
                let routes: Vec<&str> = checker.routes().iter().map(|r| r.name).collect();
                out.push(format!("{} (on {})", spec.name, routes.join(", ")));
            }
            None => out.push(spec.name.clone()),
        }
    }
    out
}

fn cases() -> Vec<crate::contract::cases::Case> {
    crate::contract::cases::embedded().unwrap_or_default()
}

/// `explain RULE`.
pub fn explain(args: ExplainArgs) -> ExitCode {
    let Some(rule) = RULES.iter().find(|r| r.id.eq_ignore_ascii_case(&args.rule)) else {
        let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        return usage(format!(
            "there is no rule `{}`; the rules are {}",
            args.rule,
            ids.join(", ")
        ));
    };
    let text = explain::of(rule.id);
    println!("{} ({}): {}", rule.id, rule.level, rule.title);
    println!();
    println!("{}", text.map_or("", |e| e.meaning));
    println!();
    println!("Source: {}.", text.map_or("", |e| e.source));
    let tested = tested_by(rule, &cases());
    if !tested.is_empty() {
        println!();
        println!("Tested by:");
        for t in tested {
            println!("  {t}");
        }
    }
    exit::code(exit::PASSED)
}

/// `rules [--markdown]`.
pub fn rules(args: RulesArgs) -> ExitCode {
    let cases = cases();
    if args.markdown {
        println!("| rule | level | what it asks | tested by | source |");
        println!("|---|---|---|---|---|");
    }
    for rule in RULES {
        let text = explain::of(rule.id);
        let tested = tested_by(rule, &cases);
        if args.markdown {
            let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
            println!(
                "| {} | {} | {} | {} | {} |",
                rule.id,
                rule.level,
                cell(text.map_or(rule.title, |e| e.meaning)),
                cell(&tested.join("; ")),
                cell(text.map_or("", |e| e.source))
            );
        } else {
            println!(
                "{:4} {:6} {} (tested by {}; `explain {}`)",
                rule.id,
                rule.level.as_str(),
                rule.title,
                tested.len(),
                rule.id
            );
        }
    }
    exit::code(exit::PASSED)
}
