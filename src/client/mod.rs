//! Talking to the target: [`Client`] sends one HTTP request and returns an [`Exchange`], the
//! record of what was sent and what came back. Redirects are never followed, every request has
//! one deadline covering the body, and bodies are capped.

mod api;
pub mod auth;

pub use api::{Api, Auth, RouteAim, other_case, segment};

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Response bodies larger than this are cut off and reported, never parsed.
pub const BODY_CAP: usize = 1024 * 1024;

/// One request and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    /// Request headers as sent, with the Authorization value redacted.
    pub request_headers: Vec<(String, String)>,
    /// Which credentials the request carried (the curl reproduction writes them again).
    pub auth: Auth,
    pub request_body: Option<String>,
    pub status: u16,
    /// `HTTP/1.1`, `HTTP/2.0`: the protocol the answer came in.
    pub http_version: String,
    pub response_headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8), at most [`BODY_CAP`] bytes of it.
    pub body: String,
    /// The body parsed as JSON, or why it could not be.
    pub json: Result<Value, String>,
    /// Whether the body bytes are valid UTF-8 (`body` holds them lossily either way).
    pub utf8: bool,
    /// When the request left and when the whole answer had arrived, on the harness's clock.
    pub sent_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub elapsed: Duration,
}

impl Exchange {
    /// A 2xx answer that is not an error in disguise (see [`Exchange::error_in_a_2xx`]).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status) && !self.error_in_a_2xx()
    }

    /// A 2xx answer whose body is a google.rpc.Status with a non-zero code (and nothing an
    /// access key, a page or an operation carries): an error sent with a success status,
    /// which E1 judges as the error it is.
    pub fn error_in_a_2xx(&self) -> bool {
        if !(200..300).contains(&self.status) {
            return false;
        }
        let Ok(Value::Object(body)) = &self.json else {
            return false;
        };
        let code = body.get("code").and_then(Value::as_i64);
        code.is_some_and(|c| c != 0)
            && body.get("message").is_some_and(Value::is_string)
            && ![
                "id",
                "done",
                "accessKey",
                "accessKeys",
                "operations",
                "serviceAccountId",
            ]
            .iter()
            .any(|m| body.contains_key(*m))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target's clock as its `Date` header shows it (IMF-fixdate, one-second
    /// resolution); `None` when the header is absent or in another form.
    pub fn server_date(&self) -> Option<DateTime<Utc>> {
        let value = self.header("date")?;
        chrono::DateTime::parse_from_rfc2822(value.trim())
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The media type of the answer (`application/json` of `application/json; charset=utf-8`),
    /// in lower case.
    pub fn media_type(&self) -> Option<String> {
        let value = self.header("content-type")?;
        Some(
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
        )
    }

    /// `PATCH https://host/path`: how messages name the request.
    pub fn request_line(&self) -> String {
        format!("{} {}", self.method, self.url)
    }

    /// The first 200 characters of the body, for messages.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }

    /// A curl command that repeats the request; the token stays a variable, and the
    /// Idempotency-Key is left out so that the repeat acts again.
    pub fn curl(&self) -> String {
        let mut cmd = format!("curl -sS -X {} '{}'", self.method, self.url);
        for (name, value) in &self.request_headers {
            if name.eq_ignore_ascii_case("authorization") {
                if let Some(header) = self.auth.curl_header() {
                    cmd.push_str(&format!(" -H \"{header}\""));
                }
            } else if name.eq_ignore_ascii_case("idempotency-key") {
                // A repeat must be a new request, not a replay the server answers from memory.
                continue;
            } else {
                cmd.push_str(&format!(" -H '{name}: {value}'"));
            }
        }
        if let Some(body) = &self.request_body {
            cmd.push_str(&format!(" --data-raw '{}'", body.replace('\'', "'\\''")));
        }
        cmd
    }
}

pub fn snippet(text: &str) -> String {
    let cut: String = text.chars().take(200).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Why a request got no HTTP answer at all: the harness could not test.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{method} {url}: {reason}")]
pub struct TransportError {
    pub method: String,
    pub url: String,
    pub reason: String,
}

impl TransportError {
    /// No answer came within the deadline (a stall), rather than a connection that broke.
    pub fn is_stall(&self) -> bool {
        self.reason.starts_with("no complete answer within") || self.reason.starts_with("timed out")
    }
}

/// The HTTP client used for every request to the target.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    timeout: Duration,
}

/// A request about to be sent (possibly more than once).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    /// Which credentials it carries; the header is made at each send.
    pub auth: Auth,
    /// Further headers (Idempotency-Key).
    pub headers: Vec<(String, String)>,
    /// A raw body: the harness sends malformed bodies on purpose.
    pub body: Option<String>,
}

