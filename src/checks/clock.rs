//! T5: the instants a target stamps tell the true time.
//!
//! The harness knows, for every exchange, when its request left and when the answer had
//! arrived (on its own clock). What a mutation stamps must lie between those two moments: a
//! new key's `createdAt` within its Create, an operation's `createdAt` within the request that
//! started it, its `modifiedAt` between that request and the answer that shows it. The same
//! holds wherever the value is read again (Get, List, the operation read back, the operations
//! of a key), and no instant of any answer lies after the answer arrived.
//!
//! The target's clock may differ from ours. Its `Date` header (one-second resolution) bounds
//! the difference: the target's clock at the answer lay in `[Date, Date + 1 s)`, somewhere
//! between our send and receive, so its offset θ lies in `[Date − received, Date + 1 s − sent]`.
//! Without a `Date` header, θ may be anything within the user's tolerance. A `Date` further off
//! than the tolerance counts for nothing: a clock that wrong does not tell the true time.
//! [`Timeline`] is what the runner records of earlier mutations, so that later reads can be
//! judged against them.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::Violation;
use super::timestamps::TIMESTAMP_FIELDS;
use crate::contract::DocKind;
use crate::contract::timestamp::parse_strict;

/// Allowed beyond the offset interval: clocks of the machine that writes `Date` and of the one
/// that stamps may differ a little, and a stamp may be cut to whole seconds.
pub const SLACK: Duration = Duration::seconds(1);

/// A span of the harness's clock: from a request leaving to an answer arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What the runner recorded of the run's mutations: when each key it created was created,
/// and when each operation it started was started.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    keys: HashMap<String, Window>,
    operations: HashMap<String, Window>,
}

impl Timeline {
    pub fn key_created(&mut self, id: &str, window: Window) {
        self.keys.entry(id.to_string()).or_insert(window);
    }

    pub fn operation_started(&mut self, id: &str, window: Window) {
        self.operations.entry(id.to_string()).or_insert(window);
    }

    pub fn key(&self, id: &str) -> Option<Window> {
        self.keys.get(id).copied()
    }

    pub fn operation(&self, id: &str) -> Option<Window> {
        self.operations.get(id).copied()
    }
}

/// One answer as T5 sees it.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// This attempt: its request left and its answer arrived.
    pub window: Window,
    /// When the first attempt of this request left (a retried request may have acted at its
    /// first attempt, whose answer was lost).
    pub first_sent: DateTime<Utc>,
    /// The target's `Date` header.
    pub date: Option<DateTime<Utc>>,
}

/// The interval the target's clock offset (target − harness) lies in, judging by one answer,
/// bounded by `tolerance`.
pub fn offset_bounds(answer: &Answer, tolerance: Duration) -> (Duration, Duration) {
    let open = (-tolerance, tolerance);
    let Some(date) = answer.date else { return open };
    let lo = (date - answer.window.to).max(-tolerance);
    let hi = (date + Duration::seconds(1) - answer.window.from).min(tolerance);
    if lo <= hi { (lo, hi) } else { open }
}

