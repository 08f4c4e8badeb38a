//! accesskey-conformance: a conformance harness for the AccessKey.Update REST API.
//! See ARCHITECTURE.md for the flow and the code map.

pub mod app;
pub mod checks;
pub mod cli;
pub mod client;
pub mod contract;
pub mod exit;
pub mod jwt;
pub mod reference;
pub mod report;
pub mod runner;
pub mod suite;
