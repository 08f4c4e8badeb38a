//! Reports: read the outcome log and write it out. Nothing here decides a verdict.

pub mod junit;
