//! The contract as data and pure functions: the rule table, the schemas, the timestamp grammar, the
//! model of Update.

pub mod cases;
pub mod explain;
pub mod model;
pub mod routes;
pub mod rules;
pub mod schemas;
pub mod timestamp;

pub use rules::{Level, RULES, Rule};
pub use schemas::{DocKind, SchemaFinding, Schemas};
pub use timestamp::{Instant, TimestampError, parse_strict};

/// A SHA-256 over the schemas and cases a run used (file names and contents in a canonical
/// JSON form, in name order), written into the reports: two runs with the same digest judged
/// by the same contract data.
pub fn digest(schemas: &Schemas, cases: &[cases::Case]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (file, document) in schemas.documents() {
        hash.update(format!("schema {file}\n{document}\n"));
    }
    for case in cases {
        hash.update(format!(
            "case {}\n{} {} {:?} {:?}\n{}\n{:?}\n",
            case.name, case.rule, case.level, case.key, case.start, case.body, case.expect
        ));
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
