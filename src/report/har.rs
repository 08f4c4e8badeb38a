//! The HAR file (`--har`): every exchange of the run, in the order the requests were sent, in
//! the HTTP Archive 1.2 format that browser devtools, Insomnia, Charles and HAR viewers open.
//! Each entry names its trial in `_trial` (custom fields start with an underscore). Texts are
//! redacted as everywhere else; the Authorization header is already `Bearer [redacted]`.
//! The shape is `schemas/har.schema.json`.

use serde_json::{Value, json};

use crate::client::Exchange;

fn headers(pairs: &[(String, String)], redact: &dyn Fn(&str) -> String) -> Value {
    pairs
        .iter()
        .map(|(name, value)| json!({"name": name, "value": redact(value)}))
        .collect()
}

/// The query of a URL as HAR's name/value pairs (percent-decoded).
fn query(url: &str) -> Value {
    let Ok(parsed) = url::Url::parse(url) else {
        return json!([]);
    };
    parsed
        .query_pairs()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect()
}

fn status_text(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

fn entry(trial: &str, e: &Exchange, redact: &dyn Fn(&str) -> String) -> Value {
    let millis = e.elapsed.as_secs_f64() * 1000.0;
    let mut request = json!({
        "method": e.method,
        "url": redact(&e.url),
        "httpVersion": e.http_version,
        "cookies": [],
        "headers": headers(&e.request_headers, redact),
        "queryString": query(&redact(&e.url)),
        "headersSize": -1,
        "bodySize": e.request_body.as_ref().map_or(0, String::len),
    });
    if let Some(body) = &e.request_body {
        request["postData"] = json!({"mimeType": "application/json", "text": redact(body)});
    }
    let body = redact(&e.body);
    json!({
        "startedDateTime": e.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "time": millis,
        "request": request,
        "response": {
            "status": e.status,
            "statusText": status_text(e.status),
            "httpVersion": e.http_version,
            "cookies": [],
            "headers": headers(&e.response_headers, redact),
            "content": {
                "size": e.body.len(),
                "mimeType": e.header("content-type").unwrap_or(""),
                "text": body,
            },
            "redirectURL": e.header("location").unwrap_or(""),
            "headersSize": -1,
            "bodySize": e.body.len(),
        },
        "cache": {},
        "timings": {"send": 0, "wait": millis, "receive": 0},
        "_trial": trial,
    })
}

/// The HAR document of `exchanges` (each with its trial, in the order they were sent).
pub fn build(exchanges: &[(String, Exchange)], redact: &dyn Fn(&str) -> String) -> Value {
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "accesskey-conformance", "version": env!("CARGO_PKG_VERSION")},
            "entries": exchanges
                .iter()
                .map(|(trial, e)| entry(trial, e, redact))
                .collect::<Vec<_>>(),
        }
    })
}
