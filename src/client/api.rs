//! [`Api`]: the REST surface of the access keys service: each method builds the [`Request`]
//! for one call, and [`Api::send`] sends it with the current credentials. No checking, and no
//! retrying, happens here (see `runner::Ctx::call`).

use reqwest::Method;
use serde_json::json;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use super::auth::Source;
use super::{Client, Exchange, Request, TransportError};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub const KEYS_PATH: &str = "/iam/aws-compatibility/v1/accessKeys";

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The run's IAM token.
    Token,
    /// No Authorization header.
    Missing,
    /// A well-formed bearer token that no IAM issued.
    Invalid,
}

/// The target's endpoints and credentials.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: Client,
    /// IAM base URL without a trailing slash.
    pub base_url: String,
    /// Operation service base URL without a trailing slash.
    pub operation_url: String,
    /// The current IAM token; replaced when credentials are refreshed.
    token: Arc<RwLock<String>>,
    credentials: Arc<Credentials>,
}

/// How the token is renewed, and every token used so far (for redaction).
#[derive(Debug)]
struct Credentials {
    source: Source,
    /// When the current token should be renewed (some time before it expires).
    renew_at: Mutex<Option<Instant>>,
    /// One renewal at a time.
    renewing: tokio::sync::Mutex<()>,
    seen: Mutex<Vec<String>>,
}

/// Percent-encodes one path segment (ids come from the target and are not trusted).
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A fresh Idempotency-Key: random per process, counted within it (unique without asking
/// the system for randomness on every request).
fn idempotency_key() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string());
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{n:08}")
}

/// A request that may be sent more than once (retries): a mutating one carries a fresh
/// Idempotency-Key that every retry repeats, so a retried Create cannot make two keys.
fn request(method: Method, url: String, auth: Auth, body: Option<String>) -> Request {
    let headers = if matches!(method, Method::POST | Method::PATCH | Method::DELETE) {
        vec![("Idempotency-Key".to_string(), idempotency_key())]
    } else {
        Vec::new()
    };
    Request {
        method,
        url,
        auth,
        headers,
        body,
    }
}

impl Api {
    /// An Api with a fixed token.
    pub fn new(client: Client, base_url: &str, operation_url: &str, token: String) -> Self {
        Api {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            operation_url: operation_url.trim_end_matches('/').to_string(),
            token: Arc::new(RwLock::new(token.clone())),
            credentials: Arc::new(Credentials {
                source: Source::Fixed(token.clone()),
                renew_at: Mutex::new(None),
                renewing: tokio::sync::Mutex::new(()),
                seen: Mutex::new(vec![token]),
            }),
        }
    }

    /// An Api whose token comes from `source`; gets the first token now.
    pub async fn with_source(
        client: Client,
        base_url: &str,
        operation_url: &str,
        source: Source,
    ) -> Result<Self, TransportError> {
        let mut api = Api::new(client, base_url, operation_url, String::new());
        api.credentials = Arc::new(Credentials {
            source,
            renew_at: Mutex::new(None),
            renewing: tokio::sync::Mutex::new(()),
            seen: Mutex::new(Vec::new()),
        });
        api.renew(None).await?;
        Ok(api)
    }

    /// The token requests carry now.
    pub fn token(&self) -> String {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Every token this Api has used (so that all of them are redacted).
    pub fn tokens_seen(&self) -> Vec<String> {
        lock(&self.credentials.seen).clone()
    }

    /// Gets a new token, unless another task already replaced `stale` meanwhile.
    async fn renew(&self, stale: Option<&str>) -> Result<(), TransportError> {
        let _one_at_a_time = self.credentials.renewing.lock().await;
        if stale.is_some_and(|s| s != self.token()) {
            return Ok(());
        }
        let issued = self.credentials.source.issue(&self.client).await?;
        lock(&self.credentials.seen).push(issued.token.clone());
        *lock(&self.credentials.renew_at) = issued.valid_for.map(|v| {
            // Renew when a tenth of the lifetime (at most five minutes) is left.
            Instant::now() + v - (v / 10).min(Duration::from_secs(300))
        });
        if let Ok(mut t) = self.token.write() {
            *t = issued.token;
        }
        Ok(())
    }

    fn authorization(&self, auth: Auth) -> Option<String> {
        match auth {
            Auth::Token => Some(format!("Bearer {}", self.token())),
            Auth::Missing => None,
            Auth::Invalid => Some("Bearer t1.invalid-token-from-accesskey-conformance".into()),
        }
    }

    /// Sends a request with the credentials of the moment. A token about to expire is renewed
    /// first; a 401 to the run's own token is answered by renewing once and sending again.
    pub async fn send(&self, request: &Request) -> Result<Exchange, TransportError> {
        let renewable = request.auth == Auth::Token && self.credentials.source.renewable();
        if renewable {
            let due = *lock(&self.credentials.renew_at);
            if due.is_some_and(|at| Instant::now() >= at) {
                self.renew(Some(&self.token())).await?;
            }
        }
        let used = self.token();
        let exchange = self
            .client
            .send(request, self.authorization(request.auth))
            .await?;
        if exchange.status == 401 && renewable {
            self.renew(Some(&used)).await?;
            return self
                .client
                .send(request, self.authorization(request.auth))
                .await;
        }
        Ok(exchange)
    }

    pub fn key_url(&self, id: &str) -> String {
        format!("{}{KEYS_PATH}/{}", self.base_url, segment(id))
    }

    pub fn create(&self, service_account_id: &str, description: &str) -> Request {
        let body = json!({"serviceAccountId": service_account_id, "description": description});
        let url = format!("{}{KEYS_PATH}", self.base_url);
        request(Method::POST, url, Auth::Token, Some(body.to_string()))
    }

    pub fn get(&self, id: &str, auth: Auth) -> Request {
        request(Method::GET, self.key_url(id), auth, None)
    }

    /// One page of the account's keys (`pageSize` left to the target when `None`).
    pub fn list(
        &self,
        service_account_id: &str,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Request {
        let mut url = format!(
            "{}{KEYS_PATH}?serviceAccountId={}",
            self.base_url,
            segment(service_account_id)
        );
        if let Some(size) = page_size {
            url.push_str(&format!("&pageSize={size}"));
        }
        if let Some(token) = page_token.filter(|t| !t.is_empty()) {
            url.push_str(&format!("&pageToken={}", segment(token)));
        }
        request(Method::GET, url, Auth::Token, None)
    }

    /// PATCH with a raw body (`None` sends no body at all).
    pub fn update(&self, id: &str, body: Option<String>, auth: Auth) -> Request {
        request(Method::PATCH, self.key_url(id), auth, body)
    }

    pub fn delete(&self, id: &str) -> Request {
        request(Method::DELETE, self.key_url(id), Auth::Token, None)
    }

    pub fn list_operations(&self, id: &str) -> Request {
        let url = format!("{}/operations", self.key_url(id));
        request(Method::GET, url, Auth::Token, None)
    }

    pub fn get_operation(&self, operation_id: &str) -> Request {
        let url = format!(
            "{}/operations/{}",
            self.operation_url,
            segment(operation_id)
        );
        request(Method::GET, url, Auth::Token, None)
    }
}
