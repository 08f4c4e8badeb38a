//! P1: an id in a path is matched exactly. Every route with an id is sent with near misses of
//! the real one (letter case changed, a path segment appended, the last character cut): each
//! must name no resource (NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT, never the key or
//! its operation) and change nothing.

use super::{
    Job, Probe, Subject, answer_text, code_of, in_safe_groups, nothing_changed, probe_all,
};
use crate::checks::Violation;
use crate::checks::operation::{OpResult, result_of};
use crate::client::{Auth, segment};
use crate::contract::routes::{Aim, Route};
use crate::runner::{Ctx, HarnessError};

const INVALID_ARGUMENT: i64 = 3;
const NOT_FOUND: i64 = 5;
const PERMISSION_DENIED: i64 = 7;

/// Near misses of `id`: as they go into the path, as the id they name, and in words.
fn near_misses(id: &str) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    let swapped: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if swapped != id {
        out.push((
            segment(&swapped),
            swapped,
            "the id with its letter case changed",
        ));
    }
    out.push((
        format!("{}/x0", segment(id)),
        format!("{id}/x0"),
        "the id with a path segment appended",
    ));
    let mut cut = id.to_string();
    cut.pop();
    if !cut.is_empty() {
        out.push((segment(&cut), cut, "the id cut short by one character"));
    }
    out
}

fn names_nothing(p: &Probe) -> bool {
    let e = &p.exchange;
    let wanted = |c: i64| matches!(c, INVALID_ARGUMENT | NOT_FOUND | PERMISSION_DENIED);
    let refused = !e.is_success() && code_of(e).map_or(matches!(e.status, 400 | 403 | 404), wanted);
    let failed_operation = matches!(
        p.finished.as_ref().and_then(result_of),
        Some(OpResult::Error { code, .. }) if wanted(code)
    );
    refused || failed_operation
}

/// P1 on every route with an id in its path.
pub async fn p1(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let subject = Subject::make(ctx, "routes P1").await?;
    let mut probes = Vec::new();
    let mut failed = None;
    for group in in_safe_groups(routes) {
        let (mut jobs, mut what) = (Vec::new(), Vec::new());
        for route in group {
            let real = match route.aim {
                Aim::Key => subject.id.clone(),
                Aim::Operation => subject.operation.clone(),
                Aim::Account => continue,
            };
            for (near, raw, said) in near_misses(&real) {
                let mut aim = subject.aim(ctx);
                let names = match route.aim {
                    Aim::Operation => {
                        aim.operation = near;
                        subject.id.clone()
                    }
                    _ => {
                        aim.key = near;
                        raw
                    }
                };
                jobs.push(Job {
                    route,
                    aim,
                    names,
                    auth: Auth::Token,
                });
                what.push(said);
            }
        }
        let sent = match probe_all(ctx, jobs, &subject, "routes P1 probe").await {
            Ok(sent) => sent,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        for (p, said) in sent.into_iter().zip(what) {
            if !names_nothing(&p) {
                // An operation whose metadata names the real key, not the near miss the
                // path named, is this very finding (the near miss was taken for the key).
                let request = format!("{} ->", p.exchange.request_line());
                for v in &mut ctx.violations {
                    if v.rule == "O4"
                        && v.request
                            .as_deref()
                            .is_some_and(|r| r.starts_with(&request))
                    {
                        *v = v.clone().charged_to("P1");
                    }
                }
                ctx.record([Violation::new(
                    "P1",
                    format!("{} with {said} named a resource", p.route.name),
                )
                .received(answer_text(&p.exchange))
                .expected(
                    "NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT: only the exact id names it",
                )
                .seen_in(&p.exchange)
                .on_route(p.route.name)]);
            }
            probes.push(p);
        }
    }
    let account = ctx.run.service_account_id.clone();
    nothing_changed(ctx, "P1", &subject, &probes, &account).await?;
    failed.map_or(Ok(()), Err)
}

/// Made-up ids that are not ids at all: too long for any id column, of letters no id
/// alphabet has, with an encoded slash that a careless decoder takes for a path.
fn malformed_ids() -> Vec<(String, &'static str)> {
    vec![
        ("z".repeat(300), "a 300-character id"),
        ("ключ-доступа".to_string(), "an id of non-ASCII letters"),
        (
            "../operations".to_string(),
            "an id holding an encoded `/..`",
        ),
    ]
}

/// List parameters no valid request holds: a page token the target never issued, a page
/// size that is not a number, and one below zero.
const MALFORMED_QUERIES: [(&str, &str); 3] = [
    (
        "&pageToken=%21%21not-a-page-token%21%21",
        "a page token never issued",
    ),
    ("&pageSize=abc", "a pageSize that is not a number"),
    ("&pageSize=-1", "a negative pageSize"),
];

/// E3 on every route that takes input in its URL: malformed ids and List parameters get an
/// answer (any, as long as it is no server error and every error a Status: the checks every
/// answer gets judge it), never a 5xx. No key is made: the ids name nothing.
pub async fn malformed(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let nothing = Subject::nothing();
    let base = Subject::nothing().aim(ctx);
    for group in in_safe_groups(routes) {
        let mut jobs = Vec::new();
        for route in group {
            match route.aim {
                Aim::Key | Aim::Operation => {
                    for (id, _) in malformed_ids() {
                        let mut aim = base.clone();
                        aim.key = segment(&id);
                        aim.operation = segment(&id);
                        jobs.push(Job {
                            route,
                            aim,
                            names: id,
                            auth: Auth::Token,
                        });
                    }
                }
                Aim::Account => {
                    for (query, _) in MALFORMED_QUERIES {
                        let mut aim = base.clone();
                        aim.page_size = None;
                        aim.extra_query = Some(query.to_string());
                        jobs.push(Job {
                            route,
                            aim,
                            names: String::new(),
                            auth: Auth::Token,
                        });
                    }
                }
            }
        }
        probe_all(ctx, jobs, &nothing, "routes E3 probe").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_an_id() {
        let all = near_misses("aje123abc");
        assert_eq!(
            all.iter().map(|(n, _, _)| n.as_str()).collect::<Vec<_>>(),
            ["AJE123ABC", "aje123abc/x0", "aje123ab"]
        );
        assert_eq!(near_misses("1234").len(), 2);
    }
}
