//! Operation checks (O1-O4, O6, O9), [`envelope`] (can the harness read an operation at all)
//! and [`result_of`], the reading of a finished operation.

use serde_json::Value;

use super::{Violation, show};

fn has(op: &Value, field: &str) -> bool {
    op.get(field).is_some_and(|v| !v.is_null())
}

/// A missing `done` means false (proto3 default).
pub fn is_done(op: &Value) -> bool {
    op.get("done").and_then(Value::as_bool).unwrap_or(false)
}

/// What the harness needs of an operation to follow it: its id and whether it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub id: String,
    pub done: bool,
}

/// Reads the envelope of an operation, or says why it cannot be read (not an object, no string
/// `id`, `done` neither a boolean nor absent/null). An operation that cannot be read cannot be
/// followed: the harness stops at once instead of waiting out a timeout (O9; the finding
/// itself comes from the schema's O9 part, `schemas/operation.schema.json`).
pub fn envelope(op: &Value) -> Result<Envelope, String> {
    let Some(object) = op.as_object() else {
        return Err("the operation is not a JSON object".into());
    };
    let id = match object.get("id") {
        Some(Value::String(id)) => id.clone(),
        None | Some(Value::Null) => return Err("the operation has no id".into()),
        Some(other) => return Err(format!("the operation id is not a string: {other}")),
    };
    let done = match object.get("done") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(done)) => *done,
        Some(other) => return Err(format!("done is not a boolean: {other}")),
    };
    Ok(Envelope { id, done })
}

/// O1: an operation never carries both `error` and `response`.
pub fn never_both_error_and_response(op: &Value) -> Option<Violation> {
    (has(op, "error") && has(op, "response")).then(|| {
        Violation::new("O1", "the operation carries both error and response")
            .received(show(op))
            .expected("at most one of error / response")
    })
}

/// O2: a finished operation carries a result. (Having both is O1's finding.)
pub fn done_has_a_result(op: &Value) -> Option<Violation> {
    (is_done(op) && !has(op, "error") && !has(op, "response")).then(|| {
        Violation::new(
            "O2",
            "the operation is done but has neither error nor response",
        )
        .received(show(op))
        .expected("done: true with exactly one of error / response")
    })
}

/// O3: an unfinished operation has no response yet (an early error is allowed).
pub fn pending_has_no_response(op: &Value) -> Option<Violation> {
    (!is_done(op) && has(op, "response") && !has(op, "error")).then(|| {
        Violation::new("O3", "the operation is not done but already has a response")
            .at("/response")
            .received(show(op))
            .expected("no response while done is false")
    })
}

/// O4 (must): `metadata.accessKeyId` is the key of the request.
pub fn metadata_names_the_key(op: &Value, key_id: &str) -> Option<Violation> {
    let named = op.pointer("/metadata/accessKeyId").and_then(Value::as_str);
    (named != Some(key_id)).then(|| {
        Violation::new(
            "O4",
            "operation metadata does not name the key of the request",
        )
        .at("/metadata/accessKeyId")
        .received(named.map_or("nothing".to_string(), |s| format!("{s:?}")))
        .expected(format!("{key_id:?}"))
    })
}

/// Which method an operation came from, for the `@type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Update,
    Delete,
}

/// O4 (should): where `@type` is present, it names the method's metadata and response messages.
pub fn types_name_the_messages(op: &Value, method: Method) -> Vec<Violation> {
    let (metadata, response) = match method {
        Method::Update => ("UpdateAccessKeyMetadata", "AccessKey"),
        Method::Delete => ("DeleteAccessKeyMetadata", "google.protobuf.Empty"),
    };
    let mut found = Vec::new();
    for (pointer, wanted) in [("/metadata/@type", metadata), ("/response/@type", response)] {
        if let Some(t) = op.pointer(pointer).and_then(Value::as_str) {
            let last = t.rsplit('/').next().unwrap_or(t);
            let ok = last == wanted || last.ends_with(&format!(".{wanted}"));
            if !ok {
                found.push(
                    Violation::new("O4", format!("{pointer} names the wrong message"))
                        .should()
                        .at(pointer)
                        .received(format!("{t:?}"))
                        .expected(format!("a type URL ending in {wanted}")),
                );
            }
        }
    }
    found
}

/// O6: an operation read back by id is the same operation, and a done one stays done.
pub fn read_back_matches(first: &Value, read: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    if read.get("id") != first.get("id") {
        found.push(
            Violation::new("O6", "the operation read back has another id")
                .at("/id")
                .received(show(read.get("id").unwrap_or(&Value::Null)))
                .expected(show(first.get("id").unwrap_or(&Value::Null))),
        );
    }
    if is_done(first) && !is_done(read) {
        found.push(
            Violation::new("O6", "a done operation reads back as not done")
                .at("/done")
                .expected("done stays true"),
        );
    }
    found
}

/// A value as proto3 JSON data: `@type` dropped, members holding a default (`null`, `""`,
/// `false`, `0`, `[]`, `{}`) dropped, timestamps as instants, `lastUsedAt` aside (it moves
/// whenever the key is used).
pub fn as_data(value: &Value) -> Value {
    use super::timestamps::TIMESTAMP_FIELDS;
    use crate::contract::timestamp::parse_strict;
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (name, member) in map {
                if name == "@type" || name == "lastUsedAt" {
                    continue;
                }
                let data = match (TIMESTAMP_FIELDS.contains(&name.as_str()), member) {
                    (true, Value::String(text)) => match parse_strict(text) {
                        Ok(i) => Value::String(format!("{}.{:09}", i.seconds, i.nanos)),
                        Err(_) => member.clone(),
                    },
                    _ => as_data(member),
                };
                let default = match &data {
                    Value::Null => true,
                    Value::Bool(b) => !b,
                    Value::Number(n) => n.as_f64() == Some(0.0),
                    Value::String(s) => s.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                };
                if !default {
                    out.insert(name.clone(), data);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(as_data).collect()),
        other => other.clone(),
    }
}

