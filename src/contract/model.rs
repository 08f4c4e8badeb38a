//! The model of AccessKey.Update: a pure function from a key's state and a request body to the
//! outcomes the contract allows (rules U1-U10). Declarative cases and generated sequences are
//! both judged against it.
//!
//! For inputs the contract pins down (must and should rules) the answer is exactly one outcome.
//! For the inputs U8 leaves open it holds every documented reading: a rejection with
//! INVALID_ARGUMENT, or the one effect the documented reading gives. Which of them a target
//! chose is an observation, never a failure.

use serde_json::{Map, Value};

pub const INVALID_ARGUMENT: i64 = 3;
pub const NOT_FOUND: i64 = 5;
pub const PERMISSION_DENIED: i64 = 7;

/// The description limit, in Unicode code points (U5).
pub const MAX_DESCRIPTION: usize = 256;

/// Fields the server sets: a mask may name them, but an update can never change them.
pub const OUTPUT_ONLY: [&str; 5] = ["id", "serviceAccountId", "createdAt", "keyId", "lastUsedAt"];

/// An input whose handling the contract leaves open (U8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quirk {
    EmptyMask,
    Star,
    SpacesAroundPath,
    EmptySegment,
    SnakeCasePath,
    OtherCasePath,
    OutputOnlyPath,
    DuplicatePath,
    UnknownBodyField,
}

impl Quirk {
    /// The input, as observations name it.
    pub fn input(self) -> &'static str {
        match self {
            Quirk::EmptyMask => "updateMask \"\"",
            Quirk::Star => "updateMask \"*\"",
            Quirk::SpacesAroundPath => "spaces around a mask path",
            Quirk::EmptySegment => "an empty mask path between commas",
            Quirk::SnakeCasePath => "a snake_case mask path",
            Quirk::OtherCasePath => "a mask path in other letter case",
            Quirk::OutputOnlyPath => "an output-only mask path",
            Quirk::DuplicatePath => "a mask path named twice",
            Quirk::UnknownBodyField => "an unknown body field",
        }
    }

    /// What the documented reading does when the target accepts the input.
    pub fn accepted_reading(self) -> &'static str {
        match self {
            Quirk::EmptyMask | Quirk::Star => "applied as a full replacement",
            Quirk::SpacesAroundPath => "applied with the path trimmed",
            Quirk::EmptySegment => "applied with the empty path ignored",
            Quirk::SnakeCasePath | Quirk::OtherCasePath => {
                "applied with the path read as the field it spells"
            }
            Quirk::OutputOnlyPath => "applied with the path ignored",
            Quirk::DuplicatePath => "applied with the path counted once",
            Quirk::UnknownBodyField => "applied with the field ignored",
        }
    }
}

/// The description member of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Description {
    Absent,
    Null,
    Text(String),
}

impl Description {
    pub fn text(&self) -> Option<&str> {
        match self {
            Description::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// A well-formed Update body: a JSON object whose known members have the right JSON types.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub mask: Option<String>,
    pub description: Description,
    /// Members other than `updateMask` and `description`.
    pub extra: Map<String, Value>,
}

impl Fields {
    /// The body as JSON text (`updateMask` first, as people write it).
    pub fn to_text(&self) -> String {
        let mut object = Map::new();
        if let Some(mask) = &self.mask {
            object.insert("updateMask".into(), Value::String(mask.clone()));
        }
        match &self.description {
            Description::Absent => {}
            Description::Null => {
                object.insert("description".into(), Value::Null);
            }
            Description::Text(t) => {
                object.insert("description".into(), Value::String(t.clone()));
            }
        }
        for (k, v) in &self.extra {
            object.insert(k.clone(), v.clone());
        }
        Value::Object(object).to_string()
    }
}

/// Reads a body as the proto3 JSON mapping does: `Err` says why it is not a valid request
/// (U10: not JSON, not an object, or a member of the wrong JSON type).
pub fn read_body(text: &str) -> Result<Fields, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("not a JSON object".into());
    };
    let mask = match object.remove("updateMask") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err("updateMask is not a string".into()),
    };
    let description = match object.remove("description") {
        None => Description::Absent,
        Some(Value::Null) => Description::Null,
        Some(Value::String(s)) => Description::Text(s),
        Some(_) => return Err("description is not a string".into()),
    };
    Ok(Fields {
        mask,
        description,
        extra: object,
    })
}

