//! The HTTP layer of the reference server: [`app`] builds the axum router; each handler
//! validates its request, asks the store, and renders the answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::store::{Effect, OpKind, Render, Status, Store, code, http_status};
use super::{CreateAnswer, Fault, Masks, Mode, Options, Paging, RetryAfter};

const KEYS: &str = "/iam/aws-compatibility/v1/accessKeys";
const TOKENS: &str = "/iam/v1/tokens";

struct Shared {
    options: Options,
    store: Mutex<Store>,
    /// Requests seen (for throttling).
    seen: std::sync::atomic::AtomicU64,
    /// Answers to mutating requests, by Idempotency-Key: a repeat gets the first answer.
    replies: Mutex<HashMap<String, (StatusCode, header::HeaderMap, Bytes)>>,
    /// Reads of each operation so far (for `operation_not_found_reads`).
    op_reads: Mutex<HashMap<String, u32>>,
    /// Tokens issued by the tokens endpoint, with the moment they stop being accepted.
    tokens: Mutex<HashMap<String, std::time::Instant>>,
    /// Requests throttled and not yet retried (see `throttle`).
    throttled: Mutex<std::collections::HashSet<String>>,
    /// The `Date` header of the current second of the server's clock.
    date: Mutex<(i64, Option<header::HeaderValue>)>,
}

type AppState = Arc<Shared>;

/// Who sent a request: the main token (which may act on every service account) or the
/// second account's (which may act on its own service account only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Principal {
    Main,
    Alt,
}

/// Which routes check that the principal may act on the account (the fault
/// OwnershipCheckedOnKeysOnly leaves the collection and operation routes out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Get, Update, Delete: a key looked up by id.
    Item,
    /// Create, List, ListOperations, the operation read.
    Other,
}

fn permission_denied() -> Status {
    Status::new(
        code::PERMISSION_DENIED,
        "the credentials may not act on this service account",
    )
}

impl Shared {
    /// Whether `principal` may act on keys of `account`, as checked on `route`.
    fn may_act(&self, principal: Principal, account: &str, route: Route) -> Result<(), Status> {
        let allowed = match principal {
            Principal::Main => true,
            Principal::Alt => self
                .options
                .alt
                .as_ref()
                .is_some_and(|alt| alt.service_account_id == account),
        };
        let checked = route == Route::Item || !self.options.has(Fault::OwnershipCheckedOnKeysOnly);
        if allowed || !checked {
            Ok(())
        } else {
            Err(permission_denied())
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A poisoned lock only means a handler panicked; the data is still usable.
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        store.settle(&self.options);
        store
    }

    /// The `Date` header now (made once a second).
    fn date(&self) -> Option<header::HeaderValue> {
        let now = self.options.now();
        let mut cached = lock(&self.date);
        if cached.0 != now.timestamp() {
            let text = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            *cached = (now.timestamp(), header::HeaderValue::from_str(&text).ok());
        }
        cached.1.clone()
    }

    fn render(&self) -> Render<'_> {
        Render {
            options: &self.options,
        }
    }

    fn error(&self, mut status: Status) -> Response {
        if self.options.has(Fault::Latin1Messages) {
            // Turned into Latin-1 bytes on the way out (`answer`).
            status.message.push_str(" (requête refusée)");
        }
        let mut http = http_status(status.code);
        if self.options.has(Fault::WrongHttpStatus) && status.code == code::NOT_FOUND {
            http = 400;
        }
        if self.options.has(Fault::ErrorsWithHttp200) {
            http = 200;
        }
        json_response(http, self.render().status(&status))
    }
}

