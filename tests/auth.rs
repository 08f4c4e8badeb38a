//! Authentication end to end: a service-account key generated here signs PS256 JWTs that the
//! reference server verifies at its tokens endpoint; tokens that stop working mid-run are
//! renewed; token commands; and no token, secret or key material in any output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use accesskey_conformance::reference::{AuthorizedKey, Options};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use common::{ACCOUNT, harness, start_with};

const KEY_ID: &str = "ajekeyforconformance";

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A fresh RSA key: (the authorized key JSON with the private key, the public PEM).
fn new_key() -> (String, String) {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let private = pem("PRIVATE KEY", pair.as_der().unwrap().as_ref());
    let public = pem("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref());
    let json = serde_json::json!({
        "id": KEY_ID,
        "service_account_id": ACCOUNT,
        "created_at": "2026-11-28T00:00:00Z",
        "key_algorithm": "RSA_2048",
        "public_key": public,
        "private_key": format!("PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID <{KEY_ID}>\n{private}"),
    });
    (json.to_string(), public)
}

fn server(public: &str, ttl: Duration, announced: Option<Duration>) -> (String, Options) {
    let mut options = Options::new("t1.static-token-the-harness-never-sees");
    options.authorized_key = Some(AuthorizedKey {
        id: KEY_ID.into(),
        service_account_id: ACCOUNT.into(),
        public_key_pem: public.into(),
    });
    options.token_ttl = ttl;
    options.announced_ttl = announced;
    let url = start_with(options.clone());
    (url, options)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("akc-auth-{}-{name}", std::process::id()))
}

/// Runs with a key file; returns (exit code, every output the run wrote, concatenated).
fn run_with_key(url: &str, key_arg: &[&str], env_key: Option<&str>) -> (i32, String) {
    let (junit, json, ledger) = (temp("j.xml"), temp("r.json"), temp("l.ledger"));
    for p in [&junit, &json, &ledger] {
        std::fs::remove_file(p).ok();
    }
    let token_url = format!("{url}/iam/v1/tokens");
    let mut args = vec![
        "run",
        "-q",
        "--base-url",
        url,
        "--token-url",
        &token_url,
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
        "--proptest-cases",
        "3",
        // About 350 requests at 500 per second: long enough to outlive short-lived tokens.
        "--max-rps",
        "500",
    ];
    args.extend_from_slice(key_arg);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_accesskey-conformance"));
    command
        .args(&args)
        .env_remove("YC_TOKEN")
        .env_remove("GITHUB_STEP_SUMMARY");
    match env_key {
        Some(k) => command.env("YC_SERVICE_ACCOUNT_KEY_FILE", k),
        None => command.env_remove("YC_SERVICE_ACCOUNT_KEY_FILE"),
    };
    let out = command.output().unwrap();
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    for p in [&junit, &json, &ledger] {
        all.push_str(&std::fs::read_to_string(p).unwrap_or_default());
        std::fs::remove_file(p).ok();
    }
    (out.status.code().unwrap_or(-1), all)
}

fn assert_nothing_leaked(all: &str, key_json: &str, issued: &[String]) {
    assert!(!issued.is_empty(), "no token was issued");
    for token in issued {
        assert!(!all.contains(token.as_str()), "an issued token leaked");
    }
    let key: serde_json::Value = serde_json::from_str(key_json).unwrap();
    for line in key["private_key"].as_str().unwrap().lines() {
        if line.len() >= 16 && !line.starts_with("-----") && !line.starts_with("PLEASE") {
            assert!(!all.contains(line), "private key material leaked");
        }
    }
    assert!(
        !all.contains("\"YCM") && !all.contains(" YCM"),
        "a Create secret leaked"
    );
}

/// Tokens die after 150 ms although `expiresAt` says 12 h: every 401 is answered by one
/// renewal and a replay, and the run passes.
#[test]
fn service_account_key_flow_with_tokens_revoked_mid_run() {
    let (key_json, public) = new_key();
    let key_file = temp("key.json");
    std::fs::write(&key_file, &key_json).unwrap();
    let (url, options) = server(
        &public,
        Duration::from_millis(150),
        Some(Duration::from_secs(12 * 3600)),
    );
    let (code, all) = run_with_key(
        &url,
        &["--service-account-key-file", key_file.to_str().unwrap()],
        None,
    );
    std::fs::remove_file(&key_file).ok();
    assert_eq!(code, 0, "{all}");
    let issued = options.issued.lock().unwrap().clone();
    assert!(issued.len() >= 2, "no renewal happened: {}", issued.len());
    assert_nothing_leaked(&all, &key_json, &issued);
}

