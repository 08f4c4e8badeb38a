//! Chaos between the harness and a correct server (R3, R5, R6, E3): a small relay on
//! loopback, seeded, that loses answers before and after the server acted (a reset), cuts
//! bodies short, stalls past the harness's `--timeout`, answers as a load balancer does (a
//! 502 HTML page, a 503 with Retry-After), on every method. Whatever it does, a transport
//! fault is never a contract failure (exit 0 or 3 only), each run ends within 60 s, every
//! key the run made is gone when it ends, and its closing counts are the server's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accesskey_conformance::reference::Options;
use common::{ALT_ACCOUNT, ALT_TOKEN, TOKEN, runtime, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// SplitMix64: the relay's seeded source of decisions.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in 0..1000.
    fn permille(&mut self) -> u64 {
        self.next() % 1000
    }
}

/// What the relay does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mischief {
    Forward,
    /// The connection is dropped before the request reaches the server.
    ResetBefore,
    /// The server acts; its answer is dropped.
    ResetAfter,
    /// The server acts; half its answer arrives, then the connection closes.
    Truncate,
    /// Nothing comes back for longer than the harness waits.
    Stall,
    /// A load balancer's HTML page.
    BadGateway,
    /// A load balancer asking to come back at once.
    Unavailable,
}

/// Per mille of requests each mischief takes.
const ODDS: [(Mischief, u64); 6] = [
    (Mischief::ResetBefore, 20),
    (Mischief::ResetAfter, 25),
    (Mischief::Truncate, 20),
    (Mischief::Stall, 4),
    (Mischief::BadGateway, 20),
    (Mischief::Unavailable, 20),
];

/// How long a stall lasts: past the `--timeout` the runs here use.
const STALL: Duration = Duration::from_millis(2500);
const HARNESS_TIMEOUT: &str = "2";

#[derive(Default)]
struct Tally {
    done: Mutex<Vec<Mischief>>,
}

fn decide(dice: &Mutex<Dice>) -> Mischief {
    let roll = dice.lock().unwrap().permille();
    let mut floor = 0;
    for (mischief, odds) in ODDS {
        floor += odds;
        if roll < floor {
            return mischief;
        }
    }
    Mischief::Forward
}

/// Reads one HTTP/1.1 request (head and a Content-Length body); `None` at the end of the
/// connection.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}

/// The request with `Connection: close`, so that the server's answer ends with its
/// connection.
fn closing(request: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut out: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_string)
        .collect();
    out.push("Connection: close".into());
    format!("{}\r\n\r\n{body}", out.join("\r\n")).into_bytes()
}

async fn relay_one(
    mut client: TcpStream,
    upstream: SocketAddr,
    dice: Arc<Mutex<Dice>>,
    tally: Arc<Tally>,
) {
    let Some(request) = read_request(&mut client).await else {
        return;
    };
    let mischief = decide(&dice);
    tally.done.lock().unwrap().push(mischief);
    let canned = |status: &str, kind: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match mischief {
        Mischief::ResetBefore => {}
        Mischief::Stall => tokio::time::sleep(STALL).await,
        Mischief::BadGateway => {
            let page = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
            let _ = client
                .write_all(canned("502 Bad Gateway", "text/html", "", page).as_bytes())
                .await;
        }
        Mischief::Unavailable => {
            let body = r#"{"code":14,"message":"the service is restarting","details":[]}"#;
            let _ = client
                .write_all(
                    canned(
                        "503 Service Unavailable",
                        "application/json",
                        "Retry-After: 0\r\n",
                        body,
                    )
                    .as_bytes(),
                )
                .await;
        }
        Mischief::Forward | Mischief::ResetAfter | Mischief::Truncate => {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            if server.write_all(&closing(&request)).await.is_err() {
                return;
            }
            let mut answer = Vec::new();
            if server.read_to_end(&mut answer).await.is_err() {
                return;
            }
            match mischief {
                Mischief::ResetAfter => {}
                Mischief::Truncate => {
                    let _ = client.write_all(&answer[..answer.len() * 2 / 3]).await;
                }
                _ => {
                    let _ = client.write_all(&answer).await;
                }
            }
        }
    }
    let _ = client.shutdown().await;
}

/// A relay to `upstream` on a free port of loopback, deciding with `seed`.
fn start_relay(upstream: SocketAddr, seed: u64) -> (String, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    let dice = Arc::new(Mutex::new(Dice(seed)));
    let listener = runtime()
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let kept = tally.clone();
    runtime().spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay_one(client, upstream, dice.clone(), kept.clone()));
        }
    });
    (format!("http://{addr}"), tally)
}