fn json_response(http: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// The router of the reference API with its state.
pub fn app(options: Options) -> Router {
    let state: AppState = Arc::new(Shared {
        store: Mutex::new(Store::new(&options)),
        options,
        seen: std::sync::atomic::AtomicU64::new(0),
        replies: Mutex::new(HashMap::new()),
        op_reads: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        throttled: Mutex::new(std::collections::HashSet::new()),
        date: Mutex::new((i64::MIN, None)),
    });
    Router::new()
        .route(KEYS, get(key_list).post(key_create))
        .route(
            &format!("{KEYS}/{{id}}"),
            get(key_get).patch(key_update).delete(key_delete),
        )
        .route(&format!("{KEYS}/{{id}}/operations"), get(key_operations))
        .route("/operations/{id}", get(operation_get))
        .route(TOKENS, axum::routing::post(tokens))
        .fallback(unknown_route)
        // Layers run outside-in from the last one: record, throttle, authenticate, and only
        // then remember answers by Idempotency-Key (a 401 is never remembered).
        .layer(middleware::from_fn_with_state(state.clone(), column_width))
        .layer(middleware::from_fn_with_state(state.clone(), idempotent))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(middleware::from_fn_with_state(state.clone(), throttle))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .layer(middleware::from_fn_with_state(state.clone(), answer))
        .with_state(state)
}

/// The last touches on every answer: its media type (with a charset in the sample and varied
/// styles), the `Date` header of the server's clock, the E4 faults, pretty-printing in the
/// varied style, and the configured latency.
async fn answer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let options = &state.options;
    let mut response = match options.broken {
        Some(status) => json_response(
            status,
            json!({"code": code::INTERNAL, "message": "the deployment is broken", "details": []}),
        ),
        None => next.run(request).await,
    };
    let label = if options.has(Fault::ContentTypeTextPlain) {
        "text/plain; charset=utf-8"
    } else if options.style == super::Style::Sample {
        "application/json; charset=utf-8"
    } else if options.style == super::Style::Varied {
        "application/json;charset=UTF-8"
    } else {
        "application/json"
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(label),
    );
    if options.date_header
        && let Some(value) = state.date()
    {
        response.headers_mut().insert(header::DATE, value);
    }
    if options.has(Fault::Latin1Messages) && response.status().as_u16() >= 400 {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let latin1: Vec<u8> = String::from_utf8_lossy(&bytes)
            .chars()
            .flat_map(|c| match u8::try_from(u32::from(c)) {
                Ok(b) => vec![b],
                Err(_) => c.to_string().into_bytes(),
            })
            .collect();
        response = Response::from_parts(parts, axum::body::Body::from(latin1));
    }
    if options.style == super::Style::Varied {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let pretty = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| serde_json::to_vec_pretty(&v).ok())
            .unwrap_or_else(|| bytes.to_vec());
        response = Response::from_parts(parts, axum::body::Body::from(pretty));
    }
    if options.has(Fault::UnaskedGzip) {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .unwrap_or_default();
        parts.headers.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, axum::body::Body::from(gzip_stored(&bytes)));
    }
    if !options.latency.is_zero() {
        tokio::time::sleep(options.latency).await;
    }
    response
}

