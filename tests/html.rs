//! `--html`: the report for people, opened in a real browser. Headless Chromium, driven over
//! WebDriver by Debian's chromedriver, loads the page from disk; the test reads what the page
//! shows (its rendered text: the verdict, the failure's rule, its reproduction and shrunk
//! sequence, the coverage table, the seed) and what the browser logged (no console error), and
//! checks that the page fetched nothing. `scripts/install-browser` installs the two packages
//! (`.ci/run` calls it); set AKC_SKIP_BROWSER=1 to run without a browser (the page is then
//! checked as text only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use accesskey_conformance::reference::{Fault, Options};
use common::{ACCOUNT, TOKEN, harness, runtime, start_with};
use serde_json::{Value, json};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "akc-html-{}-{}-{name}",
        std::process::id(),
        common::uuid_like()
    ))
}

/// A run against `url` writing the HTML report; its exit code and the page.
fn html_of(url: &str) -> (i32, PathBuf, String) {
    let page = temp("report.html");
    let out = harness(&[
        "run",
        "--base-url",
        url,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--seed",
        "5",
        "--html",
        page.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&page).unwrap();
    (out.status.code().unwrap_or(-1), page, text)
}

/// What the file says before any browser: one document, nothing to fetch, no secret.
fn self_contained(text: &str) {
    assert!(text.starts_with("<!DOCTYPE html>"));
    assert!(text.contains("Content-Security-Policy"));
    for outside in ["<script", "<link", " src=", "<img", "@import", "url("] {
        assert!(!text.contains(outside), "the page refers to `{outside}`");
    }
    assert!(!text.contains(TOKEN), "the token leaked into the page");
}

/// A WebDriver session with headless Chromium, ended (and chromedriver stopped) on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Browser {
    /// `None` when AKC_SKIP_BROWSER is set; a clear panic when the browser is missing.
    fn start() -> Option<Browser> {
        if std::env::var_os("AKC_SKIP_BROWSER").is_some_and(|v| !v.is_empty()) {
            eprintln!("AKC_SKIP_BROWSER is set: the page is not opened in a browser");
            return None;
        }
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("Chromium is not installed: run `bash scripts/install-browser` (Debian's chromium and chromium-driver), or set AKC_SKIP_BROWSER=1");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run `bash scripts/install-browser`, or set AKC_SKIP_BROWSER=1");
        let base = format!("http://127.0.0.1:{port}");
        let http = common::http_client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = runtime().block_on(async {
                let r = http.get(format!("{base}/status")).send().await.ok()?;
                r.json::<Value>().await.ok()
            });
            if ready.is_some_and(|s| s["value"]["ready"] == true) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2000"]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
        };
        let created = browser.call("POST", "/session", capabilities);
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let answer: Value = runtime().block_on(async {
            let request = match method {
                "POST" => self.http.post(url).json(&body),
                "DELETE" => self.http.delete(url),
                _ => self.http.get(url),
            };
            request.send().await.unwrap().json().await.unwrap()
        });
        answer["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn open(&self, page: &Path) {
        let url = format!("file://{}", page.display());
        let answer = self.session("POST", "/url", json!({ "url": url }));
        assert!(answer.is_null(), "navigation failed: {answer}");
    }

    fn script(&self, source: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({"script": source, "args": []}),
        )
    }

    /// What the page shows: the rendered text of its body.
    fn visible_text(&self) -> String {
        self.script("return document.body.innerText;")
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The browser's console entries of level SEVERE (errors).
    fn console_errors(&self) -> Vec<Value> {
        let log = self.session("POST", "/se/log", json!({"type": "browser"}));
        log.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.session("DELETE", "", Value::Null);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn a_failed_run_reads_well_in_a_browser() {
    let mut options = Options::new(TOKEN);
    options.faults = vec![Fault::TrimsDescription, Fault::WrongHttpStatus];
    let (code, page, text) = html_of(&start_with(options));
    assert_eq!(code, 1);
    self_contained(&text);
    let Some(browser) = Browser::start() else {
        assert!(text.contains("U1") && text.contains("curl -sS -X PATCH"));
        std::fs::remove_file(&page).ok();
        return;
    };
    browser.open(&page);
    let shown = browser.visible_text();
    let title = browser.script("return document.title;");
    std::fs::remove_file(&page).ok();
    assert!(title.as_str().unwrap().contains("failed"), "title: {title}");
    // The verdict and the counts come first.
    let verdict_at = shown.find("accesskey-conformance: failed").expect(&shown);
    let counts_at = shown.find("Counts").expect(&shown);
    let failures_at = shown.find("Failed trials").expect(&shown);
    assert!(verdict_at < counts_at && counts_at < failures_at, "{shown}");
    // A failure, its rule, a reproduction and the shrunk sequence are visible.
    assert!(
        shown.contains("properties::u1_u6_update_sequences_match_the_model"),
        "{shown}"
    );
    assert!(shown.contains("U1"), "{shown}");
    assert!(shown.contains("curl -sS -X PATCH"), "{shown}");
    assert!(shown.contains("shrunk to"), "{shown}");
    assert!(shown.contains("E1"), "{shown}");
    // The observed behaviours, the route matrix (the second account's checkers not run
    // here, with the reason), the coverage and the run's facts.
    assert!(
        shown.contains("Route matrix: every checker on every route it covers"),
        "{shown}"
    );
    assert!(
        shown.contains("routes::a2_other_accounts_token_refused"),
        "{shown}"
    );
    assert!(shown.contains("--alt-token"), "{shown}");
    assert!(shown.contains("Coverage by rule"), "{shown}");
    assert!(shown.contains("--seed 5"), "{shown}");
    assert!(shown.contains("digest of schemas and cases"), "{shown}");
    assert!(!shown.contains(TOKEN));
    // Nothing went wrong while loading, and nothing was fetched.
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let fetched = browser.script("return performance.getEntriesByType('resource').length;");
    assert_eq!(fetched, json!(0));
}

#[test]
fn a_passed_run_says_so_first() {
    let (code, page, text) = html_of(&start_with(Options::new(TOKEN)));
    assert_eq!(code, 0);
    self_contained(&text);
    assert!(!text.contains("Failed trials"));
    let Some(browser) = Browser::start() else {
        std::fs::remove_file(&page).ok();
        return;
    };
    browser.open(&page);
    let shown = browser.visible_text();
    std::fs::remove_file(&page).ok();
    assert!(
        shown.starts_with("accesskey-conformance: passed"),
        "{shown}"
    );
    assert!(shown.contains("Observed behaviours"), "{shown}");
    assert!(browser.console_errors().is_empty());
}
