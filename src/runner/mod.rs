//! The runner: [`Run`] holds what every trial shares (the target, schemas, secrets, the ledger
//! of created keys, the outcome log); [`execute`] runs the suite's [`Spec`]s as overlapping
//! tasks on one tokio runtime and records an [`Outcome`] per trial; [`Ctx`] is one trial's
//! view of the target.

mod ctx;
mod execute;
pub mod ledger;
mod outcome;
mod run;

pub use ctx::{Created, Ctx, HarnessError, ListPage, ListWalk};
pub use execute::{Plan, execute};
pub use outcome::{
    Body, Cell, Expected, Outcome, Record, Replay, Spec, Status, TraceStep, TrialFuture, alike,
    failure_text,
};
pub use run::{Generation, INTERRUPTED_SWEEP, Run, Uncertain, Unconfirmed};