/// The key JSON itself in YC_SERVICE_ACCOUNT_KEY_FILE; tokens announced honestly with a short
/// life are renewed before they expire.
#[test]
fn key_json_in_the_environment_and_renewal_before_expiry() {
    let (key_json, public) = new_key();
    let (url, options) = server(&public, Duration::from_millis(300), None);
    let (code, all) = run_with_key(&url, &[], Some(&key_json));
    assert_eq!(code, 0, "{all}");
    let issued = options.issued.lock().unwrap().clone();
    assert!(issued.len() >= 2, "no renewal happened: {}", issued.len());
    assert_nothing_leaked(&all, &key_json, &issued);
}

#[test]
fn a_key_the_server_does_not_know_is_a_harness_error() {
    let (_, public) = new_key();
    let (other_key, _) = new_key();
    let (url, _) = server(&public, Duration::from_secs(60), None);
    let (code, all) = run_with_key(&url, &[], Some(&other_key));
    assert_eq!(code, 3, "{all}");
    assert!(all.contains("cannot get an IAM token"), "{all}");
    assert!(all.contains("/iam/v1/tokens"), "{all}");
}

#[test]
fn broken_key_files_are_usage_errors() {
    let (url, _) = server("unused", Duration::from_secs(60), None);
    for (contents, message) in [
        ("{\"id\": \"k\"}", "authorized key JSON"),
        (
            "{\"id\": \"k\", \"service_account_id\": \"s\", \"private_key\": \"secret-but-no-pem\"}",
            "no PEM private key",
        ),
    ] {
        let (code, all) = run_with_key(&url, &[], Some(contents));
        assert_eq!(code, 2, "{all}");
        assert!(all.contains(message), "{all}");
        assert!(!all.contains("secret-but-no-pem"), "{all}");
    }
}

#[test]
fn token_commands() {
    let mut options = Options::new(common::TOKEN);
    options.token_ttl = Duration::from_secs(60);
    let url = start_with(options);
    let ok = harness(&[
        "run",
        "-q",
        "--base-url",
        &url,
        "--service-account-id",
        ACCOUNT,
        "--token-command",
        &format!("printf '%s\\n' {}", common::TOKEN),
        "--level",
        "must",
        "--skip",
        "properties::",
    ]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains(common::TOKEN));

    let failing = harness(&[
        "run",
        "--base-url",
        &url,
        "--service-account-id",
        ACCOUNT,
        "--token-command",
        "echo no token here >&2; exit 7",
    ]);
    let stderr = String::from_utf8_lossy(&failing.stderr);
    assert_eq!(failing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("token-command") && stderr.contains("no token here"),
        "{stderr}"
    );
}

/// The PS256 JWTs of `jwt.rs` checked against an independent implementation (aws-lc): what we
/// sign, aws-lc verifies; what aws-lc signs, we verify; a changed claim or another key fails.
#[test]
fn ps256_agrees_with_aws_lc() {
    use accesskey_conformance::jwt::{sign_ps256, verify_ps256};
    use aws_lc_rs::signature::{RSA_PSS_2048_8192_SHA256, RSA_PSS_SHA256, UnparsedPublicKey};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let private = pem("PRIVATE KEY", pair.as_der().unwrap().as_ref());
    let public = pem("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref());
    let claims = serde_json::json!({"iss": ACCOUNT, "aud": "x", "exp": 2, "iat": 1});
    let header = serde_json::json!({"typ": "JWT", "kid": KEY_ID});

    let ours = sign_ps256(&private, &header, &claims).unwrap();
    let (input, signature) = ours.rsplit_once('.').unwrap();
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, pair.public_key().as_ref())
        .verify(input.as_bytes(), &b64.decode(signature).unwrap())
        .expect("aws-lc verifies our signature");
    assert_eq!(verify_ps256(&ours, &public).unwrap(), claims);

    let head = b64.encode(r#"{"alg":"PS256","kid":"k"}"#);
    let body = b64.encode(claims.to_string());
    let input = format!("{head}.{body}");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PSS_SHA256, &rng, input.as_bytes(), &mut signature)
        .unwrap();
    let theirs = format!("{input}.{}", b64.encode(&signature));
    assert_eq!(verify_ps256(&theirs, &public).unwrap(), claims);

    let forged = format!(
        "{head}.{}.{}",
        b64.encode(r#"{"iss":"other"}"#),
        b64.encode(&signature)
    );
    assert!(verify_ps256(&forged, &public).is_err());
    let (_, other_public) = new_key();
    assert!(verify_ps256(&ours, &other_public).is_err());
    let none = format!("{}.{body}.", b64.encode(r#"{"alg":"none"}"#));
    assert!(verify_ps256(&none, &public).is_err());
}
