//! accesskey-conformance: a conformance harness for the AccessKey.Update REST API.
//! See ARCHITECTURE.md for the flow and the code map.

pub mod contract;
