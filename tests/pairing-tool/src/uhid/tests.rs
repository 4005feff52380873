//! The device loop driven through a socketpair that plays `/dev/uhid`: the test reads and
//! writes whole 4380-byte events exactly as the kernel would (CREATE2 first, OUTPUT with
//! report id 0 + 64 bytes, INPUT2 back), and a host on top speaks CTAPHID. The VM test
//! (`tests/vm/`) is the proof with the real kernel; this pins the bytes and the behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authenticator_core::ctaphid::{CtapHandler, RequestSignals};
use authenticator_core::link::relay::RelayConfig;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::event::*;
use super::*;
use crate::forward::{Forwarder, Paired};
use crate::store::{DataDir, Pairing};

const BROADCAST: u32 = 0xFFFF_FFFF;
const INIT: u8 = 0x06;
const PING: u8 = 0x01;
const CBOR: u8 = 0x10;
const CANCEL: u8 = 0x11;
const KEEPALIVE: u8 = 0x3B;
const ERROR: u8 = 0x3F;

/// How the handler double answers a CBOR request.
#[derive(Clone, Copy)]
enum Script {
    /// The request back.
    Echo,
    /// "Waiting for the user" until cancelled, then CTAP2_ERR_KEEPALIVE_CANCEL.
    UntilCancelled,
}

struct Scripted(Script);

impl CtapHandler for Scripted {
    fn handle_cbor<'a>(
        &'a self,
        request: Vec<u8>,
        signals: RequestSignals,
    ) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>> {
        let script = self.0;
        Box::pin(async move {
            match script {
                Script::Echo => request,
                Script::UntilCancelled => {
                    signals.set_waiting_for_user(true);
                    signals.cancelled().await;
                    vec![0x2D]
                }
            }
        })
    }
}

/// The kernel's side of `/dev/uhid`, and a CTAPHID host on the hidraw node.
struct Kernel {
    stream: UnixStream,
}

impl Kernel {
    fn next(&mut self) -> Box<RawEvent> {
        let mut raw = Box::new([0u8; EVENT_LEN]);
        self.stream.read_exact(&mut raw[..]).unwrap();
        raw
    }

    fn send(&mut self, raw: &RawEvent) {
        self.stream.write_all(raw).unwrap();
    }

    fn lifecycle(&mut self, kind: u32) {
        let mut raw = Box::new([0u8; EVENT_LEN]);
        raw[..4].copy_from_slice(&kind.to_le_bytes());
        self.send(&raw);
    }

    /// A hidraw write of `data`, as the kernel passes it on (UHID_OUTPUT, output report).
    fn output(&mut self, data: &[u8]) {
        let mut raw = Box::new([0u8; EVENT_LEN]);
        raw[..4].copy_from_slice(&UHID_OUTPUT.to_le_bytes());
        raw[OUTPUT_DATA..OUTPUT_DATA + data.len()].copy_from_slice(data);
        raw[OUTPUT_SIZE..OUTPUT_SIZE + 2].copy_from_slice(&(data.len() as u16).to_le_bytes());
        raw[OUTPUT_RTYPE] = UHID_OUTPUT_REPORT;
        self.send(&raw);
    }

    fn write_report(&mut self, report: &[u8; 64]) {
        let mut data = [0u8; 65];
        data[1..].copy_from_slice(report);
        self.output(&data);
    }

    /// The next input report: it must come as UHID_INPUT2 of exactly 64 bytes.
    fn read_report(&mut self) -> [u8; 64] {
        let raw = self.next();
        assert_eq!(event_type(&raw), UHID_INPUT2, "expected an input report");
        assert_eq!(get_u16(&raw, INPUT2_SIZE), 64);
        assert!(raw[INPUT2_DATA + 64..].iter().all(|b| *b == 0));
        raw[INPUT2_DATA..INPUT2_DATA + 64].try_into().unwrap()
    }

    fn send_message(&mut self, cid: u32, cmd: u8, data: &[u8]) {
        let mut report = [0u8; 64];
        report[..4].copy_from_slice(&cid.to_be_bytes());
        report[4] = 0x80 | cmd;
        report[5..7].copy_from_slice(&(data.len() as u16).to_be_bytes());
        let first = data.len().min(57);
        report[7..7 + first].copy_from_slice(&data[..first]);
        self.write_report(&report);
        for (seq, chunk) in data[first..].chunks(59).enumerate() {
            let mut report = [0u8; 64];
            report[..4].copy_from_slice(&cid.to_be_bytes());
            report[4] = seq as u8;
            report[5..5 + chunk.len()].copy_from_slice(chunk);
            self.write_report(&report);
        }
    }

