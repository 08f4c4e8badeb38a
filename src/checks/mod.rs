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
