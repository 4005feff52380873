//! Known-answer tests against proto/vectors/ble.json (made by the independent Python
//! generator), and `BleLink` over the simulated radio carrying real Noise handshakes and
//! transport frames, with the simulator's faults.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use serde_json::Value as Json;

use super::fragment::{FragmentError, Reassembler, fragment, fragment_len_for_mtu};
use super::gatt::GattUuid;
use super::link::BleLink;
use super::service_uuid::{
    pairing_scan_uuids, pairing_service_uuid, qr_scan_uuids, qr_service_uuid, uuid_window,
};
use super::sim::{Direction, SimAir, SimControl};
use crate::link::channel::MAX_PAYLOAD_LEN;
use crate::link::session::{pc_first_pairing, pc_reconnect, phone_first_pairing, phone_reconnect};
use crate::link::{
    HandshakeState, KeyPair, Link, LinkError, MessageType, Pattern, QrPairing, Role, SecureChannel,
};

const BLE_JSON: &str = include_str!("../../../../proto/vectors/ble.json");
const QR_JSON: &str = include_str!("../../../../proto/vectors/qr.json");
const KK_JSON: &str = include_str!("../../../../proto/vectors/noise_kkpsk0.json");

/// A moment inside window 2991666, 400 s after its start.
const NOW: u64 = 1_795_000_000;
const SCAN: Duration = Duration::from_secs(5);

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn field(json: &Json, name: &str) -> Vec<u8> {
    hex(json[name].as_str().unwrap())
}

fn hex_list(json: &Json) -> Vec<Vec<u8>> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|f| hex(f.as_str().unwrap()))
        .collect()
}

fn texts(uuids: &[GattUuid]) -> Vec<String> {
    uuids.iter().map(ToString::to_string).collect()
}

fn error_name(error: FragmentError) -> &'static str {
    match error {
        FragmentError::Empty => "empty",
        FragmentError::FragmentTooLong(_) => "fragment_too_long",
        FragmentError::ShortInit => "short_init",
        FragmentError::UnknownCommand(_) => "unknown_command",
        FragmentError::UnexpectedContinuation => "unexpected_continuation",
        FragmentError::UnexpectedInit => "unexpected_init",
        FragmentError::WrongSequence { .. } => "wrong_sequence",
        FragmentError::Overlong => "overlong",
        FragmentError::MessageTooLong(_) | FragmentError::BadFragmentLength(_) => "sender",
    }
}

