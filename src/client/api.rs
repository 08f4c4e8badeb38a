//! [`Api`]: the REST surface of the access keys service: each method builds the [`Request`]
//! for one call, and [`Api::send`] sends it with the current credentials. No checking, and no
//! retrying, happens here (see `runner::Ctx::call`).

use reqwest::Method;
use serde_json::json;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use super::auth::Source;
use super::{Client, Exchange, Request, TransportError};
use crate::contract::routes::{Host, Route};

/// What a route is aimed at: the service account (Create, List, with List's paging), the
/// key and the operation, their ids as they go into the path.
#[derive(Debug, Clone, Default)]
pub struct RouteAim {
    pub account: String,
    pub key: String,
    pub operation: String,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
    /// Appended to a List's query as it is (`&pageSize=abc`): inputs no typed field holds.
    pub extra_query: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub const KEYS_PATH: &str = "/iam/aws-compatibility/v1/accessKeys";

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// The run's IAM token.
    #[default]
    Token,
    /// No Authorization header.
    Missing,
    /// A well-formed bearer token that no IAM issued.
    Invalid,
    /// The run's token with characters appended (a server comparing prefixes accepts it).
    Appended,
    /// The run's token without its last character.
    CutShort,
    /// The run's token under the `Basic` scheme.
    Basic,
    /// The run's token with the letter case of each letter changed.
    OtherCase,
    /// The run's token under `bearer` in lower case (HTTP scheme names are
    /// case-insensitive: accepting it is a choice, recorded, never judged).
    LowerCaseBearer,
    /// The second account's token (`--alt-token` and its kin).
    Alt,
}

/// The token no IAM issued (`Auth::Invalid`): not a secret, so shown as it is.
const INVALID_TOKEN: &str = "t1.invalid-token-from-accesskey-conformance";
/// What `Auth::Appended` adds to the token.
const APPENDED: &str = "x0";

impl Auth {
    /// How reports show the Authorization header (the token itself never appears).
    pub fn shown(self) -> Option<String> {
        match self {
            Auth::Missing => None,
            Auth::Invalid => Some(format!("Bearer {INVALID_TOKEN}")),
            Auth::Token => Some("Bearer [redacted]".into()),
            Auth::Appended => Some(format!("Bearer [redacted]{APPENDED}")),
            Auth::CutShort => Some("Bearer [redacted, last character cut]".into()),
            Auth::OtherCase => Some("Bearer [redacted, letter case changed]".into()),
            Auth::Basic => Some("Basic [redacted]".into()),
            Auth::LowerCaseBearer => Some("bearer [redacted]".into()),
            Auth::Alt => Some("Bearer [redacted: the second account's token]".into()),
        }
    }

    /// The Authorization header as a curl reproduction writes it: the tokens stay shell
    /// variables (`$YC_TOKEN`, `$ALT_YC_TOKEN`).
    pub fn curl_header(self) -> Option<String> {
        match self {
            Auth::Missing => None,
            Auth::Invalid => Some(format!("Authorization: Bearer {INVALID_TOKEN}")),
            Auth::Token => Some("Authorization: Bearer $YC_TOKEN".into()),
            Auth::Appended => Some(format!("Authorization: Bearer ${{YC_TOKEN}}{APPENDED}")),
            Auth::CutShort => Some("Authorization: Bearer ${YC_TOKEN%?}".into()),
            Auth::OtherCase => {
                Some("Authorization: Bearer $(printf %s \"$YC_TOKEN\" | tr a-zA-Z A-Za-z)".into())
            }
            Auth::Basic => Some("Authorization: Basic $YC_TOKEN".into()),
            Auth::LowerCaseBearer => Some("Authorization: bearer $YC_TOKEN".into()),
            Auth::Alt => Some("Authorization: Bearer $ALT_YC_TOKEN".into()),
        }
    }
}

/// The target's endpoints and credentials.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: Client,
    /// IAM base URL without a trailing slash.
    pub base_url: String,
    /// Operation service base URL without a trailing slash.
    pub operation_url: String,
    /// The run's own credentials.
    main: Arc<Principal>,
    /// A second account's credentials, when the run has them (rule A2).
    alt: Option<Arc<Principal>>,
    /// Every token used so far, and its near misses (for redaction).
    seen: Arc<Mutex<Vec<String>>>,
}

/// One account's credentials: the current token and how it is renewed.
#[derive(Debug)]
struct Principal {
    /// The current IAM token; replaced when it is renewed.
    token: RwLock<String>,
    source: Source,
    /// When the current token should be renewed (some time before it expires).
    renew_at: Mutex<Option<Instant>>,
    /// One renewal at a time.
    renewing: tokio::sync::Mutex<()>,
}