/// `data` as a gzip stream of stored (uncompressed) deflate blocks: valid gzip that any
/// client decodes, with no compression library (the fault UnaskedGzip).
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut crc_table = [0u32; 256];
    for (n, entry) in crc_table.iter_mut().enumerate() {
        let mut c = u32::try_from(n).unwrap_or_default();
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *entry = c;
    }
    let crc = !data.iter().fold(!0u32, |c, &b| {
        crc_table[usize::from((c as u8) ^ b)] ^ (c >> 8)
    });
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(last);
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(chunk);
    }
    out.extend(crc.to_le_bytes());
    out.extend(
        u32::try_from(data.len() % (1 << 32))
            .unwrap_or_default()
            .to_le_bytes(),
    );
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers every `every`-th request 429 or 503 (before anything else happens to it).
async fn throttle(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(t) = state.options.throttle else {
        return next.run(request).await;
    };
    let n = state.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    // The same request (method, path, Idempotency-Key) is not throttled twice in a row unless
    // every request is: a retry gets through, as it would at a real, briefly busy service.
    let identity = format!(
        "{} {} {}",
        request.method(),
        request.uri(),
        request
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    );
    let pass = {
        let mut throttled = lock(&state.throttled);
        if t.every > 1 && throttled.remove(&identity) {
            true
        } else if n % u64::from(t.every.max(1)) == 0 {
            throttled.insert(identity);
            false
        } else {
            true
        }
    };
    if pass {
        return next.run(request).await;
    }
    if t.after_effect {
        let _lost = next.run(request).await;
    }
    let status = if t.only_429 || (n / u64::from(t.every.max(1))) % 2 == 1 {
        Status::new(
            code::RESOURCE_EXHAUSTED,
            "request quota exceeded, retry later",
        )
    } else {
        Status::new(code::UNAVAILABLE, "the service is busy, retry later")
    };
    let mut response = state.error(status);
    let value = match t.retry_after {
        RetryAfter::None => None,
        RetryAfter::Seconds => Some("0".to_string()),
        RetryAfter::Date => Some(
            chrono::Utc::now()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        ),
    };
    if let Some(v) = value.and_then(|v| header::HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// A POST, PATCH or DELETE repeated with the same Idempotency-Key gets the first answer again
/// and has no further effect.
async fn idempotent(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mutating = matches!(request.method().as_str(), "POST" | "PATCH" | "DELETE");
    let mut request = request;
    let mut key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("{} {} {k}", request.method(), request.uri().path()));
    if key.is_none() && mutating && state.options.has(Fault::IdempotencyByBodyHash) {
        // The fault: a request without a key is remembered by its body (two identical
        // Creates are taken for one).
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .unwrap_or_default();
        key = Some(format!(
            "{} {} body {}",
            parts.method,
            parts.uri.path(),
            String::from_utf8_lossy(&bytes)
        ));
        request = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    let has_id = request.uri().path() != KEYS;
    let ignored = state.options.has(Fault::IdempotencyIgnored)
        || (state.options.has(Fault::IdempotencyOnlyWithId) && !has_id);
    let (true, Some(key), false) = (mutating, key, ignored) else {
        return next.run(request).await;
    };
    if let Some((status, headers, body)) = lock(&state.replies).get(&key).cloned() {
        let mut response = (status, body).into_response();
        *response.headers_mut() = headers;
        return response;
    }
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return state.error(Status::new(
            code::INTERNAL,
            "the answer could not be buffered",
        ));
    };
    if parts.status.as_u16() < 500 && parts.status.as_u16() != 429 {
        lock(&state.replies).insert(key, (parts.status, parts.headers.clone(), bytes.clone()));
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Appends the request to the journal, when there is one.
async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(journal) = &state.options.journal else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return state.error(Status::new(code::INVALID_ARGUMENT, "the body is too large"));
    };
    let recorded = super::Recorded {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: bytes.to_vec(),
    };
    journal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(recorded);
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let options = &state.options;
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let matches = |token: &str| {
        let expected = format!("Bearer {token}");
        presented.as_deref().is_some_and(|p| {
            p == expected || (options.has(Fault::TokenPrefixMatch) && p.starts_with(&expected))
        })
    };
    let alt = options.alt.as_ref().is_some_and(|a| matches(&a.token));
    let principal = if alt {
        Some(Principal::Alt)
    } else if matches(&options.token)
        || token_flow_admits(&state, presented.as_deref(), request.uri().path())
        || options.has(Fault::SkipsAuth)
        || (options.has(Fault::AuthOnlyOnMutations) && request.method() == "GET")
    {
        Some(Principal::Main)
    } else {
        None
    };
    match principal {
        Some(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        None => state.error(Status::new(
            code::UNAUTHENTICATED,
            "the request has no valid IAM token",
        )),
    }
}

/// The fault LongIdCrashes: an id in the path longer than the database column fails the
/// query.
async fn column_width(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.options.has(Fault::LongIdCrashes) {
        let path = request.uri().path();
        let id = path
            .strip_prefix(&format!("{KEYS}/"))
            .or_else(|| path.strip_prefix("/operations/"))
            .map(|rest| rest.split('/').next().unwrap_or_default());
        if id.is_some_and(|id| id.len() > 50) {
            return state.error(Status::new(
                code::INTERNAL,
                "value too long for type character varying(50)",
            ));
        }
    }
    next.run(request).await
}

/// The service-account key flow: the tokens endpoint needs no token, and a token it issued
/// is accepted until it expires (tests/auth.rs judges this flow; the default run, which uses
/// a fixed token, does not reach it).
fn token_flow_admits(state: &Shared, presented: Option<&str>, path: &str) -> bool {
    path == TOKENS
        || presented
            .and_then(|p| p.strip_prefix("Bearer "))
            .and_then(|t| lock(&state.tokens).get(t).copied())
            .is_some_and(|until| std::time::Instant::now() < until)
}

async fn unknown_route(State(state): State<AppState>) -> Response {
    state.error(Status::new(code::NOT_FOUND, "no such method"))
}

fn parse_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, Status> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Status::new(
            code::INVALID_ARGUMENT,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(Status::new(
            code::INVALID_ARGUMENT,
            "the body must be a JSON object",
        )),
    }
}

/// A string field of a request: absent and null both mean "not sent".
fn optional_string(
    options: &Options,
    body: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>, Status> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) if options.has(Fault::CoercesTypes) => Ok(Some(other.to_string())),
        Some(_) => Err(Status::new(
            code::INVALID_ARGUMENT,
            format!("field `{field}` must be a string"),
        )),
    }
}

fn description_too_long(options: &Options, description: &str) -> Option<Status> {
    let length = if options.has(Fault::CountsBytes) {
        description.len()
    } else if options.has(Fault::CountsGraphemes) {
        // What a user would call characters: a combining mark joins the letter before it.
        description
            .chars()
            .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
            .count()
    } else {
        description.chars().count()
    };
    (length > 256).then(|| {
        Status::new(
            code::INVALID_ARGUMENT,
            format!("description is {length} characters long, at most 256 are allowed"),
        )
    })
}

