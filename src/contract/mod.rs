//! The contract as data and pure functions: the rule table, the schemas, the timestamp grammar, the
//! model of Update.

pub mod cases;
pub mod model;
pub mod rules;
pub mod schemas;
pub mod timestamp;

pub use rules::{Level, RULES, Rule};
pub use schemas::{DocKind, SchemaFinding, Schemas};
pub use timestamp::{Instant, TimestampError, parse_strict};
