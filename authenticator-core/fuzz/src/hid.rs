//! The CTAPHID target: reports through [`CtapHid::receive`] (and, alongside, a bare
//! [`Assembler`]), with a fake clock.
//!
//! Input layout: records of [`RECORD_LEN`] bytes (a short last record is zero-padded), each a
//! control byte and one 64-byte report:
//! - bits 0-2: how far the clock moves before the report ([`STEPS`]: 0 up to 10 s, so the
//!   3 s message timeout is crossed now and then);
//! - bits 3-4: the report's channel id: as written (0), the broadcast channel (1), or one the
//!   device allocated in this run (2, 3: the report's first byte picks which). Channel ids are
//!   random, so without this the fuzzer could never talk on an allocated channel;
//! - bit 5: after the report, answer the CBOR request in flight, if any, with a response
//!   picked by bits 6-7 ([`RESPONSES`]: a short success, an error, an empty and an oversized
//!   one, which the transport must turn into CTAP1_ERR_OTHER).
//!
//! Checked: nothing panics; every message to send fits the framing (`to_reports` is Ok), is
//! on a channel the host used, and ERRORs carry one byte; at most one CBOR request is in
//! flight, and a cancel only targets one; after `receive(now)` no message deadline is already
//! due; keepalives and timeouts frame; the bare assembler never completes a message longer than
//! 7609 bytes nor one whose declared length it did not get.

use std::time::Duration;

use authenticator_core::ctaphid::{
    Action, Assembler, BROADCAST_CID, CTAPHID_CBOR, CTAPHID_ERROR, CTAPHID_INIT, CtapHid,
    DeviceVersion, KeepaliveStatus, MAX_MESSAGE_LEN, Message, Outcome, REPORT_LEN, Report,
};
use tokio::time::Instant;

pub const RECORD_LEN: usize = 1 + REPORT_LEN;
pub const STEPS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_millis(2_900),
    Duration::from_secs(3),
    Duration::from_secs(10),
];

/// The responses the fake engine gives, picked by bits 6-7 of the control byte.
pub fn response(pick: u8) -> Vec<u8> {
    match pick & 3 {
        // getInfo-like: status 0 and an empty map.
        0 => vec![0x00, 0xA0],
        // An error status alone.
        1 => vec![0x2E],
        // Empty: the transport must send CTAP1_ERR_OTHER instead.
        2 => Vec::new(),
        // One byte over the largest message: CTAP1_ERR_OTHER too.
        _ => vec![0u8; MAX_MESSAGE_LEN + 1],
    }
}

