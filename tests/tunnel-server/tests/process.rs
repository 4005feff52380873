//! The binary: the ready line, loopback only, a clean exit on SIGTERM that closes tunnels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use authenticator_core::hybrid::client::{self, TunnelClientError};
use common::{TUNNEL_ID, hex, recv};

#[tokio::test]
async fn prints_its_address_forwards_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tunnel-server"))
        .args(["--lifetime-ms", "60000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("tunnel-server listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let (mut phone, routing_id) =
        client::open_new(&format!("ws://{addr}/cable/new/{TUNNEL_ID}"), true)
            .await
            .unwrap();
    let mut browser = client::connect(
        &format!("ws://{addr}/cable/connect/{}/{TUNNEL_ID}", hex(&routing_id)),
        true,
    )
    .await
    .unwrap();
    browser.send(b"ciphertext").await.unwrap();
    assert_eq!(recv(&mut phone).await.unwrap(), b"ciphertext");

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(recv(&mut phone).await, Err(TunnelClientError::Closed));
    assert_eq!(recv(&mut browser).await, Err(TunnelClientError::Closed));
    let exit = tokio::task::spawn_blocking(move || child.wait().map(|s| (s, child)))
        .await
        .unwrap()
        .unwrap();
    assert!(exit.0.success(), "{:?}", exit.0);
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "only the ready line goes to stdout");
    let mut log = String::new();
    exit.1.stderr.unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains(TUNNEL_ID), "{log}");
}

#[test]
fn refuses_a_non_loopback_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_tunnel-server"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));
}
