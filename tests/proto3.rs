//! The reference server's default style is what the live service's transcoder writes: every
//! answer of a run, taken from its HAR file, is read by a strict proto3 JSON parser
//! (prost-reflect, unknown members denied) against our own `proto/accesskey.proto`, compiled
//! here with protox. The sample style (no `@type`) is refused by the same parser, so the parser
//! is strict. The compiled descriptor set the harness embeds is checked against the `.proto`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use accesskey_conformance::checks::proto3;
use accesskey_conformance::reference::{Mode, Options, Style};
use common::{TOKEN, run_against, start_with};
use serde_json::Value;

fn compiled() -> Vec<u8> {
    let root = env!("CARGO_MANIFEST_DIR");
    protox::Compiler::new([format!("{root}/proto")])
        .unwrap()
        .include_imports(true)
        .open_file("accesskey.proto")
        .unwrap()
        .encode_file_descriptor_set()
}

/// `proto/accesskey.binpb` is `proto/accesskey.proto` compiled; `UPDATE_PROTO=1` rewrites it.
#[test]
fn the_embedded_descriptor_set_is_the_proto_file_compiled() {
    let bytes = compiled();
    if std::env::var_os("UPDATE_PROTO").is_some() {
        let path = format!("{}/proto/accesskey.binpb", env!("CARGO_MANIFEST_DIR"));
        std::fs::write(path, &bytes).unwrap();
    }
    assert!(
        bytes == proto3::DESCRIPTOR_SET,
        "proto/accesskey.binpb is stale: run UPDATE_PROTO=1 cargo test --test proto3"
    );
}

/// Every answer of a run against a server of `style`, read strictly: (answers, refusals).
fn read_all(style: Style, mode: Mode) -> (usize, Vec<String>) {
    let mut options = Options::new(TOKEN);
    options.style = style;
    options.mode = mode;
    let url = start_with(options);
    let har = std::env::temp_dir().join(format!("akc-proto3-{}-{style:?}.har", std::process::id()));
    let v = run_against(
        &url,
        &["--proptest-cases", "4", "--har", har.to_str().unwrap()],
    );
    assert_eq!(v.code, 0, "{}", v.stdout);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&har).unwrap()).unwrap();
    std::fs::remove_file(&har).ok();
    let mut refused = Vec::new();
    let mut read = 0;
    for entry in doc["log"]["entries"].as_array().unwrap() {
        let method = entry["request"]["method"].as_str().unwrap();
        let url = url::Url::parse(entry["request"]["url"].as_str().unwrap()).unwrap();
        let status = entry["response"]["status"].as_u64().unwrap() as u16;
        let Some(message) = proto3::message_for(method, url.path(), status) else {
            continue;
        };
        read += 1;
        let body = entry["response"]["content"]["text"].as_str().unwrap();
        if let Err(why) = proto3::readable(message, body) {
            refused.push(format!("{method} {}: {why}", url.path()));
        }
    }
    (read, refused)
}

#[test]
fn every_answer_of_the_default_style_is_read_strictly() {
    for mode in [Mode::Sync, Mode::Async] {
        let (read, refused) = read_all(Style::Live, mode);
        assert!(read > 100, "{read} answers");
        assert!(refused.is_empty(), "{mode:?}: {refused:#?}");
    }
}

/// A strict parser reads offsets, any number of digits and pretty-printed bodies too, so the
/// S1 observation does not blame a target for them; what it refuses in the varied style is
/// Delete's Empty written as `{"@type": …}` alone (it wants `value`), wherever a Delete's
/// operation shows, and nothing else.
#[test]
fn the_varied_style_is_read_strictly_but_for_its_bare_empty() {
    let (read, refused) = read_all(Style::Varied, Mode::Sync);
    assert!(read > 100, "{read} answers");
    assert!(!refused.is_empty());
    for r in &refused {
        // A Delete's operation: its answer, read back, or listed among the key's operations.
        let on_delete_op = r.starts_with("DELETE ")
            || r.starts_with("GET /operations/")
            || (r.starts_with("GET ") && r.contains("/operations:"));
        assert!(on_delete_op && r.contains("'value'"), "{refused:#?}");
    }
}

#[test]
fn the_sample_style_is_refused_for_its_missing_type_urls() {
    let (read, refused) = read_all(Style::Sample, Mode::Sync);
    assert!(read > 100);
    assert!(!refused.is_empty());
    assert!(refused.iter().any(|r| r.contains("@type")), "{refused:#?}");
}
