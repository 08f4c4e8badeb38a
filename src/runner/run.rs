//! [`Run`]: what the trials of one run share: the target, the schemas, the secrets to find and
//! to redact, the ledger of created keys, the gates on creating keys, the run's timeline (T5),
//! the interruption signal and the outcome log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Ctx, HarnessError, ledger, outcome::Record};
use crate::checks::Violation;
use crate::checks::clock::{Timeline, Window};
use crate::checks::response::{Expect, Judge, Secrets, check_response};
use crate::client::{Api, Exchange};
use crate::contract::{DocKind, Schemas};

/// Answers failing the same way in a row, with no success between, after which no further
/// trial starts.
pub const SAME_FAILURES: usize = 30;

/// Rounds of Deletes the sweep makes for the keys still present.
const SWEEP_PASSES: usize = 3;

/// How long the sweep after an interruption may take: a CI runner sends SIGKILL about ten
/// seconds after its first signal.
pub const INTERRUPTED_SWEEP: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Create that may have made a key the run does not know of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncertain {
    /// The marker the key's description carries.
    pub marker: String,
    /// Its answer was lost in transit (no readable answer at all); otherwise it was
    /// answered 200 with a body the harness could not read.
    pub lost: bool,
}

impl Uncertain {
    /// As the reports name it.
    pub fn describe(&self) -> String {
        if self.lost {
            format!(
                "a Create whose answer was lost in transit (marker `{}`)",
                self.marker
            )
        } else {
            format!(
                "a Create answered with a body the harness could not read (marker `{}`)",
                self.marker
            )
        }
    }
}

/// What the sweep could not confirm: keys it knows that are still present, and Creates
/// that may have made a key it never found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unconfirmed {
    pub ids: Vec<String>,
    pub creates: Vec<Uncertain>,
}

impl Unconfirmed {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.creates.is_empty()
    }
}

/// Settings of the generated part of the suite (the property trials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// Seeds every property's random source; the same seed replays the same sequences.
    pub seed: u64,
    /// Generated sequences per property trial.
    pub cases: u32,
    /// At most this many replays while shrinking a failing sequence (each replay sends the
    /// whole sequence again).
    pub shrink_iters: u32,
    /// Sequences of one property played side by side, each lane on a key of its own.
    pub lanes: usize,
}

