//! Timestamp checks: T1-T3 on every timestamp field of a document, T4 on their order, T6 on
//! the case of the designators. (T5, the true time, is `clock`.)

use serde_json::Value;

use super::Violation;
use crate::contract::timestamp::{Instant, parse_strict};

/// The fields that hold timestamps anywhere in the API's documents.
pub const TIMESTAMP_FIELDS: [&str; 3] = ["createdAt", "modifiedAt", "lastUsedAt"];

/// Calls `f(pointer, text)` for every string-valued timestamp field in `doc`.
fn each_timestamp(doc: &Value, pointer: &str, f: &mut impl FnMut(&str, &str)) {
    match doc {
        Value::Object(map) => {
            for (name, value) in map {
                let here = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
                match value {
                    Value::String(s) if TIMESTAMP_FIELDS.contains(&name.as_str()) => f(&here, s),
                    _ => each_timestamp(value, &here, f),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                each_timestamp(item, &format!("{pointer}/{i}"), f);
            }
        }
        _ => {}
    }
}

/// T1, T2, T3: every timestamp is strict RFC 3339, a real instant, and in the protobuf range.
pub fn timestamps_are_valid(doc: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    each_timestamp(doc, "", &mut |pointer, text| {
        if let Err(e) = parse_strict(text) {
            found.push(
                Violation::new(e.rule(), format!("timestamp {e}"))
                    .at(pointer)
                    .received(format!("{text:?}"))
                    .expected(match e.rule() {
                        "T1" => "YYYY-MM-DDThh:mm:ss[.1-9 digits](Z|+hh:mm|-hh:mm)",
                        "T2" => "a real date and time (no leap second)",
                        _ => "0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z",
                    }),
            );
        }
    });
    found
}

/// T6: the `T` and `Z` designators are upper case (RFC 3339 allows lower case, the protobuf
/// JSON parsers of the official SDKs do not).
pub fn designators_are_upper_case(doc: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    each_timestamp(doc, "", &mut |pointer, text| {
        let lower_t = text.as_bytes().get(10) == Some(&b't');
        let lower_z = text.ends_with('z');
        if (lower_t || lower_z) && parse_strict(text).is_ok() {
            found.push(
                Violation::new("T6", "timestamp has a lower-case designator")
                    .at(pointer)
                    .received(format!("{text:?}"))
                    .expected("upper-case 'T' and 'Z', as protobuf's JSON printers write them"),
            );
        }
    });
    found
}

fn instant(obj: &Value, field: &str) -> Option<Instant> {
    obj.get(field)?.as_str().and_then(|s| parse_strict(s).ok())
}

/// T4: in every object of `doc`, `modifiedAt` and `lastUsedAt` are not before `createdAt`.
pub fn timestamps_are_ordered(doc: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    walk_objects(doc, "", &mut |pointer, obj| {
        let Some(created) = instant(obj, "createdAt") else {
            return;
        };
        for later in ["modifiedAt", "lastUsedAt"] {
            if let Some(t) = instant(obj, later)
                && t < created
            {
                found.push(
                    Violation::new("T4", format!("{later} is before createdAt"))
                        .at(format!("{pointer}/{later}"))
                        .received(format!(
                            "createdAt {}, {later} {}",
                            obj["createdAt"], obj[later]
                        ))
                        .expected(format!("{later} >= createdAt")),
                );
            }
        }
    });
    found
}

/// Calls `f` on every object in `doc`, with its pointer.
pub fn walk_objects(doc: &Value, pointer: &str, f: &mut impl FnMut(&str, &Value)) {
    match doc {
        Value::Object(map) => {
            f(pointer, doc);
            for (name, value) in map {
                walk_objects(value, &format!("{pointer}/{name}"), f);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_objects(item, &format!("{pointer}/{i}"), f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_timestamps_are_found_and_tagged() {
        let doc = json!({"createdAt": "2026-11-28T01:02:03Z",
            "response": {"createdAt": "2026-11-28 01:02:03Z", "lastUsedAt": "2026-02-30T00:00:00Z"},
            "items": [{"modifiedAt": "0000-01-01T00:00:00Z"}], "description": "createdAt"});
        let mut rules: Vec<_> = timestamps_are_valid(&doc)
            .iter()
            .map(|v| (v.rule, v.pointer.clone().unwrap_or_default()))
            .collect();
        rules.sort();
        assert_eq!(
            rules,
            vec![
                ("T1", "/response/createdAt".into()),
                ("T2", "/response/lastUsedAt".into()),
                ("T3", "/items/0/modifiedAt".into())
            ]
        );
    }

    #[test]
    fn lower_case_designators_are_t6_only() {
        let doc = json!({"createdAt": "2026-11-28t01:02:03Z", "modifiedAt": "2026-11-28T01:02:03z",
            "lastUsedAt": "2026-11-28T01:02:03+03:00", "description": "2026-11-28t01:02:03z"});
        assert_eq!(designators_are_upper_case(&doc).len(), 2);
        assert!(timestamps_are_valid(&doc).is_empty());
    }

    #[test]
    fn order_compares_instants_not_text() {
        let ok = json!({"createdAt": "2026-11-28T10:00:00+03:00", "modifiedAt": "2026-11-28T07:00:00.5Z"});
        assert!(timestamps_are_ordered(&ok).is_empty());
        let bad =
            json!({"createdAt": "2026-11-28T07:00:00Z", "modifiedAt": "2026-11-28T09:59:59+03:00"});
        assert_eq!(timestamps_are_ordered(&bad).len(), 1);
    }
}
