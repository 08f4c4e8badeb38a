//! The keys a trial works on: created (with the run's marker; R3 when the answer cannot be
//! read), taken from the run's pool and reset, borrowed (`--access-key-id`), and at the end
//! handed back to the pool or deleted.

use std::time::Instant;

use serde_json::Value;

use super::{Ctx, HarnessError, PollSchedule};
use crate::checks::description_of;
use crate::checks::operation;
use crate::checks::response::Expect;
use crate::checks::update::UpdateOutcome;
use crate::client::{Auth, Exchange};
use crate::contract::DocKind;

/// A key made by [`Ctx::create_key_sent`]: the key, the Create as it was sent, the key's
/// marker and the answer.
pub struct Created {
    pub key: Value,
    pub request: crate::client::Request,
    pub marker: String,
    pub answer: Exchange,
}

impl Ctx {
    /// Takes the key slots (`--max-live-keys`) for the `n` keys this trial will create, all at
    /// once; `fresh_key` then uses them.
    pub async fn reserve_keys(&mut self, n: usize) -> Result<(), HarnessError> {
        if self.run.shared_key.is_none() {
            self.reserved = self.unless_interrupted(self.run.key_slots(n)).await??;
        }
        Ok(())
    }

    /// Creates a key owned by this trial (deleted when the trial ends) and returns it. With
    /// `--access-key-id`, sets the given key's description instead and returns that key.
    ///
    /// The description carries the run's marker (`[akc <run>-<n>]`, when it fits), so that a
    /// key whose Create answer cannot be read can still be found and deleted (R3). The run's
    /// first Create goes alone; after an unreadable Create no key is created any more.
    pub async fn fresh_key(&mut self, description: &str) -> Result<Value, HarnessError> {
        if let Some(shared) = self.run.shared_key.clone() {
            return self.reuse_key(&shared, description).await;
        }
        if let Some(key) = self.reuse_pooled(description).await? {
            return Ok(key);
        }
        self.create_key(None, description).await
    }

