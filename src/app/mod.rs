//! The commands end to end: [`run`] sets up the target, executes the suite, writes the
//! reports and returns the exit code; [`cleanup`] deletes what a killed run left, from its
//! ledger; [`replay`] sends again what made an earlier run's trials fail; [`diff`] runs the
//! same trials against two targets and compares them; [`serve`] runs the reference server.
//! This module holds what they share: error exits, the runtime, URL checks and credentials.

mod cleanup;
mod diff;
mod explain;
mod plan;
mod replay;
mod run;
mod serve;

pub use cleanup::cleanup;
pub use diff::diff;
pub use explain::{explain, rules};
pub use replay::replay;
pub use run::run;
pub use serve::serve;

use std::process::ExitCode;

use crate::cli::AuthArgs;
use crate::client::auth::{ServiceAccountKey, Source};
use crate::exit;

pub(crate) const YANDEX_IAM_HOST: &str = "iam.api.cloud.yandex.net";
pub(crate) const YANDEX_OPERATION_URL: &str = "https://operation.api.cloud.yandex.net";

/// Generated sequences per property trial against the embedded server: about 1,300 update
/// steps in all, still about a second.
pub(crate) const EMBEDDED_PROPTEST_CASES: u32 = 150;
/// The same against a URL (about 600 requests in the generated part), or against the
/// embedded server in asynchronous mode (where every step waits for its polls).
pub(crate) const REMOTE_PROPTEST_CASES: u32 = 24;
/// Replays allowed while shrinking one failing sequence, against the embedded server and
/// against a URL (where each replay of up to 5 steps costs up to a dozen requests).
pub(crate) const EMBEDDED_SHRINK_ITERS: u32 = 200;
pub(crate) const REMOTE_SHRINK_ITERS: u32 = 64;

/// Trials (and lanes of generated sequences) working at once against a URL: a remote target
/// is I/O-bound, so far more than the CPUs overlap (`--test-threads` overrides it).
pub(crate) const REMOTE_WORKERS: usize = 24;
/// The same against the embedded server, where the harness and the server share the CPUs.
pub(crate) const EMBEDDED_WORKERS: usize = 8;
/// Sequences of one property played side by side (each lane on a key of its own): many where
/// every step waits (a URL, operations to poll), few where the CPUs are the limit.
pub(crate) const REMOTE_PROPERTY_LANES: usize = 8;
pub(crate) const EMBEDDED_PROPERTY_LANES: usize = 3;

pub(crate) fn random_seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

pub(crate) fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    exit::code(exit::USAGE)
}

pub(crate) fn harness(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    exit::code(exit::HARNESS_ERROR)
}

pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Checks a base URL given on the command line.
pub(crate) fn parse_base_url(flag: &str, text: &str) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(text).map_err(|e| format!("{flag} `{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{flag} `{text}` must be an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{flag} `{text}` must not have a query or fragment"));
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// A token source, the service account of its key (if any), and texts to redact.
pub(crate) type Credentials = (Source, Option<String>, Vec<String>);

/// The credentials the flags give: the token source, the key's service account, and texts to
/// redact. `None` when no credentials were given. The key file wins over the command, and the
/// command over a token (which may come from the environment).
pub(crate) fn credentials(auth: &AuthArgs) -> Result<Option<Credentials>, String> {
    if let Some(file) = auth
        .service_account_key_file
        .as_deref()
        .filter(|f| !f.trim().is_empty())
    {
        let key = ServiceAccountKey::load(file)?;
        parse_base_url("--token-url", &auth.token_url)?;
        let account = Some(key.service_account_id.clone());
        let secrets = key.secrets();
        let source = Source::Key {
            key,
            token_url: auth.token_url.clone(),
        };
        return Ok(Some((source, account, secrets)));
    }
    if let Some(command) = auth
        .token_command
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        return Ok(Some((
            Source::Command(command.to_string()),
            None,
            Vec::new(),
        )));
    }
    Ok(auth
        .token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| (Source::Fixed(t.to_string()), None, Vec::new())))
}
