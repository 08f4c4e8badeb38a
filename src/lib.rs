//! accesskey-conformance: a conformance harness for the AccessKey.Update REST API.
//! See ARCHITECTURE.md for the flow and the code map.

pub mod contract;
pub mod reference;
pub mod target;
pub mod checks;
pub mod report;
pub mod runner;
pub mod suite;
pub mod app;
pub mod cli;
pub mod exit;
