//! Operation checks (O1-O4, O6) and [`result_of`], the reading of a finished operation.

use serde_json::Value;

use super::{Violation, show};

fn has(op: &Value, field: &str) -> bool {
    op.get(field).is_some_and(|v| !v.is_null())
}

/// A missing `done` means false (proto3 default).
pub fn is_done(op: &Value) -> bool {
    op.get("done").and_then(Value::as_bool).unwrap_or(false)
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
