//! The rule table: every [`Rule`] the harness checks, with its id, [`Level`] and title.
//!
//! Ids follow the project's contract brief (T timestamps, O operations, U update semantics,
//! E errors and auth, X secrets, A/G/I/P the rules of every route, L List) plus S1 for the field types of the reference page, which the
//! JSON Schemas in `schemas/` carry.

use std::fmt;

/// How binding a rule is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Stated by the API reference or the protos: a failure gates CI.
    Must,
    /// A convention of FieldMask, the AIPs or the design guide: fails by default.
    Should,
    /// Left open by the sources: which documented reading the target chose is recorded, never
    /// judged (an answer outside every documented reading still fails).
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::Info => "info",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub level: Level,
    pub title: &'static str,
}

const fn rule(id: &'static str, level: Level, title: &'static str) -> Rule {
    Rule { id, level, title }
}

use Level::{Info, Must, Should};

/// Every rule, in the order of the contract brief.
pub static RULES: &[Rule] = &[
    rule(
        "S1",
        Must,
        "every response body has the documented shape and field types",
    ),
    rule(
        "T1",
        Must,
        "timestamps follow the RFC 3339 date-time grammar",
    ),
    rule("T2", Must, "timestamps name a real calendar instant"),
    rule(
        "T3",
        Must,
        "timestamps lie within the protobuf Timestamp range in UTC",
    ),
    rule(
        "T4",
        Should,
        "modifiedAt and lastUsedAt are not before createdAt",
    ),
    rule(
        "T5",
        Must,
        "stamped instants tell the true time, give or take the target's clock offset",
    ),
    rule("T6", Should, "the T and Z designators are upper case"),
    rule(
        "O1",
        Must,
        "an operation never carries both error and response",
    ),
    rule("O2", Must, "a finished operation carries its result"),
    rule("O3", Must, "an unfinished operation carries no response"),
    rule(
        "O4",
        Must,
        "operation metadata names the key of the request",
    ),
    rule(
        "O5",
        Must,
        "the update response is the updated key, as later reads see it",
    ),
    rule(
        "O6",
        Must,
        "an operation read back by id is the same operation (should: readable, also after its key is deleted)",
    ),
    rule(
        "O7",
        Must,
        "an unfinished operation finishes within the timeout",
    ),
    rule(
        "O8",
        Must,
        "an operation has a non-empty id and a short description",
    ),
    rule(
        "O9",
        Must,
        "an operation's envelope is readable: an object, a string id, a boolean done",
    ),
    rule(
        "U1",
        Must,
        "a masked description with a value is stored exactly",
    ),
    rule(
        "U2",
        Must,
        "a masked description without a value is reset to empty",
    ),
    rule("U3", Must, "without a mask the update replaces every field"),
    rule(
        "U4",
        Must,
        "update never changes id, serviceAccountId, createdAt or keyId",
    ),
    rule(
        "U5",
        Must,
        "descriptions are limited to 256 characters, not bytes",
    ),
    rule("U6", Must, "a rejected update changes nothing"),
    rule(
        "U7",
        Should,
        "a mask path naming nothing updatable is rejected",
    ),
    rule(
        "U8",
        Info,
        "unusual masks and bodies get a documented reading or a rejection",
    ),
    rule(
        "U9",
        Must,
        "updating an unknown or deleted key fails and creates nothing",
    ),
    rule(
        "U10",
        Must,
        "a body that is not an object or has wrongly typed fields is rejected",
    ),
    rule(
        "E1",
        Must,
        "errors are Status objects whose HTTP status matches their code",
    ),
    rule(
        "E2",
        Must,
        "a missing or invalid token is answered UNAUTHENTICATED",
    ),
    rule(
        "E3",
        Must,
        "no request the harness sends is answered with a server error",
    ),
    rule(
        "E4",
        Must,
        "JSON answers are labelled application/json and are valid UTF-8",
    ),
    rule(
        "X1",
        Must,
        "no secret after Create and no undocumented access key field",
    ),
    rule(
        "A1",
        Must,
        "every route refuses missing, unknown and near-miss credentials with UNAUTHENTICATED",
    ),
    rule(
        "A2",
        Must,
        "every route refuses another account's token for this account's keys and operations",
    ),
    rule(
        "A3",
        Must,
        "List shows only the account asked for on every page, and nothing for a near-miss account id",
    ),
    rule(
        "G1",
        Must,
        "a deleted key is gone on every read path, at once and a moment later",
    ),
    rule(
        "G2",
        Must,
        "after an update every read path shows the same key",
    ),
    rule(
        "I1",
        Should,
        "a mutation repeated with the same Idempotency-Key acts once",
    ),
    rule(
        "I2",
        Info,
        "what a reused Idempotency-Key with another body does",
    ),
    rule("P1", Should, "ids in paths are matched exactly"),
    rule(
        "L1",
        Must,
        "walking List page by page yields each of the account's keys exactly once",
    ),
    rule(
        "L2",
        Must,
        "List filtered by a service account shows only that account's keys",
    ),
    rule("L3", Should, "a List page holds at most pageSize keys"),
];

/// Looks a rule up by id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Looks up a rule that the code names; an unknown id here is a programming error caught by
/// the unit test below, so it falls back to S1 rather than panicking.
pub fn get(id: &str) -> &'static Rule {
    find(id).unwrap_or(&RULES[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                assert_ne!(a.id, b.id);
            }
        }
    }
}