async fn key_create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Response {
    let options = &state.options;
    let result = (|| {
        let body = parse_object(&body)?;
        let account = optional_string(options, &body, "serviceAccountId")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Status::new(code::INVALID_ARGUMENT, "serviceAccountId is required"))?;
        state.may_act(principal, &account, Route::Other)?;
        let description = optional_string(options, &body, "description")?.unwrap_or_default();
        if let Some(status) = description_too_long(options, &description) {
            return Err(status);
        }
        Ok(state.store().create_key(options, &account, description))
    })();
    let rendered = |key: &super::store::Key| state.render().key(key, false);
    match result {
        Ok(key) => json_response(
            200,
            match options.create_answer {
                CreateAnswer::Documented => {
                    json!({"accessKey": rendered(&key), "secret": key.secret})
                }
                CreateAnswer::Renamed => {
                    json!({"access_key": rendered(&key), "secret_access_key": key.secret})
                }
                CreateAnswer::Reshaped => json!({
                    "id": super::store::new_id("aje"),
                    "done": true,
                    "response": {"accessKey": rendered(&key), "secret": key.secret},
                }),
            },
        ),
        Err(status) => state.error(status),
    }
}

fn not_found(id: &str) -> Status {
    Status::new(code::NOT_FOUND, format!("access key {id} not found"))
}

async fn key_get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let options = &state.options;
    let key = {
        let mut store = state.store();
        let found = store
            .resolve(options, &id)
            .and_then(|id| store.keys.get(&id).cloned())
            .filter(|k| !k.deleted);
        if options.has(Fault::GetCacheKeptAfterDelete) {
            match store.get_cache.get(&id).cloned() {
                Some(cached) => Some(cached),
                None => {
                    if let Some(key) = &found {
                        store.get_cache.insert(id.clone(), key.clone());
                    }
                    found
                }
            }
        } else {
            found
        }
    };
    match key {
        Some(key) => {
            if let Err(status) = state.may_act(principal, &key.service_account_id, Route::Item) {
                return state.error(status);
            }
            let mut body = state.render().key(&key, false);
            if options.has(Fault::SecretInGet) {
                body["secret"] = json!(key.secret);
            }
            json_response(200, body)
        }
        None => state.error(not_found(&id)),
    }
}

/// Whether a key of `owner` is listed for the account asked for: equal, or with the
/// AccountFilterUsesLike fault as SQL's LIKE matches (ASCII letter case ignored, `_` any one
/// character, `%` any run).
fn account_matches(options: &Options, asked: &str, owner: &str) -> bool {
    if !options.has(Fault::AccountFilterUsesLike) {
        return asked == owner;
    }
    fn like(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'%', rest)) => (0..=text.len()).any(|i| like(rest, &text[i..])),
            Some((&p, rest)) => text.split_first().is_some_and(|(&t, tail)| {
                (p == b'_' || p.eq_ignore_ascii_case(&t)) && like(rest, tail)
            }),
        }
    }
    like(asked.as_bytes(), owner.as_bytes())
}

