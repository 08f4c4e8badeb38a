//! `accesskey-conformance serve`: the reference server on its own.

use std::process::ExitCode;

use super::{harness, runtime, usage};
use crate::cli::ServeArgs;
use crate::exit;
use crate::reference::{self, Options};

/// `accesskey-conformance serve`.
pub fn serve(args: ServeArgs) -> ExitCode {
    if args.token.trim().is_empty() {
        return usage("--token must not be empty");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return harness(format!("cannot start the async runtime: {e}")),
    };
    let mut options = Options::new(args.token);
    options.mode = args.mode;
    options.style = args.style;
    options.masks = args.masks;
    options.faults = args.fault;
    options.throttle = args.throttle_every.map(|every| reference::Throttle {
        every,
        retry_after: args.retry_after,
        only_429: false,
        after_effect: false,
    });
    options.operation_not_found_reads = args.early_not_found;
    if let Some(path) = &args.authorized_key {
        match reference::AuthorizedKey::load(path) {
            Ok(key) => options.authorized_key = Some(key),
            Err(e) => return usage(format!("--authorized-key: {e}")),
        }
    }
    options.poll_interval = args.poll_interval.filter(|s| s.is_finite() && *s >= 0.0);
    options.latency = args.latency;
    options.clock_skew = chrono::Duration::seconds(args.clock_skew.clamp(-86_400, 86_400));
    options.date_header = !args.no_date_header;
    options.paging = args.paging;
    options.finish_after = args.operation_delay;
    options.create_answer = args.create_answer;
    if let (Some(token), Some(account)) = (&args.alt_token, &args.alt_account) {
        if token.trim().is_empty() || token == &options.token {
            return usage("--alt-token must be a token of its own (not empty, not --token)");
        }
        options.alt = Some(reference::AltAccount {
            token: token.clone(),
            service_account_id: account.clone(),
        });
    }
    rt.block_on(async {
        let server = match reference::start(args.listen, options).await {
            Ok(s) => s,
            Err(e) => return usage(format!("cannot listen on {}: {e}", args.listen)),
        };
        println!("listening on {}", server.base_url());
        tokio::select! {
            _ = server.handle => exit::code(exit::PASSED),
            _ = tokio::signal::ctrl_c() => exit::code(exit::PASSED),
        }
    })
}
