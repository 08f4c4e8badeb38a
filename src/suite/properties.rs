//! Property trials: proptest generates sequences of Update requests, each sequence is played
//! on one key (reset to a known description first), every step is judged against the model,
//! and a failing sequence is shrunk to the shortest one that still fails and reported as
//! numbered steps with curl reproductions.
//!
//! There is one trial per level, so that `--skip '[should]'` and friends keep working:
//! - must: no mask or `description`, with every kind of description (U1, U2, U3, U5, U6);
//! - should: masks mixing `description` with paths that name nothing (U7, U6);
//! - info: the open inputs of U8 (odd masks, unknown body fields); any documented reading
//!   passes and the readings seen are recorded.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use serde_json::{Map, Value, json};

use crate::checks::{Violation, description_of};
use crate::contract::Level;
use crate::contract::model::{self, Description, Fields, Key};
use crate::runner::{Ctx, HarnessError, Replay, Run, Spec, TraceStep};

use super::step::{Step, bystander_untouched, id_of, update_and_judge};

/// The description every sequence starts from. No generator can produce it, so "the old
/// value was kept" is never mistaken for "the new value was stored".
pub const START: &str = "initial state of a generated sequence";

/// The longest sequence generated.
const MAX_STEPS: usize = 5;

/// Which inputs a property draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Must,
    Should,
    Info,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Must => "must",
            Profile::Should => "should",
            Profile::Info => "info",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        [Profile::Must, Profile::Should, Profile::Info]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

static PADS: [&str; 4] = ["", "", " ", "  "];

fn descriptions() -> impl Strategy<Value = Description> {
    let ascii = vec(select(&b"ab xyz019-_.,!?'\"\\/"[..]), 1..12)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect::<String>());
    let unicode = vec(
        select(vec![
            'я', 'ж', '€', '中', 'é', '\u{301}', '😀', '𝔘', '\u{200b}', 'ß',
        ]),
        1..12,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>());
    let padded = (
        select(&[" ", "\t", "  ", " \n"][..]),
        ascii.clone(),
        select(&PADS[..]),
    )
        .prop_map(|(a, s, b)| format!("{a}{s}{b}"));
    let sized = (
        select(&[0usize, 1, 2, 255, 256, 257, 300][..]),
        select(&["a", "я", "😀", "я€ж😀"][..]),
    )
        .prop_map(|(n, alphabet)| alphabet.chars().cycle().take(n).collect::<String>());
    prop_oneof![
        Just(Description::Absent),
        Just(Description::Null),
        Just(Description::Text(String::new())),
        ascii.prop_map(Description::Text),
        padded.prop_map(Description::Text),
        unicode.prop_map(Description::Text),
        sized.prop_map(Description::Text),
    ]
}

/// A comma-joined mask of 1-3 paths from `vocabulary`, each maybe padded with spaces.
fn joined(vocabulary: Vec<&'static str>, padded: bool) -> impl Strategy<Value = String> {
    let pads: &'static [&'static str] = if padded { &PADS } else { &[""] };
    let path =
        (select(pads), select(vocabulary), select(pads)).prop_map(|(a, p, b)| format!("{a}{p}{b}"));
    vec(path, 1..=3).prop_map(|paths| paths.join(","))
}

fn masks(profile: Profile) -> BoxedStrategy<Option<String>> {
    match profile {
        Profile::Must => prop_oneof![Just(None), Just(Some("description".to_string()))].boxed(),
        Profile::Should => joined(
            vec![
                "description",
                "noSuchField",
                "descriptions",
                "name",
                "description.text",
            ],
            false,
        )
        .prop_map(Some)
        .boxed(),
        Profile::Info => prop_oneof![
            Just(Some(String::new())),
            Just(Some("*".to_string())),
            joined(
                vec![
                    "description",
                    "*",
                    "",
                    "keyId",
                    "createdAt",
                    "serviceAccountId",
                    "id",
                    "lastUsedAt",
                    "Description",
                    "DESCRIPTION",
                    "key_id",
                    "created_at",
                    "service_account_id",
                    "last_used_at",
                ],
                true,
            )
            .prop_map(Some),
        ]
        .boxed(),
    }
}