#[test]
fn uuid_vectors_are_reproduced() {
    let v: Json = serde_json::from_str(BLE_JSON).unwrap();
    let qr: Json = serde_json::from_str(QR_JSON).unwrap();
    let kk: Json = serde_json::from_str(KK_JSON).unwrap();
    // The secrets are those of the other vectors: the KKpsk0 psk and the pairing code's.
    let pairing_secret: [u8; 32] = field(&v, "pairing_secret").try_into().unwrap();
    assert_eq!(pairing_secret.to_vec(), field(&kk, "psk"));
    let qr_secret: [u8; 16] = field(&v, "qr_secret").try_into().unwrap();
    let code = &qr["pairing"];
    assert_eq!(qr_secret.to_vec(), field(code, "qr_secret"));
    let pairing = QrPairing::from_parts(
        &field(code, "pc_static_public_compressed"),
        qr_secret,
        field(code, "routing"),
        code["issued_at"].as_u64().unwrap(),
    )
    .unwrap();
    assert_eq!(v["uuid_window_secs"], 600);
    let cases = v["uuid_derivations"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let time = case["unix_time"].as_u64().unwrap();
        let window = uuid_window(time);
        assert_eq!(window, case["window"].as_u64().unwrap());
        let scan: Vec<String> = case["scan_uuids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_owned())
            .collect();
        let (uuid, scanned) = match case["kind"].as_str().unwrap() {
            "pairing" => (
                pairing_service_uuid(&pairing_secret, window),
                pairing_scan_uuids(&pairing_secret, time),
            ),
            "qr" => (
                qr_service_uuid(&qr_secret, window),
                qr_scan_uuids(&pairing, time),
            ),
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(uuid.to_string(), case["uuid"].as_str().unwrap());
        assert_eq!(texts(&scanned), scan, "at {time}");
    }
}

#[test]
fn fragmentation_vectors_are_reproduced() {
    let v: Json = serde_json::from_str(BLE_JSON).unwrap();
    for case in v["fragment_len_for_att_mtu"].as_array().unwrap() {
        let mtu = u16::try_from(case["att_mtu"].as_u64().unwrap()).unwrap();
        let len = usize::try_from(case["fragment_len"].as_u64().unwrap()).unwrap();
        assert_eq!(fragment_len_for_mtu(mtu), len, "ATT_MTU {mtu}");
    }
    for case in v["fragmentation"].as_array().unwrap() {
        let message = field(case, "message");
        let len = usize::try_from(case["fragment_len"].as_u64().unwrap()).unwrap();
        let expected = hex_list(&case["fragments"]);
        assert_eq!(
            fragment(&message, len).unwrap(),
            expected,
            "{}",
            case["comment"]
        );
        let mut reassembler = Reassembler::new();
        let (last, first) = expected.split_last().unwrap();
        for piece in first {
            assert_eq!(reassembler.push(piece), Ok(None));
        }
        assert_eq!(reassembler.push(last), Ok(Some(message)));
    }
    for case in v["invalid_reassembly"].as_array().unwrap() {
        let mut reassembler = Reassembler::new();
        let error = hex_list(&case["fragments"])
            .iter()
            .find_map(|piece| reassembler.push(piece).err())
            .unwrap_or_else(|| panic!("accepted: {}", case["comment"]));
        assert_eq!(error_name(error), case["error"], "{}", case["comment"]);
    }
}

/// Polls a future once, so a test can cancel it at a known point.
async fn poll_once<F: Future + ?Sized>(future: &mut Pin<Box<F>>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// The phone connected over the air to a simulated pairing tool, with both links.
struct Connected {
    phone: BleLink,
    pc: BleLink,
    control: SimControl,
}

/// The PC's clock runs `pc_skew` seconds ahead of the phone's; it advertises its window's UUID.
async fn connect_over_air(secret: &[u8; 32], pc_skew: u64, att_mtu: u16) -> Connected {
    let air = SimAir::new();
    let advertised = pairing_service_uuid(secret, uuid_window(NOW + pc_skew));
    let advertiser = air.advertise(advertised, att_mtu);
    let phone = BleLink::connect(&air.central(), &pairing_scan_uuids(secret, NOW), SCAN)
        .await
        .unwrap();
    assert_eq!(phone.service(), advertised);
    let pc_end = advertiser.accept().await.unwrap();
    let control = pc_end.control();
    Connected {
        phone,
        pc: BleLink::new(Box::new(pc_end)),
        control,
    }
}

/// KKpsk0 over the links, as proto/link.md §3.4, with the handshake states used directly.
async fn kk_handshake(phone: &BleLink, pc: &BleLink) -> (SecureChannel, SecureChannel) {
    let phone_static = KeyPair::generate().unwrap();
    let pc_static = KeyPair::generate().unwrap();
    let (phone_public, pc_public) = (*phone_static.public_key(), *pc_static.public_key());
    let psk = [0x42; 32];
    let mut initiator = HandshakeState::new(
        Pattern::KKpsk0,
        Role::Initiator,
        phone_static,
        Some(&pc_public),
        &psk,
    )
    .unwrap();
    let mut responder = HandshakeState::new(
        Pattern::KKpsk0,
        Role::Responder,
        pc_static,
        Some(&phone_public),
        &psk,
    )
    .unwrap();
    phone
        .send(&initiator.write_message(&[0xa0]).unwrap())
        .await
        .unwrap();
    let first = pc.recv().await.unwrap();
    assert_eq!(responder.read_message(&first).unwrap().expose(), [0xa0]);
    pc.send(&responder.write_message(&[]).unwrap())
        .await
        .unwrap();
    let second = phone.recv().await.unwrap();
    assert!(initiator.read_message(&second).unwrap().is_empty());
    (
        initiator.into_outcome().unwrap().channel,
        responder.into_outcome().unwrap().channel,
    )
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[tokio::test]
async fn noise_session_runs_over_simulated_gatt() {
    let c = connect_over_air(&[0x5a; 32], 0, 23).await;
    let (mut phone, mut pc) = kk_handshake(&c.phone, &c.pc).await;
    let script = [
        (false, MessageType::Ctap, payload(1000, 1)),
        (true, MessageType::Keepalive, vec![1]),
        (true, MessageType::Ctap, payload(5000, 2)),
        (false, MessageType::Cancel, vec![]),
        (false, MessageType::ObrGrant, payload(MAX_PAYLOAD_LEN, 3)),
        (true, MessageType::Receipt, payload(300, 4)),
    ];
    for (from_phone, message_type, body) in script {
        let (sender, receiver, link_out, link_in) = if from_phone {
            (&mut phone, &mut pc, &c.phone, &c.pc)
        } else {
            (&mut pc, &mut phone, &c.pc, &c.phone)
        };
        let frame = sender.seal(message_type, &body).unwrap();
        link_out.send(&frame).await.unwrap();
        let arrived = link_in.recv().await.unwrap();
        assert_eq!(arrived, frame);
        assert_eq!(receiver.open(&arrived).unwrap(), (message_type, body));
    }
    // A 65535-byte frame at ATT_MTU 23 went as 1 + 3449 fragments, none over 20 bytes.
    for direction in [Direction::ToCentral, Direction::ToPeripheral] {
        assert!(
            c.control
                .fragment_lengths(direction)
                .iter()
                .all(|&l| l <= 20)
        );
    }
    assert!(c.control.fragment_lengths(Direction::ToCentral).len() > 3450);
}

#[tokio::test]
async fn the_phone_finds_a_pc_whose_clock_is_a_window_off() {
    let secret = [0x11; 32];
    for skew in [590, 0] {
        let c = connect_over_air(&secret, skew, 185).await;
        let (mut phone, mut pc) = kk_handshake(&c.phone, &c.pc).await;
        c.phone
            .send(&phone.seal(MessageType::Ctap, b"\x04").unwrap())
            .await
            .unwrap();
        let frame = c.pc.recv().await.unwrap();
        assert_eq!(pc.open(&frame).unwrap(), (MessageType::Ctap, vec![4]));
    }
    // Two windows off, or another pairing: nothing is found.
    let air = SimAir::new();
    let _far = air.advertise(pairing_service_uuid(&secret, uuid_window(NOW) + 2), 23);
    let _other = air.advertise(pairing_service_uuid(&[0x12; 32], uuid_window(NOW)), 23);
    let error = BleLink::connect(
        &air.central(),
        &pairing_scan_uuids(&secret, NOW),
        Duration::from_millis(30),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(error, LinkError::Transport(ref m) if m.contains("no pairing tool")));
}

#[tokio::test]
async fn first_pairing_then_reconnect_over_ble() {
    // First pairing: the phone scans for the code's UUID, the session layer runs IKpsk1.
    let pc_static = KeyPair::generate().unwrap();
    let pc_public = *pc_static.public_key();
    let pc_scalar = pc_static.scalar_bytes();
    let code = QrPairing::generate(&pc_public, vec![1], NOW).unwrap();
    let scanned = QrPairing::parse(&code.to_uri(), NOW + 5).unwrap();
    let air = SimAir::new();
    let scan_uuids = qr_scan_uuids(&scanned, NOW + 5);
    let advertiser = air.advertise(scan_uuids[1], 247);
    let phone_link = BleLink::connect(&air.central(), &scan_uuids, SCAN)
        .await
        .unwrap();
    let pc_link = BleLink::new(Box::new(advertiser.accept().await.unwrap()));
    let phone_static = KeyPair::generate().unwrap();
    let phone_scalar = phone_static.scalar_bytes();
    let (code_key, phone_psk, pc_psk) =
        (scanned.pc_static_uncompressed(), scanned.psk(), code.psk());
    let (phone_side, pc_side) = tokio::join!(
        phone_first_pairing(
            Box::new(phone_link),
            phone_static,
            &code_key,
            &phone_psk,
            Some("phone"),
        ),
        pc_first_pairing(Box::new(pc_link), pc_static, &pc_psk, Some("pc")),
    );
    let (phone_session, pc_hello) = phone_side.unwrap();
    let (pc_session, phone_hello) = pc_side.unwrap();
    assert_eq!(phone_session.link_kind(), "ble");
    assert_eq!(pc_hello.pairing_secret, phone_hello.pairing_secret);
    phone_session.close().await;
    drop(pc_session);
    drop(advertiser);

    // Reconnect: the PC advertises the pairing's rotating UUID, the session runs KKpsk0.
    let secret = *pc_hello.pairing_secret;
    let advertiser = air.advertise(pairing_service_uuid(&secret, uuid_window(NOW)), 517);
    let phone_link = BleLink::connect(&air.central(), &pairing_scan_uuids(&secret, NOW), SCAN)
        .await
        .unwrap();
    let pc_link = BleLink::new(Box::new(advertiser.accept().await.unwrap()));
    // Both sides use their stored static keys and the peer's key from the pairing record.
    let phone_static = KeyPair::from_scalar_bytes(&phone_scalar).unwrap();
    let pc_static = KeyPair::from_scalar_bytes(&pc_scalar).unwrap();
    let (phone_side, pc_side) = tokio::join!(
        phone_reconnect(Box::new(phone_link), phone_static, &pc_public, &secret),
        pc_reconnect(
            Box::new(pc_link),
            pc_static,
            &phone_hello.phone_static,
            &secret
        ),
    );
    let (phone_session, pc_session) = (phone_side.unwrap(), pc_side.unwrap());
    pc_session
        .send(MessageType::Ctap, &payload(700, 9))
        .await
        .unwrap();
    assert_eq!(
        phone_session.recv().await.unwrap(),
        (MessageType::Ctap, payload(700, 9))
    );
}

#[tokio::test]
async fn mtu_changes_between_messages_are_honoured() {
    let c = connect_over_air(&[0x22; 32], 0, 23).await;
    let (mut phone, mut pc) = kk_handshake(&c.phone, &c.pc).await;
    for (mtu, expected_len) in [(185, 182), (517, 512), (23, 20)] {
        c.control.set_att_mtu(mtu);
        let before = c.control.fragment_lengths(Direction::ToPeripheral).len();
        let frame = phone.seal(MessageType::Ctap, &payload(2000, 5)).unwrap();
        c.phone.send(&frame).await.unwrap();
        let lengths = c.control.fragment_lengths(Direction::ToPeripheral)[before..].to_vec();
        let (last, full) = lengths.split_last().unwrap();
        assert!(full.iter().all(|&l| l == expected_len), "ATT_MTU {mtu}");
        assert!(*last <= expected_len);
        assert_eq!(lengths.iter().sum::<usize>(), frame.len() + 3 + full.len());
        let arrived = c.pc.recv().await.unwrap();
        assert_eq!(pc.open(&arrived).unwrap().1, payload(2000, 5));
    }
}

#[tokio::test]
async fn a_disconnect_mid_message_closes_both_ends() {
    let c = connect_over_air(&[0x33; 32], 0, 23).await;
    let (_phone, mut pc) = kk_handshake(&c.phone, &c.pc).await;
    let sent = c.control.fragment_lengths(Direction::ToCentral).len();
    c.control.disconnect_at(Direction::ToCentral, sent + 3);
    let frame = pc.seal(MessageType::Ctap, &payload(200, 6)).unwrap();
    assert!(matches!(c.pc.send(&frame).await, Err(LinkError::Closed(_))));
    // The phone got three fragments of the message, then the disconnect.
    assert!(matches!(c.phone.recv().await, Err(LinkError::Closed(_))));
    assert!(matches!(
        c.phone.send(b"x").await,
        Err(LinkError::Closed(_))
    ));
    assert!(matches!(c.pc.recv().await, Err(LinkError::Closed(_))));
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    DropInit,
    DropMiddle,
    DropLast,
    Swap,
}

#[tokio::test]
async fn lost_or_reordered_fragments_are_protocol_errors() {
    for fault in [
        Fault::DropInit,
        Fault::DropMiddle,
        Fault::DropLast,
        Fault::Swap,
    ] {
        let c = connect_over_air(&[0x44; 32], 0, 23).await;
        let (mut phone, _pc) = kk_handshake(&c.phone, &c.pc).await;
        let first = phone.seal(MessageType::Ctap, &payload(100, 7)).unwrap();
        let count = fragment(&first, 20).unwrap().len();
        let start = c.control.fragment_lengths(Direction::ToPeripheral).len();
        match fault {
            Fault::DropInit => c.control.drop_fragment(Direction::ToPeripheral, start),
            Fault::DropMiddle => c.control.drop_fragment(Direction::ToPeripheral, start + 2),
            Fault::DropLast => {
                c.control
                    .drop_fragment(Direction::ToPeripheral, start + count - 1);
            }
            Fault::Swap => c.control.swap_with_next(Direction::ToPeripheral, start + 1),
        }
        c.phone.send(&first).await.unwrap();
        // The message after shows a lost last fragment (an initial fragment comes too early).
        let second = phone.seal(MessageType::Keepalive, &[1]).unwrap();
        c.phone.send(&second).await.unwrap();
        let error = c.pc.recv().await.unwrap_err();
        assert!(
            matches!(error, LinkError::Protocol(_)),
            "{fault:?}: {error}"
        );
        // The protocol error ended the link and the connection: both ends see it closed.
        assert!(matches!(c.pc.recv().await, Err(LinkError::Closed(_))));
        assert!(matches!(c.phone.recv().await, Err(LinkError::Closed(_))));
        assert!(!c.control.is_connected());
    }
}

#[tokio::test]
async fn a_lost_whole_message_is_caught_by_the_channel() {
    let c = connect_over_air(&[0x55; 32], 0, 517).await;
    let (mut phone, mut pc) = kk_handshake(&c.phone, &c.pc).await;
    let lost = phone.seal(MessageType::Keepalive, &[1]).unwrap();
    let next = phone.seal(MessageType::Keepalive, &[1]).unwrap();
    let start = c.control.fragment_lengths(Direction::ToPeripheral).len();
    c.control.drop_fragment(Direction::ToPeripheral, start);
    c.phone.send(&lost).await.unwrap();
    c.phone.send(&next).await.unwrap();
    // The link delivers the next message whole; its counter no longer matches.
    let arrived = c.pc.recv().await.unwrap();
    assert_eq!(arrived, next);
    assert_eq!(
        pc.open(&arrived),
        Err(crate::link::ChannelError::Authentication)
    );
}

#[tokio::test]
async fn recv_is_cancel_safe() {
    let c = connect_over_air(&[0x66; 32], 0, 23).await;
    let (mut phone, mut pc) = kk_handshake(&c.phone, &c.pc).await;
    let start = c.control.fragment_lengths(Direction::ToCentral).len();
    c.control.pause_from(Direction::ToCentral, start + 5);
    let frame = pc.seal(MessageType::Ctap, &payload(1000, 8)).unwrap();
    c.pc.send(&frame).await.unwrap();
    assert_eq!(c.control.queued(Direction::ToCentral), 5);
    let mut receiving = Box::pin(c.phone.recv());
    assert!(poll_once(&mut receiving).await.is_pending());
    // Five fragments were taken by the cancelled call; none may be lost.
    assert_eq!(c.control.queued(Direction::ToCentral), 0);
    drop(receiving);
    c.control.resume(Direction::ToCentral);
    let arrived = c.phone.recv().await.unwrap();
    assert_eq!(phone.open(&arrived).unwrap().1, payload(1000, 8));
}

#[tokio::test]
async fn delayed_fragments_both_ways_at_once() {
    let c = connect_over_air(&[0x77; 32], 0, 23).await;
    let (mut phone, mut pc) = kk_handshake(&c.phone, &c.pc).await;
    c.control
        .set_delay(Direction::ToCentral, Duration::from_millis(1));
    c.control
        .set_delay(Direction::ToPeripheral, Duration::from_millis(1));
    let keepalives: Vec<Vec<u8>> = (0..3)
        .map(|_| phone.seal(MessageType::Keepalive, &[2]).unwrap())
        .collect();
    let response = phone.seal(MessageType::Ctap, &payload(150, 10)).unwrap();
    let request = pc.seal(MessageType::Ctap, &payload(120, 11)).unwrap();
    let (phone_link, pc_link) = (Arc::new(c.phone), Arc::new(c.pc));
    let phone_sends = async {
        for frame in keepalives.iter().chain([&response]) {
            phone_link.send(frame).await.unwrap();
        }
    };
    let pc_receives = async {
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(pc_link.recv().await.unwrap());
        }
        got
    };
    let pc_sends = pc_link.send(&request);
    let phone_receives = phone_link.recv();
    let ((), got, sent, arrived) = tokio::join!(phone_sends, pc_receives, pc_sends, phone_receives);
    sent.unwrap();
    assert_eq!(phone.open(&arrived.unwrap()).unwrap().1, payload(120, 11));
    for frame in &got[..3] {
        assert_eq!(pc.open(frame).unwrap(), (MessageType::Keepalive, vec![2]));
    }
    assert_eq!(pc.open(&got[3]).unwrap().1, payload(150, 10));
}

#[tokio::test]
async fn an_abandoned_send_closes_the_link() {
    let c = connect_over_air(&[0x88; 32], 0, 23).await;
    c.control
        .set_delay(Direction::ToPeripheral, Duration::from_secs(60));
    let message = payload(100, 12);
    let mut sending = Box::pin(c.phone.send(&message));
    assert!(poll_once(&mut sending).await.is_pending());
    drop(sending);
    assert!(matches!(
        c.phone.send(b"x").await,
        Err(LinkError::Closed(_))
    ));
    assert!(matches!(c.phone.recv().await, Err(LinkError::Closed(_))));
}

#[tokio::test]
async fn close_ends_both_sides_and_long_messages_are_refused() {
    let c = connect_over_air(&[0x99; 32], 0, 23).await;
    assert_eq!(c.phone.kind(), "ble");
    assert_eq!(
        c.phone.send(&vec![0; 65_536]).await,
        Err(LinkError::TooLong(65_536))
    );
    // The refused message did not hurt the link.
    c.phone.send(&payload(65_535, 13)).await.unwrap();
    assert_eq!(c.pc.recv().await.unwrap(), payload(65_535, 13));
    c.phone.close().await;
    assert!(matches!(c.phone.recv().await, Err(LinkError::Closed(_))));
    assert!(matches!(
        c.phone.send(b"x").await,
        Err(LinkError::Closed(_))
    ));
    assert!(matches!(c.pc.recv().await, Err(LinkError::Closed(_))));
    assert!(matches!(c.pc.send(b"x").await, Err(LinkError::Closed(_))));
}

#[tokio::test]
async fn close_wakes_a_waiting_recv() {
    let c = connect_over_air(&[0xaa; 32], 0, 23).await;
    let (received, ()) = tokio::join!(c.phone.recv(), c.phone.close());
    assert!(matches!(received, Err(LinkError::Closed(_))));
    assert!(matches!(c.pc.recv().await, Err(LinkError::Closed(_))));
}