impl Request {
    /// The Idempotency-Key the request carries (mutations only).
    pub fn idempotency_key(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("idempotency-key"))
            .map(|(_, v)| v.as_str())
    }

    /// The same request without an Idempotency-Key.
    pub fn without_idempotency_key(mut self) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("idempotency-key"));
        self
    }

    /// The same request with this Idempotency-Key instead of its own.
    pub fn with_idempotency_key(mut self, key: &str) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("idempotency-key"));
        self.headers
            .push(("Idempotency-Key".to_string(), key.to_string()));
        self
    }
}

/// Makes ring the process's TLS crypto provider (once; later calls do nothing). reqwest is
/// built without a provider of its own (`rustls-no-provider`), which keeps aws-lc's C build
/// out of the release build; call this before building any `reqwest::Client`.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    /// `loopback` skips proxies (reqwest honours HTTP_PROXY even for 127.0.0.1); other
    /// targets go through `HTTPS_PROXY`/`HTTP_PROXY` unless `NO_PROXY` names them. `cacert`
    /// adds CA certificates (PEM) to the system's roots.
    pub fn new(timeout: Duration, loopback: bool, cacert: Option<&Path>) -> Result<Self, String> {
        install_crypto();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("accesskey-conformance/", env!("CARGO_PKG_VERSION")));
        if loopback {
            builder = builder.no_proxy();
        }
        if let Some(path) = cacert {
            let pem = std::fs::read(path)
                .map_err(|e| format!("--cacert `{}`: cannot read: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    format!(
                        "--cacert `{}`: no PEM certificate in the file",
                        path.display()
                    )
                })?;
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client { http, timeout })
    }

    /// Sends `req` with `authorization` (the full header value) and reads the answer under
    /// one deadline.
    pub async fn send(
        &self,
        req: &Request,
        authorization: Option<String>,
    ) -> Result<Exchange, TransportError> {
        let fail = |reason: String| TransportError {
            method: req.method.to_string(),
            url: req.url.clone(),
            reason,
        };
        let mut request_headers = Vec::new();
        // Answers in the body's own form: a content-coding the harness did not accept is
        // the target's finding (E4), not something to undo quietly.
        let mut builder = self
            .http
            .request(req.method.clone(), &req.url)
            .header(reqwest::header::ACCEPT_ENCODING, "identity");
        request_headers.push(("Accept-Encoding".to_string(), "identity".to_string()));
        if let Some(auth) = &authorization {
            builder = builder.header(reqwest::header::AUTHORIZATION, auth);
            let shown = req.auth.shown().unwrap_or_else(|| "[redacted]".into());
            request_headers.push(("Authorization".to_string(), shown));
        }
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
            request_headers.push((name.clone(), value.clone()));
        }
        if let Some(body) = &req.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            request_headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        let started = Instant::now();
        let sent_at = Utc::now();
        let exchange = async {
            let response = builder.send().await.map_err(|e| fail(describe(&e)))?;
            let status = response.status().as_u16();
            let http_version = format!("{:?}", response.version());
            let response_headers = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut response = response;
            let mut bytes = Vec::new();
            let mut oversized = false;
            while let Some(chunk) = response.chunk().await.map_err(|e| fail(describe(&e)))? {
                if bytes.len() + chunk.len() > BODY_CAP {
                    oversized = true;
                    bytes.extend_from_slice(&chunk[..BODY_CAP - bytes.len()]);
                    break;
                }
                bytes.extend_from_slice(&chunk);
            }
            let utf8 = std::str::from_utf8(&bytes).is_ok();
            let body = String::from_utf8_lossy(&bytes).into_owned();
            // Parsed from the lossy text: a body that is not UTF-8 is rule E4's finding, and
            // the rest of it can still be judged.
            let json = if oversized {
                Err(format!("the body is larger than {} KiB", BODY_CAP / 1024))
            } else if bytes.is_empty() {
                Err("the body is empty".to_string())
            } else {
                serde_json::from_str(&body).map_err(|e| format!("the body is not JSON ({e})"))
            };
            Ok(Exchange {
                method: req.method.to_string(),
                url: req.url.clone(),
                request_headers,
                auth: req.auth,
                request_body: req.body.clone(),
                status,
                http_version,
                response_headers,
                body,
                json,
                utf8,
                sent_at,
                received_at: Utc::now(),
                elapsed: started.elapsed(),
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(fail(format!(
                "no complete answer within {:.1} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

/// A one-line reason for a reqwest error, with its causes.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the body could not be read"
    } else {
        "request failed"
    };
    let mut reason = kind.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}
