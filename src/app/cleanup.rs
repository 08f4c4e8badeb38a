//! `accesskey-conformance cleanup`: deletes the keys a ledger lists as still present.

use std::process::ExitCode;
use std::sync::Arc;

use super::{credentials, harness, is_loopback, parse_base_url, runtime, usage};
use crate::cli::CleanupArgs;
use crate::client::{Api, Client};
use crate::contract::Schemas;
use crate::exit;
use crate::runner::{self, Run};

/// `accesskey-conformance cleanup`: deletes what a ledger lists as still present.
pub fn cleanup(args: CleanupArgs) -> ExitCode {
    let ledger = match runner::ledger::read(&args.ledger) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let base = match parse_base_url(
        "the base URL",
        args.base_url.as_deref().unwrap_or(&ledger.base_url),
    ) {
        Ok(u) => u,
        Err(e) => return usage(e),
    };
    let operation = args
        .operation_url
        .clone()
        .unwrap_or_else(|| ledger.operation_url.clone());
    let operation = match parse_base_url("the operation URL", &operation) {
        Ok(u) => u,
        Err(e) => return usage(e),
    };
    let (source, _, hidden) = match credentials(&args.auth) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return usage(
                "cleanup needs credentials: --token (or YC_TOKEN), --token-command, or --service-account-key-file",
            );
        }
        Err(e) => return usage(e),
    };
    // Keys whose Create was in flight when the run was killed are found by their marker.
    let search = ledger.unanswered && !ledger.marker.is_empty();
    if ledger.pending.is_empty() && !search {
        println!(
            "cleanup: the ledger lists {} key(s), all already deleted",
            ledger.created
        );
        return exit::code(exit::PASSED);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return harness(format!("cannot start the async runtime: {e}")),
    };
    let client = match Client::new(
        args.transport.timeout,
        is_loopback(&base),
        args.transport.cacert.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let schemas = match Schemas::embedded() {
        Ok(s) => s,
        Err(e) => return harness(e),
    };
    let api = match rt.block_on(Api::with_source(
        client,
        base.as_str(),
        operation.as_str(),
        source,
    )) {
        Ok(api) => api,
        Err(e) => return harness(format!("cannot get an IAM token: {e}")),
    };
    let token = api.token();
    let mut run = Run::new(
        api,
        schemas,
        ledger.service_account_id.clone(),
        std::time::Duration::from_secs(60),
        rt.handle().clone(),
        &token,
    );
    for text in &hidden {
        run.add_redacted(text);
    }
    // Deletions are written to the same ledger, so a second cleanup knows what is done.
    match runner::ledger::LedgerFile::append_to(&args.ledger) {
        Ok(file) => run.ledger_file = Some(file),
        Err(e) => return usage(e),
    }
    let run = Arc::new(run);
    let mut failed = Vec::new();
    let mut pending = ledger.pending.clone();
    rt.block_on(async {
        let mut ctx = runner::Ctx::new(run.clone());
        if search {
            for id in &pending {
                run.ledger_track(id);
            }
            let mut accounts = vec![ledger.service_account_id.clone()];
            accounts.extend(ledger.alt_service_account_id.clone());
            let mut searched = true;
            for account in &accounts {
                match ctx.find_marked_in(account, &ledger.marker).await {
                    Ok(found) => {
                        for id in found {
                            if !pending.contains(&id) {
                                pending.push(id);
                            }
                        }
                    }
                    Err(e) => {
                        searched = false;
                        failed.push(format!(
                            "cannot look for keys of {account} marked `{}`: {}",
                            ledger.marker,
                            run.redact(&e.to_string())
                        ));
                    }
                }
            }
            if let (true, Some(file)) = (searched, &run.ledger_file) {
                file.searched(&ledger.marker);
            }
        }
        for id in &pending {
            run.ledger_track(id);
            match ctx.delete(id).await {
                Ok(true) => println!("deleted {id} (or it was already gone)"),
                Ok(false) => failed.push(format!("{id}: the target did not delete it")),
                Err(e) => failed.push(format!("{id}: {}", run.redact(&e.to_string()))),
            }
        }
    });
    println!(
        "cleanup: {} key(s) pending in the ledger, {} found by the run's marker; {} deleted or already gone, {} failed",
        ledger.pending.len(),
        pending.len() - ledger.pending.len(),
        pending.len().saturating_sub(failed.len()),
        failed.len()
    );
    if failed.is_empty() {
        exit::code(exit::PASSED)
    } else {
        for f in &failed {
            eprintln!("error: {f}");
        }
        exit::code(exit::HARNESS_ERROR)
    }
}
