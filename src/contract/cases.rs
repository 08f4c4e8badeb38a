//! Declarative cases: one JSON file per Update situation (`cases/`, embedded at build time, plus
//! any directory given with `--cases`). Each file is checked on load, in this order: JSON
//! syntax, the case schema (`schemas/case.schema.json`), the rule id and level, the file name,
//! and agreement with the model of Update. The first problem stops the run with the file name
//! and the JSON pointer of the problem.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use super::model::{self, Allowed, Key, Verdict};
use super::rules::{self, Level};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_cases.rs"));
}

/// The case format, embedded (it describes our own files, so `--schemas` does not replace it).
pub const CASE_SCHEMA: &str = include_str!("../../schemas/case.schema.json");

/// The state of the key a case sends its request to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Fresh,
    Missing,
    Deleted,
}

/// What the case says should happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    Applied(String),
    Rejected,
    Either,
}

/// One loaded and checked case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The file name without `.json`; the trial is `cases::<name>`.
    pub name: String,
    /// Where it came from (`cases/x.json (embedded)` or a path), for messages.
    pub origin: String,
    pub rule: &'static str,
    pub level: Level,
    pub key: KeyKind,
    pub start: String,
    /// The body exactly as it is sent.
    pub body: String,
    /// The description text the body carries, if any.
    pub sent: Option<String>,
    /// The body member that carries the id of a second key (made before the update), if any.
    pub second_key_in: Option<String>,
    pub expect: Expectation,
    /// The outcomes the case allows: the model's, narrowed to what the case expects.
    pub verdict: Verdict,
    /// The file as it was read (a report carries it, so that `replay` sends the same).
    pub contents: String,
}

/// Why a case file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseError {
    pub file: String,
    /// JSON pointer of the problem; empty for the file as a whole.
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "case file {}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "case file {}: at {}: {}",
                self.file, self.pointer, self.message
            )
        }
    }
}

impl std::error::Error for CaseError {}

fn fail(file: &str, pointer: &str, message: impl Into<String>) -> CaseError {
    CaseError {
        file: file.to_string(),
        pointer: pointer.to_string(),
        message: message.into(),
    }
}

fn validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let schema: Value = serde_json::from_str(CASE_SCHEMA).map_err(|e| e.to_string())?;
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&schema)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| format!("the case schema does not compile: {e}"))
}

/// The most specific error under a failed `oneOf`/`anyOf`: the one deepest in the instance,
/// which is usually the branch the author meant.
fn most_specific(error: &jsonschema::ValidationError<'_>) -> (String, String) {
    use jsonschema::error::ValidationErrorKind;
    let context = match error.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            Some(context)
        }
        _ => None,
    };
    let deepest = context.and_then(|branches| {
        branches
            .iter()
            .flatten()
            .max_by_key(|e| e.instance_path().as_str().matches('/').count())
    });
    match deepest {
        Some(inner)
            if inner.instance_path().as_str().len() > error.instance_path().as_str().len() =>
        {
            most_specific(inner)
        }
        _ => (
            error.instance_path().as_str().to_string(),
            error.to_string(),
        ),
    }
}

/// A `text` of the case format: a string, or `{"repeat": s, "characters": n}`.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let repeat = o.get("repeat").and_then(Value::as_str).unwrap_or_default();
            let count = o
                .get("characters")
                .and_then(Value::as_u64)
                .unwrap_or_default();
            repeat.chars().cycle().take(count as usize).collect()
        }
        _ => String::new(),
    }
}

const SUFFIXES: [&str; 3] = ["_applied", "_rejected", "_either"];

