//! Credentials on every route: no token or one no IAM issued (E2), near misses of the valid
//! token (A1), and another account's token (A2). Each route is sent with each credential,
//! aimed at a key of the run and an operation that acted on it; then the key is read back
//! and the account searched for keys a refused Create made ("nothing changed").

use serde_json::Value;

use super::{
    Job, Probe, Subject, answer_text, code_of, in_safe_groups, nothing_changed, probe_all,
};
use crate::checks::Violation;
use crate::checks::operation::{OpResult, result_of};
use crate::client::{Auth, RouteAim};
use crate::contract::routes::{Effect, Route, named};
use crate::runner::{Ctx, HarnessError};

const UNAUTHENTICATED: i64 = 16;
const NOT_FOUND: i64 = 5;
const PERMISSION_DENIED: i64 = 7;

/// How a probe must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// 401 UNAUTHENTICATED, before anything happens (A1, E2).
    Unauthenticated,
    /// PERMISSION_DENIED or NOT_FOUND, as an HTTP error or an operation ending with it (A2).
    Denied,
}

/// The probe's answer against the refusal it needed; `what` names the credentials.
fn judge(rule: &'static str, refusal: Refusal, p: &Probe, what: &str) -> Option<Violation> {
    let e = &p.exchange;
    let code = code_of(e);
    let (ok, expected) = match refusal {
        Refusal::Unauthenticated => (
            !e.is_success() && code.map_or(e.status == 401, |c| c == UNAUTHENTICATED),
            "UNAUTHENTICATED (16), HTTP 401, and nothing done",
        ),
        Refusal::Denied => {
            let refused_at_once = !e.is_success()
                && code.map_or(matches!(e.status, 403 | 404), |c| {
                    matches!(c, NOT_FOUND | PERMISSION_DENIED)
                });
            let failed_operation = matches!(
                p.finished.as_ref().and_then(result_of),
                Some(OpResult::Error { code, .. }) if matches!(code, NOT_FOUND | PERMISSION_DENIED)
            );
            (
                refused_at_once || failed_operation,
                "PERMISSION_DENIED (7, HTTP 403) or NOT_FOUND (5, HTTP 404), and nothing done",
            )
        }
    };
    if ok {
        return None;
    }
    let title = if e.is_success() {
        format!("{} {} with {what} was accepted", p.route.name, e.method)
    } else {
        format!(
            "{} with {what} was refused with the wrong code",
            p.route.name
        )
    };
    Some(
        Violation::new(rule, title)
            .received(answer_text(e))
            .expected(expected)
            .seen_in(e),
    )
}

/// Sends every route with each of `variants` (credentials and their name), judges each
/// answer, then checks that nothing changed. Returns the subject the routes were aimed at.
async fn refused_everywhere(
    ctx: &mut Ctx,
    routes: Vec<&'static Route>,
    rule: &'static str,
    variants: &[(Auth, &str)],
    refusal: Refusal,
) -> Result<Subject, HarnessError> {
    let subject = Subject::make(ctx, &format!("routes {rule}")).await?;
    let aim = subject.aim(ctx);
    let mut probes = Vec::new();
    let mut failed = None;
    // The probes of one group of routes go at once; a later group waits for the earlier.
    for group in in_safe_groups(routes) {
        let mut jobs = Vec::new();
        let mut names = Vec::new();
        for route in group {
            for (auth, what) in variants {
                jobs.push(Job {
                    route,
                    aim: aim.clone(),
                    names: subject.id.clone(),
                    auth: *auth,
                });
                names.push(*what);
            }
        }
        match probe_all(ctx, jobs, &subject, &format!("{rule} probe")).await {
            Ok(sent) => {
                for (p, what) in sent.into_iter().zip(names) {
                    let found = judge(rule, refusal, &p, what).map(|v| v.on_route(p.route.name));
                    ctx.record(found);
                    probes.push(p);
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // Whatever happened, what the probes may have changed is looked for.
    nothing_changed(ctx, rule, &subject, &probes, &aim.account).await?;
    match failed {
        Some(e) => Err(e),
        None => Ok(subject),
    }
}

/// E2: no Authorization header, and a well-formed token no IAM issued.
pub async fn e2(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let variants = [
        (Auth::Missing, "no Authorization header"),
        (Auth::Invalid, "a token no IAM issued"),
    ];
    refused_everywhere(ctx, routes, "E2", &variants, Refusal::Unauthenticated).await?;
    Ok(())
}

/// A1: the valid token with characters appended, cut short, and under `Basic`; whether
/// `bearer` in lower case is accepted on the read paths is observed.
pub async fn a1(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let mut variants = vec![
        (Auth::Appended, "the valid token with characters appended"),
        (Auth::CutShort, "the valid token cut short by one character"),
        (Auth::Basic, "the valid token under the Basic scheme"),
    ];
    // A token with letters: changed in case it is another token (compared ignoring case,
    // it passes).
    let token = ctx.run.api.token();
    if crate::client::other_case(&token) != token {
        variants.push((
            Auth::OtherCase,
            "the valid token with its letter case changed",
        ));
    }
    let reads: Vec<&'static Route> = routes
        .iter()
        .copied()
        .filter(|r| r.effect == Effect::Reads)
        .collect();
    let subject =
        refused_everywhere(ctx, routes, "A1", &variants, Refusal::Unauthenticated).await?;
    let aim = subject.aim(ctx);
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    let jobs = reads
        .into_iter()
        .map(|route| Job {
            route,
            aim: aim.clone(),
            names: subject.id.clone(),
            auth: Auth::LowerCaseBearer,
        })
        .collect();
    for p in probe_all(ctx, jobs, &subject, "A1").await? {
        if p.exchange.is_success() {
            accepted.push(p.route.name);
        } else {
            refused.push(format!("{} ({})", p.route.name, answer_text(&p.exchange)));
        }
    }
    let mut seen = Vec::new();
    if !accepted.is_empty() {
        seen.push(format!("accepted on {}", accepted.join(", ")));
    }
    if !refused.is_empty() {
        seen.push(format!("refused on {}", refused.join(", ")));
    }
    ctx.observe(format!(
        "the scheme `bearer` in lower case: {}",
        seen.join("; ")
    ));
    Ok(())
}

/// A2: the second account's token, aimed at the first account's key and operation (and at
/// its account, for Create and List). First the token is shown to work: List of its own
/// account must answer.
pub async fn a2(ctx: &mut Ctx, routes: Vec<&'static Route>) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let Some(alt) = run.alt_account.clone() else {
        return Err(HarnessError::NotApplicable(
            "needs --alt-service-account-id".into(),
        ));
    };
    let Some(list) = named("List") else {
        return Err(HarnessError::Setup("the route table has no List".into()));
    };
    let aim = RouteAim {
        account: alt.clone(),
        page_size: Some(1),
        ..RouteAim::default()
    };
    let own = ctx
        .call(
            run.api.route_request(list, &aim, Auth::Alt, None),
            crate::checks::response::Expect::listing(&alt),
        )
        .await?;
    if !own.is_success() || !own.json.as_ref().is_ok_and(Value::is_object) {
        return Err(HarnessError::Setup(format!(
            "the second account's token is not accepted: List of its own service account {alt} answered {}: {}",
            own.status,
            own.snippet()
        )));
    }
    let variants = [(Auth::Alt, "the second account's token")];
    refused_everywhere(ctx, routes, "A2", &variants, Refusal::Denied).await?;
    Ok(())
}
