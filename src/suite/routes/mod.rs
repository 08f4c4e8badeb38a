//! The route matrix: rules that hold on every route (E2, A1-A3, G1, G2, I1, I2, P1), each a
//! [`Checker`] applied to every route of `contract::routes::ROUTES` that it covers.
//!
//! A checker says which routes it covers by their attributes (every route; the routes with
//! an id in the path; the mutations; the read paths), so a route added to the table gets
//! every checker that applies and a checker added here gets every route. Each checker is one
//! trial; the cells it reaches are recorded on its record (`Ctx::enter_route`), its findings
//! carry their route, and the reports draw the matrix from both.
//!
//! - [`auth`]: E2 (no token, another token), A1 (near-miss tokens, `bearer` in lower case
//!   observed), A2 (another account's token);
//! - [`isolation`]: A3 (List of one account while another's keys exist; near-miss account ids);
//! - [`visibility`]: G1 (a deleted key is gone on every read path, at once and a moment later),
//!   G2 (an update is seen the same way on every read path);
//! - [`idempotency`]: I1 (a repeated mutation acts once), I2 (a reused key with another body);
//! - [`identity`]: P1 (ids matched exactly), E3 (malformed ids and List parameters are
//!   answered without a server error).

mod auth;
mod idempotency;
mod identity;
mod isolation;
mod visibility;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::checks::response::Expect;
use crate::checks::{Violation, description_of};
use crate::client::{Auth, Exchange, RouteAim, segment};
use crate::contract::routes::{Effect, ROUTES, Route};
use crate::contract::{DocKind, Level, rules};
use crate::runner::{Ctx, HarnessError, Spec, TrialFuture};

/// What a checker needs beyond the run's own credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// A second account's token (and its service account, for the proof that the token
    /// works at all).
    AltToken,
    /// A second service account whose keys the run may create.
    AltAccount,
}

/// The work of one checker over the routes it covers.
type Play = for<'a> fn(&'a mut Ctx, Vec<&'static Route>) -> TrialFuture<'a>;

/// One checker of the matrix: a trial that enforces `rule` on every route `covers` accepts.
pub struct Checker {
    pub trial: &'static str,
    pub rule: &'static str,
    pub level: Level,
    pub covers: fn(&Route) -> bool,
    pub needs: Needs,
    /// It must create and delete keys of its own (not possible with `--access-key-id`).
    pub own_keys: bool,
    play: Play,
}

fn every_route(_: &Route) -> bool {
    true
}

fn lists_accounts(r: &Route) -> bool {
    r.effect == Effect::Reads && r.aim == crate::contract::routes::Aim::Account
}

fn names_a_key(r: &Route) -> bool {
    r.after_delete != crate::contract::routes::AfterDelete::Unaimed
}

fn read_paths(r: &Route) -> bool {
    r.shows != crate::contract::routes::Shows::Nothing
}

fn mutations(r: &Route) -> bool {
    r.mutates()
}

fn mutations_with_a_body(r: &Route) -> bool {
    r.has_body()
}

fn names_an_id(r: &Route) -> bool {
    r.names_an_id()
}

fn takes_input_in_the_url(r: &Route) -> bool {
    r.names_an_id() || lists_accounts(r)
}

macro_rules! play {
    ($f:path) => {{
        fn play<'a>(ctx: &'a mut Ctx, routes: Vec<&'static Route>) -> TrialFuture<'a> {
            Box::pin($f(ctx, routes))
        }
        play
    }};
}