/// What the trials of one run share.
pub struct Run {
    pub api: Api,
    pub schemas: Schemas,
    pub service_account_id: String,
    /// A second service account whose keys the run may create with its own credentials
    /// (`--alt-service-account-id`; the embedded server has one): rule A3.
    pub alt_account: Option<String>,
    pub operation_timeout: Duration,
    /// How far the target's clock may be from ours (T5).
    pub clock_tolerance: chrono::Duration,
    /// When the run's keys were created and its operations started (T5).
    timeline: Mutex<Timeline>,
    /// Creating or deleting a key takes this shared; a List walk that must see every key
    /// exactly once takes it alone, so that no key of the run comes or goes under it (L1).
    membership: tokio::sync::RwLock<()>,
    /// Marks the run's keys: `akc <tag>-<n>` (R3).
    tag: String,
    creates: AtomicU64,
    /// Held by the run's first Create until one Create answer could be read.
    first_create: tokio::sync::Mutex<()>,
    proven: AtomicBool,
    /// The run's first readable Create answer (the tour's key may come from the pool, so the
    /// tour's strict proto3 reading takes Create's answer from here).
    create_answer: std::sync::OnceLock<Exchange>,
    /// Every exchange and its trial, when the run writes a HAR file.
    archive: Option<Mutex<Vec<(String, Exchange)>>>,
    /// Keys of trials that found nothing wrong, ready to be reset and reused; `None` when the
    /// run does not pool keys.
    pool: Mutex<Option<Vec<String>>>,
    /// Why no more keys may be created (an unreadable Create answer, R3).
    stopped: Mutex<Option<String>>,
    /// Creates that may have made a key the run does not know (R3): the answer was lost in
    /// transit, or answered 200 with a body the harness cannot read. The sweep looks for
    /// their markers.
    uncertain: Mutex<Vec<Uncertain>>,
    /// The kinds of operation one of which outlived the operation timeout: no other of that
    /// kind is waited for (R5).
    timed_out: Mutex<std::collections::BTreeSet<DocKind>>,
    /// When each Idempotency-Key was first sent: a request sent again with its key is the
    /// same request, judged from its first send (T5), even when a trial repeats it on purpose.
    first_sends: Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>,
    /// Trials running now (what a run stopped by --run-timeout names).
    running: Mutex<std::collections::BTreeSet<String>>,
    /// Set when --run-timeout ended the run, with the trials running then.
    expired: AtomicBool,
    expired_running: Mutex<Vec<String>>,
    /// Set on Ctrl-C or SIGTERM: waits and requests in flight are abandoned (R5).
    interrupt: tokio::sync::watch::Sender<bool>,
    /// Places for trials (and lanes of generated sequences) working at once.
    pub workers: Arc<tokio::sync::Semaphore>,
    /// The same failing answer, how many times in a row (R5), and why the run stopped
    /// starting trials, once it has.
    same_failure: Mutex<(String, usize)>,
    failing_alike: Mutex<Option<String>>,
    pub runtime: tokio::runtime::Handle,
    pub generation: Generation,
    /// `--max-requests`: no trial starts once this many requests were sent.
    pub max_requests: Option<u64>,
    /// Trials the budget kept from starting.
    over_budget: AtomicU64,
    /// `--max-rps`: the least time between two requests.
    pub min_interval: Option<Duration>,
    next_slot: Mutex<tokio::time::Instant>,
    secrets: Mutex<Vec<String>>,
    /// A searcher over `secrets`, rebuilt when one is added (X1 runs on every answer).
    scanner: Mutex<Arc<Secrets>>,
    redacted: Mutex<Vec<String>>,
    ledger: Mutex<BTreeMap<String, bool>>,
    /// The ledger file, when the run keeps one.
    pub ledger_file: Option<ledger::LedgerFile>,
    /// Trials keep their Updates in the model's terms (`diff` compares them).
    pub trace: bool,
    /// `--keep-keys`: keys are not deleted at the end of their trial nor in the sweep.
    pub keep_keys: bool,
    /// `--access-key-id`: the one existing key every trial works on (no key is created).
    pub shared_key: Option<String>,
    /// `--max-live-keys`: slots for keys that exist at once, and the slot each key holds.
    pub key_slots: Option<Arc<tokio::sync::Semaphore>>,
    pub max_live_keys: Option<usize>,
    held_slots: Mutex<BTreeMap<String, tokio::sync::OwnedSemaphorePermit>>,
    requests: AtomicU64,
    generated_steps: AtomicU64,
    records: Mutex<Vec<Record>>,
}

