//! The reference server: an in-memory implementation of the access keys REST API that follows
//! every rule of the contract, unless a test-only [`Fault`] is switched on.
//!
//! Routes (all behind `Authorization: Bearer <token>`):
//!
//! | method | path | handler |
//! |---|---|---|
//! | POST | `/iam/aws-compatibility/v1/accessKeys` | `key_create` |
//! | GET | `/iam/aws-compatibility/v1/accessKeys?serviceAccountId=` | `key_list` |
//! | GET | `/iam/aws-compatibility/v1/accessKeys/{id}` | `key_get` |
//! | PATCH | `/iam/aws-compatibility/v1/accessKeys/{id}` | `key_update` |
//! | DELETE | `/iam/aws-compatibility/v1/accessKeys/{id}` | `key_delete` |
//! | GET | `/iam/aws-compatibility/v1/accessKeys/{id}/operations` | `key_operations` |
//! | GET | `/operations/{id}` | `operation_get` |
//! | POST | `/iam/v1/tokens` (no token needed) | `tokens` |
//!
//! This module imports nothing from `checks` or `contract`, so a misreading of the contract
//! cannot hide by being shared between the server and the checks.

mod fault;
mod server;
mod store;

use std::net::SocketAddr;

pub use fault::Fault;
pub use server::app;

/// When operations finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Every operation is returned with `done: true`.
    Sync,
    /// Operations are returned with `done: false` and finish after a few reads.
    Async,
}

/// How JSON is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    /// As the live service answers: proto3 JSON from a gRPC transcoder. `@type` in every
    /// `Any` (operation metadata and response; the public docs' live examples show
    /// `"metadata": {"@type": "type.googleapis.com/yandex.cloud.iam.v1.…Metadata", …}`),
    /// `done` always printed, timestamps in UTC with nanoseconds
    /// (`…T06:38:31.834344392Z`), fields holding their default left out, Create answering
    /// `{accessKey, secret}`, `Content-Type: application/json`.
    Live,
    /// As the reference page's samples look: no `@type`, every field printed with its default,
    /// timestamps at a +03:00 offset with nine digits, a charset on the media type, keys that
    /// have been used (`lastUsedAt`). The harness must accept this form too.
    #[value(alias = "verbose")]
    Sample,
    /// proto3 JSON as protobuf's own printer writes it: defaults left out (`done` too when
    /// false), `@type`, UTC timestamps with 0, 3, 6 or 9 fractional digits.
    Proto3,
    /// proto3 JSON spelled the ways a parser must accept but none of the other styles
    /// writes: each instant at its own offset (`Z`, `+00:00`, `+05:45`, `-11:30`, `+14:00`,
    /// `-09:30`, `-01:00`) with anywhere from 0 to 9 fractional digits (never fewer than the
    /// instant needs: the clock counts in 10 ms steps), bodies pretty-printed,
    /// `application/json;charset=UTF-8`, every other key used 10 ms after it was made
    /// (`lastUsedAt` at another offset than `createdAt`) and the others never, printed
    /// `"lastUsedAt": null` as printers that emit unpopulated fields do, Delete's Empty as `{"@type": …}` with no
    /// `value`, defaults left out as in `proto3`. No server is likely to answer exactly so;
    /// it is here so that the tests show the harness raises no false alarm on these spellings.
    Varied,
}

/// How the server reads the inputs the contract leaves open (rule U8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Masks {
    /// Refuse every odd mask except `""` and `*` (full replacement) and duplicates (once);
    /// refuse unknown body fields.
    Strict,
    /// Accept them with their documented readings: paths trimmed, empty paths skipped, letter
    /// case and snake_case ignored, output-only paths and unknown body fields ignored.
    Lenient,
}

/// A second account: its token may act only on keys of its own service account (rule A2),
/// while the main token may act on every account (as a cloud administrator's would).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltAccount {
    pub token: String,
    pub service_account_id: String,
}

