//! The `uhid_forwarding` target: what `serve --uhid` does with each event the kernel hands it,
//! without the threads and the phone. The tool's own `uhid/event.rs` is compiled in as is
//! (`#[path]`), so the target checks the shipped decoder and encoders.
//!
//! Input: records, each a control byte and what it asks for:
//! - bits 0-1, the event:
//!   0. raw: a 2-byte length L (mod 4381), then L bytes, zero-padded to one 4380-byte event
//!      (any type, any size field: what a buggy or future kernel could write);
//!   1. an output report: a mutation byte (bit 0: another report type; bit 1: a nonzero report
//!      id, the byte itself; bit 2: the size field from the next 2 bytes instead of 65), then
//!      64 report bytes; bits 2-3 of the control byte put a channel id in the report as
//!      written (0), the broadcast channel (1) or one the device allocated (2, 3), since ids
//!      are random and the fuzzer could not guess them;
//!   2. GET_REPORT or SET_REPORT (bit 2) with the next 4 bytes as its id;
//!   3. a lifecycle event (START, STOP, OPEN, CLOSE by bits 2-3);
//! - bits 4-6: how far the fake clock moves first (0 to 10 s: the 3 s message timeout);
//! - bit 7: afterwards, answer the CBOR request in flight (the request echoed, as a phone that
//!   returns what it got would).
//!
//! Checked: nothing panics; `decode` gives a report exactly for an output event of type
//! OUTPUT_REPORT, size 65 and report id 0, and that report is bytes 1..65 of the data; feature
//! requests get a reply of the matching type with their id and EIO; START/STOP/OPEN/CLOSE are
//! lifecycle; everything else is dropped; every message CTAPHID sends frames, and each report
//! goes out as a 4380-byte `UHID_INPUT2` with size 64, the report, and zeros after it.

#[path = "../../src/uhid/event.rs"]
pub mod event;

use std::time::Duration;

use authenticator_core::ctaphid::{
    Action, BROADCAST_CID, CTAPHID_INIT, CtapHid, DeviceVersion, Message,
};
use tokio::time::Instant;

use event::{
    EVENT_LEN, INPUT2_DATA, INPUT2_SIZE, Incoming, OUTPUT_DATA, OUTPUT_RTYPE, OUTPUT_SIZE,
    REPORT_LEN, RawEvent, UHID_CLOSE, UHID_GET_REPORT, UHID_GET_REPORT_REPLY, UHID_INPUT2,
    UHID_OPEN, UHID_OUTPUT, UHID_OUTPUT_REPORT, UHID_SET_REPORT, UHID_SET_REPORT_REPLY, UHID_START,
    UHID_STOP, event_type, get_u16, get_u32,
};

const STEPS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_millis(2_900),
    Duration::from_secs(3),
    Duration::from_secs(10),
];

/// Reads the input front to back; missing bytes are zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let take = n.min(self.0.len());
        let (head, tail) = self.0.split_at(take);
        self.0 = tail;
        let mut out = head.to_vec();
        out.resize(n, 0);
        out
    }
    fn byte(&mut self) -> u8 {
        self.bytes(1)[0]
    }
    fn u16(&mut self) -> u16 {
        let b = self.bytes(2);
        u16::from_le_bytes([b[0], b[1]])
    }
}

pub fn run(data: &[u8]) {
    let mut input = Input(data);
    let mut hid = CtapHid::new(DeviceVersion::default());
    let mut now = Instant::now();
    let mut allocated: Vec<u32> = Vec::new();
    let mut in_flight: Option<Vec<u8>> = None;
    while !input.0.is_empty() {
        let control = input.byte();
        now += STEPS[usize::from((control >> 4) & 7)];
        let raw = make_event(control, &mut input, &allocated);
        let incoming = event::decode(&raw);
        check_decode(&raw, &incoming);
        let mut out = Vec::new();
        if let Some(message) = hid.poll_timeout(now) {
            out.push(message);
        }
        if let Incoming::Report(report) = incoming {
            for action in hid.receive(&report, now) {
                match action {
                    Action::Send(message) => out.push(message),
                    Action::StartCbor { request, .. } => in_flight = Some(request),
                    Action::CancelCbor | Action::Wink => {}
                }
            }
        }
        if control & 0x80 != 0
            && let Some(request) = in_flight.take()
            && let Some(message) = hid.finish_cbor(request)
        {
            out.push(message);
        }
        for message in out {
            // An INIT answer's bytes 8..12 are the channel it allocated (or kept).
            if message.cmd == CTAPHID_INIT
                && let Some(cid) = message.payload.get(8..12)
            {
                allocated.push(u32::from_be_bytes([cid[0], cid[1], cid[2], cid[3]]));
            }
            send(&message);
        }
    }
}

