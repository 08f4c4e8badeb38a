//! [`Api`]: the REST surface of the access keys service as plain calls, each returning the
//! [`Exchange`] it made. No checking happens here.

use reqwest::Method;
use serde_json::json;

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
    token: String,
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

impl Api {
    pub fn new(client: Client, base_url: &str, operation_url: &str, token: String) -> Self {
        Api {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            operation_url: operation_url.trim_end_matches('/').to_string(),
            token,
        }
    }

    fn authorization(&self, auth: Auth) -> Option<String> {
        match auth {
            Auth::Token => Some(format!("Bearer {}", self.token)),
            Auth::Missing => None,
            Auth::Invalid => Some("Bearer t1.invalid-token-from-accesskey-conformance".into()),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: String,
        auth: Auth,
        body: Option<String>,
    ) -> Result<Exchange, TransportError> {
        self.client
            .send(Request {
                method,
                url,
                authorization: self.authorization(auth),
                body,
            })
            .await
    }

    pub fn key_url(&self, id: &str) -> String {
        format!("{}{KEYS_PATH}/{}", self.base_url, segment(id))
    }

    pub async fn create(
        &self,
        service_account_id: &str,
        description: &str,
    ) -> Result<Exchange, TransportError> {
        let body = json!({"serviceAccountId": service_account_id, "description": description});
        let url = format!("{}{KEYS_PATH}", self.base_url);
        self.call(Method::POST, url, Auth::Token, Some(body.to_string()))
            .await
    }

    pub async fn get(&self, id: &str, auth: Auth) -> Result<Exchange, TransportError> {
        self.call(Method::GET, self.key_url(id), auth, None).await
    }

    pub async fn list(
        &self,
        service_account_id: &str,
        page_token: Option<&str>,
    ) -> Result<Exchange, TransportError> {
        let mut url = format!(
            "{}{KEYS_PATH}?serviceAccountId={}",
            self.base_url,
            segment(service_account_id)
        );
        if let Some(token) = page_token {
            url.push_str(&format!("&pageToken={}", segment(token)));
        }
        self.call(Method::GET, url, Auth::Token, None).await
    }

    /// PATCH with a raw body (`None` sends no body at all).
    pub async fn update(
        &self,
        id: &str,
        body: Option<String>,
        auth: Auth,
    ) -> Result<Exchange, TransportError> {
        self.call(Method::PATCH, self.key_url(id), auth, body).await
    }

    pub async fn delete(&self, id: &str) -> Result<Exchange, TransportError> {
        self.call(Method::DELETE, self.key_url(id), Auth::Token, None)
            .await
    }

    pub async fn list_operations(&self, id: &str) -> Result<Exchange, TransportError> {
        let url = format!("{}/operations", self.key_url(id));
        self.call(Method::GET, url, Auth::Token, None).await
    }

    pub async fn get_operation(&self, operation_id: &str) -> Result<Exchange, TransportError> {
        let url = format!(
            "{}/operations/{}",
            self.operation_url,
            segment(operation_id)
        );
        self.call(Method::GET, url, Auth::Token, None).await
    }
}