/// Stands for the id of the property's second key (the bystander) in generated bodies; the
/// real id is put in when a body is sent.
pub const BYSTANDER: &str = "ajebystanderofthisrun";

fn extra_fields(profile: Profile) -> BoxedStrategy<Map<String, Value>> {
    match profile {
        Profile::Info => prop_oneof![
            3 => Just(Map::new()),
            1 => select(vec![json!({"colour": "blue"}), json!({"name": "x", "labels": {}})])
                .prop_map(|v| v.as_object().cloned().unwrap_or_default()),
            // The key's identity under its own names, with other values (U4).
            2 => select(vec![
                json!({"id": "ajeanotherkeyid00000"}),
                json!({"serviceAccountId": "ajeanotheraccount000"}),
                json!({"keyId": "YCAJEnotthiskeyid0000000"}),
                json!({"createdAt": "2001-02-03T04:05:06Z", "lastUsedAt": "2001-02-03T04:05:06Z"}),
                json!({"secret": "not-the-secret-of-this-key"}),
                json!({"accessKeyId": BYSTANDER}),
            ])
            .prop_map(|v| v.as_object().cloned().unwrap_or_default()),
        ]
        .boxed(),
        _ => Just(Map::new()).boxed(),
    }
}

/// Sequences of 1 to [`MAX_STEPS`] Update bodies.
pub fn sequences(profile: Profile) -> impl Strategy<Value = Vec<Fields>> {
    let step = (masks(profile), descriptions(), extra_fields(profile)).prop_map(
        |(mask, description, extra)| Fields {
            mask,
            description,
            extra,
        },
    );
    vec(step, 1..=MAX_STEPS)
}

/// One played sequence: the steps (the reset first), and the requests they took.
struct Played {
    steps: Vec<Step>,
    requests: usize,
    failed: bool,
    observations: Vec<String>,
    /// The steps in the model's terms, when the run traces.
    trace: Vec<TraceStep>,
}

/// Plays one sequence on the key: reset it to [`START`], then each step, judged by the model.
/// A body naming the bystander (see [`BYSTANDER`]) must leave that key as it was (U4).
async fn play(
    run: Arc<Run>,
    keys: &Keys,
    key: &Value,
    sequence: &[Fields],
) -> Result<Played, HarnessError> {
    let bystander = keys.bystander.as_ref();
    let mut ctx = Ctx::for_trial(run, &keys.trial);
    let reset = Fields {
        mask: Some("description".into()),
        description: Description::Text(START.into()),
        extra: Map::new(),
    }
    .to_text();
    let verdict = model::allowed(Key::Exists(START), &reset);
    let mut steps = vec![update_and_judge(&mut ctx, key, &reset, Some(START), &verdict).await?];
    for fields in sequence {
        let Some(state) = steps.last().and_then(|s| s.after.clone()) else {
            break;
        };
        let current = description_of(&state).unwrap_or_default();
        let body = fields.to_text();
        let verdict = model::allowed(Key::Exists(&current), &body);
        let sent = fields.description.text();
        let named = bystander.filter(|_| body.contains(BYSTANDER));
        let body = match named {
            Some(other) => body.replace(BYSTANDER, &id_of(other)),
            None => body,
        };
        let seen = ctx.violations.len();
        let mut step = update_and_judge(&mut ctx, &state, &body, sent, &verdict).await?;
        if let Some(other) = named {
            bystander_untouched(&mut ctx, other, "accessKeyId", seen).await?;
            step.violations = ctx.violations[seen..].to_vec();
        }
        steps.push(step);
    }
    let observations = steps.iter().filter_map(|s| s.observation.clone()).collect();
    Ok(Played {
        failed: !ctx.violations.is_empty(),
        requests: ctx.requests,
        steps,
        observations,
        trace: ctx.trace,
    })
}

/// The numbered report of a failing sequence (the reset is step 0).
fn report(played: &Played, seed: u64, first_len: usize) -> String {
    let generated = played.steps.len().saturating_sub(1);
    let mut text = format!(
        "shrunk to {generated} step(s) from a failing sequence of {first_len} (seed {seed}); replay with --seed {seed}:"
    );
    for (n, step) in played.steps.iter().enumerate() {
        let title = if n == 0 {
            format!("0. reset the key: PATCH body {}", step.body)
        } else {
            format!("{n}. PATCH body {}", step.body)
        };
        text.push_str(&format!(
            "\n  {title}\n     expected: {}\n     observed: {}",
            step.expected(),
            step.observed()
        ));
        for v in &step.violations {
            text.push_str(&format!("\n     broke [{}] {}", v.rule, v.title));
        }
        text.push_str(&format!("\n     reproduce: {}", step.curl()));
    }
    text
}