    /// The next whole message: (channel, command, data).
    fn read_message(&mut self) -> (u32, u8, Vec<u8>) {
        let report = self.read_report();
        let cid = u32::from_be_bytes(report[..4].try_into().unwrap());
        assert!(report[4] & 0x80 != 0, "expected an init packet");
        let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
        let mut data = report[7..7 + len.min(57)].to_vec();
        while data.len() < len {
            let next = self.read_report();
            assert_eq!(u32::from_be_bytes(next[..4].try_into().unwrap()), cid);
            let take = (len - data.len()).min(59);
            data.extend_from_slice(&next[5..5 + take]);
        }
        (cid, report[4] & 0x7F, data)
    }

    /// CTAPHID_INIT on the broadcast channel: the new channel.
    fn init(&mut self) -> u32 {
        let nonce = [9, 8, 7, 6, 5, 4, 3, 2];
        self.send_message(BROADCAST, INIT, &nonce);
        let (cid, cmd, data) = self.read_message();
        assert_eq!((cid, cmd), (BROADCAST, INIT));
        assert_eq!(&data[..8], &nonce);
        u32::from_be_bytes(data[8..12].try_into().unwrap())
    }

    /// A CBOR request: the answer and the keepalive statuses before it.
    fn cbor(&mut self, cid: u32, request: &[u8]) -> (Vec<u8>, Vec<u8>) {
        self.send_message(cid, CBOR, request);
        let mut keepalives = Vec::new();
        loop {
            match self.read_message() {
                (c, KEEPALIVE, status) if c == cid => keepalives.push(status[0]),
                (c, CBOR, answer) if c == cid => return (answer, keepalives),
                other => panic!("unexpected message {other:?}"),
            }
        }
    }
}

type Started = (
    Kernel,
    JoinHandle<Result<(), String>>,
    Arc<AtomicBool>,
    Box<RawEvent>,
);