/// The usual name of a google.rpc.Code.
pub fn code_name(code: i64) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "an unknown code",
    }
}

/// The key an update is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// The key exists with this description.
    Exists(&'a str),
    /// No such key (never created, or deleted).
    Missing,
}

/// One outcome the contract allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// The update applies and the description becomes `description`.
    Applied {
        description: String,
        /// The rule broken when the stored description is another one.
        rule: &'static str,
    },
    /// The update is refused with one of `codes` and nothing changes.
    Rejected {
        codes: &'static [i64],
        /// The rule broken when the update applies instead.
        rule: &'static str,
    },
}

/// The model's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// One outcome, or (for U8 inputs) a rejection and the documented reading.
    pub allowed: Vec<Allowed>,
    /// The rule that governs this input.
    pub rule: &'static str,
    /// The open inputs the request contains.
    pub quirks: Vec<Quirk>,
}

impl Verdict {
    fn one(allowed: Allowed) -> Self {
        let rule = match &allowed {
            Allowed::Applied { rule, .. } | Allowed::Rejected { rule, .. } => rule,
        };
        Verdict {
            rule,
            allowed: vec![allowed],
            quirks: Vec::new(),
        }
    }

    /// The description after an accepted update, if accepting it is allowed.
    pub fn applied(&self) -> Option<(&str, &'static str)> {
        self.allowed.iter().find_map(|a| match a {
            Allowed::Applied { description, rule } => Some((description.as_str(), *rule)),
            Allowed::Rejected { .. } => None,
        })
    }

    /// The codes and rule of a rejection, if rejecting is allowed.
    pub fn rejected(&self) -> Option<(&'static [i64], &'static str)> {
        self.allowed.iter().find_map(|a| match a {
            Allowed::Rejected { codes, rule } => Some((*codes, *rule)),
            Allowed::Applied { .. } => None,
        })
    }