pub fn control(step: u8, channel: u8, answer: Option<u8>) -> u8 {
    let mut c = (step & 7) | ((channel & 3) << 3);
    if let Some(pick) = answer {
        c |= 0x20 | ((pick & 3) << 6);
    }
    c
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut hid = CtapHid::new(DeviceVersion::default());
    let mut assembler = Assembler::default();
    let mut now = Instant::now();
    let mut allocated: Vec<u32> = Vec::new();
    let mut used: Vec<u32> = Vec::new();
    // The origin each CBOR request came with, and its channel.
    let mut origins: Vec<(authenticator_core::request::Origin, u32)> = Vec::new();
    for record in data.chunks(RECORD_LEN) {
        let mut record = record.to_vec();
        record.resize(RECORD_LEN, 0);
        let ctl = record[0];
        let mut report: Report = [0; REPORT_LEN];
        report.copy_from_slice(&record[1..]);
        now += STEPS[usize::from(ctl & 7)];
        match (ctl >> 3) & 3 {
            0 => {}
            1 => report[..4].copy_from_slice(&BROADCAST_CID.to_be_bytes()),
            _ => {
                if !allocated.is_empty() {
                    let cid = allocated[usize::from(report[0]) % allocated.len()];
                    report[..4].copy_from_slice(&cid.to_be_bytes());
                }
            }
        }
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        if !used.contains(&cid) {
            used.push(cid);
        }

        // The bare assembler, on the same reports.
        let _ = assembler.expire(now);
        match assembler.feed(&report, now) {
            Outcome::Complete(m) => {
                assert!(m.payload.len() <= MAX_MESSAGE_LEN);
                assert!(m.to_reports().is_ok());
            }
            Outcome::Error { .. } | Outcome::Incomplete | Outcome::Ignored => {}
        }
        if let Some(deadline) = assembler.deadline() {
            assert!(
                deadline > now,
                "the assembler holds a message already overdue"
            );
        }

        // The whole transport.
        let in_flight_before = hid.cbor_in_flight();
        let actions = hid.receive(&report, now);
        let mut started = false;
        for action in &actions {
            match action {
                Action::Send(m) => {
                    check_message(m, &used);
                    if m.cmd == CTAPHID_INIT && m.cid == BROADCAST_CID && m.payload.len() == 17 {
                        let new = u32::from_be_bytes([
                            m.payload[8],
                            m.payload[9],
                            m.payload[10],
                            m.payload[11],
                        ]);
                        assert!(new != BROADCAST_CID && new != 0, "allocated cid {new:#x}");
                        if !allocated.contains(&new) {
                            allocated.push(new);
                        }
                        if !used.contains(&new) {
                            used.push(new);
                        }
                    }
                }
                Action::StartCbor {
                    cid,
                    origin,
                    request,
                } => {
                    // Each channel is its own request origin: one origin never serves two
                    // channels (the engine's follow-up state belongs to one channel).
                    match origins.iter().find(|(o, _)| o == origin) {
                        Some((_, seen)) => {
                            assert_eq!(seen, cid, "one origin for two channels")
                        }
                        None => origins.push((origin.clone(), *cid)),
                    }
                    assert!(
                        in_flight_before.is_none() && !started,
                        "a second CBOR request started while one runs"
                    );
                    started = true;
                    assert_eq!(
                        *cid,
                        u32::from_be_bytes([report[0], report[1], report[2], report[3]])
                    );
                    assert!(!request.is_empty() && request.len() <= MAX_MESSAGE_LEN);
                    assert_eq!(hid.cbor_in_flight(), Some(*cid));
                }
                Action::CancelCbor => {
                    assert!(
                        in_flight_before.is_some(),
                        "CancelCbor without a CBOR request in flight"
                    );
                }
                Action::Wink => {}
            }
        }
        if let Some(deadline) = hid.next_deadline() {
            assert!(deadline > now, "receive left an overdue message behind");
        }
        for status in [KeepaliveStatus::Processing, KeepaliveStatus::UpNeeded] {
            if let Some(m) = hid.keepalive(status) {
                assert_eq!(Some(m.cid), hid.cbor_in_flight());
                check_message(&m, &used);
            }
        }
        if let Some(m) = hid.poll_timeout(now) {
            panic!("poll_timeout right after receive at the same instant: {m:?}");
        }
        if ctl & 0x20 != 0 && hid.cbor_in_flight().is_some() {
            let cid = hid.cbor_in_flight();
            if let Some(m) = hid.finish_cbor(response(ctl >> 6)) {
                assert_eq!(Some(m.cid), cid);
                assert_eq!(m.cmd, CTAPHID_CBOR);
                check_message(&m, &used);
            }
            assert_eq!(hid.cbor_in_flight(), None);
        }
    }
    // Whatever is left times out in the end.
    let later = now + Duration::from_secs(60);
    if let Some(m) = hid.poll_timeout(later) {
        check_message(&m, &used);
    }
    assert_eq!(hid.next_deadline(), None);
}

fn check_message(m: &Message, used: &[u32]) {
    assert!(
        m.to_reports().is_ok(),
        "a message that cannot be framed: {m:?}"
    );
    assert!(
        used.contains(&m.cid),
        "a message to channel {:#x}, which the host never used",
        m.cid
    );
    if m.cmd == CTAPHID_ERROR {
        assert_eq!(m.payload.len(), 1, "an ERROR carries one byte");
    }
}