/// A device loop on a socketpair: the kernel double, the loop's task, whether START was
/// seen, and the CREATE2 event it wrote first.
fn start(handler: Arc<dyn CtapHandler>) -> Started {
    let (ours, theirs) = UnixStream::pair().unwrap();
    theirs
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let started = started.clone();
        let reader = ours.try_clone().unwrap();
        async move {
            let info = DeviceInfo {
                name: device_name(Some("Test Phone")),
                phys: "pairing-tool".into(),
            };
            run(reader, ours, &info, handler, move || {
                started.store(true, Ordering::SeqCst);
            })
            .await
        }
    });
    let mut kernel = Kernel { stream: theirs };
    let create = kernel.next();
    assert_eq!(event_type(&create), UHID_CREATE2);
    (kernel, task, started, create)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_is_a_fido_usb_key_named_after_the_phone_and_destroyed_when_stopped() {
    let (mut kernel, task, started, create) = start(Arc::new(Scripted(Script::Echo)));
    assert_eq!(
        &create[CREATE2_NAME..CREATE2_NAME + 25],
        b"Test Phone via pairing-to"
    );
    assert_eq!(get_u16(&create, CREATE2_BUS), BUS_USB);
    assert_eq!(get_u32(&create, CREATE2_VENDOR), 0x1209);
    assert_eq!(get_u32(&create, CREATE2_PRODUCT), 0x0001);
    assert_eq!(
        &create[CREATE2_RD_DATA..CREATE2_RD_DATA + 34],
        &FIDO_REPORT_DESCRIPTOR
    );

    assert!(!started.load(Ordering::SeqCst));
    kernel.lifecycle(UHID_START);
    kernel.lifecycle(UHID_OPEN);
    // The device answers once it has seen START (same order as the events).
    let cid = kernel.init();
    assert!(started.load(Ordering::SeqCst), "on_start ran at UHID_START");
    assert_ne!(cid, BROADCAST);

    // Stopping the tool (SIGTERM drops the loop's future) destroys the device.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let last = kernel.next();
    assert_eq!(event_type(&last), UHID_DESTROY);
    assert!(last[4..].iter().all(|b| *b == 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_round_trip_and_malformed_output_events_are_dropped() {
    let (mut kernel, task, _, _) = start(Arc::new(Scripted(Script::Echo)));
    kernel.lifecycle(UHID_START);
    let cid = kernel.init();

    // A request of 300 bytes (6 reports) and its echo, byte for byte.
    let request: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let (answer, _) = kernel.cbor(cid, &request);
    assert_eq!(answer, request);

    // 64 bytes without the report id, and a numbered report: dropped, nothing answered; the
    // PING after them is the next thing the host hears about.
    let mut ping = [0u8; 64];
    ping[..4].copy_from_slice(&cid.to_be_bytes());
    ping[4] = 0x80 | PING;
    ping[6] = 2;
    ping[7..9].copy_from_slice(b"hi");
    kernel.output(&ping);
    let mut numbered = [0u8; 65];
    numbered[0] = 1;
    numbered[1..].copy_from_slice(&ping);
    kernel.output(&numbered);
    kernel.write_report(&ping);
    assert_eq!(kernel.read_message(), (cid, PING, b"hi".to_vec()));

    // A GET_REPORT is answered (the kernel would wait 5 s otherwise), with EIO.
    let mut get = Box::new([0u8; EVENT_LEN]);
    get[..4].copy_from_slice(&UHID_GET_REPORT.to_le_bytes());
    get[4..8].copy_from_slice(&77u32.to_le_bytes());
    kernel.send(&get);
    let reply = kernel.next();
    assert_eq!(event_type(&reply), UHID_GET_REPORT_REPLY);
    assert_eq!((get_u32(&reply, 4), get_u16(&reply, 8)), (77, 5));

    // The kernel side going away ends the loop with the reason (and a destroy attempt).
    drop(kernel);
    let ended = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    let why = ended.unwrap_err();
    assert!(why.starts_with("reading the uhid device failed"), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keepalives_busy_and_cancel_reach_the_host_as_on_the_socket() {
    let (mut kernel, task, _, _) = start(Arc::new(Scripted(Script::UntilCancelled)));
    kernel.lifecycle(UHID_START);
    let first = kernel.init();
    let second = kernel.init();
    assert_ne!(first, second);

    kernel.send_message(first, CBOR, &[0x01, 0xA0]);
    // "User presence needed" keepalives while the phone's user decides.
    for _ in 0..3 {
        assert_eq!(kernel.read_message(), (first, KEEPALIVE, vec![2]));
    }
    // Another channel is told the device is busy (ERR_CHANNEL_BUSY).
    kernel.send_message(second, CBOR, &[0x04]);
    loop {
        match kernel.read_message() {
            (c, KEEPALIVE, _) if c == first => {}
            other => {
                assert_eq!(other, (second, ERROR, vec![0x06]));
                break;
            }
        }
    }
    // CANCEL ends the request with CTAP2_ERR_KEEPALIVE_CANCEL.
    kernel.send_message(first, CANCEL, &[]);
    loop {
        match kernel.read_message() {
            (c, KEEPALIVE, _) if c == first => {}
            other => {
                assert_eq!(other, (first, CBOR, vec![0x2D]));
                break;
            }
        }
    }
    task.abort();
}

/// The real forwarder of `serve` on a data directory: the statuses a client gets when the
/// tool has no phone, and when the phone's relay cannot be reached.
#[tokio::test(flavor = "multi_thread")]
async fn not_paired_and_phone_unreachable_reach_the_host_through_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let store = DataDir::create(dir.path()).unwrap();
    let key = store.load_or_create_key().unwrap();
    let config = RelayConfig {
        allow_insecure_loopback: true,
        ..RelayConfig::default()
    };
    let forwarder = Forwarder::new(Arc::new(Paired::new(
        store.clone(),
        key,
        config,
        crate::forward::IDLE_LIMIT,
    )));
    let (mut kernel, task, _, _) = start(Arc::new(forwarder));
    kernel.lifecycle(UHID_START);
    let cid = kernel.init();

    // Not paired: CTAP2_ERR_OPERATION_DENIED.
    let (answer, _) = kernel.cbor(cid, &[0x04]);
    assert_eq!(answer, vec![crate::forward::NO_PAIRING]);
    assert_eq!(answer, vec![0x27]);

    // Paired with a phone whose relay is down: CTAP1_ERR_TIMEOUT (never delivered).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut phone_static = [0u8; 65];
    phone_static[0] = 4;
    store
        .save_pairing(&Pairing {
            phone_name: Some("Test Phone".into()),
            phone_static,
            pairing_secret: Zeroizing::new([7u8; 32]),
            relay_url: format!("http://127.0.0.1:{port}"),
            created_at: 0,
        })
        .unwrap();
    let (answer, _) = kernel.cbor(cid, &[0x04]);
    assert_eq!(answer, vec![crate::forward::NOT_DELIVERED]);
    assert_eq!(answer, vec![0x05]);
    task.abort();
}

#[test]
fn a_missing_device_names_the_module_and_a_refused_one_the_udev_rule_and_group() {
    let missing = open(Path::new("/nonexistent/uhid")).unwrap_err();
    assert_eq!(
        missing,
        "cannot open /nonexistent/uhid: it does not exist. Load the kernel's uhid module: \
         `sudo modprobe uhid` (to load it at boot: `echo uhid | sudo tee \
         /etc/modules-load.d/uhid.conf`)"
    );
    let refused = open_error(
        Path::new("/dev/uhid"),
        &io::Error::from(io::ErrorKind::PermissionDenied),
    );
    assert!(
        refused.starts_with("cannot open /dev/uhid: permission denied. "),
        "{refused}"
    );
    assert!(
        refused.contains(r#"`KERNEL=="uhid", GROUP="uhid", MODE="0660"`"#),
        "{refused}"
    );
    assert!(refused.contains("sudo usermod -aG uhid $USER"), "{refused}");
    assert!(refused.contains("sudo groupadd --system uhid"), "{refused}");
}

#[test]
fn the_device_name_says_which_phone_or_that_none_is_paired() {
    assert_eq!(device_name(Some("Pixel")), "Pixel via pairing-tool");
    assert_eq!(device_name(None), "pairing-tool (no phone paired)");
}
