//! Checks: pure functions from what the target answered to [`Violation`]s. No I/O happens
//! here; the suite decides which exchanges to make and hands them over.
//!
//! - [`response`]: the checks every response gets (shape, timestamps, errors, operations, X1);
//! - [`timestamps`], [`operation`], [`update`]: one predicate per rule, used by the above and
//!   by the trials that test one rule on purpose.

pub mod clock;
pub mod operation;
pub mod proto3;
pub mod response;
pub mod timestamps;
pub mod update;

use std::fmt;

use serde_json::Value;

use crate::client::Exchange;
use crate::contract::{Level, rules};

/// One way the target broke one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    /// The level of the part of the rule that was broken: the rule's own level, unless the
    /// check says it broke a weaker part (O4, O5 and O6 have should parts).
    pub level: Level,
    /// What went wrong, in one line.
    pub title: String,
    /// JSON pointer into the response body, when the problem sits at one place.
    pub pointer: Option<String>,
    /// What the target sent (shortened).
    pub received: String,
    /// What the contract asks for.
    pub expected: String,
    /// The request that showed it (`PATCH https://...`), and how to repeat it.
    pub request: Option<String>,
    pub curl: Option<String>,
    /// Further lines, e.g. the numbered steps of a shrunk generated sequence.
    pub detail: Option<String>,
    /// The route of the REST surface where a checker of the route matrix found it.
    pub route: Option<&'static str>,
}

impl Violation {
    pub fn new(rule: &'static str, title: impl Into<String>) -> Self {
        Violation {
            rule,
            level: rules::get(rule).level,
            title: title.into(),
            pointer: None,
            received: String::new(),
            expected: String::new(),
            request: None,
            curl: None,
            detail: None,
            route: None,
        }
    }

    /// Places the violation on a route of the matrix (unless it has one already).
    pub fn on_route(mut self, route: &'static str) -> Self {
        self.route.get_or_insert(route);
        self
    }

    /// Marks the violation as one of the rule's should-level part.
    pub fn should(mut self) -> Self {
        self.level = Level::Should;
        self
    }

    /// Charges the violation to another rule (at that rule's level).
    pub fn charged_to(mut self, rule: &'static str) -> Self {
        self.rule = rule;
        self.level = rules::get(rule).level;
        self
    }

    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    pub fn received(mut self, received: impl Into<String>) -> Self {
        self.received = crate::client::snippet(&received.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = expected.into();
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Attaches the exchange that showed the violation.
    pub fn seen_in(mut self, exchange: &Exchange) -> Self {
        self.request = Some(format!(
            "{} -> {}",
            exchange.request_line(),
            exchange.status
        ));
        self.curl = Some(exchange.curl());
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.title)?;
        if let Some(route) = self.route {
            write!(f, "\n    route: {route}")?;
        }
        if let Some(p) = &self.pointer {
            write!(f, "\n    at: {p}")?;
        }
        if !self.received.is_empty() {
            write!(f, "\n    received: {}", self.received)?;
        }
        if !self.expected.is_empty() {
            write!(f, "\n    expected: {}", self.expected)?;
        }
        if let Some(r) = &self.request {
            write!(f, "\n    request: {r}")?;
        }
        if let Some(c) = &self.curl {
            write!(f, "\n    reproduce: {c}")?;
        }
        if let Some(d) = &self.detail {
            for line in d.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

/// A text with the ids in it (tokens of 12 or more letters and digits, with at least one
/// digit) replaced by `{id}`, and the id-like tokens found: violations that differ only in
/// an id read alike.
pub fn without_ids(text: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut ids = Vec::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String, ids: &mut Vec<String>| {
        let id_like = token.len() >= 12
            && token.chars().any(|c| c.is_ascii_digit())
            && token.chars().any(|c| c.is_ascii_alphabetic());
        if id_like {
            out.push_str("{id}");
            ids.push(std::mem::take(token));
        } else {
            out.push_str(token);
            token.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            token.push(c);
        } else {
            flush(&mut token, &mut out, &mut ids);
            out.push(c);
        }
    }
    flush(&mut token, &mut out, &mut ids);
    (out, ids)
}

/// Violations grouped for people: those of one rule whose title and request read alike but
/// for ids. Each group: the index of its first violation, how many it holds, and the ids
/// that tell its members apart (in order, without repeats).
pub fn grouped<'a, I>(violations: I) -> Vec<(usize, usize, Vec<String>)>
where
    I: IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
{
    let mut groups: Vec<(String, usize, usize, Vec<String>)> = Vec::new();
    for (i, (rule, title, request)) in violations.into_iter().enumerate() {
        let (title, mut ids) = without_ids(title);
        let (request, more) = without_ids(request.unwrap_or_default());
        ids.extend(more);
        let key = format!("{rule}\n{title}\n{request}");
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(group) => {
                group.2 += 1;
                for id in ids {
                    if !group.3.contains(&id) {
                        group.3.push(id);
                    }
                }
            }
            None => groups.push((key, i, 1, ids)),
        }
    }
    groups
        .into_iter()
        .map(|(_, first, count, ids)| (first, count, ids))
        .collect()
}

/// The description of an access key: absent or null is `""` (proto3 default); `None` when it is
/// not a string (the schema check reports that).
pub fn description_of(key: &Value) -> Option<String> {
    match key.get("description") {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => None,
    }
}

/// A JSON value shortened for messages.
pub fn show(value: &Value) -> String {
    crate::client::snippet(&value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_that_differ_only_in_ids_group() {
        let (text, ids) = without_ids("key aje4nrhen0qs4sbf5588 is listed twice");
        assert_eq!(text, "key {id} is listed twice");
        assert_eq!(ids, ["aje4nrhen0qs4sbf5588"]);
        let request = Some("GET /k?pageSize=1 -> 200");
        let rows = [
            ("L1", "key aje111111111111111aa is missing", request),
            ("L1", "key aje222222222222222bb is missing", request),
            ("L1", "the walk goes round", request),
            ("L3", "key aje333333333333333cc is missing", request),
        ];
        let groups = grouped(rows.iter().map(|(r, t, q)| (*r, *t, *q)));
        assert_eq!(groups.len(), 3);
        assert_eq!((groups[0].0, groups[0].1, groups[0].2.len()), (0, 2, 2));
    }
}