async fn key_list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if state.options.has(Fault::ListInternalError) {
        return state.error(Status::new(code::INTERNAL, "internal error"));
    }
    let Some(account) = query.get("serviceAccountId").filter(|s| !s.is_empty()) else {
        return state.error(Status::new(
            code::INVALID_ARGUMENT,
            "serviceAccountId is required",
        ));
    };
    if let Err(status) = state.may_act(principal, account, Route::Other) {
        return state.error(status);
    }
    let page_size = match query.get("pageSize").map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if n <= 1000 => {
            if n == 0 {
                100
            } else {
                n
            }
        }
        Some(_) => {
            return state.error(Status::new(
                code::INVALID_ARGUMENT,
                "pageSize must be a number from 0 to 1000",
            ));
        }
    };
    let ragged = state.options.paging == Paging::Ragged;
    if state.options.has(Fault::BadPageTokenCrashes)
        && query
            .get("pageToken")
            .is_some_and(|t| !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    {
        return state.error(Status::new(code::INTERNAL, "cannot decode the page token"));
    }
    let after = match query.get("pageToken").filter(|t| !t.is_empty()) {
        None => String::new(),
        Some(_) if state.options.has(Fault::PageTokensRefused) => {
            return state.error(Status::new(
                code::INVALID_ARGUMENT,
                "pageToken is not valid",
            ));
        }
        Some(token) if ragged => match opaque_token_id(token) {
            Some(id) => id,
            None => {
                return state.error(Status::new(
                    code::INVALID_ARGUMENT,
                    "pageToken is not one this server issued",
                ));
            }
        },
        Some(token) => token.clone(),
    };
    let page_size = if state.options.has(Fault::ListIgnoresPageSize) {
        100
    } else {
        page_size
    };
    // A ragged server sends short pages (one key fewer than asked) that still carry a token.
    let take = if ragged && page_size > 1 {
        page_size - 1
    } else {
        page_size
    };
    let every_account = state.options.has(Fault::ListIgnoresAccount)
        || (state.options.has(Fault::ListFilterLostOnNextPage) && !after.is_empty());
    let store = state.store();
    let mut matching = store.keys.values().filter(|k| {
        (every_account || account_matches(&state.options, account, &k.service_account_id))
            && k.id > after
    });
    let render = state.render();
    let mut page = Vec::new();
    let mut last = None;
    for key in matching.by_ref().take(take) {
        let mut shown = key.clone();
        if state.options.has(Fault::StaleList) {
            shown.description = key.previous_description.clone();
        }
        if state.options.has(Fault::ListsShowFirstWrite) {
            shown.description = key.first_description.clone();
        }
        page.push(render.key(&shown, false));
        last = Some(key.id.clone());
    }
    let following = matching.next().map(|k| k.id.clone());
    let token = match (&last, &following) {
        // The fault's next page starts after the first key it should show.
        (Some(_), Some(next)) if state.options.has(Fault::ListPagingSkips) => Some(next.clone()),
        (Some(last), Some(_)) => Some(last.clone()),
        // A ragged server does not look ahead: the page after the last key is empty.
        (Some(last), None) if ragged => Some(last.clone()),
        _ => None,
    };
    let mut body = serde_json::Map::new();
    if !page.is_empty() || render.options.style == super::Style::Sample {
        body.insert("accessKeys".into(), Value::Array(page));
    }
    match token {
        Some(id) if ragged => {
            body.insert("nextPageToken".into(), json!(opaque_token(&id)));
        }
        Some(id) => {
            body.insert("nextPageToken".into(), json!(id));
        }
        None if render.options.style == super::Style::Sample => {
            body.insert("nextPageToken".into(), json!(""));
        }
        None => {}
    }
    json_response(200, Value::Object(body))
}

/// A page token that says nothing to the client: the last key's id, reversed and in hex.
fn opaque_token(id: &str) -> String {
    let reversed: String = id.chars().rev().collect();
    let hex: String = reversed.bytes().map(|b| format!("{b:02x}")).collect();
    format!("v2.{hex}")
}

fn opaque_token_id(token: &str) -> Option<String> {
    let hex = token.strip_prefix("v2.")?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let reversed = String::from_utf8(bytes?).ok()?;
    Some(reversed.chars().rev().collect())
}

const OUTPUT_ONLY: [&str; 5] = ["id", "serviceAccountId", "createdAt", "keyId", "lastUsedAt"];
const OUTPUT_ONLY_SNAKE: [&str; 5] = [
    "id",
    "service_account_id",
    "created_at",
    "key_id",
    "last_used_at",
];

/// What one mask path names.
enum Named {
    Description,
    OutputOnly,
    Unknown,
}

fn path_names(path: &str, masks: Masks) -> Named {
    if path == "description" {
        return Named::Description;
    }
    if OUTPUT_ONLY.contains(&path) {
        return Named::OutputOnly;
    }
    if masks == Masks::Lenient {
        if path.eq_ignore_ascii_case("description") {
            return Named::Description;
        }
        if OUTPUT_ONLY_SNAKE.contains(&path)
            || OUTPUT_ONLY.iter().any(|n| n.eq_ignore_ascii_case(path))
        {
            return Named::OutputOnly;
        }
    }
    Named::Unknown
}

/// A path spelled like a field name but naming none (what the U7 fault ignores).
fn is_plain_unknown(path: &str) -> bool {
    !path.is_empty()
        && path.chars().all(|c| c.is_ascii_alphanumeric())
        && !path.eq_ignore_ascii_case("description")
        && !OUTPUT_ONLY.iter().any(|n| n.eq_ignore_ascii_case(path))
}

