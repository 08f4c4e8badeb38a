//! [`Ctx`]: what one trial works with. Every call it makes goes through [`Ctx::call`], which
//! runs the universal checks on the answer and keeps the violations; the helpers on top
//! (read, update with polling, List walks) are the vocabulary of the suite, and `keys` holds
//! those about the trial's keys (create, reuse, delete, clean up).

mod keys;

pub use keys::Created;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Run;
use crate::checks::response::Expect;
use crate::checks::update::UpdateOutcome;
use crate::checks::{Violation, operation};
use crate::client::{Auth, Exchange, Request, TransportError};
use crate::contract::DocKind;

/// Why a trial could not test: the harness's problem or an unusable target, not a verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Setup(String),
    /// The target kept answering 429/503 beyond the retry budget.
    #[error("{0}")]
    Throttled(String),
    /// The trial cannot run in this setting (it must create or delete keys, and the run was
    /// given one existing key): recorded as skipped, not as an error.
    #[error("{0}")]
    NotApplicable(String),
    /// The run was interrupted (Ctrl-C, SIGTERM) while the trial waited.
    #[error("interrupted")]
    Interrupted,
}

/// At most this many sends of one request (the first and its retries).
const MAX_ATTEMPTS: u32 = 6;
/// At most this many sends again of a request whose answer was lost in transit.
const RESENDS: u32 = 2;
/// At most this long waiting between the retries of one request.
const RETRY_BUDGET: Duration = Duration::from_secs(30);

/// A factor in [0.5, 1.5) from the system's random source, to spread retries out.
fn jitter() -> f64 {
    let b = uuid::Uuid::new_v4().into_bytes();
    0.5 + f64::from(u16::from_le_bytes([b[0], b[1]])) / 65536.0
}

/// How long the target asks to wait (`Retry-After`: seconds, or an HTTP date).
pub fn retry_after(exchange: &Exchange) -> Option<Duration> {
    let value = exchange.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// One page of a List walk.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub keys: Vec<Value>,
    pub exchange: Exchange,
}

/// What a List walk saw.
#[derive(Debug, Clone, Default)]
pub struct ListWalk {
    pub pages: Vec<ListPage>,
    /// The last page carried no token.
    pub ended: bool,
    /// A token that had come before: following it would go round for ever.
    pub repeated_token: Option<String>,
    /// The answer that was not a readable page, if one stopped the walk.
    pub unreadable: Option<Exchange>,
}

impl ListWalk {
    /// Every key listed, in order, with the page it was on.
    pub fn keys(&self) -> impl Iterator<Item = (usize, &Value)> {
        self.pages
            .iter()
            .enumerate()
            .flat_map(|(n, p)| p.keys.iter().map(move |k| (n, k)))
    }

    /// Every id listed, in order (duplicates kept).
    pub fn ids(&self) -> Vec<&str> {
        self.keys()
            .filter_map(|(_, k)| k.get("id").and_then(Value::as_str))
            .collect()
    }
}