    /// "applied, description \"x\"" / "rejected with INVALID_ARGUMENT" / both, for messages.
    pub fn describe(&self) -> String {
        self.allowed
            .iter()
            .map(|a| match a {
                Allowed::Applied { description, .. } => format!(
                    "applied, description {description:?} ({} characters)",
                    description.chars().count()
                ),
                Allowed::Rejected { codes, .. } => format!(
                    "rejected with {}",
                    codes
                        .iter()
                        .map(|c| code_name(*c))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            })
            .collect::<Vec<_>>()
            .join(", or ")
    }
}

/// What one mask path asks for under its documented reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The description (from the body, or reset).
    Description,
    /// Every updatable field: a full replacement.
    Everything,
    /// A field that cannot change: ignored.
    Nothing,
    /// No field at all (U7).
    Unknown,
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads one path of a mask: what it names, the quirks it has, and the field it spells.
fn read_path(path: &str, quirks: &mut Vec<Quirk>) -> (Target, Option<&'static str>) {
    if path == "*" {
        quirks.push(Quirk::Star);
        return (Target::Everything, None);
    }
    let trimmed = path.trim();
    if trimmed != path && !trimmed.is_empty() {
        quirks.push(Quirk::SpacesAroundPath);
        return read_path(trimmed, quirks);
    }
    if path == "description" {
        return (Target::Description, Some("description"));
    }
    if let Some(name) = OUTPUT_ONLY.iter().find(|n| **n == path) {
        quirks.push(Quirk::OutputOnlyPath);
        return (Target::Nothing, Some(name));
    }
    if let Some(name) = OUTPUT_ONLY
        .iter()
        .find(|n| snake_case(n) == path && **n != path)
    {
        quirks.push(Quirk::SnakeCasePath);
        quirks.push(Quirk::OutputOnlyPath);
        return (Target::Nothing, Some(name));
    }
    if path.eq_ignore_ascii_case("description") {
        quirks.push(Quirk::OtherCasePath);
        return (Target::Description, Some("description"));
    }
    if let Some(name) = OUTPUT_ONLY.iter().find(|n| n.eq_ignore_ascii_case(path)) {
        quirks.push(Quirk::OtherCasePath);
        quirks.push(Quirk::OutputOnlyPath);
        return (Target::Nothing, Some(name));
    }
    (Target::Unknown, None)
}

/// What a whole mask asks for: whether it touches the description, and whether it names
/// something that does not exist.
struct MaskReading {
    touches_description: bool,
    unknown: bool,
}

fn read_mask(mask: &str, quirks: &mut Vec<Quirk>) -> MaskReading {
    if mask.split(',').all(|p| p.trim().is_empty()) {
        // "", or only blanks: nothing is named, which reads like an empty mask.
        quirks.push(Quirk::EmptyMask);
        if mask.contains(',') {
            quirks.push(Quirk::EmptySegment);
        }
        if mask.contains(|c: char| c.is_whitespace()) {
            quirks.push(Quirk::SpacesAroundPath);
        }
        return MaskReading {
            touches_description: true,
            unknown: false,
        };
    }
    let mut reading = MaskReading {
        touches_description: false,
        unknown: false,
    };
    let mut seen: Vec<&'static str> = Vec::new();
    for path in mask.split(',') {
        if path.trim().is_empty() {
            quirks.push(Quirk::EmptySegment);
            if !path.is_empty() {
                quirks.push(Quirk::SpacesAroundPath);
            }
            continue;
        }
        let (target, field) = read_path(path, quirks);
        if let Some(field) = field {
            if seen.contains(&field) {
                quirks.push(Quirk::DuplicatePath);
            }
            seen.push(field);
        }
        match target {
            Target::Description | Target::Everything => reading.touches_description = true,
            Target::Nothing => {}
            Target::Unknown => reading.unknown = true,
        }
    }
    reading
}

/// The outcomes the contract allows when `body` (raw text) is sent to `key`.
pub fn allowed(key: Key<'_>, body: &str) -> Verdict {
    let current = match key {
        Key::Missing => {
            return Verdict::one(Allowed::Rejected {
                codes: &[NOT_FOUND, PERMISSION_DENIED],
                rule: "U9",
            });
        }
        Key::Exists(current) => current,
    };
    let fields = match read_body(body) {
        Ok(f) => f,
        Err(_) => {
            return Verdict::one(Allowed::Rejected {
                codes: &[INVALID_ARGUMENT],
                rule: "U10",
            });
        }
    };
    let mut quirks = Vec::new();
    if !fields.extra.is_empty() {
        quirks.push(Quirk::UnknownBodyField);
    }
    let reading = match &fields.mask {
        None => MaskReading {
            touches_description: true,
            unknown: false,
        },
        Some(mask) => read_mask(mask, &mut quirks),
    };
    quirks.sort();
    quirks.dedup();

    let text = fields.description.text();
    let too_long = text.is_some_and(|t| t.chars().count() > MAX_DESCRIPTION);
    let length_rejects = too_long && reading.touches_description;

    if reading.unknown || length_rejects {
        let rule = if length_rejects { "U5" } else { "U7" };
        return Verdict {
            allowed: vec![Allowed::Rejected {
                codes: &[INVALID_ARGUMENT],
                rule,
            }],
            rule,
            quirks,
        };
    }

    let description = if reading.touches_description {
        text.unwrap_or_default().to_string()
    } else {
        current.to_string()
    };
    let value_rule = if !quirks.is_empty() {
        "U8"
    } else if fields.mask.is_none() {
        "U3"
    } else if text.is_some() {
        "U1"
    } else {
        "U2"
    };
    let mut allowed = vec![Allowed::Applied {
        description,
        rule: value_rule,
    }];
    if !quirks.is_empty() {
        allowed.push(Allowed::Rejected {
            codes: &[INVALID_ARGUMENT],
            rule: "U8",
        });
    }
    Verdict {
        rule: value_rule,
        allowed,
        quirks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::rules::{self, Level};
    use serde_json::json;

    const NOW: &str = "as it was";

    fn verdict(body: Value) -> Verdict {
        allowed(Key::Exists(NOW), &body.to_string())
    }

    fn applied(description: &str, rule: &'static str) -> Allowed {
        Allowed::Applied {
            description: description.into(),
            rule,
        }
    }

    fn rejected(rule: &'static str) -> Allowed {
        Allowed::Rejected {
            codes: &[INVALID_ARGUMENT],
            rule,
        }
    }

    /// Inputs with exactly one allowed outcome, and that outcome.
    #[test]
    fn pinned_inputs_have_one_outcome() {
        let long: String = "я".repeat(257);
        let max: String = "😀".repeat(256);
        let table: Vec<(Value, Allowed)> = vec![
            (
                json!({"updateMask": "description", "description": " x\t"}),
                applied(" x\t", "U1"),
            ),
            (json!({"updateMask": "description"}), applied("", "U2")),
            (
                json!({"updateMask": "description", "description": null}),
                applied("", "U2"),
            ),
            (
                json!({"updateMask": "description", "description": ""}),
                applied("", "U1"),
            ),
            (json!({"description": "new"}), applied("new", "U3")),
            (json!({}), applied("", "U3")),
            (json!({"description": null}), applied("", "U3")),
            (
                json!({"updateMask": "description", "description": max}),
                applied(&max, "U1"),
            ),
            (
                json!({"updateMask": "description", "description": long}),
                rejected("U5"),
            ),
            (json!({"description": long}), rejected("U5")),
            (
                json!({"updateMask": "*", "description": long}),
                rejected("U5"),
            ),
            (
                json!({"updateMask": "foo", "description": "x"}),
                rejected("U7"),
            ),
            (
                json!({"updateMask": "description,foo", "description": "x"}),
                rejected("U7"),
            ),
            (
                json!({"updateMask": "description,foo", "description": long}),
                rejected("U5"),
            ),
            (json!({"updateMask": " foo "}), rejected("U7")),
            (
                json!({"updateMask": "Description,descriptions"}),
                rejected("U7"),
            ),
        ];
        for (body, outcome) in table {
            let v = verdict(body.clone());
            assert_eq!(v.allowed, vec![outcome], "{body}");
        }
    }

    /// U8 inputs allow a rejection and exactly one documented effect.
    #[test]
    fn open_inputs_allow_rejection_or_the_documented_reading() {
        let table: Vec<(Value, &str, Vec<Quirk>)> = vec![
            (
                json!({"updateMask": "", "description": "x"}),
                "x",
                vec![Quirk::EmptyMask],
            ),
            (json!({"updateMask": "*"}), "", vec![Quirk::Star]),
            (
                json!({"updateMask": " description ", "description": "x"}),
                "x",
                vec![Quirk::SpacesAroundPath],
            ),
            (
                json!({"updateMask": "description,,", "description": "x"}),
                "x",
                vec![Quirk::EmptySegment],
            ),
            (
                json!({"updateMask": "Description", "description": "x"}),
                "x",
                vec![Quirk::OtherCasePath],
            ),
            (
                json!({"updateMask": "key_id", "description": "x"}),
                NOW,
                vec![Quirk::SnakeCasePath, Quirk::OutputOnlyPath],
            ),
            (
                json!({"updateMask": "keyId", "description": "x"}),
                NOW,
                vec![Quirk::OutputOnlyPath],
            ),
            (
                json!({"updateMask": "createdAt,description", "description": "x"}),
                "x",
                vec![Quirk::OutputOnlyPath],
            ),
            (
                json!({"updateMask": "description,description", "description": "x"}),
                "x",
                vec![Quirk::DuplicatePath],
            ),
            (
                json!({"updateMask": "description", "description": "x", "colour": 1}),
                "x",
                vec![Quirk::UnknownBodyField],
            ),
            // An ignored path never reads the description, so its length does not matter.
            (
                json!({"updateMask": "keyId", "description": "я".repeat(300)}),
                NOW,
                vec![Quirk::OutputOnlyPath],
            ),
        ];
        for (body, description, quirks) in table {
            let v = verdict(body.clone());
            assert_eq!(
                v.allowed,
                vec![applied(description, "U8"), rejected("U8")],
                "{body}"
            );
            assert_eq!(v.quirks, quirks, "{body}");
            assert_eq!(rules::get(v.rule).level, Level::Info);
        }
    }

    #[test]
    fn malformed_bodies_and_missing_keys() {
        for body in [
            "[]",
            "42",
            "{",
            "",
            r#"{"description": 1}"#,
            r#"{"updateMask": ["description"]}"#,
        ] {
            assert_eq!(
                allowed(Key::Exists(NOW), body).allowed,
                vec![rejected("U10")],
                "{body}"
            );
        }
        let v = allowed(Key::Missing, r#"{"updateMask": "description"}"#);
        assert_eq!(v.rule, "U9");
        assert_eq!(
            v.rejected().map(|r| r.0),
            Some(&[NOT_FOUND, PERMISSION_DENIED][..])
        );
    }

    #[test]
    fn bodies_round_trip() {
        let fields = Fields {
            mask: Some("description".into()),
            description: Description::Null,
            extra: Map::new(),
        };
        assert_eq!(read_body(&fields.to_text()), Ok(fields));
    }
}
