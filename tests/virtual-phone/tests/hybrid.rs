//! `virtual-phone hybrid 'FIDO:/...'` as other teams' tests drive it: a real tunnel server
//! process (`tunnel-server`), the phone's pinned output lines read live, and the core's test
//! browser (`hybrid::session_browser`) joining from the printed advert. Registers a passkey,
//! signs in with it (the signature checked against the registered key), and a declined
//! request ends with `hybrid done: ERROR` and a failing exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use authenticator_core::cbor::{self, MapReader, Value};
use authenticator_core::hybrid::qr::RequestType;
use authenticator_core::hybrid::session_browser::{Bend, TestBrowser};
use harness::{Process, Stderr};
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};

const RP: &str = "hybrid.example";
const CDH: [u8; 32] = [3; 32];
const WAIT: Duration = Duration::from_secs(30);

fn tunnel_server() -> (Process, String) {
    let (server, address) = Process::start_server(
        Command::new(harness::built_binary("tunnel-server")).args(["--listen", "127.0.0.1:0"]),
        "tunnel server",
        Stderr::Collect,
        "tunnel-server listening on ",
    )
    .unwrap();
    (server, format!("ws://{}", address.trim()))
}

fn phone(data_dir: &std::path::Path, qr: &str, tunnel: &str, extra: &[&str]) -> Process {
    Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_virtual-phone"))
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "hybrid",
                qr,
                "--tunnel-url",
                tunnel,
                "--allow-insecure-loopback",
            ])
            .args(extra),
        "virtual phone",
        Stderr::Collect,
    )
    .unwrap()
}

/// The advert the phone printed: exactly 40 lower-case hex digits.
fn advert(phone: &mut Process) -> Vec<u8> {
    let line = phone.expect_line("hybrid advert ", WAIT);
    let hex = line.strip_prefix("hybrid advert ").unwrap();
    assert_eq!(hex.len(), 40, "{hex}");
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{hex}"
    );
    (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn k(n: i64) -> Value {
    Value::int(n)
}

fn make_credential() -> Vec<u8> {
    let mut r = vec![0x01];
    r.extend(cbor::encode(&Value::map([
        (k(1), Value::Bytes(CDH.to_vec())),
        (k(2), Value::map([(Value::from("id"), Value::from(RP))])),
        (
            k(3),
            Value::map([
                (Value::from("id"), Value::Bytes(b"u1".to_vec())),
                (Value::from("name"), Value::from("bob")),
            ]),
        ),
        (
            k(4),
            Value::Array(vec![Value::map([
                (Value::from("alg"), Value::int(-7)),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
        (
            k(7),
            Value::map([
                (Value::from("rk"), Value::Bool(true)),
                (Value::from("uv"), Value::Bool(true)),
            ]),
        ),
    ])));
    r
}

fn get_assertion() -> Vec<u8> {
    let mut r = vec![0x02];
    r.extend(cbor::encode(&Value::map([
        (k(1), Value::from(RP)),
        (k(2), Value::Bytes(CDH.to_vec())),
        (k(5), Value::map([(Value::from("uv"), Value::Bool(true))])),
    ])));
    r
}

fn answer(response: &[u8]) -> MapReader {
    assert_eq!(response[0], 0, "status 0x{:02x}", response[0]);
    MapReader::new(cbor::decode(&response[1..]).unwrap()).unwrap()
}

/// Runs one browser session against a phone process; returns the phone's answer.
fn browse(phone: &mut Process, browser: &TestBrowser, tunnel: &str, request: &[u8]) -> Vec<u8> {
    let advert = advert(phone);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut session = browser
            .connect(&advert, Some(tunnel), Bend::None)
            .await
            .unwrap();
        let response = session.request(request).await.unwrap();
        session.shutdown().await.unwrap();
        response
    })
}

#[test]
fn the_hybrid_command_registers_then_signs_in_and_prints_its_pinned_lines() {
    let (_server, tunnel) = tunnel_server();
    let dir = tempfile::tempdir().unwrap();

    let browser = TestBrowser::new(RequestType::MakeCredential);
    let mut registering = phone(dir.path(), &browser.qr_text(), &tunnel, &[]);
    let response = browse(&mut registering, &browser, &tunnel, &make_credential());
    registering.expect_line("hybrid done: OK", WAIT);
    assert!(registering.wait_exit(WAIT).unwrap().success());
    let (rest, stderr) = registering.finish();
    assert!(rest.is_empty(), "unexpected lines {rest:?}\n{stderr}");
    assert_eq!(
        registering
            .seen()
            .iter()
            .filter(|l| l.starts_with("hybrid advert "))
            .count(),
        1
    );
    let auth_data = answer(&response).required_bytes(2i64).unwrap();
    assert_eq!(auth_data[..32], Sha256::digest(RP.as_bytes())[..]);
    let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let mut cose = MapReader::new(cbor::decode(&auth_data[55 + id_len..]).unwrap()).unwrap();
    let mut public = vec![0x04];
    public.extend(cose.required_bytes(-2i64).unwrap());
    public.extend(cose.required_bytes(-3i64).unwrap());

    // Signing in with the discoverable passkey, in a new process on the same phone.
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut signing_in = phone(dir.path(), &browser.qr_text(), &tunnel, &[]);
    let response = browse(&mut signing_in, &browser, &tunnel, &get_assertion());
    signing_in.expect_line("hybrid done: OK", WAIT);
    assert!(signing_in.wait_exit(WAIT).unwrap().success());
    let mut map = answer(&response);
    let mut signed = map.required_bytes(2i64).unwrap();
    let signature = map.required_bytes(3i64).unwrap();
    assert_eq!(signed[32] & 0x05, 0x05, "UP and UV");
    signed.extend_from_slice(&CDH);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&public)
        .unwrap()
        .verify(
            &signed,
            &p256::ecdsa::DerSignature::from_bytes(&signature).unwrap(),
        )
        .unwrap();
}

#[test]
fn a_declined_request_prints_the_error_and_fails() {
    let (_server, tunnel) = tunnel_server();
    let dir = tempfile::tempdir().unwrap();
    let browser = TestBrowser::new(RequestType::MakeCredential);
    let mut phone = phone(
        dir.path(),
        &browser.qr_text(),
        &tunnel,
        &["--uv", "decline"],
    );
    let response = browse(&mut phone, &browser, &tunnel, &make_credential());
    assert_eq!(response, vec![0x27], "CTAP2_ERR_OPERATION_DENIED");
    phone.expect_line("hybrid done: ERROR the user declined", WAIT);
    assert!(!phone.wait_exit(WAIT).unwrap().success());
}

#[test]
fn a_text_that_is_not_a_hybrid_qr_code_is_an_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut phone = phone(dir.path(), "FIDO:/12a", "ws://127.0.0.1:9", &[]);
    let line = phone.expect_line("hybrid done: ERROR ", WAIT);
    assert_eq!(
        line,
        "hybrid done: ERROR this is not a usable hybrid QR code: the QR payload contains a character that is not \
         a decimal digit"
    );
    assert!(!phone.wait_exit(WAIT).unwrap().success());
    assert!(phone.seen().iter().all(|l| !l.starts_with("hybrid advert")));
}