/// What exploring one property found.
struct Explored {
    requests: usize,
    /// Creates the extra lanes sent.
    keys_created: usize,
    /// The most requests that waited for each other (the longest lane, then the shrinking).
    chain: usize,
    steps: usize,
    observations: BTreeSet<String>,
    /// The shortest failing sequence, as played.
    failure: Option<Failure>,
    /// Every generated sequence's steps in the model's terms, in generation order (the
    /// shrinking's replays left out), when the run traces.
    trace: Vec<TraceStep>,
}

/// What playing one sequence gave.
type Outcome = Result<Played, HarnessError>;

/// The keys sequences are played on: the trial's own, and the bystander a body may name;
/// and the trial they are played for.
#[derive(Clone)]
struct Keys {
    key: Value,
    bystander: Option<Value>,
    trial: Arc<str>,
}

/// The work the lanes of one property share: the sequences, the next one to take, and each
/// one's outcome once played.
#[derive(Clone)]
struct Lanework {
    run: Arc<Run>,
    keys: Keys,
    sequences: Arc<Vec<Vec<Fields>>>,
    next: Arc<AtomicUsize>,
    outcomes: Arc<Mutex<Vec<Option<Outcome>>>>,
    /// Set when no sequence is left to take.
    drained: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Lanework {
    /// One lane: plays the next sequence on `key` until none is left. Says whether every
    /// sequence it played passed, and how many requests it sent one after another.
    async fn lane(&self, key: Value) -> (bool, usize) {
        let (mut clean, mut chain) = (true, 0);
        loop {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(sequence) = self.sequences.get(i) else {
                self.drained.send_replace(true);
                return (clean, chain);
            };
            let played = play(self.run.clone(), &self.keys, &key, sequence).await;
            clean &= played.as_ref().is_ok_and(|p| !p.failed);
            chain += played.as_ref().map_or(0, |p| p.requests);
            if let Ok(mut outcomes) = self.outcomes.lock() {
                outcomes[i] = Some(played);
            }
        }
    }
}

/// Plays `sequences` side by side and returns each one's result, in their order. The trial's
/// key is lane 0, played here; up to `lanes - 1` more lanes each take a worker place and a key
/// of their own when one is free, and stop when no sequence is left. Every sequence starts by
/// resetting its key, so which lane plays it does not change what it shows.
async fn play_in_lanes(
    run: Arc<Run>,
    keys: Keys,
    sequences: Arc<Vec<Vec<Fields>>>,
    lanes: usize,
) -> Lanes {
    let count = sequences.len();
    let work = Lanework {
        run: run.clone(),
        keys: keys.clone(),
        sequences,
        next: Arc::new(AtomicUsize::new(0)),
        outcomes: Arc::new(Mutex::new((0..count).map(|_| None).collect())),
        drained: Arc::new(tokio::sync::watch::channel(false).0),
    };
    let mut helpers = tokio::task::JoinSet::new();
    for _ in 1..lanes.min(count) {
        let work = work.clone();
        let mut done = work.drained.subscribe();
        helpers.spawn(async move {
            let place = tokio::select! {
                biased;
                _ = done.wait_for(|d| *d) => return (0, 0, 0),
                place = work.run.workers.clone().acquire_owned() => place,
            };
            let Ok(_place) = place else { return (0, 0, 0) };
            let mut ctx = Ctx::for_trial(work.run.clone(), &work.keys.trial);
            let mut chain = 0;
            if let Ok(key) = ctx.fresh_key(START).await {
                // A key that saw a failure is not handed on to another trial.
                let (clean, played) = work.lane(key).await;
                ctx.keys_reusable = clean;
                chain = played;
            }
            let _ = ctx.clean_up().await;
            // The lane's own requests (its key), its chain, and the keys it created.
            (ctx.requests, ctx.chain + chain, ctx.keys_created)
        });
    }
    let (_, mut longest) = work.lane(keys.key.clone()).await;
    let (mut setup, mut keys_created) = (0, 0);
    while let Some(lane) = helpers.join_next().await {
        if let Ok((own, chain, keys)) = lane {
            setup += own;
            keys_created += keys;
            longest = longest.max(chain);
        }
    }
    let slots = work
        .outcomes
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    Lanes {
        outcomes: slots
            .into_iter()
            .map(|r| r.unwrap_or(Err(HarnessError::Interrupted)))
            .collect(),
        setup,
        keys_created,
        longest,
    }
}

/// What playing a property's sequences in lanes gave.
struct Lanes {
    /// Each sequence's outcome, in generation order.
    outcomes: Vec<Outcome>,
    /// Requests the extra lanes sent for their keys.
    setup: usize,
    /// Creates the extra lanes sent.
    keys_created: usize,
    /// The most requests one lane sent one after another.
    longest: usize,
}

/// Generates the property's sequences from the seed up front, plays them side by side, and
/// shrinks the first failing one (in generation order) by replaying simpler versions of it,
/// one at a time, as proptest would. Blocking: call it off the async workers.
fn explore(run: Arc<Run>, keys: Keys, profile: Profile) -> Result<Explored, HarnessError> {
    let generation = run.generation;
    let config = Config {
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(generation.seed),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = sequences(profile);
    let mut trees = Vec::new();
    for _ in 0..generation.cases {
        trees.push(strategy.new_tree(&mut runner).map_err(|reason| {
            HarnessError::Setup(format!("the property runner gave up: {reason}"))
        })?);
    }
    let values: Vec<Vec<Fields>> = trees.iter().map(ValueTree::current).collect();
    let values = Arc::new(values);
    let lanes = run.runtime.block_on(play_in_lanes(
        run.clone(),
        keys.clone(),
        values.clone(),
        generation.lanes,
    ));
    let mut explored = Explored {
        requests: lanes.setup,
        keys_created: lanes.keys_created,
        chain: lanes.longest,
        steps: 0,
        observations: BTreeSet::new(),
        failure: None,
        trace: Vec::new(),
    };
    let mut first_failing = None;
    for (i, result) in lanes.outcomes.into_iter().enumerate() {
        let played = result?;
        explored.requests += played.requests;
        explored.steps += values[i].len();
        explored
            .observations
            .extend(played.observations.iter().cloned());
        explored
            .trace
            .extend(played.trace.iter().map(|t| TraceStep {
                at: format!("sequence {i} {}", t.at),
                ..t.clone()
            }));
        if played.failed && first_failing.is_none() {
            first_failing = Some((i, played));
        }
    }
    let Some((i, mut shortest)) = first_failing else {
        return Ok(explored);
    };
    let first_len = values[i].len();
    let mut shortest_sequence = values[i].clone();
    let mut tree = trees.swap_remove(i);
    let mut replays = 0;
    if tree.simplify() {
        while replays < generation.shrink_iters {
            replays += 1;
            let sequence = tree.current();
            let played = run
                .runtime
                .block_on(play(run.clone(), &keys, &keys.key, &sequence))?;
            explored.requests += played.requests;
            explored.chain += played.requests;
            explored.steps += sequence.len();
            let more = if played.failed {
                shortest = played;
                shortest_sequence = sequence;
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !more {
                break;
            }
        }
    }
    explored.failure = Some(Failure {
        played: shortest,
        sequence: shortest_sequence,
        first_len,
    });
    Ok(explored)
}

/// A failing sequence, shrunk: as played, as generated, and how long the first failing one
/// was.
struct Failure {
    played: Played,
    sequence: Vec<Fields>,
    first_len: usize,
}

/// The keys a property plays on: a fresh one, and (for the open inputs, when the run may
/// hold two at once) a bystander.
async fn property_keys(ctx: &mut Ctx, profile: Profile) -> Result<Keys, HarnessError> {
    let run = ctx.run.clone();
    let with_bystander =
        profile == Profile::Info && run.shared_key.is_none() && run.keys_at_once(2) == 2;
    ctx.reserve_keys(if with_bystander { 2 } else { 1 }).await?;
    let key = ctx.fresh_key(START).await?;
    let bystander = match profile {
        Profile::Info if with_bystander => {
            let made = ctx
                .fresh_key("a bystander, which no update may touch")
                .await?;
            Some(ctx.read_existing(&id_of(&made)).await?)
        }
        _ => None,
    };
    Ok(Keys {
        key,
        bystander,
        trial: ctx.trial.clone(),
    })
}

/// Records a shrunk failure: every violation of its steps, the numbered report on the first,
/// and what `replay` sends again.
fn record_failure(ctx: &mut Ctx, profile: Profile, failure: &Failure, seed: u64) {
    let text = report(&failure.played, seed, failure.first_len);
    let mut found: Vec<Violation> = failure
        .played
        .steps
        .iter()
        .flat_map(|s| s.violations.iter().cloned())
        .collect();
    if let Some(first) = found.first_mut() {
        first.detail = Some(text);
    }
    ctx.record(found);
    ctx.replay = Some(Replay::Sequence {
        profile: profile.name().to_string(),
        bodies: failure.sequence.iter().map(Fields::to_text).collect(),
    });
}

/// `replay`: plays one recorded sequence on fresh keys, judged as the property judges it.
pub fn replay_spec(name: &str, profile: &str, bodies: &[String]) -> Result<Spec, String> {
    let profile = Profile::named(profile).ok_or_else(|| format!("unknown profile `{profile}`"))?;
    let sequence = bodies
        .iter()
        .map(|b| model::read_body(b).map_err(|e| format!("a recorded body {b}: {e}")))
        .collect::<Result<Vec<Fields>, String>>()?;
    let rule = match profile {
        Profile::Must => "U1",
        Profile::Should => "U7",
        Profile::Info => "U8",
    };
    let sequence = Arc::new(sequence);
    Ok(Spec {
        name: name.to_string(),
        rule,
        level: crate::contract::rules::get(rule).level,
        covers: Vec::new(),
        walk: None,
        replay: Some(Replay::Sequence {
            profile: profile.name().to_string(),
            bodies: bodies.to_vec(),
        }),
        body: Arc::new(move |ctx| {
            let sequence = sequence.clone();
            Box::pin(async move {
                let keys = property_keys(ctx, profile).await?;
                let run = ctx.run.clone();
                let played = play(run.clone(), &keys, &keys.key, &sequence).await?;
                ctx.requests += played.requests;
                ctx.chain += played.requests;
                ctx.observations.extend(played.observations.iter().cloned());
                if played.failed {
                    let failure = Failure {
                        first_len: sequence.len(),
                        sequence: sequence.to_vec(),
                        played,
                    };
                    record_failure(ctx, profile, &failure, run.generation.seed);
                }
                Ok(())
            })
        }),
    })
}

async fn property(ctx: &mut Ctx, profile: Profile) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let keys = property_keys(ctx, profile).await?;
    let worker = run.clone();
    let explored = tokio::task::spawn_blocking(move || explore(worker, keys, profile))
        .await
        .map_err(|e| HarnessError::Setup(format!("the property runner stopped: {e}")))??;
    ctx.requests += explored.requests;
    ctx.keys_created += explored.keys_created;
    ctx.chain += explored.chain;
    ctx.observations.extend(explored.observations);
    ctx.trace.extend(explored.trace);
    run.count_generated_steps(explored.steps as u64);
    if let Some(failure) = &explored.failure {
        record_failure(ctx, profile, failure, run.generation.seed);
    }
    Ok(())
}

async fn must_sequences(ctx: &mut Ctx) -> Result<(), HarnessError> {
    property(ctx, Profile::Must).await
}

async fn should_sequences(ctx: &mut Ctx) -> Result<(), HarnessError> {
    property(ctx, Profile::Should).await
}

async fn info_sequences(ctx: &mut Ctx) -> Result<(), HarnessError> {
    property(ctx, Profile::Info).await
}

pub fn specs() -> Vec<Spec> {
    vec![
        super::spec!(
            "properties::u1_u6_update_sequences_match_the_model",
            "U1",
            Level::Must,
            must_sequences
        ),
        super::spec!(
            "properties::u7_masks_with_unknown_paths_rejected",
            "U7",
            should_sequences
        ),
        super::spec!(
            "properties::u8_open_masks_get_a_documented_reading",
            "U8",
            info_sequences
        ),
    ]
}