/// The field-mask reading of the reference server: `description` is the one updatable path;
/// no mask, `""` and `*` mean full replacement; duplicates count once. Strict masks refuse
/// every other odd path; lenient ones trim paths, skip empty ones, ignore letter case, read
/// snake_case, and ignore output-only paths. Unknown paths are always refused.
fn mask_names_description(options: &Options, mask: Option<&str>) -> Result<bool, Status> {
    let Some(mask) = mask else { return Ok(true) };
    if mask.is_empty() || mask == "*" {
        return Ok(true);
    }
    let lenient = options.masks == Masks::Lenient;
    if lenient && mask.split(',').all(|p| p.trim().is_empty()) {
        return Ok(true);
    }
    let mut names_description = false;
    for raw in mask.split(',') {
        let path = if lenient { raw.trim() } else { raw };
        if lenient && (path.is_empty() || path == "*") {
            names_description |= path == "*";
            continue;
        }
        match path_names(path, options.masks) {
            Named::Description => names_description = true,
            Named::OutputOnly if lenient => {}
            Named::OutputOnly => {
                return Err(Status::new(
                    code::INVALID_ARGUMENT,
                    format!("field `{path}` cannot be updated"),
                ));
            }
            Named::Unknown if options.has(Fault::IgnoresUnknownPaths) && is_plain_unknown(path) => {
            }
            Named::Unknown if path.is_empty() => {
                return Err(Status::new(
                    code::INVALID_ARGUMENT,
                    "updateMask has an empty path",
                ));
            }
            Named::Unknown => {
                return Err(Status::new(
                    code::INVALID_ARGUMENT,
                    format!("updateMask names an unknown field `{path}`"),
                ));
            }
        }
    }
    Ok(names_description)
}

/// Reads an Update body. `Err` with `http` true is answered at once; otherwise (semantic
/// errors) the asynchronous mode reports it through the operation.
fn read_update(state: &Shared, key_id: &str, body: &Bytes) -> Result<String, (Status, bool)> {
    let options = &state.options;
    let body = match parse_object(body) {
        Ok(body) => body,
        Err(_) if options.has(Fault::CoercesTypes) => serde_json::Map::new(),
        Err(status) => return Err((status, true)),
    };
    // The members the faulty servers take for their own.
    let mut taken: Vec<&str> = vec!["updateMask", "description"];
    if options.has(Fault::MassAssignment) {
        // The ORM knows every column; it assigns the writable-looking ones (below).
        taken.extend([
            "id",
            "keyId",
            "serviceAccountId",
            "createdAt",
            "lastUsedAt",
            "secret",
        ]);
    }
    if options.has(Fault::BodyAccessKeyIdWins) {
        taken.push("accessKeyId");
    }
    if options.has(Fault::MaskedIdentityPathsApplied) {
        taken.extend(["serviceAccountId", "keyId"]);
    }
    for field in body.keys() {
        if !taken.contains(&field.as_str()) && options.masks == Masks::Strict {
            return Err((
                Status::new(code::INVALID_ARGUMENT, format!("unknown field `{field}`")),
                true,
            ));
        }
    }
    let mask = optional_string(options, &body, "updateMask");
    let description = optional_string(options, &body, "description").map_err(|s| (s, true))?;
    if options.has(Fault::AppliesBeforeRejecting)
        && let Some(d) = &description
        && description_too_long(options, d).is_none()
        && let Some(key) = state.store().keys.get_mut(key_id)
    {
        key.description = d.clone();
    }
    let mut mask = mask.map_err(|s| (s, true))?;
    if options.has(Fault::MaskedIdentityPathsApplied)
        && let Some(paths) = &mask
    {
        // The mask's paths are the columns copied from the body; the identity ones are
        // taken (and dropped from the mask the rest is validated with).
        let mut rest = Vec::new();
        for path in paths.split(',') {
            match (path, body.get(path)) {
                ("serviceAccountId" | "keyId", Some(Value::String(value))) => {
                    if let Some(key) = state.store().keys.get_mut(key_id) {
                        if path == "keyId" {
                            key.key_id = value.clone();
                        } else {
                            key.service_account_id = value.clone();
                        }
                    }
                }
                _ => rest.push(path),
            }
        }
        if rest.is_empty() {
            // Nothing but identity paths: the description stays.
            let current = state
                .store()
                .keys
                .get(key_id)
                .map(|k| k.description.clone());
            return Ok(current.unwrap_or_default());
        }
        mask = Some(rest.join(","));
    }
    let names_description =
        mask_names_description(options, mask.as_deref()).map_err(|s| (s, false))?;
    if let Some(status) = description
        .as_deref()
        .and_then(|d| description_too_long(options, d))
    {
        return Err((status, false));
    }
    let current = state
        .store()
        .keys
        .get(key_id)
        .map(|k| k.description.clone())
        .unwrap_or_default();
    // A mask that spells out its paths (not "" or "*").
    let explicit = mask.as_deref().is_some_and(|m| !m.is_empty() && m != "*");
    let new = match (mask.is_some(), names_description, description) {
        (_, false, _) => current,
        (false, _, _) if options.has(Fault::NoMaskIsNoOp) => current,
        (true, true, None) if explicit && options.has(Fault::IgnoresReset) => current,
        (false, true, None) if options.has(Fault::NoMaskMerges) => current,
        (_, true, Some(d)) if options.has(Fault::TrimsDescription) => d.trim().to_string(),
        (_, true, Some(d)) if options.has(Fault::ReplacesNonAscii) => d
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect(),
        (_, true, d) => d.unwrap_or_default(),
    };
    // The update is accepted: an ORM that assigns every member it knows writes these too.
    if options.has(Fault::MassAssignment)
        && let Some(key) = state.store().keys.get_mut(key_id)
    {
        if let Some(Value::String(v)) = body.get("keyId") {
            key.key_id = v.clone();
        }
        if let Some(Value::String(v)) = body.get("serviceAccountId") {
            key.service_account_id = v.clone();
        }
    }
    Ok(new)
}