/// Every checker of the matrix.
pub static CHECKERS: &[Checker] = &[
    Checker {
        trial: "routes::e2_no_or_unknown_token_refused",
        rule: "E2",
        level: Level::Must,
        covers: every_route,
        needs: Needs::Nothing,
        own_keys: false,
        play: play!(auth::e2),
    },
    Checker {
        trial: "routes::a1_near_miss_credentials_refused",
        rule: "A1",
        level: Level::Must,
        covers: every_route,
        needs: Needs::Nothing,
        own_keys: false,
        play: play!(auth::a1),
    },
    Checker {
        trial: "routes::a2_other_accounts_token_refused",
        rule: "A2",
        level: Level::Must,
        covers: every_route,
        needs: Needs::AltToken,
        own_keys: false,
        play: play!(auth::a2),
    },
    Checker {
        trial: "routes::a3_other_accounts_keys_never_listed",
        rule: "A3",
        level: Level::Must,
        covers: lists_accounts,
        needs: Needs::AltAccount,
        own_keys: true,
        play: play!(isolation::other_accounts),
    },
    Checker {
        trial: "routes::a3_near_miss_account_ids_list_nothing",
        rule: "A3",
        level: Level::Must,
        covers: lists_accounts,
        needs: Needs::Nothing,
        own_keys: false,
        play: play!(isolation::near_misses_list_nothing),
    },
    Checker {
        trial: "routes::g1_deleted_key_gone_on_every_path",
        rule: "G1",
        level: Level::Must,
        covers: names_a_key,
        needs: Needs::Nothing,
        own_keys: true,
        play: play!(visibility::g1),
    },
    Checker {
        trial: "routes::g2_every_read_path_sees_the_update",
        rule: "G2",
        level: Level::Must,
        covers: read_paths,
        needs: Needs::Nothing,
        own_keys: false,
        play: play!(visibility::g2),
    },
    Checker {
        trial: "routes::i1_repeated_mutation_acts_once",
        rule: "I1",
        level: Level::Should,
        covers: mutations,
        needs: Needs::Nothing,
        own_keys: true,
        play: play!(idempotency::i1),
    },
    Checker {
        trial: "routes::i2_reused_key_with_another_body",
        rule: "I2",
        level: Level::Info,
        covers: mutations_with_a_body,
        needs: Needs::Nothing,
        own_keys: true,
        play: play!(idempotency::i2),
    },
    Checker {
        trial: "routes::e3_malformed_inputs_get_no_server_error",
        rule: "E3",
        level: Level::Must,
        covers: takes_input_in_the_url,
        needs: Needs::Nothing,
        own_keys: false,
        play: play!(identity::malformed),
    },
    Checker {
        trial: "routes::p1_ids_matched_exactly",
        rule: "P1",
        level: Level::Should,
        covers: names_an_id,
        needs: Needs::Nothing,
        own_keys: false,
        play: play!(identity::p1),
    },
];

impl Checker {
    /// The routes this checker covers, in the table's order.
    pub fn routes(&self) -> Vec<&'static Route> {
        ROUTES.iter().filter(|r| (self.covers)(r)).collect()
    }

    /// Why the run cannot play this checker, if it cannot.
    fn unmet(&self, ctx: &Ctx) -> Option<String> {
        let run = &ctx.run;
        self.unmet_given(
            run.shared_key.is_some(),
            run.api.has_alt(),
            run.alt_account.is_some(),
        )
    }

    /// Why a run with this setting cannot play this checker, if it cannot: one key borrowed
    /// with `--access-key-id`, a second account's token, a second service account.
    pub fn unmet_given(
        &self,
        shared_key: bool,
        alt_token: bool,
        alt_account: bool,
    ) -> Option<String> {
        if self.own_keys && shared_key {
            return Some(
                "creates and deletes keys of its own, and the run may only update the key of --access-key-id"
                    .into(),
            );
        }
        match self.needs {
            Needs::Nothing => None,
            Needs::AltToken if alt_token && alt_account => None,
            Needs::AltToken => Some(
                "needs a second account: its token (--alt-token, --alt-token-command or --alt-service-account-key-file) and its service account (--alt-service-account-id)"
                    .into(),
            ),
            Needs::AltAccount if alt_account => None,
            Needs::AltAccount => Some(
                "needs a second service account whose keys the run may create (--alt-service-account-id)"
                    .into(),
            ),
        }
    }
}

async fn play_checker(ctx: &mut Ctx, checker: &'static Checker) -> Result<(), HarnessError> {
    if let Some(why) = checker.unmet(ctx) {
        return Err(HarnessError::NotApplicable(why));
    }
    let mut routes = checker.routes();
    if ctx.run.shared_key.is_some() {
        // The one existing key must stay: nothing that could delete it or make another.
        for route in routes
            .iter()
            .filter(|r| matches!(r.effect, Effect::Creates | Effect::Deletes))
        {
            ctx.route_not_run(
                route.name,
                "the run tests one existing key (--access-key-id): nothing is created or deleted",
            );
        }
        routes.retain(|r| !matches!(r.effect, Effect::Creates | Effect::Deletes));
    }
    (checker.play)(ctx, routes).await
}

/// One trial per checker.
pub fn specs() -> Vec<Spec> {
    CHECKERS
        .iter()
        .map(|checker| Spec {
            name: checker.trial.to_string(),
            rule: checker.rule,
            level: checker.level,
            body: Arc::new(move |ctx| Box::pin(play_checker(ctx, checker))),
            replay: None,
            covers: checker.routes().iter().map(|r| r.name).collect(),
            walk: None,
        })
        .collect()
}

