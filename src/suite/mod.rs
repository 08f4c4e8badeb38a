//! The suite: every trial as a [`Spec`], named `area::rule_situation`.
//!
//! - [`tour`]: one shared walk through every method; the trials of the per-response rules
//!   (S1, T1-T4, O1-O4, O6, O8, E1, E3, X1) each report their own rule's findings from it;
//! - [`update`]: one key per trial, one Update situation each (U1-U10, O5, O7);
//! - [`routes`]: the route matrix: the rules that hold on every route (E2, A1-A3, G1, G2,
//!   I1, I2, P1), one checker each, applied to every route it covers.

mod cases;
mod list;
mod properties;
pub mod routes;
mod shared;
mod step;
mod tour;
mod update;

use crate::contract::cases::Case;
use crate::contract::rules;
use crate::runner::Spec;

/// Declares a spec whose level is the rule's own.
macro_rules! spec {
    ($name:literal, $rule:literal, $body:path) => {
        $crate::runner::Spec {
            name: $name.to_string(),
            rule: $rule,
            level: $crate::contract::rules::get($rule).level,
            body: std::sync::Arc::new(|ctx| Box::pin($body(ctx))),
            replay: None,
            covers: Vec::new(),
            walk: None,
        }
    };
    ($name:literal, $rule:literal, $level:expr, $body:path) => {
        $crate::runner::Spec {
            name: $name.to_string(),
            rule: $rule,
            level: $level,
            body: std::sync::Arc::new(|ctx| Box::pin($body(ctx))),
            replay: None,
            covers: Vec::new(),
            walk: None,
        }
    };
}
pub(crate) use spec;

/// `replay`: the trial that plays one recorded sequence of a property (see
/// `runner::Replay::Sequence`).
pub fn replayed_sequence(name: &str, profile: &str, bodies: &[String]) -> Result<Spec, String> {
    properties::replay_spec(name, profile, bodies)
}

/// The trials of these cases (one each).
pub fn case_specs(cases: &[Case]) -> Vec<Spec> {
    cases::specs(cases)
}

/// Every trial, sorted by name: the built-in ones and one per case.
pub fn specs(cases: &[Case]) -> Vec<Spec> {
    let mut all = Vec::new();
    all.extend(tour::specs());
    all.extend(cases::specs(cases));
    all.extend(list::specs());
    all.extend(properties::specs());
    all.extend(update::specs());
    all.extend(routes::specs());
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Rules with at least one trial of their own.
pub fn covered_rules(cases: &[Case]) -> Vec<&'static str> {
    let specs = specs(cases);
    rules::RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| specs.iter().any(|s| s.rule == *id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_in() -> Vec<Case> {
        crate::contract::cases::embedded().expect("built-in cases load")
    }

    #[test]
    fn names_are_unique_and_rules_known() {
        let specs = specs(&built_in());
        for (i, a) in specs.iter().enumerate() {
            assert!(rules::find(a.rule).is_some(), "{}", a.name);
            assert!(a.name.contains("::"), "{}", a.name);
            for b in &specs[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn every_rule_but_u8_has_a_trial() {
        let covered = covered_rules(&built_in());
        for rule in rules::RULES {
            assert!(covered.contains(&rule.id), "no trial for {}", rule.id);
        }
    }
}