async fn key_update(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let options = &state.options;
    let mut id = state.store().resolve(options, &id).unwrap_or(id);
    if options.has(Fault::BodyAccessKeyIdWins)
        && let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body)
        && let Some(Value::String(named)) = fields.get("accessKeyId")
        && state.store().keys.contains_key(named)
    {
        id = named.clone();
    }
    let owner = state
        .store()
        .keys
        .get(&id)
        .map(|k| k.service_account_id.clone());
    if let Some(owner) = &owner
        && let Err(status) = state.may_act(principal, owner, Route::Item)
    {
        return state.error(status);
    }
    if owner.is_none() {
        if options.has(Fault::UpdateCreatesMissingKey) {
            let mut store = state.store();
            let mut key = store.create_key(options, "ajeorphanaccount0000", String::new());
            store.keys.remove(&key.id);
            key.id = id.clone();
            store.keys.insert(id.clone(), key);
        } else {
            return state.error(not_found(&id));
        }
    }
    let effect = match read_update(&state, &id, &body) {
        Ok(description) => Effect::SetDescription(description),
        Err((status, true)) => return state.error(status),
        Err((status, false)) if options.mode == Mode::Sync => return state.error(status),
        Err((status, false)) => Effect::Fail(status),
    };
    let op_id = state
        .store()
        .start_operation(options, OpKind::Update, &id, effect);
    respond_operation(&state, &op_id)
}

async fn key_delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let options = &state.options;
    let resolved = state.store().resolve(options, &id);
    let owner = resolved.as_ref().and_then(|id| {
        state
            .store()
            .keys
            .get(id)
            .map(|k| k.service_account_id.clone())
    });
    let (Some(id), Some(owner)) = (resolved, owner) else {
        return state.error(not_found(&id));
    };
    if let Err(status) = state.may_act(principal, &owner, Route::Item) {
        return state.error(status);
    }
    let op_id = state
        .store()
        .start_operation(options, OpKind::Delete, &id, Effect::Delete);
    respond_operation(&state, &op_id)
}

/// An operation as JSON; unfinished ones carry the poll-interval hint when one is set.
fn operation_response(state: &Shared, op: &super::store::Operation) -> Response {
    let mut response = json_response(200, state.render().operation(op));
    if let Some(seconds) = state.options.poll_interval
        && op.result.is_none()
        && let Ok(v) = header::HeaderValue::from_str(&seconds.to_string())
    {
        response
            .headers_mut()
            .insert("x-operation-poll-interval", v);
    }
    response
}

fn respond_operation(state: &Shared, op_id: &str) -> Response {
    let op = state.store().operations.get(op_id).cloned();
    match op {
        Some(op) => operation_response(state, &op),
        None => state.error(Status::new(code::INTERNAL, "operation vanished")),
    }
}

async fn key_operations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let options = &state.options;
    let store = state.store();
    let id = store.resolve(options, &id).unwrap_or(id);
    let render = state.render();
    let mine: Vec<&super::store::Operation> = store
        .operations
        .values()
        .filter(|op| op.key_id == id)
        .collect();
    let owner = store
        .keys
        .get(&id)
        .map(|k| k.service_account_id.clone())
        .or_else(|| mine.first().map(|op| op.account.clone()));
    let Some(owner) = owner else {
        drop(store);
        return state.error(not_found(&id));
    };
    if let Err(status) = state.may_act(principal, &owner, Route::Other) {
        drop(store);
        return state.error(status);
    }
    let ops: Vec<Value> = mine
        .into_iter()
        .map(|op| {
            if options.has(Fault::ListsShowFirstWrite) {
                // The row as it was written when the operation started.
                let mut first = op.clone();
                first.result = None;
                first.modified_at = first.created_at;
                render.operation(&first)
            } else {
                render.operation(op)
            }
        })
        .collect();
    json_response(200, json!({ "operations": ops }))
}