/// The routes in an order in which no probe spoils the next: reads first, then Create,
/// Update, and Delete last (a Delete that wrongly acts takes the key away).
fn in_safe_order(mut routes: Vec<&'static Route>) -> Vec<&'static Route> {
    routes.sort_by_key(|r| match r.effect {
        Effect::Reads => 0,
        Effect::Creates => 1,
        Effect::Changes => 2,
        Effect::Deletes => 3,
    });
    routes
}

/// A key of the run's account and an operation that acted on it: what the routes with an id
/// are aimed at.
#[derive(Clone)]
pub struct Subject {
    pub id: String,
    /// The key as read after its operation finished.
    pub before: Value,
    pub operation: String,
    /// The kind of that operation (an Update's).
    pub operation_kind: DocKind,
    /// The operation as it finished, when it did.
    pub finished: Option<Value>,
}

impl Subject {
    /// A key of the run (reused from the pool, or created) and a finished Update of it
    /// (which sets the description it already has).
    pub async fn make(ctx: &mut Ctx, label: &str) -> Result<Subject, HarnessError> {
        let run = ctx.run.clone();
        let key = ctx.fresh_key(label).await?;
        let id = id_of(&key);
        let description = description_of(&key).unwrap_or_default();
        let body = json!({"updateMask": "description", "description": description});
        let expect = Expect::new(DocKind::UpdateOperation).for_key(&id);
        let first = ctx
            .call(
                run.api.update(&id, Some(body.to_string()), Auth::Token),
                expect.clone(),
            )
            .await?;
        let operation = first
            .json
            .as_ref()
            .ok()
            .and_then(|j| j.get("id"))
            .and_then(Value::as_str)
            .filter(|_| first.is_success())
            .map(str::to_string)
            .ok_or_else(|| {
                HarnessError::Setup(format!(
                    "an Update of key {id} gave no operation to aim at: {} answered {}",
                    first.request_line(),
                    first.status
                ))
            })?;
        let finished = ctx.finish_operation(&first, expect).await?;
        let before = ctx.read_existing(&id).await?;
        Ok(Subject {
            id,
            before,
            operation,
            operation_kind: DocKind::UpdateOperation,
            finished,
        })
    }

    /// The aim of a route at this subject, in the run's account.
    pub fn aim(&self, ctx: &Ctx) -> RouteAim {
        RouteAim {
            account: ctx.run.service_account_id.clone(),
            key: segment(&self.id),
            operation: segment(&self.operation),
            page_size: Some(100),
            page_token: None,
            extra_query: None,
        }
    }

    /// A subject that names no key: for probes whose ids are made up (no key is created).
    pub fn nothing() -> Subject {
        Subject {
            id: String::new(),
            before: Value::Null,
            operation: String::new(),
            operation_kind: DocKind::UpdateOperation,
            finished: None,
        }
    }
}

pub fn id_of(key: &Value) -> String {
    key.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// What a successful answer of `route` is judged as; `key` is the key the request is about
/// (an operation's metadata must name it), `account` the account a List is filtered by.
fn expect_for(route: &Route, key: &str, operation_kind: DocKind, account: &str) -> Expect {
    let kind = route.answer.unwrap_or(operation_kind);
    let mut expect = Expect::new(kind);
    if matches!(kind, DocKind::UpdateOperation | DocKind::DeleteOperation) {
        expect = expect.for_key(key);
    }
    match route.effect {
        Effect::Creates => expect.secret_allowed = true,
        Effect::Reads if route.shows == crate::contract::routes::Shows::ListEntry => {
            expect.account = Some(account.to_string());
        }
        _ => {}
    }
    expect
}

/// The body a mutation of `route` carries to act: a Create of a key with `description` in
/// `account`, an Update setting the description.
fn body_for(route: &Route, account: &str, description: &str) -> Option<String> {
    match route.effect {
        Effect::Creates => {
            Some(json!({"serviceAccountId": account, "description": description}).to_string())
        }
        Effect::Changes => {
            Some(json!({"updateMask": "description", "description": description}).to_string())
        }
        Effect::Reads | Effect::Deletes => None,
    }
}

/// A request sent on a route by a checker, and what it would leave behind had it acted.
pub struct Probe {
    pub route: &'static Route,
    /// The description an Update set (or a Create gave its key) had it acted.
    pub description: Option<String>,
    /// A Create's marker (its key is found by it).
    pub marker: Option<String>,
    pub exchange: Exchange,
    /// Where a mutation answered with an operation: the operation as it finished.
    pub finished: Option<Value>,
}

/// Sends `route` aimed at `aim` with `auth`, as a probe that must not act: a Create carries a
/// fresh marker (noted in the ledger first, so a kill cannot lose its key), an Update a
/// description of its own (so that a change is traced back to it), and a mutation answered
/// with an unfinished operation is followed to its end (so that its effect has settled when
/// the subject is read back). `names` is the key id the request names (the subject's, or a
/// near miss of it). A key an accepted Update made or acted on other than the subject's
/// becomes the trial's to delete.
pub async fn probe(
    ctx: &mut Ctx,
    route: &'static Route,
    aim: &RouteAim,
    subject: &Subject,
    names: &str,
    auth: Auth,
    label: &str,
) -> Result<Probe, HarnessError> {
    let run = ctx.run.clone();
    let (marker, description) = match route.effect {
        Effect::Creates => {
            let marker = run.next_marker();
            let description = format!("{label} [{marker}]");
            (Some(marker), Some(description))
        }
        Effect::Changes => (None, Some(format!("{label} ({})", run.next_marker()))),
        Effect::Reads | Effect::Deletes => (None, None),
    };
    let body = description
        .as_deref()
        .and_then(|d| body_for(route, &aim.account, d));
    let request = run.api.route_request(route, aim, auth, body);
    let expect = expect_for(route, names, subject.operation_kind, &aim.account);
    let exchange = match &marker {
        Some(marker) => ctx.send_create(request, marker, None).await?.0,
        None if route.effect == Effect::Deletes => {
            let _changing = run.changing_keys().await;
            ctx.call(request, expect.clone()).await?
        }
        None => ctx.call(request, expect.clone()).await?,
    };
    let finished = if route.mutates() && route.effect != Effect::Creates && exchange.is_success() {
        ctx.finish_operation(&exchange, expect).await?
    } else {
        None
    };
    let other = finished
        .as_ref()
        .and_then(|op| op.pointer("/response/id"))
        .and_then(Value::as_str)
        .filter(|id| *id != subject.id && route.effect == Effect::Changes);
    if let Some(id) = other {
        ctx.adopt_foreign(id);
    }
    Ok(Probe {
        route,
        description,
        marker,
        exchange,
        finished,
    })
}

/// One probe to send: the route, where it is aimed, the key id it names, the credentials.
pub struct Job {
    pub route: &'static Route,
    pub aim: RouteAim,
    pub names: String,
    pub auth: Auth,
}

/// Probes sent side by side in a trial at most.
const AT_ONCE: usize = 8;

/// Sends `jobs` at once (at most [`AT_ONCE`] in flight), each on a context forked from
/// `ctx` and placed on its route, and takes their findings back; the probes come back in the
/// order of `jobs`. The first error is returned after every probe's keys are taken back.
pub async fn probe_all(
    ctx: &mut Ctx,
    jobs: Vec<Job>,
    subject: &Subject,
    label: &str,
) -> Result<Vec<Probe>, HarnessError> {
    let gate = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut set = tokio::task::JoinSet::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let mut child = ctx.fork();
        let (subject, label, gate) = (subject.clone(), label.to_string(), gate.clone());
        set.spawn(async move {
            let _place = gate.acquire_owned().await;
            child.enter_route(job.route.name);
            let done = probe(
                &mut child, job.route, &job.aim, &subject, &job.names, job.auth, &label,
            )
            .await;
            child.leave_route();
            (i, child, done)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(i, _, _)| *i);
    let mut children = Vec::new();
    let mut probes = Vec::new();
    let mut first_error = None;
    for (_, child, done) in results {
        children.push(child);
        match done {
            Ok(p) => probes.push(p),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    ctx.join(children);
    match first_error {
        Some(e) => Err(e),
        None => Ok(probes),
    }
}

/// The routes grouped by what they do, in the order in which no group spoils the next
/// (reads, Creates, Updates, Deletes): the probes of one group can go at once.
pub fn in_safe_groups(routes: Vec<&'static Route>) -> Vec<Vec<&'static Route>> {
    let mut groups: Vec<Vec<&'static Route>> = Vec::new();
    for route in in_safe_order(routes) {
        match groups.last_mut() {
            Some(group) if group[0].effect == route.effect => group.push(route),
            _ => groups.push(vec![route]),
        }
    }
    groups
}

/// The google.rpc.Code of an error answer, when its body carries one.
pub fn code_of(exchange: &Exchange) -> Option<i64> {
    exchange
        .json
        .as_ref()
        .ok()
        .and_then(|j| j.get("code"))
        .and_then(Value::as_i64)
}

/// How a refused request was refused, in words.
pub fn answer_text(exchange: &Exchange) -> String {
    match (exchange.is_success(), code_of(exchange)) {
        (true, _) => format!("HTTP {} (accepted)", exchange.status),
        (false, Some(code)) => format!(
            "{} ({code}), HTTP {}",
            crate::contract::model::code_name(code),
            exchange.status
        ),
        (false, None) => format!("HTTP {} without a Status body", exchange.status),
    }
}

/// Checks that the probes changed nothing: the subject reads back as it was (not deleted,
/// same description and identity), and no Create probe made a key (its marker is found in
/// no key of `account`). A key a probe made is the trial's to delete. Findings are charged to
/// `rule` on the route whose probe acted.
pub async fn nothing_changed(
    ctx: &mut Ctx,
    rule: &'static str,
    subject: &Subject,
    probes: &[Probe],
    account: &str,
) -> Result<(), HarnessError> {
    let mutated = probes
        .iter()
        .any(|p| p.route.mutates() && p.route.effect != Effect::Creates);
    if mutated {
        match ctx.read_key(&subject.id).await? {
            None => {
                ctx.run.ledger_deleted(&subject.id);
                let route = probes
                    .iter()
                    .find(|p| p.route.effect == Effect::Deletes)
                    .map_or("Delete", |p| p.route.name);
                ctx.record([Violation::new(
                    rule,
                    format!(
                        "key {} was deleted by a request that had to be refused",
                        subject.id
                    ),
                )
                .expected("the key as it was: refused requests change nothing")
                .on_route(route)]);
            }
            Some(after) => {
                let now = description_of(&after);
                let culprit = probes
                    .iter()
                    .find(|p| p.description.is_some() && p.description == now)
                    .or_else(|| probes.iter().find(|p| p.route.effect == Effect::Changes));
                let route = culprit.map_or("Update", |p| p.route.name);
                let mut found = crate::checks::update::nothing_changed(&subject.before, &after);
                for v in &mut found {
                    v.title = v.title.replace("a rejected update", "a refused request");
                }
                if let Some(p) = culprit.filter(|p| p.description == now) {
                    found = found.into_iter().map(|v| v.seen_in(&p.exchange)).collect();
                }
                ctx.record(
                    found
                        .into_iter()
                        .map(|v| v.charged_to(rule).on_route(route)),
                );
            }
        }
    }
    let creates: Vec<&Probe> = probes.iter().filter(|p| p.marker.is_some()).collect();
    if !creates.is_empty() {
        let found = marked_keys(ctx, account).await?;
        for p in creates {
            let Some(marker) = &p.marker else { continue };
            let wanted = format!("[{marker}]");
            for (id, _) in found.iter().filter(|(_, d)| d.contains(&wanted)) {
                ctx.adopt_foreign(id);
                ctx.record([Violation::new(
                    rule,
                    format!("a Create that had to be refused made key {id}"),
                )
                .received(answer_text(&p.exchange))
                .expected("no key made by a refused request")
                .seen_in(&p.exchange)
                .on_route(p.route.name)]);
            }
        }
    }
    Ok(())
}

/// The keys of `account` carrying the run's marker, with their descriptions (one List walk,
/// while no key of the run comes or goes).
pub async fn marked_keys(
    ctx: &mut Ctx,
    account: &str,
) -> Result<Vec<(String, String)>, HarnessError> {
    let run = ctx.run.clone();
    let prefix = format!("[{}", run.marker_prefix());
    let walk = {
        let _still = run.keys_still().await;
        ctx.walk_account(account, Some(100), 50).await?
    };
    Ok(walk
        .keys()
        .filter_map(|(_, k)| {
            let id = k.get("id").and_then(Value::as_str)?;
            let description = description_of(k)?;
            (description.contains(&prefix) && !run.ledger_is_deleted(id))
                .then(|| (id.to_string(), description))
        })
        .collect())
}

/// The level a checker's rule has in the rule table (for the tests).
pub fn rule_level(rule: &str) -> Level {
    rules::get(rule).level
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_checker_covers_a_route_and_names_a_known_rule() {
        for checker in CHECKERS {
            assert!(!checker.routes().is_empty(), "{}", checker.trial);
            assert_eq!(rule_level(checker.rule), checker.level, "{}", checker.trial);
            assert!(checker.trial.starts_with("routes::"), "{}", checker.trial);
        }
    }
}