/// The state of one trial.
pub struct Ctx {
    pub run: Arc<Run>,
    /// The trial the requests are made for (the HAR file tags each exchange with it).
    pub trial: Arc<str>,
    pub violations: Vec<Violation>,
    /// Every exchange of the trial, when `keep_exchanges` is set (most trials need only
    /// the violations found in them).
    pub exchanges: Vec<Exchange>,
    pub keep_exchanges: bool,
    /// What the target chose where the contract leaves a choice (info level).
    pub observations: Vec<String>,
    /// Requests sent on behalf of this trial (also those of helpers with their own `Ctx`).
    pub requests: usize,
    /// The longest run of those requests that had to wait for each other (the trial's
    /// floor in round trips; lanes played side by side count once).
    pub chain: usize,
    /// Creates this trial set out to send (a key each, at most; the plan's figures).
    pub keys_created: usize,
    created: Vec<String>,
    /// Keys among `created` that never go to the pool (another account's, or made by a
    /// request that should have been refused).
    foreign: Vec<String>,
    /// Whether an interruption stops this context's waits (not the sweep's).
    interruptible: bool,
    /// Key slots taken ahead for the keys this trial is about to create (`reserve_keys`).
    reserved: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Whether the keys may go to the pool when the trial found nothing wrong (a trial whose
    /// keys saw failures in other contexts clears it).
    pub keys_reusable: bool,
    /// What sends again what made the trial fail (a property's shortest sequence).
    pub replay: Option<super::Replay>,
    /// The trial's Updates in the model's terms, when the run traces (`diff`).
    pub trace: Vec<super::TraceStep>,
    /// The route of the matrix a checker is working on: what it finds is placed there.
    route: Option<&'static str>,
    /// The cells of the route matrix this trial reached.
    pub cells: Vec<super::Cell>,
    /// The last `call` lost an answer in transit (and resent the request).
    pub lost_answer: bool,
}

impl Ctx {
    pub fn new(run: Arc<Run>) -> Self {
        Ctx {
            run,
            trial: Arc::from("harness"),
            violations: Vec::new(),
            exchanges: Vec::new(),
            keep_exchanges: false,
            observations: Vec::new(),
            requests: 0,
            chain: 0,
            keys_created: 0,
            created: Vec::new(),
            foreign: Vec::new(),
            interruptible: true,
            reserved: None,
            keys_reusable: true,
            replay: None,
            trace: Vec::new(),
            route: None,
            cells: Vec::new(),
            lost_answer: false,
        }
    }

    /// A context for the trial (or shared walk) named `trial`.
    pub fn for_trial(run: Arc<Run>, trial: &str) -> Self {
        let mut ctx = Ctx::new(run);
        ctx.trial = Arc::from(trial);
        ctx
    }

    /// A context for work of this trial done beside it (probes sent at once): the same
    /// run, trial, route and interruption; [`Ctx::join`] takes its findings back.
    pub fn fork(&self) -> Ctx {
        let mut child = Ctx::for_trial(self.run.clone(), &self.trial);
        child.route = self.route;
        child.interruptible = self.interruptible;
        child
    }

    /// Takes the findings, observations, counts and keys of contexts forked from this one
    /// and run side by side: their requests add up, their chains count as the longest.
    pub fn join(&mut self, children: Vec<Ctx>) {
        let mut longest = 0;
        for child in children {
            self.violations.extend(child.violations);
            self.observations.extend(child.observations);
            self.exchanges.extend(child.exchanges);
            self.requests += child.requests;
            self.keys_created += child.keys_created;
            longest = longest.max(child.chain);
            for id in child.created {
                if !self.created.contains(&id) {
                    self.created.push(id);
                }
            }
            self.foreign.extend(child.foreign);
            self.keys_reusable &= child.keys_reusable;
            for cell in child.cells {
                if !self.cells.iter().any(|c| c.route == cell.route) {
                    self.cells.push(cell);
                }
            }
        }
        self.chain += longest;
    }

    /// A context that goes on after an interruption: the sweep's.
    pub fn sweeper(run: Arc<Run>) -> Self {
        let mut ctx = Ctx::for_trial(run, "sweep");
        ctx.interruptible = false;
        ctx
    }

