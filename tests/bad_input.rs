//! Bad command lines, unreachable targets and hostile servers: a clear message and the right
//! exit code, never a panic or a hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = harness(&["run", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--no-such-flag"));
}

#[test]
fn malformed_url_is_a_usage_error() {
    for url in ["not a url", "ftp://example.com", "http://"] {
        let out = harness(&[
            "run",
            "--base-url",
            url,
            "--token",
            "t",
            "--service-account-id",
            "s",
        ]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out));
        assert!(text(&out).contains("--base-url"), "{}", text(&out));
    }
}

#[test]
fn target_url_without_token_or_account_is_a_usage_error() {
    let out = harness(&["run", "--base-url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("YC_TOKEN"), "{}", text(&out));
    let out = harness(&["run", "--base-url", "http://127.0.0.1:9", "--token", "t"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--service-account-id"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_timeout_and_schema_dir_are_usage_errors() {
    let out = harness(&["run", "--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = harness(&["run", "--schemas", "/nonexistent/schemas"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("access_key.schema.json"),
        "{}",
        text(&out)
    );
}

#[test]
fn list_prints_trials_without_running() {
    let out = harness(&["run", "--list"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("[must] cases::mask_without_value_resets_applied: test"),
        "{listing}"
    );
}

#[test]
fn filter_selects_trials_and_the_rest_are_skipped() {
    let junit = std::env::temp_dir().join(format!("akc-filter-{}.xml", std::process::id()));
    let out = harness(&["run", "resets_applied", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    std::fs::remove_file(&junit).ok();
    let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    let all = accesskey_conformance::suite::specs(
        &accesskey_conformance::contract::cases::embedded().unwrap(),
    )
    .len();
    assert_eq!(report.tests as usize, all);
    assert_eq!(report.skipped as usize, all - 4);
}

#[test]
fn unreachable_target_is_a_harness_error_naming_the_request() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = harness(&[
        "run",
        "--base-url",
        &url,
        "--token",
        "secret-token-value",
        "--service-account-id",
        "s",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("GET") && t.contains(&url), "{t}");
    assert!(!t.contains("secret-token-value"), "{t}");
}

/// Serves one canned HTTP answer to every connection (or stalls for 10 s after it, or, with an
/// empty answer and `stall`, resets the connection at once).
fn hostile(answer: &'static [u8], stall: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = socket.read(&mut buf).await;
                    if answer.is_empty() && stall {
                        // SO_LINGER 0: closing sends a reset instead of a clean end.
                        let _ = socket.set_zero_linger();
                        drop(socket);
                        return;
                    }
                    let _ = socket.write_all(answer).await;
                    if stall {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                });
            }
        });
    });
    format!("http://{addr}")
}

fn run_hostile(url: &str, extra: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut args = vec![
        "run",
        "--base-url",
        url,
        "--token",
        "t0ken-value-xyz",
        "--service-account-id",
        "s",
        "-q",
        "--test-threads",
        "2",
    ];
    args.extend_from_slice(extra);
    let out = harness(&args);
    (out.status.code(), text(&out), started.elapsed())
}

#[test]
fn html_answers_fail_with_a_snippet() {
    let url = hostile(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\nConnection: close\r\n\r\n<html><body>hi</body></html", false);
    let (code, out, _) = run_hostile(&url, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("not JSON") && out.contains("<html><body>hi"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn empty_answers_fail_clearly() {
    let url = hostile(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        false,
    );
    let (code, out, _) = run_hostile(&url, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("the body is empty"), "{out}");
}

#[test]
fn huge_answers_are_capped() {
    static HUGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let body = HUGE.get_or_init(|| {
        let payload = "[".repeat(5 * 1024 * 1024);
        let mut v = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", payload.len()).into_bytes();
        v.extend_from_slice(payload.as_bytes());
        v
    });
    let url = hostile(body, false);
    let (code, out, _) = run_hostile(&url, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("larger than 1024 KiB"), "{out}");
}

#[test]
fn stalled_answers_time_out() {
    // The answer starts, then nothing comes for 10 seconds.
    let url = hostile(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"accessKey\":", true);
    let (code, out, took) = run_hostile(&url, &["--timeout", "1"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("no complete answer within 1.0 s"), "{out}");
    assert!(out.contains(&url), "{out}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn reset_connections_are_a_harness_error_naming_the_url() {
    let url = hostile(b"", true);
    let (code, out, _) = run_hostile(&url, &[]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("cannot be reached") && out.contains(&url),
        "{out}"
    );
    assert!(
        !out.contains("panicked") && !out.contains("t0ken-value-xyz"),
        "{out}"
    );
}

#[test]
fn tls_failures_are_a_harness_error_naming_the_url() {
    // An https URL to a server that speaks plain HTTP: the handshake fails.
    let plain = hostile(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false);
    let url = plain.replace("http://", "https://");
    let (code, out, _) = run_hostile(&url, &[]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("cannot be reached") && out.contains(&url),
        "{out}"
    );
}

#[test]
fn a_bad_ca_file_is_a_usage_error() {
    let file = std::env::temp_dir().join(format!("akc-bad-ca-{}.pem", std::process::id()));
    std::fs::write(&file, "not a certificate").unwrap();
    let (code, out, _) = run_hostile("http://127.0.0.1:9", &["--cacert", file.to_str().unwrap()]);
    std::fs::remove_file(&file).ok();
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--cacert"), "{out}");
}

#[test]
fn redirects_are_not_followed() {
    let url = hostile(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false);
    let (code, out, _) = run_hostile(&url, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("unexpected HTTP status 302"), "{out}");
}

/// A fresh directory under the temp dir holding `files`.
fn case_dir(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("akc-cases-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    for (file, contents) in files {
        std::fs::write(dir.join(file), contents).unwrap();
    }
    dir
}

const GOOD_CASE: &str = r#"{
  "about": "A user's own case: a value with a newline is stored as sent.",
  "rule": "U1",
  "level": "must",
  "request": {"updateMask": "description", "description": "two\nlines"},
  "expect": {"applied": "two\nlines"}
}"#;

#[test]
fn broken_case_files_stop_the_run_naming_file_and_place() {
    let broken = [
        (
            "bad_json_applied.json",
            "{\"about\": \"x\",",
            "not valid JSON",
        ),
        (
            "unknown_field_applied.json",
            &GOOD_CASE.replace("\"about\"", "\"colour\": 1, \"about\""),
            "at /: ",
        ),
        (
            "wrong_type_applied.json",
            &GOOD_CASE.replace("\"updateMask\": \"description\"", "\"updateMask\": 7"),
            "at /request/updateMask",
        ),
        (
            "unknown_rule_applied.json",
            &GOOD_CASE.replace("\"U1\"", "\"U42\""),
            "at /rule: unknown rule id `U42`",
        ),
    ];
    for (file, contents, message) in broken {
        let dir = case_dir(file, &[("fine_applied.json", GOOD_CASE), (file, contents)]);
        let out = harness(&["run", "--cases", dir.to_str().unwrap()]);
        let text = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {text}");
        assert!(text.contains(file), "{file}: {text}");
        assert!(text.contains(message), "{file}: {text}");
        assert!(!text.contains("panicked"), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn an_empty_cases_directory_is_an_error() {
    let dir = case_dir("empty", &[("notes.txt", "not a case")]);
    let out = harness(&["run", "--cases", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no *.json case files"),
        "{}",
        text(&out)
    );
    let out = harness(&["run", "--cases", "/no/such/directory"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("/no/such/directory"), "{}", text(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_users_case_runs_as_a_trial() {
    let dir = case_dir("good", &[("newline_kept_applied.json", GOOD_CASE)]);
    let out = harness(&[
        "run",
        "--cases",
        dir.to_str().unwrap(),
        "--exact",
        "cases::newline_kept_applied",
    ]);
    let text = text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("cases::newline_kept_applied ... ok"),
        "{text}"
    );
    assert!(text.contains("1 passed"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}
