//! Per-exchange cost: what checking one Update answer costs the harness, in both JSON styles of
//! the reference server, and the parts of that cost (JSON parse, schema validation, the strict
//! timestamp grammar). The answers are real: captured from the reference server at start-up.
//!
//! Run: `cargo bench --bench exchange`. Figures and method: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use accesskey_conformance::checks::clock::Timeline;
use accesskey_conformance::checks::response::{Expect, Judge, Secrets, check_response};
use accesskey_conformance::client::{Api, Auth, Client, Exchange};
use accesskey_conformance::contract::{DocKind, Schemas, parse_strict};
use accesskey_conformance::reference::{self, Options, Style};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

struct Sample {
    update: Exchange,
    key_id: String,
}

/// One Update answer from a reference server of each style.
static SAMPLES: LazyLock<Vec<(Style, Sample)>> = LazyLock::new(|| {
    let rt = tokio::runtime::Runtime::new().unwrap();
    [Style::Sample, Style::Proto3]
        .into_iter()
        .map(|style| {
            let sample = rt.block_on(async {
                let mut options = Options::new("bench-token");
                options.style = style;
                let server = reference::start(SocketAddr::from(([127, 0, 0, 1], 0)), options)
                    .await
                    .unwrap();
                let client = Client::new(Duration::from_secs(5), true, None).unwrap();
                let url = server.base_url();
                let api = Api::new(client, &url, &url, "bench-token".into());
                let created = api
                    .send(&api.create("ajebenchaccount", "before"))
                    .await
                    .unwrap();
                let json = created.json.unwrap();
                let key_id = json["accessKey"]["id"].as_str().unwrap().to_string();
                let body = r#"{"updateMask": "description", "description": "after"}"#;
                let update = api
                    .send(&api.update(&key_id, Some(body.to_string()), Auth::Token))
                    .await
                    .unwrap();
                Sample { update, key_id }
            });
            (style, sample)
        })
        .collect()
});

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| Schemas::embedded().unwrap());

fn sample(style: &str) -> &'static Sample {
    let style = if style == "proto3" {
        Style::Proto3
    } else {
        Style::Sample
    };
    &SAMPLES.iter().find(|(s, _)| *s == style).unwrap().1
}

const STYLES: [&str; 2] = ["verbose", "proto3"];

/// Parse, validate and check one Update Operation answer: the whole per-exchange work.
#[divan::bench(args = STYLES)]
fn update_answer_parse_and_check(bencher: Bencher, style: &str) {
    let sample = sample(style);
    let expect = Expect::new(DocKind::UpdateOperation).for_key(&sample.key_id);
    let schemas = &*SCHEMAS;
    // A run that has created 50 keys knows 50 secrets.
    let secrets = Secrets::new(&(0..50).map(|i| format!("YCM{i:037}")).collect::<Vec<_>>());
    let timeline = Timeline::default();
    bencher
        .with_inputs(|| sample.update.clone())
        .bench_local_values(|mut exchange| {
            exchange.json = serde_json::from_str(&exchange.body).map_err(|e| e.to_string());
            let judge = Judge {
                schemas,
                secrets: &secrets,
                timeline: &timeline,
                clock_tolerance: chrono::Duration::seconds(300),
            };
            let found = check_response(&exchange, &expect, &judge);
            assert!(found.is_empty());
            found
        });
}

/// The JSON parse alone.
#[divan::bench(args = STYLES)]
fn update_answer_parse(bencher: Bencher, style: &str) {
    let body = &sample(style).update.body;
    bencher.bench_local(|| serde_json::from_str::<serde_json::Value>(black_box(body)).unwrap());
}

/// Schema validation alone (the Operation schema with its AccessKey response).
#[divan::bench(args = STYLES)]
fn update_answer_schema(bencher: Bencher, style: &str) {
    let json = sample(style).update.json.as_ref().unwrap();
    let schemas = &*SCHEMAS;
    bencher.bench_local(|| schemas.validate(DocKind::UpdateOperation, black_box(json)));
}

/// The strict RFC 3339 check of one timestamp.
#[divan::bench(args = ["2026-11-28T10:11:12.123456789+03:00", "2026-11-28T07:11:12Z"])]
fn timestamp_strict(text: &str) -> bool {
    parse_strict(black_box(text)).is_ok()
}
