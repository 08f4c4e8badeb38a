//! The JSON Schemas of the contract: [`Schemas`] loads them (embedded, or from `--schemas DIR`),
//! builds one validator per [`DocKind`] and turns validation errors into rule-tagged findings.
//!
//! A schema marks the rule a constraint belongs to with an `x-rule` annotation; an error is
//! charged to the nearest `x-rule` above the failing keyword, so one schema file can carry S1
//! (field types), X1 (no undocumented fields), O8 and U5 constraints side by side.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

/// The URI prefix every schema's `$id` starts with; `$ref`s between files resolve under it.
pub const BASE_URI: &str = "https://accesskey-conformance.invalid/schemas/";

/// The schema files, embedded at build time, in the order they are documented.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "access_key.schema.json",
        include_str!("../../schemas/access_key.schema.json"),
    ),
    (
        "status.schema.json",
        include_str!("../../schemas/status.schema.json"),
    ),
    (
        "operation.schema.json",
        include_str!("../../schemas/operation.schema.json"),
    ),
    (
        "key_metadata.schema.json",
        include_str!("../../schemas/key_metadata.schema.json"),
    ),
    (
        "operation_update.schema.json",
        include_str!("../../schemas/operation_update.schema.json"),
    ),
    (
        "operation_delete.schema.json",
        include_str!("../../schemas/operation_delete.schema.json"),
    ),
    (
        "create_response.schema.json",
        include_str!("../../schemas/create_response.schema.json"),
    ),
    (
        "list_response.schema.json",
        include_str!("../../schemas/list_response.schema.json"),
    ),
    (
        "operation_list.schema.json",
        include_str!("../../schemas/operation_list.schema.json"),
    ),
    (
        "update_request.schema.json",
        include_str!("../../schemas/update_request.schema.json"),
    ),
];

/// The kinds of JSON document the harness validates, each with its schema file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocKind {
    AccessKey,
    Status,
    UpdateOperation,
    DeleteOperation,
    CreateResponse,
    ListResponse,
    OperationList,
    UpdateRequest,
}

impl DocKind {
    pub const ALL: [DocKind; 8] = [
        DocKind::AccessKey,
        DocKind::Status,
        DocKind::UpdateOperation,
        DocKind::DeleteOperation,
        DocKind::CreateResponse,
        DocKind::ListResponse,
        DocKind::OperationList,
        DocKind::UpdateRequest,
    ];

    pub fn file(self) -> &'static str {
        match self {
            DocKind::AccessKey => "access_key.schema.json",
            DocKind::Status => "status.schema.json",
            DocKind::UpdateOperation => "operation_update.schema.json",
            DocKind::DeleteOperation => "operation_delete.schema.json",
            DocKind::CreateResponse => "create_response.schema.json",
            DocKind::ListResponse => "list_response.schema.json",
            DocKind::OperationList => "operation_list.schema.json",
            DocKind::UpdateRequest => "update_request.schema.json",
        }
    }
}

/// A schema error charged to a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFinding {
    pub rule: &'static str,
    /// JSON pointer into the validated document.
    pub pointer: String,
    pub message: String,
    /// Where in which schema file the failing keyword sits.
    pub keyword_location: String,
}

/// Why the schemas could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read schema `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("schema `{file}` is not valid JSON: {source}")]
    Json {
        file: String,
        source: serde_json::Error,
    },
    #[error("schema directory `{dir}` has no `{file}`")]
    Missing { dir: String, file: String },
    #[error("schema `{file}` does not compile: {message}")]
    Compile { file: String, message: String },
}

/// Loaded schema documents and one compiled validator per document kind.
pub struct Schemas {
    documents: Arc<BTreeMap<String, Value>>,
    validators: BTreeMap<DocKind, jsonschema::Validator>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("files", &self.documents.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Resolves `$ref`s between our own files; never touches the network.
struct LocalRetriever(Arc<BTreeMap<String, Value>>);

impl jsonschema::Retrieve for LocalRetriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().strip_prefix(BASE_URI).unwrap_or(uri.as_str());
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no schema named `{}`", uri.as_str()).into())
    }
}

impl Schemas {
    /// The loaded documents, by file name.
    pub fn documents(&self) -> &BTreeMap<String, Value> {
        &self.documents
    }

    /// The schemas built into the binary.
    pub fn embedded() -> Result<Self, SchemaError> {
        let mut docs = BTreeMap::new();
        for (file, text) in EMBEDDED {
            let value = serde_json::from_str(text).map_err(|source| SchemaError::Json {
                file: (*file).to_string(),
                source,
            })?;
            docs.insert((*file).to_string(), value);
        }
        Self::from_documents(docs)
    }