/// Reads one case file (`file` is its name, as messages show it).
pub fn parse(file: &str, stem: &str, contents: &str) -> Result<Case, CaseError> {
    let doc: Value = serde_json::from_str(contents).map_err(|e| {
        fail(
            file,
            "",
            format!(
                "not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let validator = validator().map_err(|e| fail(file, "", e))?;
    let mut errors: Vec<(String, String)> = validator
        .iter_errors(&doc)
        .map(|e| most_specific(&e))
        .collect();
    if !errors.is_empty() {
        // The deepest place first; every problem found at that place is named.
        errors.sort_by_key(|(pointer, _)| std::cmp::Reverse(pointer.matches('/').count()));
        let pointer = errors[0].0.clone();
        let messages: Vec<String> = errors
            .iter()
            .filter(|(p, _)| *p == pointer)
            .map(|(_, m)| m.clone())
            .collect();
        let pointer = if pointer.is_empty() {
            "/".into()
        } else {
            pointer
        };
        return Err(fail(file, &pointer, messages.join("; ")));
    }

    let rule_id = doc["rule"].as_str().unwrap_or_default();
    let Some(rule) = rules::find(rule_id) else {
        let known: Vec<&str> = rules::RULES.iter().map(|r| r.id).collect();
        return Err(fail(
            file,
            "/rule",
            format!("unknown rule id `{rule_id}` (known: {})", known.join(", ")),
        ));
    };
    let level = doc["level"].as_str().unwrap_or_default();
    if level != rule.level.as_str() {
        return Err(fail(
            file,
            "/level",
            format!(
                "level `{level}` does not match rule {}, which is `{}`",
                rule.id, rule.level
            ),
        ));
    }

    let expect = match &doc["expect"] {
        Value::String(s) if s == "rejected" => Expectation::Rejected,
        Value::String(_) => Expectation::Either,
        other => Expectation::Applied(text(&other["applied"])),
    };
    let suffix = match expect {
        Expectation::Applied(_) => "_applied",
        Expectation::Rejected => "_rejected",
        Expectation::Either => "_either",
    };
    if !stem.ends_with(suffix) || stem.len() == suffix.len() {
        let has_other = SUFFIXES.iter().any(|s| stem.ends_with(s));
        return Err(fail(
            file,
            "",
            format!(
                "the file name must be <situation>{suffix}.json for this expectation{}",
                if has_other {
                    " (its suffix names another outcome)"
                } else {
                    ""
                }
            ),
        ));
    }
    if !stem
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(fail(
            file,
            "",
            "the file name may hold only a-z, 0-9 and _ (it becomes the trial name)",
        ));
    }

    let key = match doc["key"].as_str() {
        Some("missing") => KeyKind::Missing,
        Some("deleted") => KeyKind::Deleted,
        _ => KeyKind::Fresh,
    };
    let start = doc.get("start").map_or_else(|| "before".to_string(), text);
    if start.chars().count() > model::MAX_DESCRIPTION {
        return Err(fail(
            file,
            "/start",
            "a key cannot be created with more than 256 characters",
        ));
    }
    let request = &doc["request"];
    let (body, sent) = match request.get("rawBody").and_then(Value::as_str) {
        Some(raw) => (raw.to_string(), None),
        None => {
            let mut object = serde_json::Map::new();
            if let Some(mask) = request.get("updateMask") {
                object.insert("updateMask".into(), mask.clone());
            }
            let sent = match request.get("description") {
                Some(Value::Null) => {
                    object.insert("description".into(), Value::Null);
                    None
                }
                Some(d) => {
                    let t = text(d);
                    object.insert("description".into(), Value::String(t.clone()));
                    Some(t)
                }
                None => None,
            };
            if let Some(Value::Object(extra)) = request.get("extraFields") {
                for (k, v) in extra {
                    object.insert(k.clone(), v.clone());
                }
            }
            if let Some(member) = doc.get("secondKeyIdIn").and_then(Value::as_str) {
                // The real id is put in when the second key exists (`Case::body_with`).
                object.insert(member.to_string(), Value::String(SECOND_KEY.into()));
            }
            (Value::Object(object).to_string(), sent)
        }
    };

    let model_key = match key {
        KeyKind::Fresh => Key::Exists(&start),
        KeyKind::Missing | KeyKind::Deleted => Key::Missing,
    };
    let mut verdict = model::allowed(model_key, &body);
    let agrees = match &expect {
        Expectation::Applied(d) => verdict.applied().is_some_and(|(m, _)| m == d),
        Expectation::Rejected => verdict.rejected().is_some(),
        Expectation::Either => verdict.allowed.len() > 1,
    };
    if !agrees {
        let wanted = match &expect {
            Expectation::Applied(d) => format!("applied with description {d:?}"),
            Expectation::Rejected => "rejected".into(),
            Expectation::Either => "a choice of outcomes".into(),
        };
        return Err(fail(
            file,
            "/expect",
            format!(
                "the case expects {wanted}, but the contract allows only: {}",
                verdict.describe()
            ),
        ));
    }
    narrow(&mut verdict, &expect);

    Ok(Case {
        name: stem.to_string(),
        origin: file.to_string(),
        rule: rule.id,
        level: rule.level,
        key,
        start,
        body,
        sent,
        second_key_in: doc
            .get("secondKeyIdIn")
            .and_then(Value::as_str)
            .map(str::to_string),
        expect,
        verdict,
        contents: contents.to_string(),
    })
}

/// Keeps the outcomes of `verdict` that the case expects (a case may narrow a U8 choice).
fn narrow(verdict: &mut Verdict, expect: &Expectation) {
    match expect {
        Expectation::Applied(_) => verdict
            .allowed
            .retain(|a| matches!(a, Allowed::Applied { .. })),
        Expectation::Rejected => verdict
            .allowed
            .retain(|a| matches!(a, Allowed::Rejected { .. })),
        Expectation::Either => {}
    }
}

/// Stands for the second key's id in a body until that key exists.
const SECOND_KEY: &str = "ajesecondkeyofthecase";

impl Case {
    /// The body to send, with the second key's id in place.
    pub fn body_with(&self, second_key: Option<&str>) -> String {
        match (second_key, &self.second_key_in) {
            (Some(id), Some(_)) => self.body.replace(SECOND_KEY, id),
            _ => self.body.clone(),
        }
    }

    /// The outcomes the case allows for a key whose description is really `start` (the run
    /// marks the keys it creates, so the description a key starts with is the case's `start`
    /// plus the marker). For a missing key, [`Case::verdict`].
    pub fn verdict_for(&self, start: &str) -> Verdict {
        if self.key != KeyKind::Fresh {
            return self.verdict.clone();
        }
        let mut verdict = model::allowed(Key::Exists(start), &self.body);
        narrow(&mut verdict, &self.expect);
        verdict
    }
}

/// The cases built into the binary (the project's `cases/`).
pub fn embedded() -> Result<Vec<Case>, CaseError> {
    embedded::EMBEDDED
        .iter()
        .map(|(file, contents)| {
            let stem = file.strip_suffix(".json").unwrap_or(file);
            parse(&format!("cases/{file} (built in)"), stem, contents)
        })
        .collect()
}

/// The `*.json` files of a user's directory, sorted by name. A directory without any is an
/// error: a run that silently tests nothing is worse than no run.
pub fn from_dir(dir: &Path) -> Result<Vec<Case>, CaseError> {
    let shown = dir.display().to_string();
    let entries =
        std::fs::read_dir(dir).map_err(|e| fail(&shown, "", format!("cannot read: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(fail(&shown, "", "the directory holds no *.json case files"));
    }
    paths
        .iter()
        .map(|path| {
            let file = path.display().to_string();
            let contents = std::fs::read_to_string(path)
                .map_err(|e| fail(&file, "", format!("cannot read: {e}")))?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            parse(&file, &stem, &contents)
        })
        .collect()
}

/// The built-in cases (unless `builtin` is false) plus those of `extra`; names must be unique,
/// and there must be some.
pub fn load(extra: Option<&Path>, builtin: bool) -> Result<Vec<Case>, CaseError> {
    let mut cases = if builtin { embedded()? } else { Vec::new() };
    if let Some(dir) = extra {
        cases.extend(from_dir(dir)?);
    }
    if cases.is_empty() {
        return Err(fail(
            "cases/",
            "",
            "there are no cases to run (none built in, or --no-builtin-cases without --cases)",
        ));
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    for pair in cases.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(fail(
                &pair[1].origin,
                "",
                format!(
                    "another case is also named `{}` ({})",
                    pair[0].name, pair[0].origin
                ),
            ));
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(stem: &str, contents: &str) -> CaseError {
        parse("t.json", stem, contents).expect_err("the case must be refused")
    }

    const GOOD: &str = r#"{"about": "a", "rule": "U2", "level": "must",
        "request": {"updateMask": "description"}, "expect": {"applied": ""}}"#;

    #[test]
    fn the_built_in_cases_load_and_cover_every_update_rule() {
        let cases = embedded().expect("built-in cases are valid");
        assert!(cases.len() >= 30, "{} cases", cases.len());
        for rule in ["U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "U9", "U10"] {
            assert!(cases.iter().any(|c| c.rule == rule), "no case for {rule}");
        }
        let quirks: std::collections::BTreeSet<_> = cases
            .iter()
            .flat_map(|c| c.verdict.quirks.clone())
            .collect();
        assert_eq!(
            quirks.len(),
            9,
            "every open input of U8 has a case: {quirks:?}"
        );
    }

    #[test]
    fn a_good_case_loads() {
        let case = parse("t.json", "reset_applied", GOOD).expect("valid");
        assert_eq!(case.body, r#"{"updateMask":"description"}"#);
        assert_eq!(case.expect, Expectation::Applied(String::new()));
    }

    #[test]
    fn broken_cases_name_the_place() {
        let e = error("x_applied", "{\"about\": ");
        assert!(e.message.contains("not valid JSON"), "{e}");
        let e = error("x_applied", &GOOD.replace("\"about\"", "\"aboot\""));
        assert_eq!(e.pointer, "/", "{e}");
        assert!(e.message.contains("aboot"), "{e}");
        let e = error(
            "x_applied",
            &GOOD.replace("{\"updateMask\": \"description\"}", "{\"updateMask\": 7}"),
        );
        assert_eq!(e.pointer, "/request/updateMask", "{e}");
        let e = error("x_applied", &GOOD.replace("U2", "U99"));
        assert_eq!(e.pointer, "/rule", "{e}");
        let e = error("x_applied", &GOOD.replace("\"must\"", "\"should\""));
        assert_eq!(e.pointer, "/level", "{e}");
        let e = error("x_rejected", GOOD);
        assert!(e.message.contains("_applied.json"), "{e}");
        let e = error(
            "x_applied",
            &GOOD.replace("{\"applied\": \"\"}", "{\"applied\": \"x\"}"),
        );
        assert_eq!(e.pointer, "/expect", "{e}");
        assert!(
            e.to_string().starts_with("case file t.json: at /expect:"),
            "{e}"
        );
    }
}