impl Principal {
    fn new(source: Source, token: String) -> Self {
        Principal {
            token: RwLock::new(token),
            source,
            renew_at: Mutex::new(None),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    fn token(&self) -> String {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }
}

/// Percent-encodes one path segment (ids come from the target and are not trusted).
pub fn segment(s: &str) -> String {
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

/// A fresh Idempotency-Key: a random UUID (v4), as the API design guide asks.
fn idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
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

/// `token` without its last character.
fn cut_short(token: &str) -> String {
    let mut cut = token.to_string();
    cut.pop();
    cut
}

/// `token` with the letter case of every ASCII letter changed.
pub fn other_case(token: &str) -> String {
    token
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

impl Api {
    /// An Api with a fixed token.
    pub fn new(client: Client, base_url: &str, operation_url: &str, token: String) -> Self {
        let api = Api {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            operation_url: operation_url.trim_end_matches('/').to_string(),
            main: Arc::new(Principal::new(Source::Fixed(token.clone()), token.clone())),
            alt: None,
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        api.note_token(&token);
        api
    }

    /// An Api whose token comes from `source`; gets the first token now.
    pub async fn with_source(
        client: Client,
        base_url: &str,
        operation_url: &str,
        source: Source,
    ) -> Result<Self, TransportError> {
        let mut api = Api::new(client, base_url, operation_url, String::new());
        lock(&api.seen).clear();
        api.main = Arc::new(Principal::new(source, String::new()));
        api.renew(&api.main, None).await?;
        Ok(api)
    }

    /// Adds a second account's credentials (rule A2); gets its first token now.
    pub async fn add_alt(&mut self, source: Source) -> Result<(), TransportError> {
        let alt = Arc::new(Principal::new(source, String::new()));
        self.renew(&alt, None).await?;
        self.alt = Some(alt);
        Ok(())
    }

    /// Whether the run has a second account's credentials.
    pub fn has_alt(&self) -> bool {
        self.alt.is_some()
    }

    /// The token requests carry now.
    pub fn token(&self) -> String {
        self.main.token()
    }

    /// Every token this Api has used, and the near misses made of them (so that all are
    /// redacted).
    pub fn tokens_seen(&self) -> Vec<String> {
        lock(&self.seen).clone()
    }

    fn note_token(&self, token: &str) {
        if !token.is_empty() {
            lock(&self.seen).extend([token.to_string(), cut_short(token), other_case(token)]);
        }
    }

    /// Gets a new token for `principal`, unless another task already replaced `stale`.
    async fn renew(
        &self,
        principal: &Principal,
        stale: Option<&str>,
    ) -> Result<(), TransportError> {
        let _one_at_a_time = principal.renewing.lock().await;
        if stale.is_some_and(|s| s != principal.token()) {
            return Ok(());
        }
        let issued = principal.source.issue(&self.client).await?;
        self.note_token(&issued.token);
        *lock(&principal.renew_at) = issued.valid_for.map(|v| {
            // Renew when a tenth of the lifetime (at most five minutes) is left.
            Instant::now() + v - (v / 10).min(Duration::from_secs(300))
        });
        if let Ok(mut t) = principal.token.write() {
            *t = issued.token;
        }
        Ok(())
    }

    fn authorization(&self, auth: Auth) -> Option<String> {
        let token = self.main.token();
        match auth {
            Auth::Token => Some(format!("Bearer {token}")),
            Auth::Missing => None,
            Auth::Invalid => Some(format!("Bearer {INVALID_TOKEN}")),
            Auth::Appended => Some(format!("Bearer {token}{APPENDED}")),
            Auth::CutShort => Some(format!("Bearer {}", cut_short(&token))),
            Auth::OtherCase => Some(format!("Bearer {}", other_case(&token))),
            Auth::Basic => Some(format!("Basic {token}")),
            Auth::LowerCaseBearer => Some(format!("bearer {token}")),
            Auth::Alt => self.alt.as_ref().map(|p| format!("Bearer {}", p.token())),
        }
    }

    /// Sends a request with the credentials of the moment. A token about to expire is renewed
    /// first; a 401 to an account's own token is answered by renewing once and sending again.
    pub async fn send(&self, request: &Request) -> Result<Exchange, TransportError> {
        let principal = match request.auth {
            Auth::Token => Some(&self.main),
            Auth::Alt => Some(self.alt.as_ref().ok_or_else(|| TransportError {
                method: request.method.to_string(),
                url: request.url.clone(),
                reason: "the run has no second account's credentials".into(),
            })?),
            _ => None,
        };
        let renewable = principal.filter(|p| p.source.renewable());
        if let Some(p) = renewable {
            let due = *lock(&p.renew_at);
            if due.is_some_and(|at| Instant::now() >= at) {
                self.renew(p, Some(&p.token())).await?;
            }
        }
        let used = principal.map(|p| p.token());
        let exchange = self
            .client
            .send(request, self.authorization(request.auth))
            .await?;
        if let (401, Some(p), Some(used)) = (exchange.status, renewable, used) {
            self.renew(p, Some(&used)).await?;
            return self
                .client
                .send(request, self.authorization(request.auth))
                .await;
        }
        Ok(exchange)
    }

    /// The request of `route` aimed at `aim`, with these credentials and body. The ids of
    /// `aim` go into the path as they are (callers encode them with [`segment`]), so that a
    /// trial can aim at a path with a segment too many.
    pub fn route_request(
        &self,
        route: &Route,
        aim: &RouteAim,
        auth: Auth,
        body: Option<String>,
    ) -> Request {
        let base = match route.host {
            Host::Iam => &self.base_url,
            Host::Operation => &self.operation_url,
        };
        let path = route
            .path
            .replace("{accessKeyId}", &aim.key)
            .replace("{operationId}", &aim.operation);
        let mut url = format!("{base}{path}");
        if route.method == "GET" && route.aim == crate::contract::routes::Aim::Account {
            url.push_str(&format!("?serviceAccountId={}", segment(&aim.account)));
            if let Some(size) = aim.page_size {
                url.push_str(&format!("&pageSize={size}"));
            }
            if let Some(token) = aim.page_token.as_deref().filter(|t| !t.is_empty()) {
                url.push_str(&format!("&pageToken={}", segment(token)));
            }
            if let Some(extra) = &aim.extra_query {
                url.push_str(extra);
            }
        }
        let method = Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::GET);
        request(method, url, auth, body)
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