    /// A slot for one more key under `--max-live-keys` (from those `reserve_keys` took, or a
    /// new one); `None` when the run has no bound.
    pub async fn key_slot(
        &mut self,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, HarnessError> {
        let reserved = match &mut self.reserved {
            Some(permits) if permits.num_permits() > 1 => permits.split(1),
            Some(_) => self.reserved.take(),
            None => None,
        };
        match reserved {
            Some(permit) => Ok(Some(permit)),
            None => self.unless_interrupted(self.run.key_slots(1)).await?,
        }
    }

    /// Creates a key in `account` (the run's own when `None`), never from the pool, and
    /// returns it; the trial deletes it (a key of another account never goes to the pool).
    /// The R3 rules of [`Ctx::fresh_key`] apply.
    pub async fn create_key(
        &mut self,
        account: Option<&str>,
        description: &str,
    ) -> Result<Value, HarnessError> {
        Ok(self.create_key_sent(account, description).await?.key)
    }

    /// [`Ctx::create_key`], also returning the Create request as it was sent (to send it
    /// again with its Idempotency-Key), the key's marker and the answer.
    pub async fn create_key_sent(
        &mut self,
        account: Option<&str>,
        description: &str,
    ) -> Result<Created, HarnessError> {
        let permit = self.key_slot().await?;
        let run = self.run.clone();
        let _first = run.first_create().await;
        if let Some(why) = run.creates_stopped() {
            return Err(HarnessError::Setup(format!(
                "no key was created, so nothing was tested: {why}"
            )));
        }
        let marker = run.next_marker();
        let sent = with_marker(description, &marker);
        let owner = account.unwrap_or(&run.service_account_id).to_string();
        let request = run.api.create(&owner, &sent);
        let (exchange, key) = self.send_create(request.clone(), &marker, permit).await?;
        if let (Some(key), true) = (&key, owner != run.service_account_id) {
            let id = key["id"].as_str().unwrap_or_default().to_string();
            self.foreign.push(id);
        }
        match (exchange.is_success(), key) {
            (true, Some(key)) => {
                run.creates_proven();
                run.keep_create_answer(&exchange);
                Ok(Created {
                    key,
                    request,
                    marker,
                    answer: exchange,
                })
            }
            (true, None) => {
                // The target answered success, so a key was most likely made (R3).
                run.create_uncertain(&marker, false);
                run.stop_creating(format!(
                    "an earlier Create ({}) was answered {} with a body the harness cannot read, so no more keys are created",
                    exchange.request_line(),
                    exchange.status
                ));
                for text in strings_in(&exchange) {
                    run.add_redacted(&text);
                }
                // Bracketed, so that `akc t-1` does not find the key of `akc t-12`.
                let found = self
                    .find_unreadable_key(&exchange, &format!("[{marker}]"))
                    .await?;
                let recovered = match &found {
                    Some(id) => {
                        self.adopt(id);
                        run.create_settled(&marker);
                        format!("the key it made ({id}) was found and is deleted")
                    }
                    None => "the key it may have made was not found (the sweep looks again)".into(),
                };
                Err(HarnessError::Setup(format!(
                    "cannot read the Create answer ({} answered {}: {}); {recovered}",
                    exchange.request_line(),
                    exchange.status,
                    exchange.snippet()
                )))
            }
            (false, _) => Err(HarnessError::Setup(format!(
                "cannot create a key to test with: {} answered {}: {}",
                exchange.request_line(),
                exchange.status,
                exchange.snippet()
            ))),
        }
    }

    /// Sends a Create (whose description carries `marker`): the ledger notes it before it
    /// leaves; a secret in the answer is registered for redaction; a key in a readable answer
    /// is written down and becomes this trial's to delete. Returns the answer and that key.
    pub async fn send_create(
        &mut self,
        request: crate::client::Request,
        marker: &str,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<(Exchange, Option<Value>), HarnessError> {
        let run = self.run.clone();
        self.keys_created += 1;
        let mut expect = Expect::new(DocKind::CreateResponse);
        expect.secret_allowed = true;
        if let Some(ledger) = &run.ledger_file {
            ledger.creating(marker);
        }
        let sent = {
            let _changing = run.changing_keys().await;
            self.call(request, expect).await
        };
        if self.lost_answer || sent.is_err() {
            // An answer lost in transit: the first send may have made a key (R3).
            run.create_uncertain(marker, true);
        }
        let exchange = sent?;
        let json = exchange.json.as_ref().ok();
        let key = json
            .and_then(|j| j.get("accessKey"))
            .filter(|k| {
                k.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !id.is_empty())
            })
            .cloned();
        if let Some(secret) = json.and_then(|j| j.get("secret")).and_then(Value::as_str) {
            run.add_secret(secret);
        }
        if let (true, Some(id)) = (
            exchange.is_success(),
            key.as_ref()
                .and_then(|k| k.get("id"))
                .and_then(Value::as_str),
        ) {
            self.adopt(id);
            if let Some(permit) = slot {
                run.hold_slot(id, permit);
            }
        }
        Ok((exchange, key))
    }

    /// A key from the run's pool, reset to `description` (with a fresh marker) by an Update
    /// whose answer must show that description; the answer is the key as the trial starts
    /// with it. A key whose reset does not show it is deleted, and `None` says to create one.
    async fn reuse_pooled(&mut self, description: &str) -> Result<Option<Value>, HarnessError> {
        let run = self.run.clone();
        let Some(id) = run.take_from_pool() else {
            return Ok(None);
        };
        self.created.push(id.clone());
        let sent = with_marker(description, &run.next_marker());
        let body = serde_json::json!({"updateMask": "description", "description": sent});
        let outcome = self
            .update(&id, Some(body.to_string()), Auth::Token)
            .await?;
        match outcome {
            UpdateOutcome::Applied(key)
                if key.get("id").and_then(Value::as_str) == Some(id.as_str())
                    && description_of(&key).as_deref() == Some(sent.as_str()) =>
            {
                Ok(Some(key))
            }
            _ => {
                self.delete(&id).await?;
                Ok(None)
            }
        }
    }

    /// Finds the key an unreadable Create answer made: an id anywhere in the body that names a
    /// key carrying `marker`, or else a key of the account that carries it (List). Only a key
    /// with the marker is ever taken, so a key the run did not create is never touched.
    async fn find_unreadable_key(
        &mut self,
        exchange: &Exchange,
        marker: &str,
    ) -> Result<Option<String>, HarnessError> {
        for candidate in id_candidates(exchange).into_iter().take(8) {
            if let Some(key) = self.read_key(&candidate).await?
                && description_of(&key).is_some_and(|d| d.contains(marker))
            {
                return Ok(Some(candidate));
            }
        }
        Ok(self.find_marked(marker).await?.into_iter().next())
    }

    /// Keys of the account whose description contains `marker` (walking List while no key of
    /// the run comes or goes), and which the run has not deleted yet. One key's marker is
    /// searched for in brackets (`[akc t-1]`), the run's prefix as it is (`akc t-`).
    pub async fn find_marked(&mut self, marker: &str) -> Result<Vec<String>, HarnessError> {
        let account = self.run.service_account_id.clone();
        self.find_marked_in(&account, marker).await
    }

    /// The keys of `account` whose description contains `marker`, with their descriptions
    /// (a List walk while no key of the run comes or goes), deleted ones included.
    pub async fn marked_in(
        &mut self,
        account: &str,
        marker: &str,
    ) -> Result<Vec<(String, String)>, HarnessError> {
        let run = self.run.clone();
        let walk = {
            let _still = run.keys_still().await;
            self.walk_account(account, Some(100), 50).await?
        };
        if walk.unreadable.is_some() || !walk.ended {
            return Err(HarnessError::Setup(format!(
                "List of {account} could not be walked to its end"
            )));
        }
        Ok(walk
            .keys()
            .filter_map(|(_, k)| {
                let id = k.get("id").and_then(Value::as_str)?;
                let description = description_of(k)?;
                description
                    .contains(marker)
                    .then(|| (id.to_string(), description))
            })
            .collect())
    }

    /// [`Ctx::find_marked`] among the keys of `account`.
    pub async fn find_marked_in(
        &mut self,
        account: &str,
        marker: &str,
    ) -> Result<Vec<String>, HarnessError> {
        let run = self.run.clone();
        let walk = {
            let _still = run.keys_still().await;
            self.walk_account(account, Some(100), 50).await?
        };
        Ok(walk
            .keys()
            .filter(|(_, k)| description_of(k).is_some_and(|d| d.contains(marker)))
            .filter_map(|(_, k)| k.get("id").and_then(Value::as_str))
            .filter(|id| !run.ledger_is_deleted(id))
            .map(str::to_string)
            .collect())
    }

    /// `--access-key-id`: puts the existing key in the state a fresh one would have.
    async fn reuse_key(&mut self, id: &str, description: &str) -> Result<Value, HarnessError> {
        let body = serde_json::json!({"updateMask": "description", "description": description});
        match self.update(id, Some(body.to_string()), Auth::Token).await? {
            UpdateOutcome::Applied(_) => self.read_existing(id).await,
            other => Err(HarnessError::Setup(format!(
                "cannot reset the description of key {id} to start a trial: {other:?}"
            ))),
        }
    }

    /// Deletes a key and waits for the operation; true when it is gone.
    pub async fn delete(&mut self, id: &str) -> Result<bool, HarnessError> {
        Ok(self.delete_traced(id).await?.0)
    }

    /// [`Ctx::delete`], also returning the finished operation when there was one.
    pub async fn delete_traced(&mut self, id: &str) -> Result<(bool, Option<Value>), HarnessError> {
        if self.run.shared_key.as_deref() == Some(id) {
            return Err(HarnessError::NotApplicable(
                "deletes a key, and the run may only update the key of --access-key-id".into(),
            ));
        }
        let run = self.run.clone();
        let _changing = run.changing_keys().await;
        let expect = Expect::new(DocKind::DeleteOperation).for_key(id);
        let exchange = self.call(run.api.delete(id), expect.clone()).await?;
        if !exchange.is_success() {
            // NOT_FOUND for a key the run made: it is gone (an earlier Delete whose answer
            // was lost did its work, R3).
            let code = exchange
                .json
                .as_ref()
                .ok()
                .and_then(|j| j.get("code"))
                .and_then(Value::as_i64);
            if exchange.status == 404 || code == Some(5) {
                self.run.ledger_deleted(id);
                return Ok((true, None));
            }
            return Ok((false, None));
        }
        let done = self.finish_operation(&exchange, expect).await?;
        let mut deleted = matches!(
            done.as_ref().and_then(operation::result_of),
            Some(operation::OpResult::Response(_))
        );
        if !deleted {
            // The operation said nothing usable (the checks report why): ask the key itself,
            // until it is gone or the operation timeout has passed.
            deleted = self.await_key_gone(id).await?;
        }
        if deleted {
            self.run.ledger_deleted(id);
        }
        Ok((deleted, done))
    }

    /// Reads the key until it is gone, with the polling schedule of operations; false when it
    /// is still there after the operation timeout.
    ///
    /// This is a Delete's wait: once one has outlived the timeout, later ones read the key
    /// once and do not wait (R5).
    async fn await_key_gone(&mut self, id: &str) -> Result<bool, HarnessError> {
        let started = Instant::now();
        let mut schedule = PollSchedule::new(None);
        loop {
            if self.read_key(id).await?.is_none() {
                return Ok(true);
            }
            if self.run.operations_time_out(DocKind::DeleteOperation) {
                return Ok(false);
            }
            let wait = schedule.next_wait();
            if started.elapsed() + wait > self.run.operation_timeout {
                self.run.operation_timed_out(DocKind::DeleteOperation);
                return Ok(false);
            }
            self.sleep(wait).await?;
        }
    }

    /// Deletes every key this trial created and has not deleted yet.
    ///
    /// A trial that found nothing wrong hands its keys to the run's pool instead (when the
    /// run pools keys): the next trial resets one with an Update rather than creating one,
    /// and the sweep deletes what is left in the pool at the end.
    pub async fn clean_up(&mut self) -> Result<(), HarnessError> {
        let mut result = Ok(());
        if self.run.keep_keys {
            self.created.clear();
            return result;
        }
        let reusable = self.violations.is_empty() && self.keys_reusable;
        for id in std::mem::take(&mut self.created) {
            if self.run.ledger_is_deleted(&id) {
                continue;
            }
            if reusable && !self.foreign.contains(&id) && self.run.give_to_pool(&id) {
                continue;
            }
            match self.delete(&id).await {
                Ok(true) => {}
                Ok(false) => {
                    result = Err(HarnessError::Setup(format!("could not delete key {id}")));
                }
                Err(e) => result = Err(e),
            }
        }
        result
    }

    /// Records a key the target created as a side effect, so that it is deleted too.
    pub fn adopt(&mut self, id: &str) {
        self.run.ledger_add(id);
        if !self.created.iter().any(|c| c == id) {
            self.created.push(id.to_string());
        }
    }

    /// Like [`Ctx::adopt`], for a key that must never go to the pool (a key of another
    /// service account, or one the target made when it should not have).
    pub fn adopt_foreign(&mut self, id: &str) {
        self.adopt(id);
        self.foreign.push(id.to_string());
    }
}

/// `description` with the run's marker appended, when the result stays within 256
/// characters (a longer start goes without: its key can then be found only by its id).
pub fn with_marker(description: &str, marker: &str) -> String {
    let marked = if description.is_empty() {
        format!("[{marker}]")
    } else {
        format!("{description} [{marker}]")
    };
    if marked.chars().count() <= crate::contract::model::MAX_DESCRIPTION {
        marked
    } else {
        description.to_string()
    }
}

/// Every string of a body (or, when it is not JSON, every word of it).
fn strings_in(exchange: &Exchange) -> Vec<String> {
    let mut out = Vec::new();
    match &exchange.json {
        Ok(json) => collect_strings(json, &mut out),
        Err(_) => out.extend(
            exchange
                .body
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .filter(|w| w.len() >= 8)
                .map(str::to_string),
        ),
    }
    out
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Strings of a body that could be a key id (letters, digits, `-` and `_`, 8 to 64 long).
fn id_candidates(exchange: &Exchange) -> Vec<String> {
    let mut out: Vec<String> = strings_in(exchange)
        .into_iter()
        .filter(|s| {
            (8..=64).contains(&s.len())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .collect();
    out.dedup();
    out
}
