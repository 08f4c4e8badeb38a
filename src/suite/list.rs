//! The List walk (L1, L3): the run makes a few keys on its account, then walks List for the
//! account page by page with a large page size and with small ones (1 and 2), while no key of
//! the run is created or deleted. Each walk must show each of the run's keys (the walk's own
//! and those resting in the run's pool) exactly once and no id twice, and must end (L1); no
//! page may hold more than `pageSize` keys (L3). L2 (only the account asked for) is checked
//! on every List answer of the run.
//!
//! A live account may hold many keys already: the small page sizes grow with the account
//! (at most about [`PAGES_PER_WALK`] pages a walk), so the walk's cost stays bounded. The
//! walk's own keys are several, so that a server that drops or repeats one key in a few is
//! caught whatever the order of the ids.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::shared::{Findings, View, views};
use crate::checks::Violation;
use crate::contract::Level;
use crate::runner::{Ctx, HarnessError, ListWalk, Run, Spec};

/// Keys the walk makes for itself.
const OWN_KEYS: usize = 5;
/// The large page size, and at most this many pages of it.
const LARGE_PAGE: u32 = 100;
const LARGE_PAGES: usize = 30;
/// A small-page walk takes about this many pages at most (the page size grows instead).
const PAGES_PER_WALK: usize = 40;

/// The judgement of one walk.
fn judge_walk(walk: &ListWalk, size: u32, own: &[String], max_pages: usize) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (page, key) in walk.keys() {
        let Some(id) = key.get("id").and_then(Value::as_str) else {
            continue;
        };
        if let Some(first) = seen.insert(id, page) {
            found.push(
                Violation::new("L1", format!("key {id} is listed twice in one walk"))
                    .received(format!(
                        "on pages {} and {} (pageSize {size})",
                        first + 1,
                        page + 1
                    ))
                    .expected("each key once, while no key is created or deleted")
                    .seen_in(&walk.pages[page].exchange),
            );
        }
    }
    let last = walk.pages.last().map(|p| &p.exchange);
    if walk.unreadable.is_none() {
        for id in own {
            if !seen.contains_key(id.as_str()) {
                let mut v =
                    Violation::new("L1", format!("key {id} of the run is missing from a walk"))
                        .received(format!(
                            "{} keys on {} page(s) of pageSize {size}",
                            seen.len(),
                            walk.pages.len()
                        ))
                        .expected("every key of the account exactly once");
                if let Some(last) = last {
                    v = v.seen_in(last);
                }
                found.push(v);
            }
        }
    }
    if let Some(token) = &walk.repeated_token {
        let mut v = Violation::new("L1", "the walk goes round: a page token came back")
            .received(format!("nextPageToken {token:?} a second time"))
            .expected("tokens that lead to the end");
        if let Some(last) = last {
            v = v.seen_in(last);
        }
        found.push(v);
    } else if !walk.ended && walk.unreadable.is_none() {
        let mut v = Violation::new(
            "L1",
            format!("the walk did not end after {max_pages} pages of pageSize {size}"),
        )
        .expected("an empty nextPageToken once every key was listed");
        if let Some(last) = last {
            v = v.seen_in(last);
        }
        found.push(v);
    }
    for page in &walk.pages {
        if page.keys.len() > size as usize {
            found.push(
                Violation::new(
                    "L3",
                    format!("a page holds {} keys, pageSize was {size}", page.keys.len()),
                )
                .expected(format!("at most {size} keys a page"))
                .seen_in(&page.exchange),
            );
        }
    }
    found
}

async fn walk(ctx: &mut Ctx) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    // The run's own keys: a few made for the walk, or the one key of --access-key-id.
    let own = match &run.shared_key {
        Some(id) => vec![id.clone()],
        None => {
            let wanted = run.keys_at_once(OWN_KEYS);
            ctx.reserve_keys(wanted).await?;
            let mut own = Vec::new();
            for n in 1..=wanted {
                let key = ctx.fresh_key(&format!("list walk {n}")).await?;
                own.push(key["id"].as_str().unwrap_or_default().to_string());
            }
            own
        }
    };
    let _still = run.keys_still().await;
    // While no key of the run comes or goes, the walk's own keys and those resting in the
    // run's pool must show exactly once. The pooled ones are held out of the pool meanwhile,
    // so that no trial changes them under the walk.
    let resting = run.drain_pool();
    let mut own = own;
    own.extend(resting.iter().cloned());
    let walks = walk_all(ctx, &own).await;
    run.refill_pool(resting);
    walks
}