/// The event the record asks for.
fn make_event(control: u8, input: &mut Input<'_>, allocated: &[u32]) -> Box<RawEvent> {
    let mut raw = Box::new([0u8; EVENT_LEN]);
    match control & 3 {
        0 => {
            let len = usize::from(input.u16()) % (EVENT_LEN + 1);
            raw[..len].copy_from_slice(&input.bytes(len));
        }
        1 => {
            let mutation = input.byte();
            let mut report = input.bytes(REPORT_LEN);
            let cid = match (control >> 2) & 3 {
                0 => None,
                1 => Some(BROADCAST_CID),
                _ if allocated.is_empty() => None,
                _ => Some(allocated[usize::from(report[0]) % allocated.len()]),
            };
            if let Some(cid) = cid {
                report[..4].copy_from_slice(&cid.to_be_bytes());
            }
            raw[..4].copy_from_slice(&UHID_OUTPUT.to_le_bytes());
            raw[OUTPUT_DATA] = if mutation & 2 != 0 { mutation } else { 0 };
            raw[OUTPUT_DATA + 1..OUTPUT_DATA + 1 + REPORT_LEN].copy_from_slice(&report);
            let size = if mutation & 4 != 0 { input.u16() } else { 65 };
            raw[OUTPUT_SIZE..OUTPUT_SIZE + 2].copy_from_slice(&size.to_le_bytes());
            raw[OUTPUT_RTYPE] = if mutation & 1 != 0 {
                input.byte()
            } else {
                UHID_OUTPUT_REPORT
            };
        }
        2 => {
            let kind = if control & 4 != 0 {
                UHID_SET_REPORT
            } else {
                UHID_GET_REPORT
            };
            raw[..4].copy_from_slice(&kind.to_le_bytes());
            raw[4..8].copy_from_slice(&input.bytes(4));
        }
        _ => {
            let kind =
                [UHID_START, UHID_STOP, UHID_OPEN, UHID_CLOSE][usize::from((control >> 2) & 3)];
            raw[..4].copy_from_slice(&kind.to_le_bytes());
        }
    }
    raw
}

/// `decode` against a model of what each event means.
fn check_decode(raw: &RawEvent, incoming: &Incoming) {
    let kind = event_type(raw);
    let size = usize::from(get_u16(raw, OUTPUT_SIZE));
    let is_report = kind == UHID_OUTPUT
        && size == REPORT_LEN + 1
        && raw[OUTPUT_RTYPE] == UHID_OUTPUT_REPORT
        && raw[OUTPUT_DATA] == 0;
    match incoming {
        Incoming::Report(report) => {
            assert!(is_report, "a report from a malformed output event");
            assert_eq!(
                &report[..],
                &raw[OUTPUT_DATA + 1..OUTPUT_DATA + 1 + REPORT_LEN]
            );
        }
        Incoming::Reply(reply) => {
            let expected = match kind {
                UHID_GET_REPORT => UHID_GET_REPORT_REPLY,
                UHID_SET_REPORT => UHID_SET_REPORT_REPLY,
                other => panic!("a reply to event type {other}"),
            };
            assert_eq!(event_type(reply), expected);
            assert_eq!(get_u32(reply, 4), get_u32(raw, 4), "the request's id");
            assert_eq!(get_u16(reply, 8), 5, "EIO");
            assert!(reply[10..].iter().all(|b| *b == 0));
        }
        Incoming::Lifecycle(k) => {
            assert_eq!(*k, kind);
            assert!(matches!(
                kind,
                UHID_START | UHID_STOP | UHID_OPEN | UHID_CLOSE
            ));
        }
        Incoming::Ignored(_) => {
            assert!(!is_report, "a well-formed report was dropped");
            assert!(!matches!(
                kind,
                UHID_GET_REPORT | UHID_SET_REPORT | UHID_START | UHID_STOP | UHID_OPEN | UHID_CLOSE
            ));
        }
    }
}

/// A message to the host: every report as one UHID_INPUT2 of 64 bytes.
fn send(message: &Message) {
    let reports = message
        .to_reports()
        .expect("CtapHid only sends messages that frame");
    for report in &reports {
        let raw = event::input2(report);
        assert_eq!(raw.len(), EVENT_LEN);
        assert_eq!(event_type(&raw), UHID_INPUT2);
        assert_eq!(usize::from(get_u16(&raw, INPUT2_SIZE)), REPORT_LEN);
        assert_eq!(&raw[INPUT2_DATA..INPUT2_DATA + REPORT_LEN], &report[..]);
        assert!(raw[INPUT2_DATA + REPORT_LEN..].iter().all(|b| *b == 0));
    }
}
