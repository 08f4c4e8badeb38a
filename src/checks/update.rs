//! Update semantics checks: what a key looks like after an update (U1-U6), and whether the
//! update response is the key that later reads see (O5).

use serde_json::Value;

use super::{Violation, description_of, show};
pub use crate::contract::model::code_name;
use crate::contract::model::{MAX_DESCRIPTION, Verdict};
use crate::contract::timestamp::parse_strict;

/// How an update ended, as the harness observed it.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// The update took effect; the operation's response, if it was readable.
    Applied(Value),
    /// The update was refused with this google.rpc.Code (HTTP error or operation error).
    Rejected { code: i64 },
    /// The answer could not be read as either; the universal checks say why.
    Unreadable,
}

fn codes_text(codes: &[i64]) -> String {
    codes
        .iter()
        .map(|c| format!("{} ({c})", code_name(*c)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The update must have been applied (`rule` is the rule that says so).
pub fn was_applied(rule: &'static str, outcome: &UpdateOutcome) -> Option<Violation> {
    match outcome {
        UpdateOutcome::Rejected { code } => Some(
            Violation::new(rule, "a valid update was rejected")
                .received(format!("{} ({code})", code_name(*code)))
                .expected("the update applied"),
        ),
        _ => None,
    }
}

/// The update must have been rejected with one of `codes`.
pub fn was_rejected(
    rule: &'static str,
    outcome: &UpdateOutcome,
    codes: &[i64],
) -> Option<Violation> {
    match outcome {
        UpdateOutcome::Applied(_) => Some(
            Violation::new(rule, "an update that must fail was applied")
                .expected(format!("rejection with {}", codes_text(codes))),
        ),
        UpdateOutcome::Rejected { code } if !codes.contains(code) => Some(
            Violation::new(
                rule,
                format!("rejected with the wrong code {}", code_name(*code)),
            )
            .received(format!("{} ({code})", code_name(*code)))
            .expected(format!("rejection with {}", codes_text(codes))),
        ),
        _ => None,
    }
}

/// The key's description is exactly `expected`, code point for code point.
pub fn description_is(rule: &'static str, key: &Value, expected: &str) -> Option<Violation> {
    let got = description_of(key)?;
    (got != expected).then(|| {
        Violation::new(rule, "the stored description is not the expected one")
            .at("/description")
            .received(format!("{got:?} ({} characters)", got.chars().count()))
            .expected(format!(
                "{expected:?} ({} characters)",
                expected.chars().count()
            ))
    })
}

fn same_instant(a: &Value, b: &Value) -> bool {
    match (a.as_str().map(parse_strict), b.as_str().map(parse_strict)) {
        (Some(Ok(x)), Some(Ok(y))) => x == y,
        _ => a == b,
    }
}

fn field<'a>(key: &'a Value, name: &str) -> &'a Value {
    key.get(name).unwrap_or(&Value::Null)
}

/// U4: id, serviceAccountId, createdAt and keyId are as before; lastUsedAt did not go back.
pub fn immutable_fields_kept(before: &Value, after: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    for name in ["id", "serviceAccountId", "keyId"] {
        if field(before, name) != field(after, name) {
            found.push(
                Violation::new("U4", format!("update changed {name}"))
                    .at(format!("/{name}"))
                    .received(show(field(after, name)))
                    .expected(show(field(before, name))),
            );
        }
    }
    if !same_instant(field(before, "createdAt"), field(after, "createdAt")) {
        found.push(
            Violation::new("U4", "update changed createdAt")
                .at("/createdAt")
                .received(show(field(after, "createdAt")))
                .expected(show(field(before, "createdAt"))),
        );
    }
    let used = |k: &Value| {
        k.get("lastUsedAt")
            .and_then(Value::as_str)
            .and_then(|s| parse_strict(s).ok())
    };
    if let (Some(b), a) = (used(before), used(after))
        && a.is_none_or(|a| a < b)
    {
        found.push(
            Violation::new("U4", "lastUsedAt moved back")
                .at("/lastUsedAt")
                .received(show(field(after, "lastUsedAt")))
                .expected(format!("{} or later", field(before, "lastUsedAt"))),
        );
    }
    found
}

/// U6: a rejected update left the key as it was (lastUsedAt may move forward).
pub fn nothing_changed(before: &Value, after: &Value) -> Vec<Violation> {
    let mut found: Vec<Violation> = immutable_fields_kept(before, after)
        .into_iter()
        .map(|mut v| {
            v.title = format!("a rejected update changed something: {}", v.title);
            v.charged_to("U6")
        })
        .collect();
    if description_of(before) != description_of(after) {
        found.push(
            Violation::new("U6", "a rejected update changed the description")
                .at("/description")
                .received(show(field(after, "description")))
                .expected(show(field(before, "description"))),
        );
    }
    found
}

/// O5: the update response is the key the path names, equal to what Get returns afterwards
/// (`@type`, lastUsedAt and the spelling of instants and defaults aside).
pub fn response_matches_read(path_id: &str, response: &Value, read: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    if response.get("id").and_then(Value::as_str) != Some(path_id) {
        found.push(
            Violation::new("O5", "the update response is not the key of the request")
                .at("/response/id")
                .received(show(field(response, "id")))
                .expected(format!("{path_id:?}")),
        );
    }
    for name in ["serviceAccountId", "keyId"] {
        if field(response, name) != field(read, name) {
            found.push(mismatch(name, response, read));
        }
    }
    if !same_instant(field(response, "createdAt"), field(read, "createdAt")) {
        found.push(mismatch("createdAt", response, read));
    }
    if description_of(response) != description_of(read) {
        found.push(mismatch("description", response, read));
    }
    found
}

/// Judges one update against the model: the outcome must be one the verdict allows, a rejection
/// must leave the key as it was (U6), and an applied update keeps the identity fields (U4) and
/// answers with the key that later reads see (O5). `sent` is the description text the body
/// carried; `before` and `after` are the key read before and after (`after` is `None` when it
/// could not be read).
pub fn judge(
    verdict: &Verdict,
    sent: Option<&str>,
    before: &Value,
    outcome: &UpdateOutcome,
    after: Option<&Value>,
) -> Vec<Violation> {
    let mut found = Vec::new();
    let expected = verdict.describe();
    match outcome {
        UpdateOutcome::Unreadable => {}
        UpdateOutcome::Rejected { code } => {
            match verdict.rejected() {
                Some((codes, rule)) if !codes.contains(code) => found.push(
                    Violation::new(
                        rule,
                        format!("rejected with the wrong code {}", code_name(*code)),
                    )
                    .received(format!("{} ({code})", code_name(*code)))
                    .expected(expected),
                ),
                Some(_) => {}
                None => {
                    // Rejecting a description that is long in bytes but not in characters is
                    // U5's failure whatever the mask said.
                    let rule = if sent.is_some_and(|t| t.len() > MAX_DESCRIPTION) {
                        "U5"
                    } else {
                        verdict.rule
                    };
                    found.push(
                        Violation::new(rule, "a valid update was rejected")
                            .received(format!("{} ({code})", code_name(*code)))
                            .expected(expected),
                    );
                }
            }
            if let Some(after) = after {
                found.extend(nothing_changed(before, after));
            }
        }
        UpdateOutcome::Applied(response) => {
            match verdict.applied() {
                None => {
                    let rule = verdict.rejected().map_or(verdict.rule, |(_, r)| r);
                    found.push(
                        Violation::new(rule, "an update that must fail was applied")
                            .expected(expected),
                    );
                }
                Some((wanted, rule)) => {
                    if let Some(got) = after.and_then(description_of)
                        && got != wanted
                    {
                        // A sent value stored as something else is U1 (exactness); the old
                        // value kept, or the wrong field read, is the rule of the reading.
                        let kept_old = description_of(before).as_deref() == Some(got.as_str());
                        let rule = if sent == Some(wanted) && !kept_old {
                            "U1"
                        } else {
                            rule
                        };
                        found.push(
                            Violation::new(rule, "the stored description is not the expected one")
                                .at("/description")
                                .received(format!("{got:?} ({} characters)", got.chars().count()))
                                .expected(expected),
                        );
                    }
                }
            }
            if let Some(after) = after {
                found.extend(immutable_fields_kept(before, after));
                let id = field(before, "id").as_str().unwrap_or_default();
                found.extend(response_matches_read(id, response, after));
            }
        }
    }
    found
}

fn mismatch(name: &str, response: &Value, read: &Value) -> Violation {
    Violation::new(
        "O5",
        format!("the update response and a later Get disagree on {name}"),
    )
    .at(format!("/response/{name}"))
    .received(show(field(response, name)))
    .expected(format!("{} (as Get returns it)", show(field(read, name))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> Value {
        json!({"id": "k", "serviceAccountId": "s", "createdAt": "2026-11-28T10:00:00+03:00", "keyId": "YC", "description": "a"})
    }

    #[test]
    fn equal_instants_in_other_spellings_are_not_changes() {
        let mut after = key();
        after["createdAt"] = json!("2026-11-28T07:00:00.000Z");
        assert!(immutable_fields_kept(&key(), &after).is_empty());
        after["keyId"] = json!("other");
        assert_eq!(immutable_fields_kept(&key(), &after).len(), 1);
    }

    #[test]
    fn absent_description_equals_empty() {
        let mut a = key();
        a["description"] = json!("");
        let mut b = key();
        b.as_object_mut().unwrap().remove("description");
        assert!(nothing_changed(&a, &b).is_empty());
        assert!(description_is("U2", &b, "").is_none());
        assert!(response_matches_read("k", &a, &b).is_empty());
    }

    #[test]
    fn last_used_may_only_move_forward() {
        let mut before = key();
        before["lastUsedAt"] = json!("2026-11-28T08:00:00Z");
        let mut after = key();
        after["lastUsedAt"] = json!("2026-11-28T09:00:00Z");
        assert!(nothing_changed(&before, &after).is_empty());
        assert_eq!(nothing_changed(&after, &before).len(), 1);
    }
}
