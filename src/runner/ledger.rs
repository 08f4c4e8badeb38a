//! The ledger file: the marker the run's keys carry in their description, every key the run
//! creates, written down the moment Create answers (and a line before each Create is sent),
//! and every deletion, one JSON object per line. A run that is killed leaves the file behind
//! and `accesskey-conformance cleanup --ledger PATH` deletes what it lists as still present,
//! and any key of the account that carries the run's marker (a Create in flight at the kill).
//! It holds ids and URLs only, never a token or a secret.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

/// A ledger file, appended to as the run goes.
#[derive(Debug)]
pub struct LedgerFile {
    pub path: PathBuf,
    /// Opened on the first line (a lazy ledger is only created once a key is).
    file: Mutex<Option<File>>,
    header: Value,
}

impl LedgerFile {
    /// A ledger at `path` (never overwriting a file). `eager` creates the file now, so that a
    /// path the user gave is checked before anything happens; otherwise it appears with the
    /// first key.
    pub fn create(
        path: &Path,
        base_url: &str,
        operation_url: &str,
        service_account_id: &str,
        alt_service_account_id: Option<&str>,
        marker: &str,
        eager: bool,
    ) -> Result<Self, String> {
        let ledger = LedgerFile {
            path: path.to_path_buf(),
            file: Mutex::new(None),
            header: json!({
                "ledger": "accesskey-conformance",
                "version": 1,
                "base_url": base_url,
                "operation_url": operation_url,
                "service_account_id": service_account_id,
                "alt_service_account_id": alt_service_account_id,
                "marker": marker,
                "started": chrono::Utc::now().to_rfc3339(),
            }),
        };
        if eager {
            let mut file = ledger.file.lock().unwrap_or_else(|p| p.into_inner());
            *file = Some(ledger.open_new()?);
        }
        Ok(ledger)
    }

    fn open_new(&self) -> Result<File, String> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.path)
            .map_err(|e| format!("cannot create the ledger `{}`: {e}", self.path.display()))?;
        writeln!(file, "{}", self.header)
            .map_err(|e| format!("cannot write the ledger `{}`: {e}", self.path.display()))?;
        Ok(file)
    }

    /// Whether the file exists (a lazy ledger with no key never does).
    pub fn written(&self) -> bool {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Opens an existing ledger to append to it (the cleanup command records its deletions).
    pub fn append_to(path: &Path) -> Result<Self, String> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open the ledger `{}`: {e}", path.display()))?;
        Ok(LedgerFile {
            path: path.to_path_buf(),
            file: Mutex::new(Some(file)),
            header: Value::Null,
        })
    }

    /// Appends one line. A failed write is reported once on stderr and does not stop the run
    /// (the in-memory ledger still drives the sweep).
    fn append(&self, line: &Value) {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            match self.open_new() {
                Ok(f) => *guard = Some(f),
                Err(e) => {
                    eprintln!("warning: {e}");
                    return;
                }
            }
        }
        if let Some(file) = guard.as_mut()
            && let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush())
        {
            eprintln!(
                "warning: cannot write to the ledger `{}`: {e}",
                self.path.display()
            );
        }
    }

    /// Records that a Create is about to be sent (so that a run killed before the answer has a
    /// ledger whose marker finds the key).
    pub fn creating(&self, marker: &str) {
        self.append(&json!({ "creating": marker }));
    }

    /// Records that the account was searched for the run's marker (by `cleanup`).
    pub fn searched(&self, marker: &str) {
        self.append(&json!({ "searched": marker }));
    }

    /// Records a key the run created (a no-op for a key already written down).
    pub fn created(&self, id: &str) {
        self.append(&json!({ "created": id }));
    }

    pub fn deleted(&self, id: &str) {
        self.append(&json!({ "deleted": id }));
    }
}

/// A ledger read back: where the keys live, and which ones are still present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLedger {
    pub base_url: String,
    pub operation_url: String,
    pub service_account_id: String,
    /// The second service account the run made keys in (A3), if any.
    pub alt_service_account_id: Option<String>,
    /// What the descriptions of the run's keys carry (empty for ledgers without it).
    pub marker: String,
    /// Creates were sent whose answer the ledger does not record, and no cleanup has searched
    /// the account for the marker since.
    pub unanswered: bool,
    /// Created and not deleted, in creation order.
    pub pending: Vec<String>,
    pub created: usize,
}

/// Reads a ledger file; the message names the file and the line of a problem.
pub fn read(path: &Path) -> Result<ReadLedger, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the ledger `{shown}`: {e}"))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Err(format!("the ledger `{shown}` is empty"));
    };
    let header: Value = serde_json::from_str(first)
        .map_err(|e| format!("the ledger `{shown}`, line 1: not JSON: {e}"))?;
    if header["ledger"] != "accesskey-conformance" {
        return Err(format!(
            "`{shown}` is not a ledger of accesskey-conformance (line 1)"
        ));
    }
    let field = |name: &str| header[name].as_str().unwrap_or_default().to_string();
    let mut order = Vec::new();
    let mut state: BTreeMap<String, bool> = BTreeMap::new();
    let (mut creating, mut answered, mut searched) = (0usize, 0usize, false);
    for (n, line) in lines {
        // The last line of a killed run may be cut short: ignore it rather than fail.
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            eprintln!(
                "warning: the ledger `{shown}`, line {}: unreadable, skipped",
                n + 1
            );
            continue;
        };
        if entry["creating"].is_string() {
            creating += 1;
        } else if entry["searched"].is_string() {
            searched = true;
        } else if let Some(id) = entry["created"].as_str() {
            answered += 1;
            if state.insert(id.to_string(), false).is_none() {
                order.push(id.to_string());
            }
        } else if let Some(id) = entry["deleted"].as_str() {
            state.insert(id.to_string(), true);
        }
    }
    Ok(ReadLedger {
        base_url: field("base_url"),
        operation_url: field("operation_url"),
        service_account_id: field("service_account_id"),
        alt_service_account_id: header["alt_service_account_id"]
            .as_str()
            .map(str::to_string),
        marker: field("marker"),
        unanswered: creating > answered && !searched,
        created: order.len(),
        pending: order
            .into_iter()
            .filter(|id| state.get(id) == Some(&false))
            .collect(),
    })
}

/// The default ledger path: in the system temp directory, unique per run.
pub fn default_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "accesskey-conformance-{}-{}.ledger",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        std::process::id()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_ledger_reads_back_with_what_is_pending() {
        let path = std::env::temp_dir().join(format!("akc-ledger-test-{}", std::process::id()));
        std::fs::remove_file(&path).ok();
        let ledger = LedgerFile::create(&path, "http://a", "http://o", "sa", None, "akc t-", false)
            .expect("created");
        assert!(!path.exists(), "a lazy ledger waits for its first key");
        ledger.creating("akc t-1");
        ledger.created("k1");
        ledger.creating("akc t-2");
        ledger.created("k2");
        ledger.creating("akc t-3");
        ledger.deleted("k1");
        ledger.created("k3");
        assert!(
            LedgerFile::create(&path, "http://a", "http://o", "sa", None, "akc t-", true).is_err()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"created\": \"k4"))
            .expect("append a cut line");
        let read = read(&path).expect("readable");
        std::fs::remove_file(&path).ok();
        assert_eq!(read.pending, vec!["k2".to_string(), "k3".to_string()]);
        assert_eq!(read.created, 3);
        assert_eq!(read.base_url, "http://a");
        assert_eq!(read.marker, "akc t-");
        assert!(!read.unanswered, "three Creates, three answers");
    }
}
