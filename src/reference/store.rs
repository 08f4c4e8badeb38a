//! The in-memory [`Store`] of the reference server: keys, operations, and the rendering of both
//! in the two JSON styles. Everything here is the server's own reading of the API reference; it
//! shares no code with the checks.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::{Fault, Options, Style};

const TYPE_PREFIX: &str = "type.googleapis.com/";
const UPDATE_METADATA: &str = "yandex.cloud.iam.v1.awscompatibility.UpdateAccessKeyMetadata";
const DELETE_METADATA: &str = "yandex.cloud.iam.v1.awscompatibility.DeleteAccessKeyMetadata";
const ACCESS_KEY: &str = "yandex.cloud.iam.v1.awscompatibility.AccessKey";
const EMPTY: &str = "google.protobuf.Empty";

/// google.rpc.Code values the server uses.
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const INTERNAL: i32 = 13;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// HTTP status for a google.rpc.Code, per the usual gRPC-to-HTTP mapping.
pub fn http_status(code: i32) -> u16 {
    match code {
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// An error as the server reports it.
#[derive(Debug, Clone)]
pub struct Status {
    pub code: i32,
    pub message: String,
}

impl Status {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Status {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub service_account_id: String,
    pub created_at: DateTime<Utc>,
    pub description: String,
    pub key_id: String,
    pub secret: String,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The description before the last update (only the StaleList fault shows it).
    pub previous_description: String,
    /// The description the key was created with (only the ListsShowFirstWrite fault shows it).
    pub first_description: String,
    /// Marked deleted but kept (only with the SoftDeleteSeenOnlyByGet fault).
    pub deleted: bool,
}

/// What an operation does when it finishes.
#[derive(Debug, Clone)]
pub enum Effect {
    SetDescription(String),
    Delete,
    Fail(Status),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Update,
    Delete,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub kind: OpKind,
    pub key_id: String,
    /// The service account of the key it acts on (who may read the operation).
    pub account: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub created_by: String,
    pub polls_left: u32,
    pub effect: Effect,
    /// Set once done: the key as the update left it, or the error.
    pub result: Option<Result<Option<Key>, Status>>,
    /// The key as it would look after the update (for the ResponseWhilePending fault).
    pub preview: Option<Key>,
    /// Done with neither response nor error (the OperationsDoneWithoutEffect fault).
    pub without_result: bool,
}

#[derive(Debug, Default)]
pub struct Store {
    pub keys: BTreeMap<String, Key>,
    pub operations: BTreeMap<String, Operation>,
    counter: u64,
    /// Ids handed out so far (used when ids come from a counter).
    serial: u64,
    /// Keys the server started with (not counted in the peak of keys).
    existing: usize,
    /// The source of random ids (seeded once from the system).
    random: u64,
    /// Keys as Get last served them (only with the GetCacheKeptAfterDelete fault).
    pub get_cache: BTreeMap<String, Key>,
}

const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuv0123456789";

/// A fresh id in the Yandex style: a three-letter prefix and 17 lowercase letters and digits.
pub fn new_id(prefix: &str) -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut out = String::from(prefix);
    for b in a.as_bytes().iter().chain(b.as_bytes()).take(17) {
        out.push(char::from(ID_ALPHABET[usize::from(*b) % ID_ALPHABET.len()]));
    }
    out
}

/// SplitMix64: the next pseudo-random number of `state`.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Store {
    /// The id of the key `id` names: itself, or with the IdsMatchedCaseInsensitively fault
    /// any key whose id equals it but for letter case (a case-insensitive collation).
    pub fn resolve(&self, options: &Options, id: &str) -> Option<String> {
        if self.keys.contains_key(id) {
            return Some(id.to_string());
        }
        if options.has(Fault::IdsMatchedCaseInsensitively) {
            return self
                .keys
                .keys()
                .find(|k| k.eq_ignore_ascii_case(id))
                .cloned();
        }
        None
    }

    /// A store holding the keys the options say exist before any client comes.
    pub fn new(options: &Options) -> Self {
        let seed = uuid::Uuid::new_v4().as_u64_pair().0;
        let mut store = Store {
            random: seed,
            ..Store::default()
        };
        for (account, count) in &options.existing_keys {
            for n in 0..*count {
                store.create_key(options, account, format!("made before the run ({n})"));
            }
        }
        store.existing = store.keys.len();
        options
            .keys_made
            .store(0, std::sync::atomic::Ordering::SeqCst);
        options
            .keys_alive
            .store(0, std::sync::atomic::Ordering::SeqCst);
        store
    }

    /// Finishes every operation whose time has come (see [`Options::finish_after`]).
    pub fn settle(&mut self, options: &Options) {
        let Some(after) = options.finish_after else {
            return;
        };
        let Ok(after) = Duration::from_std(after) else {
            return;
        };
        let now = options.now();
        let due: Vec<String> = self
            .operations
            .values()
            .filter(|op| op.result.is_none() && op.created_at + after <= now)
            .map(|op| op.id.clone())
            .collect();
        for id in due {
            self.finish(options, &id);
        }
    }

    /// A fresh id: random, or `prefix` and a counter when the options ask for repeatable ids.
    fn fresh_id(&mut self, options: &Options, prefix: &str) -> String {
        self.serial += 1;
        if options.counter_ids {
            return format!("{prefix}{:017}", self.serial);
        }
        let mut out = String::from(prefix);
        let (mut a, mut b) = (next_random(&mut self.random), next_random(&mut self.random));
        for _ in 0..17 {
            let digit = usize::try_from(a % 32).unwrap_or_default();
            out.push(char::from(ID_ALPHABET[digit]));
            a = (a >> 5) | (b << 59);
            b >>= 5;
        }
        out
    }

    pub fn create_key(
        &mut self,
        options: &Options,
        service_account_id: &str,
        description: String,
    ) -> Key {
        let now = options.now();
        // Keys carry millisecond precision, operations nanoseconds: both renderings get exercised.
        let created_at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let secret: String = (0..2)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect();
        let key = Key {
            id: self.fresh_id(options, "aje"),
            service_account_id: service_account_id.to_string(),
            created_at,
            previous_description: description.clone(),
            first_description: description.clone(),
            deleted: false,
            description,
            key_id: format!("YCAJE{}", &uuid::Uuid::new_v4().simple().to_string()[..20]),
            secret: format!("YCM{}", &secret[..37]),
            // In the sample style keys look used (by the client that made them, as it made
            // them), so lastUsedAt gets rendered and checked; in the varied style 10 ms later,
            // so that it is spelled at another offset than createdAt.
            last_used_at: match options.style {
                Style::Sample => Some(created_at),
                // Every other key is never used, and printed with `"lastUsedAt": null`.
                Style::Varied if self.serial.is_multiple_of(2) => {
                    Some(created_at + Duration::milliseconds(10))
                }
                Style::Varied => None,
                Style::Live | Style::Proto3 => None,
            },
        };
        self.keys.insert(key.id.clone(), key.clone());
        options
            .keys_made
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        options
            .keys_alive
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        options.peak_keys.fetch_max(
            self.keys.len().saturating_sub(self.existing),
            std::sync::atomic::Ordering::SeqCst,
        );
        key
    }

    /// Records a new operation; in synchronous mode it finishes at once.
    pub fn start_operation(
        &mut self,
        options: &Options,
        kind: OpKind,
        key_id: &str,
        effect: Effect,
    ) -> String {
        self.counter += 1;
        let now = options.now();
        let preview = match (&effect, self.keys.get(key_id)) {
            (Effect::SetDescription(d), Some(k)) => Some(Key {
                description: d.clone(),
                ..k.clone()
            }),
            _ => None,
        };
        let account = self
            .keys
            .get(key_id)
            .map(|k| k.service_account_id.clone())
            .unwrap_or_default();
        let op = Operation {
            id: self.fresh_id(options, "aje"),
            kind,
            key_id: key_id.to_string(),
            account,
            created_at: now,
            modified_at: now,
            created_by: "ajeharnessuser00000".to_string(),
            polls_left: match (options.mode, options.finish_after) {
                (super::Mode::Sync, _) => 0,
                // Finished by the clock (`settle`), not by reads.
                (super::Mode::Async, Some(_)) => u32::MAX,
                (super::Mode::Async, None) => options.async_polls.max(1),
            },
            effect,
            result: None,
            preview,
            without_result: false,
        };
        let id = op.id.clone();
        self.operations.insert(id.clone(), op);
        if options.mode == super::Mode::Sync {
            self.finish(options, &id);
        }
        id
    }

    /// Counts one read of an unfinished operation and finishes it when its reads are used up.
    pub fn poll(&mut self, options: &Options, op_id: &str) {
        let Some(op) = self.operations.get_mut(op_id) else {
            return;
        };
        if op.result.is_some() || never_finishes(options, op.kind) {
            return;
        }
        op.polls_left = op.polls_left.saturating_sub(1);
        if op.polls_left == 0 {
            self.finish(options, op_id);
        }
    }

    fn finish(&mut self, options: &Options, op_id: &str) {
        let Some(op) = self.operations.get(op_id) else {
            return;
        };
        if never_finishes(options, op.kind) {
            return;
        }
        if options.has(Fault::OperationsDoneWithoutEffect) {
            // Done, with neither a result nor the change (a worker that marks jobs done
            // before, and instead of, doing them).
            if let Some(op) = self.operations.get_mut(op_id) {
                op.result = Some(Ok(None));
                op.modified_at = options.now();
                op.without_result = true;
            }
            return;
        }
        let (key_id, effect) = (op.key_id.clone(), op.effect.clone());
        let result = match effect {
            Effect::Fail(status) => Err(status),
            Effect::Delete => {
                if options.has(Fault::SoftDeleteSeenOnlyByGet) {
                    // Marked, not removed: only Get's query filters the mark.
                    if let Some(key) = self.keys.get_mut(&key_id) {
                        key.deleted = true;
                    }
                } else if self.keys.remove(&key_id).is_some() {
                    let _ = options.keys_alive.fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    );
                }
                // The Get cache of the fault is not told (it is invalidated on updates only).
                Ok(None)
            }
            Effect::SetDescription(description) if options.has(Fault::UpdateNeverCommitted) => {
                // The response shows the change; the store never gets it (a transaction
                // rolled back after the answer was built).
                match self.keys.get(&key_id) {
                    Some(key) => Ok(Some(Key {
                        description,
                        ..key.clone()
                    })),
                    None => Err(Status::new(
                        code::NOT_FOUND,
                        format!("access key {key_id} not found"),
                    )),
                }
            }
            Effect::SetDescription(description) => match self.keys.get_mut(&key_id) {
                Some(key) => {
                    let before = std::mem::replace(&mut key.description, description);
                    key.previous_description = before.clone();
                    if options.has(Fault::UpdateChangesKeyId) {
                        key.key_id =
                            format!("YCAJE{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
                    }
                    if options.has(Fault::UpdateForgetsLastUsed) {
                        key.last_used_at = None;
                    }
                    let mut shown = key.clone();
                    if let Some(cached) = self.get_cache.get_mut(&key_id) {
                        *cached = key.clone();
                    }
                    if options.has(Fault::StaleUpdateResponse) {
                        shown.description = before;
                    }
                    Ok(Some(shown))
                }
                None => Err(Status::new(
                    code::NOT_FOUND,
                    format!("access key {key_id} not found"),
                )),
            },
        };
        if let Some(op) = self.operations.get_mut(op_id) {
            op.result = Some(result);
            op.modified_at = options.now();
        }
    }
}

/// Whether operations of `kind` never finish (the faults NeverCompletes: updates;
/// DeletesNeverFinish: deletes).
fn never_finishes(options: &Options, kind: OpKind) -> bool {
    match kind {
        OpKind::Update => options.has(Fault::NeverCompletes),
        OpKind::Delete => options.has(Fault::DeletesNeverFinish),
    }
}

/// An instant at one of several offsets with some number of fractional digits, both drawn
/// from the instant itself (so the same instant is spelled the same wherever it is printed):
/// never fewer digits than it needs, so every spelling names the instant exactly.
fn varied_timestamp(t: DateTime<Utc>) -> String {
    const OFFSETS: [(i32, &str); 7] = [
        (0, "Z"),
        (0, "+00:00"),
        (5 * 3600 + 45 * 60, "+05:45"),
        (-(11 * 3600 + 30 * 60), "-11:30"),
        (14 * 3600, "+14:00"),
        (-(9 * 3600 + 30 * 60), "-09:30"),
        (-3600, "-01:00"),
    ];
    let nanos = t.timestamp_subsec_nanos().min(999_999_999);
    let draw = t.timestamp().unsigned_abs() ^ u64::from(nanos / 10_000_000);
    let (seconds, label) = OFFSETS[(draw % 7) as usize];
    let Some(offset) = FixedOffset::east_opt(seconds) else {
        return t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    };
    let all = format!("{nanos:09}");
    let needed = all.trim_end_matches('0').len();
    let digits = needed + (draw / 7) as usize % (10 - needed);
    let fraction = if digits == 0 {
        String::new()
    } else {
        format!(".{}", &all[..digits])
    };
    let local = t.with_timezone(&offset).format("%Y-%m-%dT%H:%M:%S");
    format!("{local}{fraction}{label}")
}

/// Renders values in the configured JSON style, with the configured faults.
pub struct Render<'a> {
    pub options: &'a Options,
}