fn chaos(seed: u64) {
    let options = Options::new(TOKEN);
    let made = options.keys_made.clone();
    let alive = options.keys_alive.clone();
    let server = start_with(options);
    let upstream: SocketAddr = server.trim_start_matches("http://").parse().unwrap();
    let (url, tally) = start_relay(upstream, seed);
    let started = Instant::now();
    let har = std::env::temp_dir().join(format!("akc-chaos-{seed}-{}.har", common::uuid_like()));
    let v = common::run_with(
        &url,
        &[
            "--har",
            har.to_str().unwrap(),
            "--alt-token",
            ALT_TOKEN,
            "--alt-service-account-id",
            ALT_ACCOUNT,
            "--timeout",
            HARNESS_TIMEOUT,
            "--seed",
            &seed.to_string(),
        ],
    );
    let took = started.elapsed();
    let done = tally.done.lock().unwrap().clone();
    let count = |m: Mischief| done.iter().filter(|d| **d == m).count();
    let summary = format!(
        "seed {seed}: exit {}, {took:?}; relayed {} requests: {} reset before, {} reset after, {} cut short, {} stalled, {} 502, {} 503",
        v.code,
        done.len(),
        count(Mischief::ResetBefore),
        count(Mischief::ResetAfter),
        count(Mischief::Truncate),
        count(Mischief::Stall),
        count(Mischief::BadGateway),
        count(Mischief::Unavailable)
    );
    eprintln!("{summary}");
    assert!(
        v.code == 0 || v.code == 3,
        "{summary}: a transport fault is never a contract failure: {:#?}",
        v.failed
    );
    assert!(took < Duration::from_secs(60), "{summary}");
    assert!(
        count(Mischief::ResetAfter) + count(Mischief::Truncate) > 0,
        "{summary}"
    );
    let keys = &v.json["keys"];
    let created = keys["created"].as_u64().unwrap() as usize;
    let left = keys["left"].as_array().unwrap().len();
    let unsettled = keys["unconfirmed_creates"].as_array().unwrap().len();
    assert_eq!(
        alive.load(Ordering::SeqCst),
        0,
        "{summary}: keys left on the server\n{}",
        v.stdout
    );
    if left + unsettled > 0 {
        // What the run saw of each key it could not confirm gone.
        let har: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&har).unwrap_or_default())
                .unwrap_or_default();
        for id in keys["left"].as_array().unwrap() {
            let id = id.as_str().unwrap();
            for e in har["log"]["entries"].as_array().into_iter().flatten() {
                let url = e["request"]["url"].as_str().unwrap_or_default();
                let body = e["response"]["content"]["text"]
                    .as_str()
                    .unwrap_or_default();
                if url.contains(id) || body.contains(id) {
                    eprintln!(
                        "{} {} {} -> {} {}",
                        e["_trial"],
                        e["request"]["method"],
                        url,
                        e["response"]["status"],
                        body.chars().take(120).collect::<String>()
                    );
                }
            }
        }
        eprintln!("{}", v.stderr);
    }
    std::fs::remove_file(&har).ok();
    assert_eq!((left, unsettled), (0, 0), "{summary}\n{}", v.stdout);
    assert_eq!(
        created,
        made.load(Ordering::SeqCst),
        "{summary}: the closing line's count of created keys is not the server's\n{}",
        v.stdout
    );
    assert!(v.stdout.contains("left 0"), "{summary}\n{}", v.stdout);
}

macro_rules! seeds {
    ($($name:ident: $seed:literal;)*) => {
        $(
            #[test]
            fn $name() {
                chaos($seed);
            }
        )*
    };
}

seeds! {
    chaos_seed_1: 1;
    chaos_seed_2: 2;
    chaos_seed_3: 3;
    chaos_seed_4: 4;
    chaos_seed_5: 5;
    chaos_seed_6: 6;
}

/// A run killed (SIGKILL) at a moment drawn from the seed: `cleanup` with its ledger leaves
/// nothing of it.
#[test]
fn a_run_killed_at_a_random_moment_is_cleaned_up_by_its_ledger() {
    for seed in [11u64, 12, 13] {
        let options = Options::new(TOKEN);
        let alive = options.keys_alive.clone();
        let url = start_with(options);
        let ledger = std::env::temp_dir().join(format!("akc-chaos-{}.ledger", common::uuid_like()));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_accesskey-conformance"))
            .env_remove("YC_TOKEN")
            .env_remove("GITHUB_STEP_SUMMARY")
            .args([
                "run",
                "-q",
                "--base-url",
                &url,
                "--token",
                TOKEN,
                "--service-account-id",
                common::ACCOUNT,
                "--alt-service-account-id",
                ALT_ACCOUNT,
                "--ledger",
                ledger.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let at = Duration::from_millis(150 + Dice(seed).next() % 1200);
        std::thread::sleep(at);
        child.kill().unwrap();
        child.wait().unwrap();
        let out = common::harness(&[
            "cleanup",
            "--ledger",
            ledger.to_str().unwrap(),
            "--token",
            TOKEN,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "seed {seed}, killed after {at:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            alive.load(Ordering::SeqCst),
            0,
            "seed {seed}, killed after {at:?}: keys left after cleanup: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        std::fs::remove_file(&ledger).ok();
    }
}
