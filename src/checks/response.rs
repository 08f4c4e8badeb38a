//! The checks every response gets, whatever the trial: [`check_response`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::clock::{self, Timeline};
use super::{Violation, operation, timestamps};
use crate::client::Exchange;
use crate::contract::{DocKind, Schemas};

/// What a response should be, as the caller knows it.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The document kind of a successful answer.
    pub kind: DocKind,
    /// The key the request names (operation metadata must name it).
    pub key_id: Option<String>,
    /// Only Create may answer with the secret.
    pub secret_allowed: bool,
    /// A 429 or 503, or a gateway's 502 or 504, that the harness retries: judged as an error
    /// response, but not as E3 (and a gateway's page that is not JSON not at all).
    pub retryable: bool,
    /// The service account a List was filtered by (every key listed must belong to it, L2).
    pub account: Option<String>,
    /// When the first attempt of this request left, if this answer is to a retry.
    pub first_sent: Option<DateTime<Utc>>,
}

impl Expect {
    pub fn new(kind: DocKind) -> Self {
        Expect {
            kind,
            key_id: None,
            secret_allowed: false,
            retryable: false,
            account: None,
            first_sent: None,
        }
    }

    /// A List filtered by `account`.
    pub fn listing(account: &str) -> Self {
        let mut expect = Expect::new(DocKind::ListResponse);
        expect.account = Some(account.to_string());
        expect
    }

    pub fn for_key(mut self, key_id: &str) -> Self {
        self.key_id = Some(key_id.to_string());
        self
    }
}

/// HTTP status for a google.rpc.Code (E1), per the contract brief.
pub fn http_status_for_code(code: i64) -> Option<u16> {
    Some(match code {
        1 => 499,
        2 => 500,
        3 => 400,
        4 => 504,
        5 => 404,
        6 => 409,
        7 => 403,
        8 => 429,
        9 => 400,
        10 => 409,
        11 => 400,
        12 => 501,
        13 => 500,
        14 => 503,
        15 => 500,
        16 => 401,
        _ => return None,
    })
}

/// The Create secrets seen so far, searched for all at once.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    finder: Option<aho_corasick::AhoCorasick>,
}

impl Secrets {
    /// A searcher for `secrets` (empty ones are ignored).
    pub fn new(secrets: &[String]) -> Self {
        let patterns: Vec<&str> = secrets
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        Secrets {
            finder: (!patterns.is_empty())
                .then(|| {
                    // Rebuilt whenever Create returns a secret: a contiguous NFA builds in
                    // a fraction of a DFA's time and searches these short bodies as fast.
                    aho_corasick::AhoCorasick::builder()
                        .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
                        .build(&patterns)
                        .ok()
                })
                .flatten(),
        }
    }

    pub fn any_in(&self, text: &str) -> bool {
        self.finder.as_ref().is_some_and(|f| f.is_match(text))
    }
}

/// What the universal checks judge with besides the exchange: the schemas, the Create secrets
/// seen so far, the run's record of its mutations and the clock tolerance (T5).
pub struct Judge<'a> {
    pub schemas: &'a Schemas,
    pub secrets: &'a Secrets,
    pub timeline: &'a Timeline,
    pub clock_tolerance: chrono::Duration,
}

/// E4: an answer with a JSON body says so (`application/json`, parameters allowed), and its
/// bytes are UTF-8.
pub fn labelled_json_in_utf8(exchange: &Exchange) -> Vec<Violation> {
    let mut found = Vec::new();
    if let Some(coding) = exchange
        .header("content-encoding")
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
    {
        found.push(
            Violation::new(
                "E4",
                format!(
                    "the answer is {coding}-encoded, although the request accepted only identity"
                ),
            )
            .received(format!("Content-Encoding: {coding}"))
            .expected("the JSON body as it is (the request sent Accept-Encoding: identity)"),
        );
    }
    if exchange.json.is_ok() {
        let media = exchange.media_type();
        if media.as_deref() != Some("application/json") {
            found.push(
                Violation::new("E4", "a JSON answer is not labelled application/json")
                    .received(format!(
                        "Content-Type: {}",
                        exchange.header("content-type").unwrap_or("(none)")
                    ))
                    .expected(
                        "Content-Type: application/json (a charset or other parameters may follow)",
                    ),
            );
        }
    }
    if !exchange.utf8 {
        found.push(
            Violation::new("E4", "the body is not valid UTF-8")
                .received(exchange.snippet())
                .expected("UTF-8, as JSON text must be"),
        );
    }
    found
}

