//! `accesskey-conformance`: parse the command line, run the command, return its exit code.

use std::process::ExitCode;

use accesskey_conformance::cli::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => accesskey_conformance::app::run(*args),
        Command::Serve(args) => accesskey_conformance::app::serve(args),
    }
}
