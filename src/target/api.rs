//! [`Api`]: the REST surface of the access keys service: each method builds the [`Request`]
//! for one call, and [`Api::send`] sends it with the current credentials. No checking, and no
//! retrying, happens here (see `runner::Ctx::call`).

use reqwest::Method;
use serde_json::json;

use std::sync::{Arc, RwLock};

use super::{Client, Exchange, Request, TransportError};

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

/// A request that may be sent more than once (retries): a mutating one carries a fresh
/// Idempotency-Key that every retry repeats, so a retried Create cannot make two keys.
fn request(method: Method, url: String, auth: Auth, body: Option<String>) -> Request {
    let headers = if matches!(method, Method::POST | Method::PATCH | Method::DELETE) {
        vec![(
            "Idempotency-Key".to_string(),
            uuid::Uuid::new_v4().to_string(),
        )]
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
    pub fn new(client: Client, base_url: &str, operation_url: &str, token: String) -> Self {
        Api {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            operation_url: operation_url.trim_end_matches('/').to_string(),
            token: Arc::new(RwLock::new(token)),
        }
    }

    /// The token requests carry now.
    pub fn token(&self) -> String {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn set_token(&self, token: String) {
        if let Ok(mut t) = self.token.write() {
            *t = token;
        }
    }

    fn authorization(&self, auth: Auth) -> Option<String> {
        match auth {
            Auth::Token => Some(format!("Bearer {}", self.token())),
            Auth::Missing => None,
            Auth::Invalid => Some("Bearer t1.invalid-token-from-accesskey-conformance".into()),
        }
    }

    /// Sends a request once, with the credentials of the moment.
    pub async fn send(&self, request: &Request) -> Result<Exchange, TransportError> {
        self.client
            .send(request, self.authorization(request.auth))
            .await
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

    pub fn list(&self, service_account_id: &str, page_token: Option<&str>) -> Request {
        let mut url = format!(
            "{}{KEYS_PATH}?serviceAccountId={}",
            self.base_url,
            segment(service_account_id)
        );
        if let Some(token) = page_token {
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