impl Run {
    pub fn new(
        api: Api,
        schemas: Schemas,
        service_account_id: String,
        operation_timeout: Duration,
        runtime: tokio::runtime::Handle,
        token: &str,
    ) -> Self {
        Run {
            api,
            schemas,
            service_account_id,
            alt_account: None,
            operation_timeout,
            clock_tolerance: chrono::Duration::seconds(300),
            timeline: Mutex::new(Timeline::default()),
            membership: tokio::sync::RwLock::new(()),
            tag: uuid::Uuid::new_v4().simple().to_string()[..6].to_string(),
            creates: AtomicU64::new(0),
            first_create: tokio::sync::Mutex::new(()),
            proven: AtomicBool::new(false),
            create_answer: std::sync::OnceLock::new(),
            stopped: Mutex::new(None),
            uncertain: Mutex::new(Vec::new()),
            timed_out: Mutex::new(std::collections::BTreeSet::new()),
            first_sends: Mutex::new(std::collections::HashMap::new()),
            running: Mutex::new(std::collections::BTreeSet::new()),
            expired: AtomicBool::new(false),
            expired_running: Mutex::new(Vec::new()),
            pool: Mutex::new(None),
            archive: None,
            interrupt: tokio::sync::watch::Sender::new(false),
            workers: Arc::new(tokio::sync::Semaphore::new(1)),
            same_failure: Mutex::new((String::new(), 0)),
            failing_alike: Mutex::new(None),
            runtime,
            generation: Generation {
                seed: 0,
                cases: 0,
                shrink_iters: 0,
                lanes: 1,
            },
            min_interval: None,
            max_requests: None,
            over_budget: AtomicU64::new(0),
            next_slot: Mutex::new(tokio::time::Instant::now()),
            secrets: Mutex::new(Vec::new()),
            scanner: Mutex::new(Arc::new(Secrets::default())),
            redacted: Mutex::new(vec![token.to_string()]),
            ledger: Mutex::new(BTreeMap::new()),
            ledger_file: None,
            trace: false,
            keep_keys: false,
            shared_key: None,
            key_slots: None,
            max_live_keys: None,
            held_slots: Mutex::new(BTreeMap::new()),
            requests: AtomicU64::new(0),
            generated_steps: AtomicU64::new(0),
            records: Mutex::new(Vec::new()),
        }
    }

