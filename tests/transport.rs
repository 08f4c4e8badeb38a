//! Transport: the reference server behind a TLS front whose certificate a CA made here issued
//! (reached with and without `--cacert`), and behind an HTTP proxy named by `HTTP_PROXY`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use accesskey_conformance::reference::Options;
use common::{ACCOUNT, TOKEN, start_with};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate for 127.0.0.1 it signed: (CA PEM, chain, server key).
fn private_ca() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    (ca.pem(), vec![leaf.der().clone()], key)
}

/// Terminates TLS on a free port and relays each connection to `plain` (the reference server).
fn tls_front(
    plain: SocketAddr,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = common::runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    common::runtime().spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(plain).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    format!("https://127.0.0.1:{}", addr.port())
}

#[test]
fn a_private_ca_is_trusted_with_cacert_and_only_then() {
    let url = start_with(Options::new(TOKEN));
    let plain: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let (ca_pem, chain, key) = private_ca();
    let https = tls_front(plain, chain, key);
    let ca_file = std::env::temp_dir().join(format!("akc-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca_pem).unwrap();

    let base = [
        "run",
        "-q",
        "--base-url",
        &https,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--level",
        "must",
        "--skip",
        "properties::",
    ];
    let mut trusted = base.to_vec();
    trusted.extend(["--cacert", ca_file.to_str().unwrap()]);
    let ok = common::harness(&trusted);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let refused = common::harness(&base);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    std::fs::remove_file(&ca_file).ok();
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&https) && stderr.contains("cannot be reached"),
        "{stderr}"
    );
}

/// Relays every connection to `plain`, counting them: an HTTP proxy for absolute-form
/// requests (the reference server reads the path of an absolute URI like any other).
fn proxy(plain: SocketAddr) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let listener = common::runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    common::runtime().spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut upstream) = tokio::net::TcpStream::connect(plain).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

#[test]
fn proxies_come_from_the_environment() {
    let url = start_with(Options::new(TOKEN));
    let plain: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let (proxy_url, connections) = proxy(plain);
    // A name that never resolves: only the proxy can reach it.
    let target = "http://conformance-target.invalid";
    let args = [
        "run",
        "-q",
        "--base-url",
        target,
        "--token",
        TOKEN,
        "--service-account-id",
        ACCOUNT,
        "--level",
        "must",
        "--skip",
        "properties::",
    ];
    let run = |no_proxy: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_accesskey-conformance"));
        command
            .args(args)
            .env_remove("YC_TOKEN")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("http_proxy")
            .env_remove("no_proxy")
            .env("HTTP_PROXY", &proxy_url);
        match no_proxy {
            Some(n) => command.env("NO_PROXY", n),
            None => command.env_remove("NO_PROXY"),
        };
        command.output().unwrap()
    };
    let through = run(None);
    let stdout = String::from_utf8_lossy(&through.stdout);
    assert_eq!(
        through.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&through.stderr)
    );
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) > 0);

    // NO_PROXY names the target: the harness goes direct, and the name does not resolve.
    let direct = run(Some("conformance-target.invalid"));
    let stderr = String::from_utf8_lossy(&direct.stderr);
    assert_eq!(direct.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("conformance-target.invalid"), "{stderr}");
}
