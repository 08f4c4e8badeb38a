//! Credentials: where the IAM token comes from and how it is renewed.
//!
//! - a fixed token (`--token` / `YC_TOKEN`);
//! - a command whose output is the token (`--token-command`, e.g. `yc iam create-token`),
//!   run again to refresh;
//! - a service-account authorized key (`--service-account-key-file`): a PS256 JWT (`kid`,
//!   `iss`, `aud`, `iat`, `exp` one hour later) exchanged at the IAM tokens endpoint; renewed
//!   before the token expires.
//!
//! Nothing here prints a token or a key; callers register both for redaction.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Client, Request, TransportError};

/// The tokens endpoint of Yandex Cloud IAM.
pub const DEFAULT_TOKEN_URL: &str = "https://iam.api.cloud.yandex.net/iam/v1/tokens";

/// A service account's authorized key, as `yc iam key create` writes it.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// The key id (the JWT `kid`).
    pub id: String,
    pub service_account_id: String,
    /// PEM (PKCS#8 or PKCS#1), possibly after a "PLEASE DO NOT REMOVE THIS LINE!" line.
    pub private_key: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("id", &self.id)
            .field("service_account_id", &self.service_account_id)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl ServiceAccountKey {
    /// Reads `--service-account-key-file`: a path, or the JSON itself (as an environment
    /// variable may hold it).
    pub fn load(path_or_json: &str) -> Result<Self, String> {
        let text = if path_or_json.trim_start().starts_with('{') {
            path_or_json.to_string()
        } else {
            std::fs::read_to_string(path_or_json).map_err(|e| {
                format!("cannot read the service account key file `{path_or_json}`: {e}")
            })?
        };
        let key: ServiceAccountKey = serde_json::from_str(&text).map_err(|e| {
            // serde's message names the missing field, never the key material.
            format!(
                "the service account key is not an authorized key JSON (id, service_account_id, private_key): {}",
                e.to_string()
                    .split(" at line")
                    .next()
                    .unwrap_or("invalid JSON")
            )
        })?;
        if !key.private_key.contains("-----BEGIN") {
            return Err("the service account key has no PEM private key".into());
        }
        Ok(key)
    }

    /// The PEM block alone (the Yandex file puts a warning line before it).
    pub fn pem(&self) -> &str {
        self.private_key
            .find("-----BEGIN")
            .map_or(self.private_key.as_str(), |at| &self.private_key[at..])
    }

    /// Texts that must never leave the process: the PEM and each of its base64 lines.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.private_key.clone(), self.pem().to_string()];
        out.extend(
            self.pem()
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                .map(str::to_string),
        );
        out
    }

    /// A signed PS256 JWT for `audience` (the tokens endpoint), valid for one hour.
    pub fn jwt(&self, audience: &str) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let header = json!({"typ": "JWT", "alg": "PS256", "kid": self.id});
        let claims = json!({
            "iss": self.service_account_id,
            "aud": audience,
            "iat": now,
            "exp": now + 3600,
        });
        crate::jwt::sign_ps256(self.pem(), &header, &claims)
            .map_err(|e| format!("the service account private key cannot sign: {e}"))
    }
}

/// Where tokens come from.
#[derive(Debug, Clone)]
pub enum Source {
    Fixed(String),
    Command(String),
    Key {
        key: ServiceAccountKey,
        token_url: String,
    },
}

/// A token and, when known, how long it stays valid.
pub struct Issued {
    pub token: String,
    pub valid_for: Option<Duration>,
}

impl Source {
    /// Whether asking again can give another token.
    pub fn renewable(&self) -> bool {
        !matches!(self, Source::Fixed(_))
    }

    /// Gets a token (runs the command, or exchanges a fresh JWT).
    pub async fn issue(&self, client: &Client) -> Result<Issued, TransportError> {
        match self {
            Source::Fixed(t) => Ok(Issued {
                token: t.clone(),
                valid_for: None,
            }),
            Source::Command(command) => run_command(command).await.map(|token| Issued {
                token,
                valid_for: None,
            }),
            Source::Key { key, token_url } => exchange(client, key, token_url).await,
        }
    }
}

fn failure(method: &str, url: &str, reason: impl Into<String>) -> TransportError {
    TransportError {
        method: method.into(),
        url: url.into(),
        reason: reason.into(),
    }
}

/// Runs `command` with `sh -c` (60 s at most); its trimmed standard output is the token.
async fn run_command(command: &str) -> Result<String, TransportError> {
    let fail = |reason: String| failure("token-command", command, reason);
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .map_err(|_| fail("did not finish within 60 s".into()))?
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(fail(format!(
            "exited with {}: {}",
            out.status,
            super::snippet(stderr.trim())
        )));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(fail(
            "its output is not one token (empty, or several words)".into(),
        ));
    }
    Ok(token)
}

/// Exchanges a JWT for an IAM token at `token_url`.
async fn exchange(
    client: &Client,
    key: &ServiceAccountKey,
    token_url: &str,
) -> Result<Issued, TransportError> {
    let jwt = key
        .jwt(token_url)
        .map_err(|e| failure("POST", token_url, e))?;
    let request = Request {
        method: reqwest::Method::POST,
        url: token_url.to_string(),
        auth: super::Auth::Missing,
        headers: Vec::new(),
        body: Some(json!({ "jwt": jwt }).to_string()),
    };
    let answer = client.send(&request, None).await?;
    let json = answer.json.as_ref().ok();
    let token = json
        .and_then(|j| j.get("iamToken"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        // The answer may be an error Status; it holds no token, so a snippet is safe.
        return Err(failure(
            "POST",
            token_url,
            format!(
                "the tokens endpoint answered {} without an iamToken: {}",
                answer.status,
                answer.snippet()
            ),
        ));
    };
    let valid_for = json
        .and_then(|j| j.get("expiresAt"))
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .and_then(|at| at.signed_duration_since(chrono::Utc::now()).to_std().ok());
    Ok(Issued {
        token: token.to_string(),
        valid_for,
    })
}