/// O6 (must): a finished operation read back at `/operations/{id}` is the one the harness saw
/// finish: the same id, still done, and the same response or error, compared as data.
pub fn read_back_is_the_same(seen: &Value, read: &Value) -> Vec<Violation> {
    let mut found = read_back_matches(seen, read);
    for part in ["response", "error"] {
        let (a, b) = (
            as_data(seen.get(part).unwrap_or(&Value::Null)),
            as_data(read.get(part).unwrap_or(&Value::Null)),
        );
        if a != b {
            found.push(
                Violation::new(
                    "O6",
                    format!("the operation read back carries another {part}"),
                )
                .at(format!("/{part}"))
                .received(show(read.get(part).unwrap_or(&Value::Null)))
                .expected(format!(
                    "{} (as the operation's final answer showed it)",
                    show(seen.get(part).unwrap_or(&Value::Null))
                )),
            );
        }
    }
    found
}

/// The result a finished operation carries.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    Response(Value),
    Error { code: i64, message: String },
}

/// The result of a done operation with exactly one result; `None` otherwise (O1/O2 report why).
pub fn result_of(op: &Value) -> Option<OpResult> {
    if !is_done(op) {
        return None;
    }
    match (op.get("response"), op.get("error")) {
        (Some(r), None | Some(Value::Null)) if !r.is_null() => Some(OpResult::Response(r.clone())),
        (None | Some(Value::Null), Some(e)) if !e.is_null() => Some(OpResult::Error {
            code: e.get("code").and_then(Value::as_i64)?,
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_rules_partition_the_cases() {
        let both = json!({"id": "o", "done": true, "error": {"code": 2}, "response": {}});
        assert!(never_both_error_and_response(&both).is_some());
        assert!(done_has_a_result(&both).is_none());
        assert!(pending_has_no_response(&both).is_none());
        let neither = json!({"id": "o", "done": true});
        assert!(done_has_a_result(&neither).is_some());
        let pending = json!({"id": "o", "response": {}});
        assert!(pending_has_no_response(&pending).is_some());
        let early_error = json!({"id": "o", "done": false, "error": {"code": 3}});
        assert!(pending_has_no_response(&early_error).is_none());
        assert!(never_both_error_and_response(&early_error).is_none());
    }

    #[test]
    fn type_urls_are_matched_by_message_name() {
        let op = json!({"metadata": {"@type": "type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.UpdateAccessKeyMetadata"},
                        "response": {"@type": "type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.AccessKey"}});
        assert!(types_name_the_messages(&op, Method::Update).is_empty());
        assert_eq!(types_name_the_messages(&op, Method::Delete).len(), 2);
        let untyped = json!({"metadata": {"accessKeyId": "k"}, "response": {}});
        assert!(types_name_the_messages(&untyped, Method::Delete).is_empty());
    }

    #[test]
    fn envelopes_are_read_leniently_but_not_guessed() {
        let ok = |v: Value| envelope(&v).ok();
        assert_eq!(
            ok(json!({"id": "o"})),
            Some(Envelope {
                id: "o".into(),
                done: false
            })
        );
        assert_eq!(
            ok(json!({"id": "o", "done": null})).map(|e| e.done),
            Some(false)
        );
        assert_eq!(
            ok(json!({"id": "o", "done": true})).map(|e| e.done),
            Some(true)
        );
        for broken in [
            json!({"id": "o", "done": "true"}),
            json!({"id": "o", "done": 1}),
            json!({"done": true}),
            json!({"id": 7, "done": true}),
            json!([{"id": "o"}]),
        ] {
            assert!(envelope(&broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn read_back_compares_data_not_spelling() {
        let seen = json!({"id": "o", "done": true, "response": {"@type": "type.googleapis.com/x.AccessKey",
            "id": "k", "createdAt": "2026-11-28T10:00:00+03:00", "description": "",
            "lastUsedAt": "2026-11-28T07:00:01Z"}});
        let read = json!({"id": "o", "done": true, "response": {"id": "k",
            "createdAt": "2026-11-28T07:00:00.000Z", "lastUsedAt": "2026-11-28T07:00:09Z"}});
        assert!(read_back_is_the_same(&seen, &read).is_empty());
        let stale = json!({"id": "o", "done": true, "response": {"id": "k",
            "createdAt": "2026-11-28T07:00:00Z", "description": "old"}});
        assert_eq!(read_back_is_the_same(&seen, &stale).len(), 1);
        let pending = json!({"id": "o", "done": false});
        assert_eq!(read_back_is_the_same(&seen, &pending).len(), 2);
        let empty = json!({"id": "d", "done": true, "response": {}});
        let typed = json!({"id": "d", "done": true, "response": {"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}});
        assert!(read_back_is_the_same(&empty, &typed).is_empty());
    }

    #[test]
    fn results_are_read_from_done_operations_only() {
        assert_eq!(
            result_of(&json!({"done": true, "error": {"code": 3, "message": "m"}})),
            Some(OpResult::Error {
                code: 3,
                message: "m".into()
            })
        );
        assert_eq!(
            result_of(&json!({"done": true, "response": {"id": "k"}})),
            Some(OpResult::Response(json!({"id": "k"})))
        );
        assert_eq!(result_of(&json!({"response": {"id": "k"}})), None);
    }
}
