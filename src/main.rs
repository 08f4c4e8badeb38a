//! `accesskey-conformance`: parse the command line, run the command, return its exit code.

use std::process::ExitCode;

use accesskey_conformance::cli::{Cli, Command};
use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // libtest-mimic's flattened arguments bring their own help template; put ours back.
    let command = Cli::command().mut_subcommand("run", |run| {
        run.help_template(
            "{about}\n\nUsage: accesskey-conformance run [OPTIONS] [FILTER]\n\n{all-args}",
        )
    });
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Run(args) => accesskey_conformance::app::run(*args),
        Command::Serve(args) => accesskey_conformance::app::serve(args),
        Command::Cleanup(args) => accesskey_conformance::app::cleanup(args),
        Command::Replay(args) => accesskey_conformance::app::replay(*args),
        Command::Diff(args) => accesskey_conformance::app::diff(*args),
        Command::Rules(args) => accesskey_conformance::app::rules(args),
        Command::Explain(args) => accesskey_conformance::app::explain(args),
    }
}