async fn operation_get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    if state.options.has(Fault::OperationNotReadable) {
        return state.error(Status::new(
            code::NOT_FOUND,
            format!("operation {id} not found"),
        ));
    }
    // A fresh operation may not be visible yet, as with a replicated operation service.
    let reads = {
        let mut reads = lock(&state.op_reads);
        let n = reads.entry(id.clone()).or_insert(0);
        *n += 1;
        *n
    };
    if reads <= state.options.operation_not_found_reads {
        return state.error(Status::new(
            code::NOT_FOUND,
            format!("operation {id} not found"),
        ));
    }
    state.store().poll(&state.options, &id);
    let (op, key_exists) = {
        let store = state.store();
        let op = store.operations.get(&id).cloned();
        let exists = op
            .as_ref()
            .is_some_and(|op| store.keys.contains_key(&op.key_id));
        (op, exists)
    };
    if state.options.has(Fault::ForgetsOperationsOfDeletedKeys) && !key_exists {
        return state.error(Status::new(
            code::NOT_FOUND,
            format!("operation {id} not found"),
        ));
    }
    if let Some(op) = &op
        && let Err(status) = state.may_act(principal, &op.account, Route::Other)
    {
        return state.error(status);
    }
    match op {
        Some(mut op) => {
            if state.options.has(Fault::OperationReadBackStale)
                && let Some(Ok(Some(key))) = &mut op.result
            {
                key.description = key.previous_description.clone();
            }
            operation_response(&state, &op)
        }
        None => state.error(Status::new(
            code::NOT_FOUND,
            format!("operation {id} not found"),
        )),
    }
}

/// `POST /iam/v1/tokens`: exchanges a PS256 JWT signed with the authorized key for a token.
async fn tokens(State(state): State<AppState>, body: Bytes) -> Response {
    let unauthenticated = |why: String| state.error(Status::new(code::UNAUTHENTICATED, why));
    let Some(key) = &state.options.authorized_key else {
        return state.error(Status::new(
            code::UNIMPLEMENTED,
            "this server has no authorized key",
        ));
    };
    let jwt = match parse_object(&body) {
        Ok(b) => match b.get("jwt").and_then(Value::as_str) {
            Some(j) => j.to_string(),
            None => {
                return state.error(Status::new(code::INVALID_ARGUMENT, "no `jwt` string"));
            }
        },
        Err(status) => return state.error(status),
    };
    match crate::jwt::header(&jwt) {
        Ok(h) if h.get("kid").and_then(Value::as_str) == Some(key.id.as_str()) => {}
        Ok(_) => return unauthenticated("the JWT names another key (kid)".into()),
        Err(e) => return unauthenticated(format!("the JWT header is unreadable: {e}")),
    }
    let claims = match crate::jwt::verify_ps256(&jwt, &key.public_key_pem) {
        Ok(claims) => claims,
        Err(e) => return unauthenticated(format!("the JWT is not valid: {e}")),
    };
    for required in ["exp", "iss", "aud"] {
        if claims.get(required).is_none() {
            return unauthenticated(format!("the JWT is not valid: no `{required}` claim"));
        }
    }
    if claims.get("iss").and_then(Value::as_str) != Some(key.service_account_id.as_str()) {
        return unauthenticated("the JWT is not valid: its issuer is another account".into());
    }
    // Expired, with a minute's leeway for clocks.
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp + 60 < chrono::Utc::now().timestamp() {
        return unauthenticated("the JWT is not valid: it has expired".into());
    }
    let audience = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !audience.ends_with(TOKENS) {
        return unauthenticated(format!(
            "the JWT audience `{audience}` is not a tokens endpoint"
        ));
    }
    let lifetime = claims.get("exp").and_then(Value::as_i64).unwrap_or(0)
        - claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    if !(1..=3600).contains(&lifetime) {
        return unauthenticated("the JWT must live at most one hour (exp - iat)".into());
    }
    let token = format!("t1.issued.{}", uuid::Uuid::new_v4().simple());
    let ttl = state.options.token_ttl;
    lock(&state.tokens).insert(token.clone(), std::time::Instant::now() + ttl);
    lock(&state.options.issued).push(token.clone());
    let announced = state.options.announced_ttl.unwrap_or(ttl);
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(announced).unwrap_or(chrono::Duration::hours(12));
    json_response(
        200,
        json!({
            "iamToken": token,
            "expiresAt": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    )
}