/// Which span each stamped field of `doc` must fall in: (pointer, field, span on our clock).
fn expected_spans(
    doc: &Value,
    kind: DocKind,
    answer: &Answer,
    timeline: &Timeline,
) -> Vec<(String, Window, &'static str)> {
    let here = Window {
        from: answer.first_sent,
        to: answer.window.to,
    };
    let mut spans = Vec::new();
    let key_span = |key: &Value, at: &str, spans: &mut Vec<(String, Window, &'static str)>| {
        let window = match key.get("id").and_then(Value::as_str) {
            Some(id) => timeline.key(id),
            None => None,
        };
        if let Some(window) = window {
            spans.push((
                format!("{at}/createdAt"),
                window,
                "the key's createdAt lies within its Create",
            ));
        }
    };
    let op_spans = |op: &Value, at: &str, spans: &mut Vec<(String, Window, &'static str)>| {
        let id = op.get("id").and_then(Value::as_str).unwrap_or_default();
        // A known operation was started earlier; an unknown one by this very request.
        let started = timeline.operation(id).unwrap_or(here);
        spans.push((
            format!("{at}/createdAt"),
            started,
            "an operation's createdAt lies within the request that started it",
        ));
        spans.push((
            format!("{at}/modifiedAt"),
            Window {
                from: started.from,
                to: answer.window.to,
            },
            "an operation's modifiedAt lies between its start and the answer showing it",
        ));
        if let Some(response) = op.get("response").filter(|r| r.get("createdAt").is_some()) {
            key_span(response, &format!("{at}/response"), spans);
        }
    };
    match kind {
        DocKind::CreateResponse => spans.push((
            "/accessKey/createdAt".to_string(),
            here,
            "a new key's createdAt lies within its Create",
        )),
        DocKind::AccessKey => key_span(doc, "", &mut spans),
        DocKind::ListResponse => {
            if let Some(keys) = doc.get("accessKeys").and_then(Value::as_array) {
                for (i, key) in keys.iter().enumerate() {
                    key_span(key, &format!("/accessKeys/{i}"), &mut spans);
                }
            }
        }
        DocKind::UpdateOperation | DocKind::DeleteOperation => op_spans(doc, "", &mut spans),
        DocKind::OperationList => {
            if let Some(ops) = doc.get("operations").and_then(Value::as_array) {
                for (i, op) in ops.iter().enumerate() {
                    // Only the run's own operations have a known start.
                    let id = op.get("id").and_then(Value::as_str).unwrap_or_default();
                    if timeline.operation(id).is_some() {
                        op_spans(op, &format!("/operations/{i}"), &mut spans);
                    }
                }
            }
        }
        DocKind::Status | DocKind::UpdateRequest => {}
    }
    spans
}

fn human(d: Duration) -> String {
    let ms = d.num_milliseconds().abs();
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms % 60_000);
    let mut out = String::new();
    if ms >= 86_400_000 * 365 {
        return format!("{:.1} years", ms as f64 / (86_400_000.0 * 365.25));
    }
    if h > 0 {
        out.push_str(&format!("{h} h "));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m} min "));
    }
    out.push_str(&format!("{:.3} s", s as f64 / 1000.0));
    out
}

/// T5 on one answer: every instant a mutation stamped lies in the span in which it was
/// stamped, shifted by the target's clock offset; no instant lies after the answer arrived.
pub fn stamps_tell_the_time(
    doc: &Value,
    kind: DocKind,
    answer: &Answer,
    timeline: &Timeline,
    tolerance: Duration,
) -> Vec<Violation> {
    let (lo, hi) = offset_bounds(answer, tolerance);
    // Said only when something is wrong (this runs on every answer).
    let clock = || match answer.date {
        Some(date) => format!(
            "its Date header {} puts its clock {} to {} from ours",
            date.format("%H:%M:%S"),
            signed(lo),
            signed(hi)
        ),
        None => format!(
            "without a Date header its clock may be up to {} from ours (--clock-tolerance)",
            human(tolerance)
        ),
    };
    let mut found = Vec::new();
    let spans = expected_spans(doc, kind, answer, timeline);
    for (pointer, span, what) in &spans {
        let Some(text) = doc.pointer(pointer).and_then(Value::as_str) else {
            continue;
        };
        let Some(stamp) = parse_strict(text).ok().and_then(|i| i.to_utc()) else {
            continue;
        };
        let earliest = span.from + lo - SLACK;
        let latest = span.to + hi + SLACK;
        let off = if stamp < earliest {
            Some(format!("{} too early", human(earliest - stamp)))
        } else if stamp > latest {
            Some(format!("{} too late", human(stamp - latest)))
        } else {
            None
        };
        if let Some(off) = off {
            found.push(
                Violation::new("T5", format!("{text} is not the true time: {off}"))
                    .at(pointer)
                    .received(format!("{text:?}"))
                    .expected(format!(
                        "{what}: between {} and {} UTC on the harness's clock, shifted by the target's offset ({})",
                        span.from.format("%Y-%m-%dT%H:%M:%S%.3f"),
                        span.to.format("%Y-%m-%dT%H:%M:%S%.3f"),
                        clock()
                    )),
            );
        }
    }
    // Whatever else an answer holds, it cannot have happened after the answer arrived.
    let latest = answer.window.to + hi + SLACK;
    let mut path = Vec::new();
    in_the_future(doc, &mut path, latest, &mut |pointer, text, stamp| {
        if spans.iter().any(|(p, _, _)| *p == pointer) {
            return;
        }
        found.push(
            Violation::new(
                "T5",
                format!(
                    "{text} is in the future: {} after the answer arrived",
                    human(stamp - latest)
                ),
            )
            .at(pointer)
            .received(format!("{text:?}"))
            .expected(format!(
                "an instant that has already happened when the answer arrived ({})",
                clock()
            )),
        );
    });
    found
}