    /// Waits for the next request slot under `--max-rps` (shared by all trial threads).
    pub async fn pace(&self) {
        let Some(interval) = self.min_interval else {
            return;
        };
        let slot = {
            let mut next = lock(&self.next_slot);
            let now = tokio::time::Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Counts answers that fail the same way (same HTTP status, same start of the body) with
    /// no success between them. After [`SAME_FAILURES`] of them the target is failing every
    /// request alike: no further trial starts (R5), and the run ends with the findings of the
    /// trials that saw it.
    pub fn note_answer(&self, exchange: &Exchange) {
        let mut same = lock(&self.same_failure);
        if exchange.is_success() || (300..400).contains(&exchange.status) {
            *same = (String::new(), 0);
            return;
        }
        let signature = format!(
            "{} {}",
            exchange.status,
            exchange.body.chars().take(80).collect::<String>()
        );
        if same.0 == signature {
            same.1 += 1;
        } else {
            *same = (signature, 1);
        }
        if same.1 >= SAME_FAILURES {
            lock(&self.failing_alike).get_or_insert_with(|| {
                format!(
                    "not started: the target answered {SAME_FAILURES} requests in a row with HTTP {} ({})",
                    exchange.status,
                    crate::client::snippet(&exchange.body)
                )
            });
        }
    }

    /// Why a trial may not start because the request budget is spent (and counts it).
    pub fn over_budget(&self) -> Option<String> {
        let max = self.max_requests?;
        if self.requests() < max {
            return None;
        }
        self.over_budget.fetch_add(1, Ordering::Relaxed);
        Some(format!(
            "not run: the request budget was spent (--max-requests {max})"
        ))
    }

    /// How many trials the request budget kept from starting.
    pub fn trials_over_budget(&self) -> u64 {
        self.over_budget.load(Ordering::Relaxed)
    }

    /// Why no more trials start, when the target fails every request alike.
    pub fn failing_alike(&self) -> Option<String> {
        lock(&self.failing_alike).clone()
    }

    /// At most `n` trials (and lanes of generated sequences) work at once.
    pub fn set_workers(&mut self, n: usize) {
        self.workers = Arc::new(tokio::sync::Semaphore::new(n.max(1)));
    }

    /// Ctrl-C or SIGTERM: trials not started are skipped, running ones stop waiting at once,
    /// and the sweep deletes what they made.
    pub fn interrupt(&self) {
        self.interrupt.send_replace(true);
    }

    pub fn is_interrupted(&self) -> bool {
        *self.interrupt.borrow()
    }

    /// `fut`, unless the run is interrupted first.
    pub async fn unless_interrupted<T>(
        &self,
        fut: impl Future<Output = T>,
    ) -> Result<T, HarnessError> {
        let mut interrupted = self.interrupt.subscribe();
        tokio::select! {
            biased;
            _ = interrupted.wait_for(|on| *on) => Err(HarnessError::Interrupted),
            value = fut => Ok(value),
        }
    }

    /// Keeps every exchange from now on, for `--har`.
    pub fn keep_archive(&mut self) {
        self.archive = Some(Mutex::new(Vec::new()));
    }

    /// Adds an exchange to the archive, when the run keeps one.
    pub fn archive(&self, trial: &str, exchange: &Exchange) {
        if let Some(archive) = &self.archive {
            lock(archive).push((trial.to_string(), exchange.clone()));
        }
    }

    /// Every exchange of the run with its trial, in the order the requests were sent.
    pub fn archived(&self) -> Vec<(String, Exchange)> {
        let mut all = self
            .archive
            .as_ref()
            .map(|a| lock(a).clone())
            .unwrap_or_default();
        all.sort_by_key(|(_, e)| e.sent_at);
        all
    }

    /// Lets trials reuse each other's keys (not with `--keep-keys`, `--max-live-keys` or
    /// `--access-key-id`, whose bookkeeping is per key).
    pub fn pool_keys(&self) {
        *lock(&self.pool) = Some(Vec::new());
    }

    /// Puts a key in the pool; false when the run does not pool keys (or is interrupted).
    pub fn give_to_pool(&self, id: &str) -> bool {
        if self.is_interrupted() {
            return false;
        }
        match lock(&self.pool).as_mut() {
            Some(pool) => {
                pool.push(id.to_string());
                true
            }
            None => false,
        }
    }

    /// Takes every key resting in the pool (for a walk that must not see them change).
    pub fn drain_pool(&self) -> Vec<String> {
        lock(&self.pool)
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Puts keys taken with `drain_pool` back.
    pub fn refill_pool(&self, keys: Vec<String>) {
        if let Some(pool) = lock(&self.pool).as_mut() {
            pool.extend(keys);
        }
    }

    /// A pooled key, if there is one.
    pub fn take_from_pool(&self) -> Option<String> {
        lock(&self.pool).as_mut().and_then(Vec::pop)
    }

    /// The marker of the run's next key.
    pub fn next_marker(&self) -> String {
        let n = self.creates.fetch_add(1, Ordering::Relaxed) + 1;
        format!("akc {}-{n}", self.tag)
    }

    /// The part of the markers all keys of this run share.
    pub fn marker_prefix(&self) -> String {
        format!("akc {}-", self.tag)
    }

    /// Until a Create answer has been read, Creates go one at a time: a target whose Create
    /// answers cannot be read makes one key, not one per trial running.
    pub async fn first_create(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.proven.load(Ordering::SeqCst) {
            return None;
        }
        let guard = self.first_create.lock().await;
        (!self.proven.load(Ordering::SeqCst)).then_some(guard)
    }

    pub fn creates_proven(&self) {
        self.proven.store(true, Ordering::SeqCst);
    }

    /// Keeps `exchange` if it is the run's first readable Create answer.
    pub fn keep_create_answer(&self, exchange: &Exchange) {
        self.create_answer.get_or_init(|| exchange.clone());
    }

    /// The run's first readable Create answer, once there has been one.
    pub fn create_answer(&self) -> Option<&Exchange> {
        self.create_answer.get()
    }

    /// Why creating keys has stopped, if it has.
    pub fn creates_stopped(&self) -> Option<String> {
        lock(&self.stopped).clone()
    }

    pub fn stop_creating(&self, why: String) {
        lock(&self.stopped).get_or_insert(why);
    }

    /// A Create that may have made a key nobody knows: the sweep looks for its marker.
    pub fn create_uncertain(&self, marker: &str, lost: bool) {
        let mut uncertain = lock(&self.uncertain);
        if !uncertain.iter().any(|u| u.marker == marker) {
            uncertain.push(Uncertain {
                marker: marker.to_string(),
                lost,
            });
        }
    }

    /// The key of an uncertain Create was found (and is the run's): nothing is unknown.
    pub fn create_settled(&self, marker: &str) {
        lock(&self.uncertain).retain(|u| u.marker != marker);
    }

    /// Creates that may have made a key the run does not know of.
    pub fn uncertain_creates(&self) -> Vec<Uncertain> {
        lock(&self.uncertain).clone()
    }

    /// An operation of `kind` outlived the operation timeout: no other of its kind is
    /// waited for (R5).
    pub fn operation_timed_out(&self, kind: DocKind) {
        lock(&self.timed_out).insert(kind);
    }

    /// Whether an operation of `kind` has outlived the operation timeout.
    pub fn operations_time_out(&self, kind: DocKind) -> bool {
        lock(&self.timed_out).contains(&kind)
    }

    /// When the request with this Idempotency-Key was first sent (`sent` if this is the
    /// first time).
    pub fn first_send(
        &self,
        key: &str,
        sent: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        *lock(&self.first_sends)
            .entry(key.to_string())
            .or_insert(sent)
    }

    /// A trial starts (`true`) or ends (`false`).
    pub fn trial_running(&self, name: &str, running: bool) {
        let mut set = lock(&self.running);
        if running {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// The trials running now.
    pub fn running_trials(&self) -> Vec<String> {
        lock(&self.running).iter().cloned().collect()
    }

    /// `--run-timeout` has passed: the run stops as if interrupted, and says why.
    pub fn expire(&self) {
        *lock(&self.expired_running) = self.running_trials();
        self.expired.store(true, Ordering::SeqCst);
        self.interrupt();
    }

    /// The trials that were running when --run-timeout ended the run.
    pub fn running_at_expiry(&self) -> Vec<String> {
        lock(&self.expired_running).clone()
    }

    pub fn is_expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }

    /// Held while a key is created or deleted (shared with other such changes).
    pub async fn changing_keys(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.membership.read().await
    }

    /// Held while List is walked: no key of the run is created or deleted meanwhile.
    pub async fn keys_still(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.membership.write().await
    }

    /// Runs the universal checks on one answer.
    pub fn check(&self, exchange: &Exchange, expect: &Expect) -> Vec<Violation> {
        let secrets = self.secrets();
        let timeline = lock(&self.timeline);
        let judge = Judge {
            schemas: &self.schemas,
            secrets: &secrets,
            timeline: &timeline,
            clock_tolerance: self.clock_tolerance,
        };
        check_response(exchange, expect, &judge)
    }

    /// Remembers when a mutation answered by `exchange` acted (its first attempt left at
    /// `first_sent`): a new key, or a new operation. Later reads are judged by it (T5).
    pub fn note_mutation(
        &self,
        exchange: &Exchange,
        kind: DocKind,
        first_sent: chrono::DateTime<chrono::Utc>,
    ) {
        if !exchange.is_success() {
            return;
        }
        let Ok(json) = &exchange.json else { return };
        let window = Window {
            from: first_sent,
            to: exchange.received_at,
        };
        let mut timeline = lock(&self.timeline);
        match (kind, exchange.method.as_str()) {
            (DocKind::CreateResponse, _) => {
                if let Some(id) = json
                    .pointer("/accessKey/id")
                    .and_then(serde_json::Value::as_str)
                {
                    timeline.key_created(id, window);
                }
            }
            (DocKind::UpdateOperation | DocKind::DeleteOperation, "PATCH" | "DELETE") => {
                if let Some(id) = json.get("id").and_then(serde_json::Value::as_str) {
                    timeline.operation_started(id, window);
                }
            }
            _ => {}
        }
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn count_generated_steps(&self, steps: u64) {
        self.generated_steps.fetch_add(steps, Ordering::Relaxed);
    }

    /// Update steps the property trials generated and sent (shrinking included).
    pub fn generated_steps(&self) -> u64 {
        self.generated_steps.load(Ordering::Relaxed)
    }

    pub fn add_secret(&self, secret: &str) {
        let mut secrets = lock(&self.secrets);
        secrets.push(secret.to_string());
        *lock(&self.scanner) = Arc::new(Secrets::new(&secrets));
        lock(&self.redacted).push(secret.to_string());
    }

    /// The Create secrets seen so far, ready to be searched for.
    pub fn secrets(&self) -> Arc<Secrets> {
        lock(&self.scanner).clone()
    }

    /// Adds a text that must never leave the process (a private key, say).
    pub fn add_redacted(&self, text: &str) {
        lock(&self.redacted).push(text.to_string());
    }

    /// Replaces every secret the run knows (every token used, Create secrets, key material)
    /// with `[redacted]`; longer secrets first, so a secret inside another goes with it.
    pub fn redact(&self, text: &str) -> String {
        let mut secrets = lock(&self.redacted).clone();
        secrets.extend(self.api.tokens_seen());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            out = out.replace(secret.as_str(), "[redacted]");
        }
        out
    }

    pub fn ledger_add(&self, id: &str) {
        let new = lock(&self.ledger).insert(id.to_string(), false).is_none();
        if let (true, Some(file)) = (new, &self.ledger_file) {
            file.created(id);
        }
    }

    /// How many of `wanted` keys a trial may hold at once (`--max-live-keys`).
    pub fn keys_at_once(&self, wanted: usize) -> usize {
        self.max_live_keys.map_or(wanted, |max| wanted.min(max))
    }

    /// Waits for `n` free key slots at once under `--max-live-keys` (at most two minutes):
    /// a trial that needs several keys takes them together, so that two such trials cannot
    /// each hold a part and wait for the other.
    pub async fn key_slots(
        &self,
        n: usize,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, HarnessError> {
        let (Some(slots), Some(max)) = (&self.key_slots, self.max_live_keys) else {
            return Ok(None);
        };
        if n > max {
            return Err(HarnessError::NotApplicable(format!(
                "needs {n} keys at once, and --max-live-keys is {max}"
            )));
        }
        let wanted = u32::try_from(n).unwrap_or(u32::MAX);
        match tokio::time::timeout(
            Duration::from_secs(120),
            slots.clone().acquire_many_owned(wanted),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(HarnessError::Setup(
                "no key slot came free within 120 s (--max-live-keys)".into(),
            )),
        }
    }

    /// The key `id` holds `permit` until it is deleted (or kept).
    pub fn hold_slot(&self, id: &str, permit: tokio::sync::OwnedSemaphorePermit) {
        if !self.keep_keys {
            lock(&self.held_slots).insert(id.to_string(), permit);
        }
    }

    /// Tracks a key created earlier (by a run whose ledger is being cleaned up) without
    /// writing it down again.
    pub fn ledger_track(&self, id: &str) {
        lock(&self.ledger).entry(id.to_string()).or_insert(false);
    }

    /// A key the run had confirmed deleted is back (a target that resurrects deleted keys):
    /// it is the run's to delete again.
    pub fn ledger_undeleted(&self, id: &str) {
        if let Some(deleted) = lock(&self.ledger).get_mut(id) {
            *deleted = false;
        }
    }

    pub fn ledger_deleted(&self, id: &str) {
        lock(&self.held_slots).remove(id);
        if let Some(deleted) = lock(&self.ledger).get_mut(id) {
            if !*deleted && let Some(file) = &self.ledger_file {
                file.deleted(id);
            }
            *deleted = true;
        }
    }

    pub fn ledger_is_deleted(&self, id: &str) -> bool {
        lock(&self.ledger).get(id).copied().unwrap_or(false)
    }

    /// (created, deleted, still present).
    /// Every key the run created (deleted or not).
    pub fn created_ids(&self) -> Vec<String> {
        lock(&self.ledger).keys().cloned().collect()
    }

    pub fn ledger_counts(&self) -> (usize, usize, Vec<String>) {
        let ledger = lock(&self.ledger);
        let left: Vec<String> = ledger
            .iter()
            .filter(|(_, d)| !**d)
            .map(|(id, _)| id.clone())
            .collect();
        (ledger.len(), ledger.len() - left.len(), left)
    }

    pub fn records(&self) -> Vec<Record> {
        let mut records = lock(&self.records).clone();
        records.sort_by(|a, b| a.name.cmp(&b.name));
        records
    }

    pub(super) fn push(&self, record: Record) {
        lock(&self.records).push(record);
    }

    /// Deletes what the trials left behind, all at once, and returns what it could not
    /// confirm gone. When a Create may have made a key the run does not know (its answer lost
    /// or unreadable, R3), it first looks for the run's marker in List and takes what it finds.
    /// A lost Create whose marker no key carries made none; an unreadable one, or any when
    /// List cannot be searched, stays unconfirmed (R6). After an interruption it takes at
    /// most [`INTERRUPTED_SWEEP`].
    pub fn sweep(self: &Arc<Self>) -> Unconfirmed {
        if self.keep_keys {
            return Unconfirmed {
                ids: self.ledger_counts().2,
                creates: Vec::new(),
            };
        }
        let run = self.clone();
        let budget = if self.is_interrupted() && !self.is_expired() {
            INTERRUPTED_SWEEP
        } else {
            self.operation_timeout + Duration::from_secs(30)
        };
        let unresolved = Arc::new(Mutex::new(self.uncertain_creates()));
        let unresolved_in = unresolved.clone();
        let swept = async move {
            let uncertain = run.uncertain_creates();
            if !uncertain.is_empty() || run.creates_stopped().is_some() {
                let mut ctx = Ctx::sweeper(run.clone());
                let mut accounts = vec![run.service_account_id.clone()];
                accounts.extend(run.alt_account.clone());
                let mut searched = true;
                let mut descriptions = Vec::new();
                for account in &accounts {
                    match ctx.marked_in(account, &run.marker_prefix()).await {
                        Ok(found) => descriptions.extend(found),
                        Err(_) => searched = false,
                    }
                }
                for (id, _) in &descriptions {
                    run.ledger_add(id);
                }
                if searched {
                    // What a search settles: a lost Create whose marker nobody carries made
                    // no key; one that made a key is now in the ledger.
                    lock(&unresolved_in).retain(|u| {
                        let found = descriptions
                            .iter()
                            .any(|(_, d)| d.contains(&format!("[{}]", u.marker)));
                        !found && !u.lost
                    });
                }
            }
            // A Delete whose answers were all lost may still have deleted its key: the next
            // pass sends a new one, which a gone key answers NOT_FOUND (R3).
            for _ in 0..SWEEP_PASSES {
                let left = run.ledger_counts().2;
                if left.is_empty() {
                    break;
                }
                let mut deletes = tokio::task::JoinSet::new();
                for id in left {
                    let mut ctx = Ctx::sweeper(run.clone());
                    deletes.spawn(async move {
                        let _ = ctx.delete(&id).await;
                    });
                }
                while deletes.join_next().await.is_some() {}
            }
        };
        let _ = self
            .runtime
            .block_on(async { tokio::time::timeout(budget, swept).await });
        let creates = lock(&unresolved).clone();
        Unconfirmed {
            ids: self.ledger_counts().2,
            creates,
        }
    }
}
