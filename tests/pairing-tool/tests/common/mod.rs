//! Test harness: real `relay` and `pairing-tool` processes on loopback port 0 (the harness
//! crate's spawner: killed on drop), a phone driven through the core's session functions, and
//! a minimal CTAPHID client for the tool's socket.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authenticator_core::link::noise::{KeyPair, PUBLIC_KEY_LEN};
use authenticator_core::link::qr::QrPairing;
use authenticator_core::link::relay::{RelayClient, RelayConfig, Routing, SessionEnd, phone_door};
use authenticator_core::link::session::{
    LinkSession, SessionError, phone_first_pairing, phone_reconnect,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TOOL: &str = env!("CARGO_BIN_EXE_pairing-tool");

/// The relay binary beside ours, built first (a no-op when it is fresh).
pub fn relay_binary() -> PathBuf {
    harness::built_binary("relay")
}

/// A child process whose stdout lines are collected (and its stderr, shown when a wait
/// fails); killed on drop.
pub type Proc = harness::Process;

/// Starts `command` with its stderr collected.
pub fn start(mut command: Command, what: &str) -> Proc {
    Proc::spawn(&mut command, what, harness::Stderr::Collect).unwrap()
}

pub struct Relay {
    pub proc: Proc,
    pub url: String,
}

pub fn start_relay() -> Relay {
    let (proc, url) = Proc::start_server(
        Command::new(relay_binary()).args(["serve", "--listen", "127.0.0.1:0"]),
        "relay",
        harness::Stderr::Collect,
        "relay listening on ",
    )
    .unwrap();
    Relay { proc, url }
}

pub struct Tool {
    pub proc: Proc,
    pub ctaphid: SocketAddr,
}

impl Tool {
    /// The next pairing code the tool shows.
    pub fn next_code(&mut self) -> String {
        let line = self.proc.expect_line("qr ", Duration::from_secs(20));
        line.trim_start_matches("qr ").to_owned()
    }
}

/// `pairing-tool` with its data in `dir`, on the loopback relay at `relay`, as the PC `name`;
/// the caller adds the mode.
pub fn tool_on_relay(dir: &Path, relay: &str, name: &str) -> Command {
    let mut command = Command::new(TOOL);
    command.arg("--data-dir").arg(dir).args([
        "--relay",
        relay,
        "--allow-insecure-loopback",
        "--name",
        name,
    ]);
    command
}

pub fn start_tool(dir: &Path, relay: &str, extra: &[&str]) -> Tool {
    let mut command = tool_on_relay(dir, relay, "Test PC");
    command
        .args(["serve", "--ctaphid", "127.0.0.1:0"])
        .args(extra);
    let (proc, ctaphid) = Proc::start_server(
        &mut command,
        "pairing tool",
        harness::Stderr::Collect,
        "ctaphid listening on ",
    )
    .unwrap();
    Tool {
        proc,
        ctaphid: ctaphid.parse().unwrap(),
    }
}

/// Runs `pairing-tool --data-dir DIR ARGS...`: (exit code, stdout, stderr).
pub fn tool_command(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(TOOL)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn relay_config() -> RelayConfig {
    RelayConfig {
        allow_insecure_loopback: true,
        poll_wait: Duration::from_secs(2),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What the test phone keeps of a pairing.
pub struct PhonePairing {
    pub key: [u8; 32],
    pub pc_static: [u8; PUBLIC_KEY_LEN],
    pub secret: [u8; 32],
    pub relay_url: String,
    pub pc_name: Option<String>,
}

/// The phone's side of a first pairing with `code`, as the phone app does it (§5.5): knock on
/// the PC's door, IKpsk1, then `shutdown` and DELETE. `psk` overrides the code's psk (to play
/// a phone with a wrong code).
pub async fn phone_pair(
    code: &str,
    name: &str,
    psk: Option<[u8; 32]>,
) -> Result<PhonePairing, SessionError> {
    let qr = QrPairing::parse(code, now()).unwrap();
    let routing = Routing::parse(qr.routing(), &relay_config()).unwrap();
    let client = RelayClient::new(&routing.relay_url, relay_config()).unwrap();
    let session = client.create_session().await?;
    client.knock(&routing.pc_door, &session).await?;
    let key = KeyPair::generate().unwrap();
    let scalar = *key.scalar_bytes();
    let psk = psk.unwrap_or(*qr.psk());
    let result = phone_first_pairing(
        Box::new(client.link(session, SessionEnd::Phone)),
        key,
        &qr.pc_static_uncompressed(),
        &psk,
        Some(name),
    )
    .await;
    let (channel, hello) = match result {
        Ok(ok) => ok,
        Err(e) => {
            let _ = client.delete_session(&session).await;
            return Err(e);
        }
    };
    channel.close().await;
    Ok(PhonePairing {
        key: scalar,
        pc_static: qr.pc_static_uncompressed(),
        secret: *hello.pairing_secret,
        relay_url: routing.relay_url,
        pc_name: hello.pc_name,
    })
}

/// The phone's link service for one knock: waits on the phone door (up to `wait`), then
/// runs the reconnect handshake. `None` if nobody knocked.
pub async fn phone_accept(pairing: &PhonePairing, wait: Duration) -> Option<LinkSession> {
    let client = RelayClient::new(&pairing.relay_url, relay_config()).unwrap();
    let door = phone_door(&pairing.secret);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some((_, session)) = client.wait_for_knock(&[door]).await.unwrap() {
            let key = KeyPair::from_scalar_bytes(&pairing.key).unwrap();
            let link = Box::new(client.link(session, SessionEnd::Phone));
            // A knock can outlive its session (the tool gave up and deleted it): like the
            // phone's link service, skip it and wait for the next.
            if let Ok(session) =
                phone_reconnect(link, key, &pairing.pc_static, &pairing.secret).await
            {
                return Some(session);
            }
        }
    }
    None
}

// CTAPHID (CTAP 2.1 §11.2), raw 64-byte reports.
pub const CTAPHID_INIT: u8 = 0x06;
pub const CTAPHID_CBOR: u8 = 0x10;
pub const CTAPHID_CANCEL: u8 = 0x11;
pub const CTAPHID_KEEPALIVE: u8 = 0x3B;

/// A CTAPHID client on the tool's socket with one allocated channel.
pub struct Hid {
    stream: TcpStream,
    cid: u32,
}

impl Hid {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut hid = Self {
            stream,
            cid: 0xFFFF_FFFF,
        };
        let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        hid.send(CTAPHID_INIT, &nonce).await;
        let (cmd, data) = hid.recv().await;
        assert_eq!(cmd, CTAPHID_INIT);
        assert_eq!(&data[..8], &nonce);
        hid.cid = u32::from_be_bytes(data[8..12].try_into().unwrap());
        hid
    }

    pub async fn send(&mut self, cmd: u8, data: &[u8]) {
        let mut report = [0u8; 64];
        report[..4].copy_from_slice(&self.cid.to_be_bytes());
        report[4] = 0x80 | cmd;
        let len = u16::try_from(data.len()).unwrap().to_be_bytes();
        report[5..7].copy_from_slice(&len);
        let first = data.len().min(57);
        report[7..7 + first].copy_from_slice(&data[..first]);
        self.stream.write_all(&report).await.unwrap();
        for (seq, chunk) in data[first..].chunks(59).enumerate() {
            let mut report = [0u8; 64];
            report[..4].copy_from_slice(&self.cid.to_be_bytes());
            report[4] = u8::try_from(seq).unwrap();
            report[5..5 + chunk.len()].copy_from_slice(chunk);
            self.stream.write_all(&report).await.unwrap();
        }
    }

    /// The next whole message on our channel: (command, data).
    pub async fn recv(&mut self) -> (u8, Vec<u8>) {
        let mut report = [0u8; 64];
        self.stream.read_exact(&mut report).await.unwrap();
        assert_eq!(
            u32::from_be_bytes(report[..4].try_into().unwrap()),
            self.cid
        );
        assert!(report[4] & 0x80 != 0, "expected an init packet");
        let cmd = report[4] & 0x7F;
        let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
        let mut data = report[7..7 + len.min(57)].to_vec();
        while data.len() < len {
            self.stream.read_exact(&mut report).await.unwrap();
            let take = (len - data.len()).min(59);
            data.extend_from_slice(&report[5..5 + take]);
        }
        (cmd, data)
    }

    /// Sends a CBOR request and returns the answer and the keepalive statuses seen meanwhile.
    pub async fn cbor(&mut self, request: &[u8]) -> (Vec<u8>, Vec<u8>) {
        self.send(CTAPHID_CBOR, request).await;
        self.answer().await
    }

    /// Reads until the CBOR answer, collecting keepalive statuses.
    pub async fn answer(&mut self) -> (Vec<u8>, Vec<u8>) {
        let mut keepalives = Vec::new();
        loop {
            match self.recv().await {
                (CTAPHID_KEEPALIVE, data) => keepalives.push(data[0]),
                (CTAPHID_CBOR, data) => return (data, keepalives),
                (cmd, data) => panic!("unexpected CTAPHID command {cmd:#x}: {data:?}"),
            }
        }
    }
}