/// L2: a List filtered by an account shows only that account's keys.
pub fn keys_belong_to(json: &Value, account: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    if let Some(keys) = json.get("accessKeys").and_then(Value::as_array) {
        for (i, key) in keys.iter().enumerate() {
            match key.get("serviceAccountId").and_then(Value::as_str) {
                Some(owner) if owner != account => found.push(
                    Violation::new("L2", "List shows a key of another service account")
                        .at(format!("/accessKeys/{i}/serviceAccountId"))
                        .received(format!("{owner:?}"))
                        .expected(format!("only keys of {account:?}, the account asked for")),
                ),
                _ => {}
            }
        }
    }
    found
}

/// X1: `"@type"` names the message inside a `google.protobuf.Any`; an AccessKey that is the
/// answer itself (Get), a member of one (Create's `accessKey`) or a List item is no Any and
/// carries no such member. Only an operation's `response` and `metadata` may.
pub fn no_type_outside_an_any(kind: DocKind, json: &Value) -> Vec<Violation> {
    let keys: Vec<(String, &Value)> = match kind {
        DocKind::AccessKey => vec![(String::new(), json)],
        DocKind::CreateResponse => json
            .get("accessKey")
            .map(|k| vec![("/accessKey".to_string(), k)])
            .unwrap_or_default(),
        DocKind::ListResponse => json
            .get("accessKeys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| (format!("/accessKeys/{i}"), k))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    keys.into_iter()
        .filter_map(|(at, key)| {
            let marked = key.get("@type")?;
            Some(
                Violation::new("X1", "an AccessKey outside an Any carries \"@type\"")
                    .at(format!("{at}/@type"))
                    .received(marked.to_string())
                    .expected("the documented AccessKey fields only (\"@type\" belongs to an Any)"),
            )
        })
        .collect()
}

/// Runs every universal check on one exchange.
pub fn check_response(exchange: &Exchange, expect: &Expect, judge: &Judge<'_>) -> Vec<Violation> {
    let (schemas, secrets) = (judge.schemas, judge.secrets);
    let mut found = Vec::new();
    let status = exchange.status;
    if status >= 500 && !expect.retryable {
        found.push(
            Violation::new(
                "E3",
                format!("the target answered {status}, a server error"),
            )
            .received(exchange.snippet())
            .expected("no 5xx for any request of the harness"),
        );
    }
    // An error sent with a 2xx status is judged as the error it is (E1 then finds its HTTP
    // status wrong).
    let is_error = status >= 400 || exchange.error_in_a_2xx();
    // A gateway's own page (a 502 or 504 that is not JSON, retried like a 503) is no answer
    // of the target's: E1 and E4 do not judge it (E3).
    let gateway_page = expect.retryable && matches!(status, 502 | 504) && exchange.json.is_err();
    if gateway_page {
        return Vec::new();
    }
    found.extend(labelled_json_in_utf8(exchange));
    if !exchange.is_success() && !is_error {
        found.push(
            Violation::new("E1", format!("unexpected HTTP status {status}"))
                .received(exchange.snippet())
                .expected("2xx with the result, or 4xx/5xx with a Status body; redirects are never followed"),
        );
    }
    if !expect.secret_allowed {
        // The raw text, and the decoded strings when the text has escapes: an escaped secret
        // is still a secret.
        let leaked = secrets.any_in(&exchange.body)
            || (exchange.body.contains('\\')
                && exchange
                    .json
                    .as_ref()
                    .is_ok_and(|j| secrets.any_in(&j.to_string())));
        if leaked {
            found.push(
                Violation::new("X1", "the response contains a secret returned by Create")
                    .received("[redacted]")
                    .expected("the secret only in the Create response"),
            );
        }
    }
    let json = match &exchange.json {
        Ok(json) => json,
        Err(why) => {
            if exchange.is_success() || is_error {
                let rule = if is_error { "E1" } else { "S1" };
                found.push(
                    Violation::new(rule, format!("unreadable response: {why}"))
                        .received(exchange.snippet())
                        .expected("a JSON object"),
                );
            }
            return attach(found, exchange);
        }
    };
    if is_error {
        found.extend(error_is_a_status(status, json, schemas));
    } else if exchange.is_success() {
        found.extend(schema_violations(schemas, expect.kind, json));
        found.extend(no_type_outside_an_any(expect.kind, json));
        found.extend(timestamps::timestamps_are_valid(json));
        found.extend(operation_rules(expect, json));
        let answer = clock::Answer {
            window: clock::Window {
                from: exchange.sent_at,
                to: exchange.received_at,
            },
            first_sent: expect.first_sent.unwrap_or(exchange.sent_at),
            date: exchange.server_date(),
        };
        found.extend(clock::stamps_tell_the_time(
            json,
            expect.kind,
            &answer,
            judge.timeline,
            judge.clock_tolerance,
        ));
        if let Some(account) = &expect.account {
            found.extend(keys_belong_to(json, account));
        }
    }
    attach(found, exchange)
}

fn attach(found: Vec<Violation>, exchange: &Exchange) -> Vec<Violation> {
    found.into_iter().map(|v| v.seen_in(exchange)).collect()
}

fn schema_violations(schemas: &Schemas, kind: DocKind, json: &Value) -> Vec<Violation> {
    schemas
        .validate(kind, json)
        .into_iter()
        .map(|f| {
            Violation::new(
                f.rule,
                format!("does not match {}: {}", kind.file(), f.message),
            )
            .at(f.pointer)
            .expected(format!("schema keyword {}", f.keyword_location))
        })
        .collect()
}

/// E1: an error body is a Status whose code matches the HTTP status.
pub fn error_is_a_status(http: u16, json: &Value, schemas: &Schemas) -> Vec<Violation> {
    let mut found = schema_violations(schemas, DocKind::Status, json);
    if let Some(code) = json.get("code").and_then(Value::as_i64) {
        match http_status_for_code(code) {
            Some(wanted) if wanted == http => {}
            Some(wanted) => found.push(
                Violation::new("E1", format!("error code {code} sent with HTTP {http}"))
                    .at("/code")
                    .received(format!("HTTP {http}, code {code}"))
                    .expected(format!("HTTP {wanted} for code {code}")),
            ),
            None => found.push(
                Violation::new("E1", format!("error code {code} is not a google.rpc.Code"))
                    .at("/code")
                    .expected("a code from 1 to 16"),
            ),
        }
    }
    found
}

/// O1-O4 (must) on operation documents, wherever they appear.
fn operation_rules(expect: &Expect, json: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut one = |op: &Value, key_id: Option<&str>, at: &str| {
        if operation::envelope(op).is_err() {
            // Nothing more can be read from it (the schema reports O9).
            return;
        }
        let mut vs: Vec<Violation> = [
            operation::never_both_error_and_response(op),
            operation::done_has_a_result(op),
            operation::pending_has_no_response(op),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(key_id) = key_id {
            vs.extend(operation::metadata_names_the_key(op, key_id));
        }
        found.extend(vs.into_iter().map(|mut v| {
            v.pointer = Some(format!("{at}{}", v.pointer.take().unwrap_or_default()));
            v
        }));
    };
    match expect.kind {
        DocKind::UpdateOperation | DocKind::DeleteOperation if json.is_object() => {
            one(json, expect.key_id.as_deref(), "")
        }
        DocKind::OperationList => {
            if let Some(items) = json.get("operations").and_then(Value::as_array) {
                for (i, op) in items.iter().enumerate() {
                    one(op, expect.key_id.as_deref(), &format!("/operations/{i}"));
                }
            }
        }
        _ => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(body: &str) -> Exchange {
        Exchange {
            method: "GET".into(),
            url: "http://127.0.0.1/k".into(),
            request_headers: Vec::new(),
            auth: crate::client::Auth::Token,
            request_body: None,
            status: 200,
            http_version: "HTTP/1.1".into(),
            response_headers: Vec::new(),
            body: body.into(),
            json: serde_json::from_str(body).map_err(|e| e.to_string()),
            utf8: true,
            sent_at: Utc::now(),
            received_at: Utc::now(),
            elapsed: std::time::Duration::ZERO,
        }
    }

    fn judged(exchange: &Exchange, expect: &Expect, secrets: &Secrets) -> Vec<Violation> {
        let schemas = Schemas::embedded().expect("schemas");
        let judge = Judge {
            schemas: &schemas,
            secrets,
            timeline: &Timeline::default(),
            clock_tolerance: chrono::Duration::seconds(300),
        };
        check_response(exchange, expect, &judge)
    }

    #[test]
    fn json_answers_are_labelled_json_in_utf8() {
        let mut exchange = answer(r#"{"code": 5, "message": "x"}"#);
        exchange.status = 404;
        let expect = Expect::new(DocKind::AccessKey);
        let rules = |e: &Exchange| -> Vec<&'static str> {
            judged(e, &expect, &Secrets::default())
                .iter()
                .map(|v| v.rule)
                .collect()
        };
        assert_eq!(rules(&exchange), vec!["E4"]);
        for label in ["application/json", "Application/JSON; charset=utf-8"] {
            exchange.response_headers = vec![("content-type".into(), label.into())];
            assert!(rules(&exchange).is_empty(), "{label}");
        }
        exchange.response_headers = vec![("content-type".into(), "text/plain".into())];
        assert_eq!(rules(&exchange), vec!["E4"]);
        exchange.response_headers = vec![("content-type".into(), "application/json".into())];
        exchange.utf8 = false;
        assert_eq!(rules(&exchange), vec!["E4"]);
    }

    #[test]
    fn secrets_are_found_raw_and_escaped() {
        let secrets = Secrets::new(&["YCMsecret0123".to_string(), String::new()]);
        assert!(secrets.any_in("a YCMsecret0123 b"));
        assert!(!secrets.any_in("YCMsecret012"));
        assert!(!Secrets::default().any_in("YCMsecret0123"));
        let expect = Expect::new(DocKind::AccessKey);
        for body in [
            r#"{"leak": "YCMsecret0123"}"#,
            r#"{"leak": "\u0059CMsecret0123"}"#,
        ] {
            let found = judged(&answer(body), &expect, &secrets);
            assert!(found.iter().any(|v| v.rule == "X1"), "{body}: {found:?}");
        }
    }

    #[test]
    fn type_marks_only_keys_inside_an_any() {
        let marked = json!({"@type": "type.googleapis.com/yandex.cloud.iam.v1.awscompatibility.AccessKey", "id": "a"});
        let plain = json!({"id": "a"});
        assert_eq!(no_type_outside_an_any(DocKind::AccessKey, &marked).len(), 1);
        assert!(no_type_outside_an_any(DocKind::AccessKey, &plain).is_empty());
        let created = json!({"accessKey": marked, "secret": "s"});
        let found = no_type_outside_an_any(DocKind::CreateResponse, &created);
        assert_eq!(found[0].pointer.as_deref(), Some("/accessKey/@type"));
        let listed = json!({"accessKeys": [plain, marked]});
        let found = no_type_outside_an_any(DocKind::ListResponse, &listed);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer.as_deref(), Some("/accessKeys/1/@type"));
        // An operation's response is an Any: its "@type" is expected.
        let op = json!({"id": "op", "done": true, "response": marked});
        assert!(no_type_outside_an_any(DocKind::UpdateOperation, &op).is_empty());
    }
}
