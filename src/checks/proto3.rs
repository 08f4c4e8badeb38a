//! Whether an answer is readable by a strict proto3 JSON parser, as the clients generated from
//! the protos read it (prost-reflect against `proto/accesskey.proto`, unknown members denied).
//! This is an observation, never a verdict: valid servers may leave `@type` out, and the
//! harness accepts them; an emulator's authors want to know whether generated clients can
//! read their answers.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage};

/// `proto/accesskey.proto` compiled (with the well-known types it imports); a test keeps it
/// in step with the `.proto` file.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!("../../proto/accesskey.binpb");

const PACKAGE: &str = "yandex.cloud.iam.v1.awscompatibility";

fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTOR_SET).ok())
        .as_ref()
}

/// The message an answer carries, by its route: `method` and URL `path`, and its status.
pub fn message_for(method: &str, path: &str, status: u16) -> Option<&'static str> {
    if status >= 400 {
        return Some("Status");
    }
    if !(200..300).contains(&status) {
        return None;
    }
    let keys = "/iam/aws-compatibility/v1/accessKeys";
    if path.contains("/operations/") && !path.contains(keys) {
        return Some("Operation");
    }
    let rest = path.split_once(keys)?.1;
    Some(match (method, rest) {
        ("POST", "") => "CreateAccessKeyResponse",
        ("GET", "") => "ListAccessKeysResponse",
        ("GET", r) if r.ends_with("/operations") => "ListAccessKeyOperationsResponse",
        ("GET", _) => "AccessKey",
        ("PATCH" | "DELETE", _) => "Operation",
        _ => return None,
    })
}

/// Reads `body` as `message` strictly; says why it cannot be read.
pub fn readable(message: &str, body: &str) -> Result<(), String> {
    let pool = pool().ok_or("the descriptor set of proto/accesskey.proto does not load")?;
    let name = format!("{PACKAGE}.{message}");
    let desc = pool
        .get_message_by_name(&name)
        .ok_or_else(|| format!("no message {name}"))?;
    let mut de = serde_json::Deserializer::from_str(body);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    DynamicMessage::deserialize_with_options(desc, &mut de, &options)
        .and_then(|_| de.end())
        .map_err(|e| format!("as {message}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_messages() {
        let k = "/iam/aws-compatibility/v1/accessKeys";
        assert_eq!(message_for("POST", k, 200), Some("CreateAccessKeyResponse"));
        assert_eq!(message_for("GET", k, 200), Some("ListAccessKeysResponse"));
        assert_eq!(
            message_for("GET", &format!("{k}/a"), 200),
            Some("AccessKey")
        );
        assert_eq!(
            message_for("PATCH", &format!("{k}/a"), 200),
            Some("Operation")
        );
        assert_eq!(
            message_for("GET", &format!("{k}/a/operations"), 200),
            Some("ListAccessKeyOperationsResponse")
        );
        assert_eq!(message_for("GET", "/operations/o", 200), Some("Operation"));
        assert_eq!(message_for("GET", "/operations/o", 404), Some("Status"));
    }

    #[test]
    fn the_parser_is_strict_about_any_and_unknown_members() {
        let typed = r#"{"id": "o", "done": true, "metadata": {"@type": "type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.UpdateAccessKeyMetadata", "accessKeyId": "k"}, "response": {"@type": "type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.AccessKey", "id": "k", "createdAt": "2026-12-02T10:00:00.123456789Z"}}"#;
        assert_eq!(readable("Operation", typed), Ok(()));
        let untyped = r#"{"id": "o", "done": true, "metadata": {"accessKeyId": "k"}}"#;
        assert!(readable("Operation", untyped).is_err());
        assert!(readable("AccessKey", r#"{"id": "k", "secret": "s"}"#).is_err());
        assert!(
            readable(
                "AccessKey",
                r#"{"id": "k", "createdAt": "2026-12-02 10:00:00Z"}"#
            )
            .is_err()
        );
        let empty = r#"{"id": "d", "done": true, "response": {"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}}"#;
        assert_eq!(readable("Operation", empty), Ok(()));
    }
}
