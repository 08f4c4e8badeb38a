//! The floor: the harness's whole default suite against the reference server, next to the very
//! same requests sent by a bare client that checks nothing. The ratio says what the checks,
//! the model and the bookkeeping cost on top of the HTTP work itself.
//!
//! Method: a reference server with repeatable ids and a request journal serves one harness run
//! (`--test-threads 1`, fixed seed); a fresh server of the same kind then gets the journal
//! replayed in order by a plain reqwest client (same ids, since ids come from a counter). Both
//! are timed; the medians of several rounds are printed.
//!
//! Run: `cargo bench --bench floor` (options: `-- --rounds N --proptest-cases N`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accesskey_conformance::cli::{Cli, Command};
use accesskey_conformance::reference::{self, Journal, Options, Recorded};
use clap::Parser;

const TOKEN: &str = "t1.floor-benchmark-token";

fn server(rt: &tokio::runtime::Runtime, journal: Option<Journal>) -> String {
    let mut options = Options::new(TOKEN);
    options.counter_ids = true;
    options.journal = journal;
    let running = rt
        .block_on(reference::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            options,
        ))
        .unwrap();
    running.base_url()
}

/// One harness run against `url`; its wall time.
fn harness(url: &str, proptest_cases: &str) -> Duration {
    let cli = Cli::try_parse_from([
        "accesskey-conformance",
        "run",
        "--base-url",
        url,
        "--token",
        TOKEN,
        "--service-account-id",
        "ajefloorbenchmark",
        "--seed",
        "2026",
        "--proptest-cases",
        proptest_cases,
        "--test-threads",
        "1",
        "--format",
        "terse",
        "--logfile",
        "/dev/null",
    ])
    .unwrap();
    let Command::Run(args) = cli.command else {
        unreachable!()
    };
    let started = Instant::now();
    let _ = accesskey_conformance::app::run(*args);
    started.elapsed()
}

/// Sends the journal to `url` in order with a plain client; its wall time.
fn bare(rt: &tokio::runtime::Runtime, url: &str, journal: &[Recorded]) -> Duration {
    accesskey_conformance::client::install_crypto();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    rt.block_on(async {
        let started = Instant::now();
        for r in journal {
            let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
            let mut request = client.request(method, format!("{url}{}", r.target));
            if let Some(auth) = &r.authorization {
                request = request.header("authorization", auth);
            }
            if !r.body.is_empty() {
                request = request
                    .header("content-type", "application/json")
                    .body(r.body.clone());
            }
            let response = request.send().await.unwrap();
            let _ = response.bytes().await.unwrap();
        }
        started.elapsed()
    })
}

/// (median, best) of the rounds.
fn summary(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0])
}

fn main() {
    let mut rounds = 9usize;
    let mut proptest_cases = "150".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(rounds),
            "--proptest-cases" => proptest_cases = args.next().unwrap_or(proptest_cases),
            _ => {} // cargo bench passes `--bench`
        }
    }
    // The servers run on one runtime; each client (the harness, the bare replay) on its own,
    // built like the harness's, so both pay the same cross-runtime hops.
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let rt = runtime();
    let client_rt = runtime();
    let (mut harness_times, mut bare_times) = (Vec::new(), Vec::new());
    let mut requests = 0;
    for _ in 0..rounds {
        let journal: Journal = Arc::new(Mutex::new(Vec::new()));
        let url = server(&rt, Some(journal.clone()));
        harness_times.push(harness(&url, &proptest_cases));
        let recorded = journal.lock().unwrap().clone();
        requests = recorded.len();
        let fresh = server(&rt, None);
        bare_times.push(bare(&client_rt, &fresh, &recorded));
    }
    let ((h, h_best), (b, b_best)) = (summary(harness_times), summary(bare_times));
    let per = |d: Duration| d.as_secs_f64() * 1e6 / requests as f64;
    println!(
        "floor: {requests} requests, one thread, {rounds} rounds (median / best)\n  harness {:>7.1} / {:>7.1} ms ({:.1} / {:.1} µs per request)\n  bare    {:>7.1} / {:>7.1} ms ({:.1} / {:.1} µs per request)\n  ratio harness/bare: {:.2} (medians), {:.2} (best rounds)",
        h.as_secs_f64() * 1e3,
        h_best.as_secs_f64() * 1e3,
        per(h),
        per(h_best),
        b.as_secs_f64() * 1e3,
        b_best.as_secs_f64() * 1e3,
        per(b),
        per(b_best),
        h.as_secs_f64() / b.as_secs_f64(),
        h_best.as_secs_f64() / b_best.as_secs_f64()
    );
}