    /// Every `*.schema.json` of `dir`; each embedded file name must be present.
    pub fn from_dir(dir: &Path) -> Result<Self, SchemaError> {
        let mut docs = BTreeMap::new();
        for (file, _) in EMBEDDED {
            let path = dir.join(file);
            if !path.exists() {
                return Err(SchemaError::Missing {
                    dir: dir.display().to_string(),
                    file: (*file).to_string(),
                });
            }
            let text = std::fs::read_to_string(&path).map_err(|source| SchemaError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let value = serde_json::from_str(&text).map_err(|source| SchemaError::Json {
                file: path.display().to_string(),
                source,
            })?;
            docs.insert((*file).to_string(), value);
        }
        Self::from_documents(docs)
    }

    fn from_documents(docs: BTreeMap<String, Value>) -> Result<Self, SchemaError> {
        let documents = Arc::new(docs);
        let mut validators = BTreeMap::new();
        for kind in DocKind::ALL {
            let file = kind.file();
            let schema = documents.get(file).ok_or_else(|| SchemaError::Missing {
                dir: "(embedded)".into(),
                file: file.into(),
            })?;
            if let Err(e) = jsonschema::meta::validate(schema) {
                return Err(SchemaError::Compile {
                    file: file.into(),
                    message: e.to_string(),
                });
            }
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .with_base_uri(format!("{BASE_URI}{file}"))
                .with_retriever(LocalRetriever(documents.clone()))
                .build(schema)
                .map_err(|e| SchemaError::Compile {
                    file: file.into(),
                    message: e.to_string(),
                })?;
            validators.insert(kind, validator);
        }
        Ok(Schemas {
            documents,
            validators,
        })
    }

    /// Validates `instance` as a document of `kind`; an empty list means it conforms.
    pub fn validate(&self, kind: DocKind, instance: &Value) -> Vec<SchemaFinding> {
        let Some(validator) = self.validators.get(&kind) else {
            return Vec::new();
        };
        validator
            .iter_errors(instance)
            .map(|error| {
                let location = error
                    .absolute_keyword_location()
                    .map(|u| u.as_str().to_string())
                    .unwrap_or_default();
                SchemaFinding {
                    rule: self.rule_at(&location),
                    pointer: error.instance_path().as_str().to_string(),
                    message: error.masked().to_string(),
                    keyword_location: location
                        .strip_prefix(BASE_URI)
                        .unwrap_or(&location)
                        .to_string(),
                }
            })
            .collect()
    }

    /// The rule of the nearest `x-rule` annotation at or above `location`
    /// (`<base>/<file>#/json/pointer`); S1 where none is found.
    fn rule_at(&self, location: &str) -> &'static str {
        let rel = location.strip_prefix(BASE_URI).unwrap_or(location);
        let (file, pointer) = rel.split_once('#').unwrap_or((rel, ""));
        let Some(doc) = self.documents.get(file) else {
            return "S1";
        };
        let mut pointer = pointer.to_string();
        loop {
            if let Some(id) = doc
                .pointer(&pointer)
                .and_then(|node| node.get("x-rule"))
                .and_then(Value::as_str)
                .and_then(crate::contract::rules::find)
            {
                return id.id;
            }
            match pointer.rfind('/') {
                Some(cut) => pointer.truncate(cut),
                None => return "S1",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Schemas {
        Schemas::embedded().expect("embedded schemas compile")
    }

    fn rules(kind: DocKind, doc: Value) -> Vec<&'static str> {
        let mut r: Vec<_> = schemas()
            .validate(kind, &doc)
            .iter()
            .map(|f| f.rule)
            .collect();
        r.dedup();
        r
    }

    fn key() -> Value {
        json!({"id": "aje1", "serviceAccountId": "ajesa", "createdAt": "2026-11-28T01:02:03Z",
               "description": "d", "keyId": "YCAJE1", "lastUsedAt": "2026-11-28T01:02:04Z"})
    }

    #[test]
    fn valid_access_keys_pass() {
        assert!(rules(DocKind::AccessKey, key()).is_empty());
        // proto3 style: empty description and never-used key left out.
        let sparse = json!({"id": "a", "serviceAccountId": "s", "createdAt": "2026-11-28T01:02:03.5+03:00", "keyId": "k"});
        assert!(rules(DocKind::AccessKey, sparse).is_empty());
        let mut long = key();
        long["description"] = json!("я".repeat(256));
        assert!(rules(DocKind::AccessKey, long).is_empty());
        let mut typed = key();
        typed["@type"] =
            json!("type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.AccessKey");
        assert!(rules(DocKind::AccessKey, typed).is_empty());
    }

    #[test]
    fn invalid_access_keys_are_charged_to_their_rule() {
        let mut extra = key();
        extra["secret"] = json!("s3cr3t");
        assert_eq!(rules(DocKind::AccessKey, extra), vec!["X1"]);
        let mut long = key();
        long["description"] = json!("я".repeat(257));
        assert_eq!(rules(DocKind::AccessKey, long), vec!["U5"]);
        let mut typed = key();
        typed["description"] = json!(5);
        assert_eq!(rules(DocKind::AccessKey, typed), vec!["S1"]);
        let mut missing = key();
        missing.as_object_mut().unwrap().remove("keyId");
        assert_eq!(rules(DocKind::AccessKey, missing), vec!["S1"]);
        assert_eq!(rules(DocKind::AccessKey, json!([])), vec!["S1"]);
    }

    #[test]
    fn operations_in_both_json_styles_pass() {
        let verbose = json!({"id": "op1", "description": "Update access key", "createdAt": "2026-11-28T01:02:03Z",
            "createdBy": "ajeuser", "modifiedAt": "2026-11-28T01:02:03Z", "done": true,
            "metadata": {"accessKeyId": "aje1"}, "response": key()});
        assert!(rules(DocKind::UpdateOperation, verbose).is_empty());
        let mut typed_key = key();
        typed_key["@type"] =
            json!("type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.AccessKey");
        let proto3 = json!({"id": "op1", "metadata": {"@type": "type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.UpdateAccessKeyMetadata", "accessKeyId": "aje1"}});
        assert!(rules(DocKind::UpdateOperation, proto3).is_empty());
        for empty in [
            json!({}),
            json!({"@type": "type.googleapis.com/google.protobuf.Empty"}),
            json!({"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}),
        ] {
            let op = json!({"id": "op2", "done": true, "metadata": {"accessKeyId": "aje1"}, "response": empty});
            assert!(rules(DocKind::DeleteOperation, op).is_empty());
        }
        let failed = json!({"id": "op3", "done": true, "error": {"code": 3, "message": "bad", "details": [{"@type": "x"}]}});
        assert!(rules(DocKind::UpdateOperation, failed).is_empty());
    }

    #[test]
    fn invalid_operations_are_charged_to_their_rule() {
        assert_eq!(
            rules(DocKind::UpdateOperation, json!({"done": true})),
            vec!["O9"]
        );
        assert_eq!(
            rules(DocKind::UpdateOperation, json!({"id": "o", "done": "true"})),
            vec!["O9"]
        );
        assert_eq!(rules(DocKind::UpdateOperation, json!([])), vec!["O9"]);
        assert_eq!(
            rules(DocKind::UpdateOperation, json!({"id": ""})),
            vec!["O8"]
        );
        assert_eq!(
            rules(
                DocKind::UpdateOperation,
                json!({"id": "o", "description": "x".repeat(257)})
            ),
            vec!["O8"]
        );
        assert_eq!(
            rules(DocKind::UpdateOperation, json!({"id": "o", "createdBy": 7})),
            vec!["S1"]
        );
        assert_eq!(
            rules(
                DocKind::UpdateOperation,
                json!({"id": "o", "error": {"code": "3"}})
            ),
            vec!["E1"]
        );
        let mut leaky = key();
        leaky["secretAccessKey"] = json!("x");
        assert_eq!(
            rules(
                DocKind::UpdateOperation,
                json!({"id": "o", "response": leaky})
            ),
            vec!["X1"]
        );
        assert_eq!(
            rules(
                DocKind::DeleteOperation,
                json!({"id": "o", "response": {"value": {"a": 1}}})
            ),
            vec!["S1"]
        );
    }

    #[test]
    fn status_and_lists() {
        assert!(rules(DocKind::Status, json!({"code": 5, "message": "not found"})).is_empty());
        assert_eq!(
            rules(DocKind::Status, json!({"message": "no code"})),
            vec!["E1"]
        );
        assert_eq!(
            rules(DocKind::Status, json!({"code": 5, "details": [{}]})),
            vec!["E1"]
        );
        assert!(rules(DocKind::ListResponse, json!({})).is_empty());
        assert!(
            rules(
                DocKind::ListResponse,
                json!({"accessKeys": [key()], "nextPageToken": ""})
            )
            .is_empty()
        );
        assert_eq!(
            rules(DocKind::ListResponse, json!({"accessKeys": {}})),
            vec!["S1"]
        );
        assert!(
            rules(
                DocKind::CreateResponse,
                json!({"accessKey": key(), "secret": "s"})
            )
            .is_empty()
        );
        assert_eq!(
            rules(DocKind::CreateResponse, json!({"accessKey": key()})),
            vec!["S1"]
        );
        assert!(rules(DocKind::OperationList, json!({"operations": [{"id": "o"}]})).is_empty());
    }

    #[test]
    fn update_request_schema() {
        assert!(
            rules(
                DocKind::UpdateRequest,
                json!({"updateMask": "description", "description": "x"})
            )
            .is_empty()
        );
        assert!(rules(DocKind::UpdateRequest, json!({"description": null})).is_empty());
        assert!(rules(DocKind::UpdateRequest, json!({})).is_empty());
        assert_eq!(
            rules(
                DocKind::UpdateRequest,
                json!({"description": "x".repeat(257)})
            ),
            vec!["U5"]
        );
        assert_eq!(
            rules(
                DocKind::UpdateRequest,
                json!({"updateMask": ["description"]})
            ),
            vec!["U10"]
        );
        assert_eq!(rules(DocKind::UpdateRequest, json!("text")), vec!["U10"]);
    }

    #[test]
    fn a_schema_directory_missing_a_file_is_named() {
        let dir = std::env::temp_dir().join(format!("akc-schemas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = Schemas::from_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("access_key.schema.json"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