    /// `fut`, unless the run is interrupted first (for an interruptible context).
    async fn unless_interrupted<T>(
        &self,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, HarnessError> {
        if self.interruptible {
            self.run.unless_interrupted(fut).await
        } else {
            Ok(fut.await)
        }
    }

    /// Waits `wait`, unless the run is interrupted first.
    pub async fn sleep(&self, wait: Duration) -> Result<(), HarnessError> {
        self.unless_interrupted(tokio::time::sleep(wait)).await
    }

    /// Keeps violations; a checker of the route matrix places them on the route it is on.
    pub fn record(&mut self, violations: impl IntoIterator<Item = Violation>) {
        let route = self.route;
        self.violations
            .extend(violations.into_iter().map(|v| match route {
                Some(r) => v.on_route(r),
                None => v,
            }));
    }

    /// A checker of the route matrix starts on `route`: what it finds from now on is placed
    /// there, and the cell counts as run.
    pub fn enter_route(&mut self, route: &'static str) {
        self.route = Some(route);
        if !self.cells.iter().any(|c| c.route == route) {
            self.cells.push(super::Cell {
                route,
                not_run: None,
            });
        }
    }

    /// The checker is done with its route (findings after this are placed explicitly).
    pub fn leave_route(&mut self) {
        self.route = None;
    }

    /// A cell of the matrix the checker could not run, and why.
    pub fn route_not_run(&mut self, route: &'static str, why: impl Into<String>) {
        self.cells.retain(|c| c.route != route);
        self.cells.push(super::Cell {
            route,
            not_run: Some(why.into()),
        });
    }

    pub fn observe(&mut self, text: impl Into<String>) {
        self.observations.push(text.into());
    }

    /// Keeps one Update in the model's terms, when the run traces: `request` is the body as
    /// the trial wrote it (before the ids of its keys were put in).
    pub fn trace(&mut self, request: &str, answer: String, open: bool) {
        if self.run.trace {
            let at = format!("step {}", self.trace.len());
            self.trace.push(super::TraceStep {
                at,
                request: request.to_string(),
                answer,
                open,
            });
        }
    }

    /// Sends one request, checks the answer, keeps the exchange.
    ///
    /// - A 429 or 503 answer, or a gateway's 502 or 504, is checked as an error response
    ///   (a gateway's page that is not JSON is not judged by E1) and the request retried (same
    ///   Idempotency-Key) after `Retry-After` or an exponential back-off with jitter, within
    ///   [`MAX_ATTEMPTS`] and [`RETRY_BUDGET`]; staying so is a harness error, not a verdict.
    ///   A gateway error a retry cured is an observation (E3).
    /// - An answer lost in transit (a reset, a body cut short, no answer within `--timeout`)
    ///   is resent with the same Idempotency-Key, so that a mutation that did act is not made
    ///   twice (R3): at most [`RESENDS`] times, and after a stall at most once more (a stall
    ///   costs one `--timeout` and one resend, R5). `lost_answer` tells the caller.
    pub async fn call(
        &mut self,
        request: Request,
        expect: Expect,
    ) -> Result<Exchange, HarnessError> {
        let mut waited = Duration::ZERO;
        let mut backoff = Duration::from_millis(50);
        let mut first_sent = None;
        let (mut resends, mut stalled) = (0, false);
        let mut gateway: Option<u16> = None;
        self.lost_answer = false;
        for attempt in 1.. {
            let run = self.run.clone();
            // The first send of this request (an attempt whose answer is lost counts too:
            // what it did is judged from when it left).
            let leaving = chrono::Utc::now();
            let first = match request.idempotency_key() {
                Some(key) => self.run.first_send(key, leaving),
                None => *first_sent.get_or_insert(leaving),
            };
            let sent = self
                .unless_interrupted(async {
                    run.pace().await;
                    run.count_request();
                    run.api.send(&request).await
                })
                .await?;
            self.requests += 1;
            self.chain += 1;
            let exchange = match sent {
                Ok(exchange) => exchange,
                // After a stall, nothing more than the one resend it got; and a mutation
                // without an Idempotency-Key is never sent again (it could act twice).
                Err(e)
                    if stalled
                        || resends >= RESENDS
                        || (request.method != reqwest::Method::GET
                            && request.idempotency_key().is_none()) =>
                {
                    if request.method != reqwest::Method::GET {
                        self.lost_answer = true;
                    }
                    return Err(HarnessError::Transport(e));
                }
                Err(e) => {
                    self.lost_answer = true;
                    resends += 1;
                    stalled = e.is_stall();
                    continue;
                }
            };
            let gateway_error = matches!(exchange.status, 502 | 504);
            let retried = matches!(exchange.status, 429 | 503) || gateway_error;
            let mut expect = expect.clone();
            expect.retryable = retried;
            expect.first_sent = Some(first);
            let found = self.run.check(&exchange, &expect);
            self.record(found);
            self.run.archive(&self.trial, &exchange);
            if !retried {
                self.run.note_answer(&exchange);
            }
            if self.keep_exchanges {
                self.exchanges.push(exchange.clone());
            }
            // A mutation without an Idempotency-Key is never sent again: a 503 may come after
            // it acted. Its answer goes back as it is (checked as a throttled answer).
            let unrepeatable =
                request.method != reqwest::Method::GET && request.idempotency_key().is_none();
            if !retried || unrepeatable {
                self.run.note_mutation(&exchange, expect.kind, first);
                if let Some(status) = gateway {
                    self.observe(format!(
                        "{} {}: a gateway answered {status}, and a retry got through",
                        exchange.method,
                        crate::contract::routes::route_of(&exchange.method, &exchange.url)
                    ));
                }
                return Ok(exchange);
            }
            if gateway_error {
                gateway.get_or_insert(exchange.status);
            }
            let wait = retry_after(&exchange).unwrap_or_else(|| backoff.mul_f64(jitter()));
            backoff = (backoff * 2).min(Duration::from_secs(5));
            if attempt >= MAX_ATTEMPTS || waited + wait > RETRY_BUDGET {
                let why = if gateway_error {
                    "; the target cannot be reached through its gateway"
                } else {
                    ""
                };
                return Err(HarnessError::Throttled(format!(
                    "{} was answered {} {} time(s) in a row{}; giving up after waiting {:.1} s{why}",
                    exchange.request_line(),
                    exchange.status,
                    attempt,
                    if waited + wait > RETRY_BUDGET {
                        format!(" (it asks to wait {:.1} s more)", wait.as_secs_f64())
                    } else {
                        String::new()
                    },
                    waited.as_secs_f64()
                )));
            }
            self.sleep(wait).await?;
            waited += wait;
        }
        unreachable!("the loop returns")
    }

    /// Reads a key: `Some` when found, `None` on NOT_FOUND / PERMISSION_DENIED.
    pub async fn read_key(&mut self, id: &str) -> Result<Option<Value>, HarnessError> {
        let run = self.run.clone();
        let exchange = self
            .call(
                run.api.get(id, Auth::Token),
                Expect::new(DocKind::AccessKey),
            )
            .await?;
        // Judged by the Status code where there is one: a wrong HTTP status is E1's finding.
        let code = exchange
            .json
            .as_ref()
            .ok()
            .and_then(|j| j.get("code"))
            .and_then(Value::as_i64);
        // An error in a 2xx body is an error too (E1 reports its status).
        let success = exchange.is_success();
        let refused = !success && (exchange.status >= 400 || exchange.error_in_a_2xx());
        match (exchange.status, code, exchange.json) {
            (_, _, Ok(key)) if success => Ok(Some(key)),
            (_, Some(5 | 7), _) if refused => Ok(None),
            (403 | 404, None, _) => Ok(None),
            (status, _, _) => Err(HarnessError::Setup(format!(
                "cannot read key {id}: GET answered {status}"
            ))),
        }
    }

    /// Reads a key that must exist.
    pub async fn read_existing(&mut self, id: &str) -> Result<Value, HarnessError> {
        self.read_key(id).await?.ok_or_else(|| {
            HarnessError::Setup(format!("key {id} disappeared: Get answered NOT_FOUND"))
        })
    }

    /// Sends an Update with a raw body, follows its operation to the end, and says how it ended.
    pub async fn update(
        &mut self,
        id: &str,
        body: Option<String>,
        auth: Auth,
    ) -> Result<UpdateOutcome, HarnessError> {
        Ok(self.update_traced(id, body, auth).await?.0)
    }

    /// [`Ctx::update`], also returning the answer to the PATCH itself (the last one, when it
    /// was retried): the exchange a finding about the update points at.
    pub async fn update_traced(
        &mut self,
        id: &str,
        body: Option<String>,
        auth: Auth,
    ) -> Result<(UpdateOutcome, Exchange), HarnessError> {
        let run = self.run.clone();
        let expect = Expect::new(DocKind::UpdateOperation).for_key(id);
        let exchange = self
            .call(run.api.update(id, body, auth), expect.clone())
            .await?;
        if !exchange.is_success() {
            let code = exchange
                .json
                .as_ref()
                .ok()
                .and_then(|j| j.get("code"))
                .and_then(Value::as_i64);
            let outcome = match code {
                Some(code) => UpdateOutcome::Rejected { code },
                None => UpdateOutcome::Unreadable,
            };
            return Ok((outcome, exchange));
        }
        let outcome = match self.finish_operation(&exchange, expect).await? {
            None => UpdateOutcome::Unreadable,
            Some(op) => match operation::result_of(&op) {
                Some(operation::OpResult::Response(key)) => UpdateOutcome::Applied(key),
                Some(operation::OpResult::Error { code, .. }) => UpdateOutcome::Rejected { code },
                None => UpdateOutcome::Unreadable,
            },
        };
        Ok((outcome, exchange))
    }

    /// Polls an operation until it is done (O7); `None` when it never was, or when an answer
    /// could not be read: an envelope without a string id or a boolean done stops the polling
    /// at once (O9, reported by the schema check), as does an operation that cannot be read
    /// back (O6).
    pub async fn finish_operation(
        &mut self,
        first: &Exchange,
        expect: Expect,
    ) -> Result<Option<Value>, HarnessError> {
        let Ok(op) = &first.json else { return Ok(None) };
        if !first.is_success() {
            return Ok(None);
        }
        let Ok(envelope) = operation::envelope(op) else {
            return Ok(None);
        };
        if envelope.done {
            return Ok(Some(op.clone()));
        }
        let op_id = envelope.id;
        let run = self.run.clone();
        let started = Instant::now();
        let mut schedule = PollSchedule::new(poll_hint(first));
        let mut not_found = 0;
        let kind = expect.kind;
        loop {
            if run.operations_time_out(kind) {
                // The first finding stands for the rest (R5): this one is not waited out.
                self.record([Violation::new(
                    "O7",
                    format!(
                        "operation {op_id} was not awaited: an earlier {} operation of the run was not done within the operation timeout ({:.1} s), so no other is waited for",
                        match kind {
                            DocKind::DeleteOperation => "Delete",
                            _ => "Update",
                        },
                        run.operation_timeout.as_secs_f64()
                    ),
                )
                .expected("done: true within the operation timeout")
                .seen_in(first)]);
                return Ok(None);
            }
            let wait = schedule.next_wait();
            if started.elapsed() + wait > run.operation_timeout {
                run.operation_timed_out(kind);
                self.record([Violation::new(
                    "O7",
                    format!(
                        "operation {op_id} was not done after {:.1} s",
                        run.operation_timeout.as_secs_f64()
                    ),
                )
                .expected("done: true within the operation timeout")
                .seen_in(first)]);
                return Ok(None);
            }
            self.sleep(wait).await?;
            let read = self
                .call(run.api.get_operation(&op_id), expect.clone())
                .await?;
            schedule.hint = poll_hint(&read).or(schedule.hint);
            // An error in a 2xx body counts with its code's HTTP status (E1 reports it).
            let status = match read.json.as_ref().ok().and_then(|j| j.get("code")) {
                Some(code) if read.error_in_a_2xx() => code
                    .as_i64()
                    .and_then(crate::checks::response::http_status_for_code)
                    .unwrap_or(500),
                _ => read.status,
            };
            match (status, &read.json) {
                (200..=299, Ok(json)) => {
                    let Ok(now) = operation::envelope(json) else {
                        return Ok(None);
                    };
                    self.record(operation::read_back_matches(op, json));
                    if now.done {
                        return Ok(Some(json.clone()));
                    }
                }
                (404, _) if not_found < 3 => not_found += 1,
                (status, _) => {
                    self.record([Violation::new(
                        "O6",
                        format!("operation {op_id} could not be read back: HTTP {status}"),
                    )
                    .should()
                    .received(read.snippet())
                    .expected("the operation at /operations/{id}")
                    .seen_in(&read)]);
                    return Ok(None);
                }
            }
        }
    }

    /// Walks List for the run's account page by page, `page_size` keys a page (the target's
    /// default when `None`), following `nextPageToken` until it is empty, for at most
    /// `max_pages` pages. Stops early at an answer that is not a readable page, and at a token
    /// that came before (the walk would never end).
    pub async fn walk_list(
        &mut self,
        page_size: Option<u32>,
        max_pages: usize,
    ) -> Result<ListWalk, HarnessError> {
        let account = self.run.service_account_id.clone();
        self.walk_account(&account, page_size, max_pages).await
    }

    /// [`Ctx::walk_list`] for the keys of `account`.
    pub async fn walk_account(
        &mut self,
        account: &str,
        page_size: Option<u32>,
        max_pages: usize,
    ) -> Result<ListWalk, HarnessError> {
        let run = self.run.clone();
        let mut walk = ListWalk::default();
        let mut token: Option<String> = None;
        let mut tokens_seen = std::collections::BTreeSet::new();
        while walk.pages.len() < max_pages {
            let exchange = self
                .call(
                    run.api.list(account, page_size, token.as_deref()),
                    Expect::listing(account),
                )
                .await?;
            let readable =
                exchange.is_success() && exchange.json.as_ref().is_ok_and(Value::is_object);
            if !readable {
                // The token came from the target's own previous page: refusing it breaks
                // every walk past the first page (L1).
                if let (Some(token), false) = (&token, exchange.is_success()) {
                    self.record([Violation::new(
                        "L1",
                        "List refused the nextPageToken its previous page gave",
                    )
                    .received(exchange.snippet())
                    .expected(format!("the next page for pageToken {token:?}"))
                    .seen_in(&exchange)]);
                }
                walk.unreadable = Some(exchange);
                return Ok(walk);
            }
            let json = exchange.json.as_ref().ok().cloned().unwrap_or_default();
            let keys = json
                .get("accessKeys")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let next = json
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            walk.pages.push(ListPage { keys, exchange });
            match next {
                None => {
                    walk.ended = true;
                    return Ok(walk);
                }
                Some(next) if !tokens_seen.insert(next.clone()) => {
                    walk.repeated_token = Some(next);
                    return Ok(walk);
                }
                Some(next) => token = Some(next),
            }
        }
        Ok(walk)
    }
}

/// When to read an unfinished operation again: soon at first (most operations finish within
/// a round trip or two), then at the interval the target asks for with
/// `x-operation-poll-interval`, or with a back-off doubling up to the contract's 1 s.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    pub hint: Option<Duration>,
    next: Duration,
    polls: u32,
}

/// The first read of an unfinished operation comes this soon.
pub const FIRST_POLL: Duration = Duration::from_millis(10);

impl PollSchedule {
    pub fn new(hint: Option<Duration>) -> Self {
        PollSchedule {
            hint,
            next: FIRST_POLL,
            polls: 0,
        }
    }

    /// The wait before the next read.
    pub fn next_wait(&mut self) -> Duration {
        self.polls += 1;
        if self.polls == 1 {
            return self.hint.map_or(FIRST_POLL, |h| h.min(FIRST_POLL));
        }
        if let Some(hint) = self.hint {
            return hint;
        }
        self.next = (self.next * 2).min(Duration::from_secs(1));
        self.next
    }
}

/// The poll interval the target asks for with `x-operation-poll-interval` (seconds).
fn poll_hint(exchange: &Exchange) -> Option<Duration> {
    exchange
        .header("x-operation-poll-interval")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(60.0)))
}