impl Render<'_> {
    fn sample(&self) -> bool {
        self.options.style == Style::Sample
    }

    /// The sample style writes timestamps at +03:00 with nine digits, the live style in UTC
    /// with nine, the proto3 style in UTC with 0, 3, 6 or 9 digits as protobuf's own printer
    /// does, the varied style as `varied_timestamp` says.
    pub fn timestamp(&self, t: DateTime<Utc>) -> String {
        let text = if self.options.has(Fault::ShiftedInstants) {
            // The digits of UTC under the label of Moscow time: three hours early.
            format!(
                "{}+03:00",
                t.to_rfc3339_opts(SecondsFormat::Nanos, true)
                    .trim_end_matches('Z')
            )
        } else if self.sample() {
            let offset = FixedOffset::east_opt(3 * 3600).expect("+03:00 is a valid offset");
            t.with_timezone(&offset)
                .to_rfc3339_opts(SecondsFormat::Nanos, true)
        } else if self.options.style == Style::Live {
            t.to_rfc3339_opts(SecondsFormat::Nanos, true)
        } else if self.options.style == Style::Varied {
            varied_timestamp(t)
        } else {
            t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        };
        if self.options.has(Fault::TimestampSpaceSeparator) {
            text.replacen('T', " ", 1)
        } else if self.options.has(Fault::LowercaseDesignators) {
            text.replace('T', "t").replace('Z', "z")
        } else {
            text
        }
    }

    pub fn key(&self, key: &Key, embedded: bool) -> Value {
        let mut m = Map::new();
        // An Any's "@type" (the live sample omits it); a plain key has none unless a fault adds it.
        let typed = if embedded {
            !self.sample()
        } else {
            self.options.has(Fault::TypedPlainKeys)
        };
        if typed {
            m.insert("@type".into(), json!(format!("{TYPE_PREFIX}{ACCESS_KEY}")));
        }
        m.insert("id".into(), json!(key.id));
        m.insert("serviceAccountId".into(), json!(key.service_account_id));
        let created = if self.options.has(Fault::TimestampInvalidDate) {
            format!("2025-02-29T{}", &self.timestamp(key.created_at)[11..])
        } else if self.options.has(Fault::TimestampOutOfRange) {
            "0001-01-01T00:30:00+01:00".to_string()
        } else {
            self.timestamp(key.created_at)
        };
        m.insert("createdAt".into(), json!(created));
        if self.sample() || !key.description.is_empty() {
            m.insert("description".into(), json!(key.description));
        }
        m.insert("keyId".into(), json!(key.key_id));
        match key.last_used_at {
            Some(t) => {
                m.insert("lastUsedAt".into(), json!(self.timestamp(t)));
            }
            // An unset message field printed as null (grpc-gateway's EmitUnpopulated).
            None if self.options.style == Style::Varied => {
                m.insert("lastUsedAt".into(), Value::Null);
            }
            None => {}
        }
        Value::Object(m)
    }

    pub fn status(&self, status: &Status) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(status.code));
        m.insert("message".into(), json!(status.message));
        if self.sample() {
            m.insert("details".into(), json!([]));
        }
        Value::Object(m)
    }

    pub fn operation(&self, op: &Operation) -> Value {
        let mut m = Map::new();
        let done = op.result.is_some();
        m.insert("id".into(), json!(op.id));
        let description = match (self.options.has(Fault::LongOperationDescription), op.kind) {
            (true, _) => "x".repeat(300),
            (false, OpKind::Update) => "Update access key".to_string(),
            (false, OpKind::Delete) => "Delete access key".to_string(),
        };
        m.insert("description".into(), json!(description));
        m.insert("createdAt".into(), json!(self.timestamp(op.created_at)));
        if self.options.has(Fault::CreatedByNumber) {
            m.insert("createdBy".into(), json!(42));
        } else {
            m.insert("createdBy".into(), json!(op.created_by));
        }
        let modified = if self.options.has(Fault::ModifiedBeforeCreated) {
            op.created_at - Duration::seconds(1)
        } else {
            op.modified_at
        };
        m.insert("modifiedAt".into(), json!(self.timestamp(modified)));
        if self.options.has(Fault::DoneNotBoolean) {
            m.insert("done".into(), json!(done.to_string()));
        } else if !matches!(self.options.style, Style::Proto3 | Style::Varied) || done {
            m.insert("done".into(), json!(done));
        }
        let mut metadata = Map::new();
        if !self.sample() {
            let name = match (op.kind, self.options.has(Fault::MetadataWrongType)) {
                (OpKind::Update, false) | (OpKind::Delete, true) => UPDATE_METADATA,
                (OpKind::Delete, false) | (OpKind::Update, true) => DELETE_METADATA,
            };
            metadata.insert("@type".into(), json!(format!("{TYPE_PREFIX}{name}")));
        }
        let key_id = if self.options.has(Fault::MetadataWrongKey) {
            format!("{}x", op.key_id)
        } else {
            op.key_id.clone()
        };
        metadata.insert("accessKeyId".into(), json!(key_id));
        m.insert("metadata".into(), Value::Object(metadata));
        match &op.result {
            None => {
                if self.options.has(Fault::ResponseWhilePending)
                    && let Some(preview) = &op.preview
                {
                    m.insert("response".into(), self.key(preview, true));
                }
            }
            Some(_) if self.options.has(Fault::DoneWithoutResult) || op.without_result => {}
            Some(Err(status)) => {
                m.insert("error".into(), self.status(status));
            }
            Some(Ok(Some(key))) => {
                m.insert("response".into(), self.key(key, true));
                if self.options.has(Fault::BothErrorAndResponse) {
                    m.insert("error".into(), self.status(&Status::new(2, "unknown")));
                }
            }
            Some(Ok(None)) => {
                let empty = if self.sample() {
                    json!({})
                } else if self.options.style == Style::Varied {
                    json!({"@type": format!("{TYPE_PREFIX}{EMPTY}")})
                } else {
                    json!({"@type": format!("{TYPE_PREFIX}{EMPTY}"), "value": {}})
                };
                m.insert("response".into(), empty);
            }
        }
        Value::Object(m)
    }
}