/// Calls `f(pointer, text, instant)` for every timestamp field of `doc` later than `latest`;
/// the pointer is only made for those.
fn in_the_future<'a>(
    doc: &'a Value,
    path: &mut Vec<String>,
    latest: DateTime<Utc>,
    f: &mut impl FnMut(String, &'a str, DateTime<Utc>),
) {
    match doc {
        Value::Object(map) => {
            for (name, value) in map {
                match value {
                    Value::String(text) if TIMESTAMP_FIELDS.contains(&name.as_str()) => {
                        if let Some(stamp) = parse_strict(text).ok().and_then(|i| i.to_utc())
                            && stamp > latest
                        {
                            let mut pointer: String =
                                path.iter().map(|p| format!("/{p}")).collect();
                            pointer.push_str(&format!("/{name}"));
                            f(pointer, text, stamp);
                        }
                    }
                    Value::Object(_) | Value::Array(_) => {
                        path.push(name.clone());
                        in_the_future(value, path, latest, f);
                        path.pop();
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                in_the_future(item, path, latest, f);
                path.pop();
            }
        }
        _ => {}
    }
}

fn signed(d: Duration) -> String {
    if d < Duration::zero() {
        format!("-{}", human(d))
    } else {
        format!("+{}", human(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn answer(from: &str, to: &str, date: Option<&str>) -> Answer {
        Answer {
            window: Window {
                from: at(from),
                to: at(to),
            },
            first_sent: at(from),
            date: date.map(at),
        }
    }

    const TOLERANCE: Duration = Duration::seconds(300);

    fn create(created: &str) -> Value {
        json!({"accessKey": {"id": "k", "createdAt": created}, "secret": "s"})
    }

    fn t5(doc: &Value, kind: DocKind, answer: &Answer, timeline: &Timeline) -> usize {
        stamps_tell_the_time(doc, kind, answer, timeline, TOLERANCE).len()
    }

    #[test]
    fn honest_stamps_pass_in_any_spelling() {
        let a = answer(
            "2026-12-02T10:00:00.100Z",
            "2026-12-02T10:00:00.130Z",
            Some("2026-12-02T10:00:00Z"),
        );
        let none = Timeline::default();
        for created in [
            "2026-12-02T10:00:00.115Z",
            "2026-12-02T13:00:00.115+03:00",
            "2026-12-02T10:00:00Z",
            "2026-12-02t10:00:00.115123456z",
        ] {
            assert_eq!(t5(&create(created), DocKind::CreateResponse, &a, &none), 0);
        }
    }

    #[test]
    fn a_skewed_clock_that_says_so_passes() {
        // The target's clock is 70 s ahead, and its Date header agrees.
        let a = answer(
            "2026-12-02T10:00:00.100Z",
            "2026-12-02T10:00:00.130Z",
            Some("2026-12-02T10:01:10Z"),
        );
        let doc = create("2026-12-02T10:01:10.115Z");
        assert_eq!(
            t5(&doc, DocKind::CreateResponse, &a, &Timeline::default()),
            0
        );
        // The same stamp with a Date header that shows no skew is 70 s off.
        let honest = answer(
            "2026-12-02T10:00:00.100Z",
            "2026-12-02T10:00:00.130Z",
            Some("2026-12-02T10:00:00Z"),
        );
        assert_eq!(
            t5(&doc, DocKind::CreateResponse, &honest, &Timeline::default()),
            1
        );
        // Without a Date header, 70 s is within the tolerance.
        let no_date = answer("2026-12-02T10:00:00.100Z", "2026-12-02T10:00:00.130Z", None);
        assert_eq!(
            t5(
                &doc,
                DocKind::CreateResponse,
                &no_date,
                &Timeline::default()
            ),
            0
        );
    }

    #[test]
    fn wrong_labels_and_units_fail() {
        let a = answer("2026-12-02T10:00:00.100Z", "2026-12-02T10:00:00.130Z", None);
        for wrong in [
            // UTC digits labelled +03:00.
            "2026-12-02T10:00:00.115+03:00",
            // Moscow time written as UTC.
            "2026-12-02T13:00:00.115Z",
            // Milliseconds since the epoch read as seconds... and the reverse.
            "1970-01-21T12:00:00Z",
        ] {
            assert_eq!(
                t5(
                    &create(wrong),
                    DocKind::CreateResponse,
                    &a,
                    &Timeline::default()
                ),
                1,
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_date_beyond_the_tolerance_does_not_excuse_the_stamps() {
        let a = answer(
            "2026-12-02T10:00:00.100Z",
            "2026-12-02T10:00:00.130Z",
            Some("2026-12-02T13:00:00Z"),
        );
        let doc = create("2026-12-02T13:00:00.115Z");
        assert_eq!(
            t5(&doc, DocKind::CreateResponse, &a, &Timeline::default()),
            1
        );
    }

    #[test]
    fn reads_are_judged_by_the_mutation_they_show() {
        let mut timeline = Timeline::default();
        timeline.key_created(
            "k",
            Window {
                from: at("2026-12-02T10:00:00.000Z"),
                to: at("2026-12-02T10:00:00.050Z"),
            },
        );
        timeline.operation_started(
            "op",
            Window {
                from: at("2026-12-02T10:00:01.000Z"),
                to: at("2026-12-02T10:00:01.050Z"),
            },
        );
        let later = answer(
            "2026-12-02T10:05:00.000Z",
            "2026-12-02T10:05:00.040Z",
            Some("2026-12-02T10:05:00Z"),
        );
        let get = json!({"id": "k", "createdAt": "2026-12-02T10:00:00.020Z"});
        assert_eq!(t5(&get, DocKind::AccessKey, &later, &timeline), 0);
        let shifted = json!({"id": "k", "createdAt": "2026-12-02T07:00:00.020Z"});
        assert_eq!(t5(&shifted, DocKind::AccessKey, &later, &timeline), 1);
        // An operation read back minutes later: created at its PATCH, modified since.
        let op = json!({"id": "op", "createdAt": "2026-12-02T10:00:01.020Z",
            "modifiedAt": "2026-12-02T10:03:00Z", "done": true,
            "response": {"id": "k", "createdAt": "2026-12-02T10:00:00.020Z"}});
        assert_eq!(t5(&op, DocKind::UpdateOperation, &later, &timeline), 0);
        let stale = json!({"id": "op", "createdAt": "2026-12-02T10:04:59Z", "done": true});
        assert_eq!(t5(&stale, DocKind::UpdateOperation, &later, &timeline), 1);
        // Unknown keys are judged only by the clock: nothing in the future.
        let future = json!({"id": "other", "createdAt": "2026-12-02T10:20:00Z",
            "lastUsedAt": "2026-12-02T10:20:00Z"});
        assert_eq!(t5(&future, DocKind::AccessKey, &later, &timeline), 2);
    }
}