/// The three walks, judged.
async fn walk_all(ctx: &mut Ctx, own: &[String]) -> Result<(), HarnessError> {
    let large = ctx.walk_list(Some(LARGE_PAGE), LARGE_PAGES).await?;
    ctx.record(judge_walk(&large, LARGE_PAGE, own, LARGE_PAGES));
    let listed = large.ids().len().max(own.len());
    let mut shape = vec![format!(
        "pageSize {LARGE_PAGE}: {} page(s)",
        large.pages.len()
    )];
    // Sizes 1 and 2, or larger ones on a crowded account: at most about PAGES_PER_WALK pages.
    let base = listed.div_ceil(PAGES_PER_WALK).max(1) as u32;
    for size in [base, 2 * base] {
        if size >= LARGE_PAGE {
            continue;
        }
        // Short pages are allowed, so a walk may take up to twice the pages it needs.
        let max_pages = 2 * listed.div_ceil(size as usize) + 5;
        let walk = ctx.walk_list(Some(size), max_pages).await?;
        ctx.record(judge_walk(&walk, size, own, max_pages));
        shape.push(format!("pageSize {size}: {} page(s)", walk.pages.len()));
    }
    ctx.observe(format!(
        "List walked {listed} key(s) of the account, {} of them the run's: {}",
        own.len(),
        shape.join(", ")
    ));
    Ok(())
}

async fn take_walk(run: Arc<Run>) -> Findings {
    let mut ctx = Ctx::for_trial(run, "list walk");
    let walked = walk(&mut ctx).await;
    let cleaned = ctx.clean_up().await;
    Findings {
        error: walked.and(cleaned).err(),
        requests: ctx.requests,
        keys_created: ctx.keys_created,
        violations: std::mem::take(&mut ctx.violations),
        observations: std::mem::take(&mut ctx.observations),
    }
}

fn list_walk(run: Arc<Run>) -> Pin<Box<dyn Future<Output = Findings> + Send>> {
    Box::pin(take_walk(run))
}

pub fn specs() -> Vec<Spec> {
    views(
        "list walk",
        list_walk,
        vec![
            View {
                name: "list::l1_walks_show_each_key_once",
                rule: "L1",
                level: Level::Must,
            },
            View {
                name: "list::l3_pages_within_page_size",
                rule: "L3",
                level: Level::Should,
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Exchange;
    use crate::runner::ListPage;
    use serde_json::json;

    fn page(ids: &[&str]) -> ListPage {
        let keys: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        ListPage {
            keys,
            exchange: Exchange {
                method: "GET".into(),
                url: "http://127.0.0.1/list".into(),
                request_headers: Vec::new(),
                auth: crate::client::Auth::Token,
                request_body: None,
                status: 200,
                http_version: "HTTP/1.1".into(),
                response_headers: Vec::new(),
                body: String::new(),
                json: Ok(Value::Null),
                utf8: true,
                sent_at: chrono::Utc::now(),
                received_at: chrono::Utc::now(),
                elapsed: std::time::Duration::ZERO,
            },
        }
    }

    fn rules(pages: &[&[&str]], ended: bool) -> Vec<&'static str> {
        let walk = ListWalk {
            pages: pages.iter().map(|p| page(p)).collect(),
            ended,
            ..ListWalk::default()
        };
        let own = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        judge_walk(&walk, 2, &own, 10)
            .iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn honest_walks_pass_in_any_shape() {
        assert!(rules(&[&["a", "b"], &["x", "c"]], true).is_empty());
        // Short pages, an empty last page, keys from before the run.
        assert!(rules(&[&["a"], &["old"], &["b", "c"], &[]], true).is_empty());
    }

    #[test]
    fn repeats_gaps_endless_walks_and_big_pages_are_found() {
        assert_eq!(rules(&[&["a", "b"], &["b", "c"]], true), vec!["L1"]);
        assert_eq!(rules(&[&["a", "b"]], true), vec!["L1"]);
        assert_eq!(rules(&[&["a", "b"], &["c"]], false), vec!["L1"]);
        assert_eq!(rules(&[&["a", "b", "c"]], true), vec!["L3"]);
    }
}