/// How the reference server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub token: String,
    /// The second account, when there is one.
    pub alt: Option<AltAccount>,
    pub mode: Mode,
    pub style: Style,
    /// In asynchronous mode, how many reads of an operation it takes to finish it.
    pub async_polls: u32,
    pub masks: Masks,
    pub faults: Vec<Fault>,
    /// Ids from a counter instead of random ones, so that the same requests in the same order
    /// get the same ids (the benchmarks replay a run this way).
    pub counter_ids: bool,
    /// When set, every request is appended here (the benchmarks' record of a run).
    pub journal: Option<Journal>,
    /// Answer some requests 429/503, as a quota-limited service does.
    pub throttle: Option<Throttle>,
    /// Reads of a fresh operation that answer NOT_FOUND before it becomes visible.
    pub operation_not_found_reads: u32,
    /// Sent as `x-operation-poll-interval` (seconds) with unfinished operations.
    pub poll_interval: Option<f64>,
    /// The service-account key whose JWTs `POST /iam/v1/tokens` exchanges for tokens.
    pub authorized_key: Option<AuthorizedKey>,
    /// How long an issued token is accepted.
    pub token_ttl: std::time::Duration,
    /// The lifetime `expiresAt` announces (default: the real one). A longer one makes tokens
    /// expire early, as a revoked token does.
    pub announced_ttl: Option<std::time::Duration>,
    /// Every token the tokens endpoint issued (for tests that look for leaks).
    pub issued: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The most keys that existed at once (for tests of --max-live-keys); the keys the server
    /// starts with are not counted.
    pub peak_keys: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Keys made since the server started, and of those the ones not deleted (for tests that
    /// hold a run's closing line against the server's own count).
    pub keys_made: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub keys_alive: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The server's clock runs this far ahead of the true time (behind when negative); its
    /// `Date` header agrees, as an honestly skewed clock's would.
    pub clock_skew: chrono::Duration,
    /// Send a `Date` header (servers need not).
    pub date_header: bool,
    /// How List pages.
    pub paging: Paging,
    /// Keys that exist before any client comes: (service account, how many). By default one
    /// key of another account, as a real cloud has.
    pub existing_keys: Vec<(String, usize)>,
    /// Operations finish this long after they start, whoever reads them (instead of after
    /// [`Options::async_polls`] reads), in asynchronous mode.
    pub finish_after: Option<std::time::Duration>,
    /// How Create answers (rehearsals of answers a client cannot read, rule R3).
    pub create_answer: CreateAnswer,
    /// Every answer is held back this long: a loopback server behaves like a remote one.
    pub latency: std::time::Duration,
    /// Answer every request with this HTTP status and an INTERNAL Status body (a broken
    /// deployment: the harness must end its run early, R5).
    pub broken: Option<u16>,
}

/// The account of the key every reference server starts with (a neighbour of the client's).
pub const NEIGHBOUR_ACCOUNT: &str = "ajeneighbouraccount0";

/// How List pages through an account's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Paging {
    /// Full pages, the key id as the token, no token on the last page.
    Exact,
    /// What valid servers also do: short pages that still carry a token, an empty last page,
    /// opaque tokens.
    Ragged,
}

/// The form of Create's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CreateAnswer {
    /// `{accessKey, secret}`, as documented.
    Documented,
    /// The members under other names (`access_key`, `secret_access_key`).
    Renamed,
    /// Another shape: an Operation whose response holds the key and the secret.
    Reshaped,
}

/// The public half of a service account's authorized key.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    pub id: String,
    pub service_account_id: String,
    pub public_key_pem: String,
}

impl AuthorizedKey {
    /// Reads the key's JSON (`id`, `service_account_id`, `public_key`), as `yc iam key create`
    /// writes it.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("`{}` is not JSON: {e}", path.display()))?;
        let field = |name: &str| {
            json.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("`{}` has no string `{name}`", path.display()))
        };
        Ok(AuthorizedKey {
            id: field("id")?,
            service_account_id: field("service_account_id")?,
            public_key_pem: field("public_key")?,
        })
    }
}

/// Throttling of the reference server: every `every`-th request (1 = all) is answered 429
/// RESOURCE_EXHAUSTED or 503 UNAVAILABLE, alternately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub every: u32,
    pub retry_after: RetryAfter,
    /// Only 429 (never 503).
    pub only_429: bool,
    /// The request takes effect first and only its answer is replaced (a lost answer):
    /// a retry without the same Idempotency-Key would act twice.
    pub after_effect: bool,
}

/// How a throttled answer says when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RetryAfter {
    /// No `Retry-After` header.
    None,
    /// `Retry-After: 0` (seconds).
    Seconds,
    /// `Retry-After` as an HTTP date (now).
    Date,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// The requests a server received, in order.
pub type Journal = std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>;

impl Options {
    pub fn new(token: impl Into<String>) -> Self {
        Options {
            token: token.into(),
            alt: None,
            mode: Mode::Sync,
            style: Style::Live,
            async_polls: 2,
            masks: Masks::Strict,
            faults: Vec::new(),
            counter_ids: false,
            journal: None,
            throttle: None,
            operation_not_found_reads: 0,
            poll_interval: None,
            authorized_key: None,
            token_ttl: std::time::Duration::from_secs(12 * 3600),
            announced_ttl: None,
            issued: std::sync::Arc::new(std::sync::Mutex::new(Vec::new())),
            peak_keys: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            keys_made: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            keys_alive: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            clock_skew: chrono::Duration::zero(),
            date_header: true,
            paging: Paging::Exact,
            existing_keys: vec![(NEIGHBOUR_ACCOUNT.to_string(), 1)],
            finish_after: None,
            create_answer: CreateAnswer::Documented,
            latency: std::time::Duration::ZERO,
            broken: None,
        }
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }

    /// The server's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let now = chrono::Utc::now() + self.clock_skew;
        if self.style == Style::Varied {
            // 10 ms steps, so that the varied style can print fewer than nine digits.
            let nanos = now.timestamp_subsec_nanos();
            now - chrono::Duration::nanoseconds(i64::from(nanos % 10_000_000))
        } else {
            now
        }
    }
}

/// A reference server listening on a socket.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `addr` and serves the API on the current tokio runtime until the task is aborted.
/// Each connection is served by hyper directly (rather than `axum::serve`), so that the
/// automatic `Date` header can be left out when the options say so.
pub async fn start(addr: SocketAddr, options: Options) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let date_header = options.date_header;
    let router = app(options);
    let handle = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: wait a little rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.auto_date_header(date_header);
                // A connection that breaks ends its task; the server goes on.
                let _ = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Running { addr, handle })
}
