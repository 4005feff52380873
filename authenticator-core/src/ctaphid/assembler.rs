//! Reports back into messages, one message at a time (§11.2.5 "Arbitration").
//!
//! The channel whose init packet arrives while the assembler is idle owns it until its message
//! is complete, broken (wrong SEQ), resynchronised (INIT on the same channel) or timed out
//! (§11.2.5.1, §11.2.5.2). The assembler only checks framing; whether the channel is allocated
//! and what the command means is decided once the message is whole (see `dispatch`).
//!
//! Invariants: the buffer never holds more than the declared length, itself at most 7609
//! bytes; the expected SEQ never exceeds 0x7F while a message is incomplete; every packet is
//! answered by at most one [`Outcome`], so a flood of reports cannot make the output grow.

use tokio::time::Instant;

use super::{
    CONT_DATA_LEN, CTAPHID_INIT, HidError, INIT_DATA_LEN, MAX_MESSAGE_LEN, MESSAGE_TIMEOUT,
    Message, Packet, Report,
};
use std::time::Duration;

/// What one report did to the assembler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A message is being assembled and needs more packets.
    Incomplete,
    /// The packet was dropped without an answer (§11.2.5.4: spurious continuation packets).
    Ignored,
    /// A whole message.
    Complete(Message),
    /// Answer `cid` with this CTAPHID_ERROR; any message of that channel was abandoned.
    Error { cid: u32, error: HidError },
}

pub struct Assembler {
    timeout: Duration,
    partial: Option<Partial>,
}

struct Partial {
    cid: u32,
    cmd: u8,
    expected_len: usize,
    payload: Vec<u8>,
    next_seq: u8,
    deadline: Instant,
}

impl Default for Assembler {
    fn default() -> Self {
        Self::new(MESSAGE_TIMEOUT)
    }
}

impl Assembler {
    /// `timeout` is how long a message may take from its init packet to its last packet.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            partial: None,
        }
    }

    /// The channel whose message is being assembled, if any.
    pub fn assembling(&self) -> Option<u32> {
        self.partial.as_ref().map(|p| p.cid)
    }

    /// When the message being assembled times out.
    pub fn deadline(&self) -> Option<Instant> {
        self.partial.as_ref().map(|p| p.deadline)
    }

    /// Abandons a message whose deadline has passed and returns its channel, which is owed
    /// ERR_MSG_TIMEOUT (§11.2.5.2). Call it before [`feed`](Self::feed) and when the deadline
    /// passes with no input.
    pub fn expire(&mut self, now: Instant) -> Option<u32> {
        let expired = self.partial.as_ref().is_some_and(|p| now >= p.deadline);
        if expired {
            self.partial.take().map(|p| p.cid)
        } else {
            None
        }
    }

    /// Takes one report received at `now`. A message already past its deadline is abandoned
    /// silently here; [`expire`](Self::expire) is what reports it.
    pub fn feed(&mut self, report: &Report, now: Instant) -> Outcome {
        let _ = self.expire(now);
        match Packet::parse(report) {
            Packet::Cont { cid, seq, data } => self.continuation(cid, seq, data),
            Packet::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => self.init(cid, cmd, usize::from(bcnt), data, now),
        }
    }

    fn continuation(&mut self, cid: u32, seq: u8, data: &[u8; CONT_DATA_LEN]) -> Outcome {
        // §11.2.5.4: a continuation packet with no message of its channel under way is spurious
        // and ignored; this includes the rest of a message refused with ERR_CHANNEL_BUSY.
        let Some(partial) = self.partial.as_mut().filter(|p| p.cid == cid) else {
            return Outcome::Ignored;
        };
        if seq != partial.next_seq {
            self.partial = None;
            return Outcome::Error {
                cid,
                error: HidError::InvalidSeq,
            };
        }
        let take = partial
            .expected_len
            .saturating_sub(partial.payload.len())
            .min(CONT_DATA_LEN);
        partial.payload.extend_from_slice(&data[..take]);
        // A message of at most 7609 bytes is complete by SEQ 0x7F, so this stays <= 0x80 and an
        // impossible 0x80 would only make the next packet an ERR_INVALID_SEQ.
        partial.next_seq = partial.next_seq.saturating_add(1);
        if partial.payload.len() < partial.expected_len {
            return Outcome::Incomplete;
        }
        match self.partial.take() {
            Some(p) => Outcome::Complete(Message::new(p.cid, p.cmd, p.payload)),
            None => Outcome::Ignored,
        }
    }

    fn init(
        &mut self,
        cid: u32,
        cmd: u8,
        len: usize,
        data: &[u8; INIT_DATA_LEN],
        now: Instant,
    ) -> Outcome {
        if let Some(busy_cid) = self.assembling() {
            if busy_cid != cid {
                // §11.2.5.1: the device is busy with another channel's message. A message that
                // fits in this one packet is handed on anyway, without disturbing the one being
                // assembled, so that INIT and CANCEL (which carry no transaction) still work;
                // the dispatcher answers anything else with ERR_CHANNEL_BUSY.
                if len <= INIT_DATA_LEN {
                    return Outcome::Complete(Message::new(cid, cmd, data[..len].to_vec()));
                }
                return Outcome::Error {
                    cid,
                    error: HidError::ChannelBusy,
                };
            }
            // An init packet on the channel being assembled ends its message either way.
            self.partial = None;
            if cmd != CTAPHID_INIT {
                // The host skipped the rest of its message.
                return Outcome::Error {
                    cid,
                    error: HidError::InvalidSeq,
                };
            }
            // §11.2.5.3: INIT on the same channel aborts the transaction and resynchronises;
            // the INIT itself is then handled like any new message.
        }
        if len > MAX_MESSAGE_LEN {
            // Refused before anything is buffered.
            return Outcome::Error {
                cid,
                error: HidError::InvalidLen,
            };
        }
        if len <= INIT_DATA_LEN {
            return Outcome::Complete(Message::new(cid, cmd, data[..len].to_vec()));
        }
        let mut payload = Vec::with_capacity(len);
        payload.extend_from_slice(data);
        self.partial = Some(Partial {
            cid,
            cmd,
            expected_len: len,
            payload,
            next_seq: 0,
            // An instant too far in the future to represent is only possible with a
            // nonsensical timeout; expiring at once is then the safe reading.
            deadline: now.checked_add(self.timeout).unwrap_or(now),
        });
        Outcome::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CTAPHID_CANCEL, CTAPHID_CBOR, CTAPHID_PING, REPORT_LEN};
    use super::*;

    const CID: u32 = 0x0102_0304;
    const OTHER: u32 = 0x0A0B_0C0D;

    fn init_report(cid: u32, cmd: u8, bcnt: u16, fill: u8) -> Report {
        let mut r = [fill; REPORT_LEN];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = cmd | 0x80;
        r[5..7].copy_from_slice(&bcnt.to_be_bytes());
        r
    }

    fn cont_report(cid: u32, seq: u8, fill: u8) -> Report {
        let mut r = [fill; REPORT_LEN];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = seq;
        r
    }

    fn feed_all(a: &mut Assembler, reports: &[Report], now: Instant) -> Vec<Outcome> {
        reports.iter().map(|r| a.feed(r, now)).collect()
    }

    fn error(cid: u32, error: HidError) -> Outcome {
        Outcome::Error { cid, error }
    }

    #[test]
    fn round_trips_every_boundary_size() {
        let now = Instant::now();
        for len in [0usize, 1, 57, 58, 116, 117, 175, 176, 7608, 7609] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
            let message = Message::new(CID, CTAPHID_CBOR, payload);
            let reports = message.to_reports().unwrap();
            assert_eq!(
                reports.len(),
                1 + len.saturating_sub(INIT_DATA_LEN).div_ceil(CONT_DATA_LEN)
            );
            let mut a = Assembler::default();
            let outcomes = feed_all(&mut a, &reports, now);
            let (last, rest) = outcomes.split_last().unwrap();
            assert!(rest.iter().all(|o| *o == Outcome::Incomplete), "len {len}");
            assert_eq!(*last, Outcome::Complete(message), "len {len}");
            assert_eq!(a.assembling(), None);
        }
    }

    #[test]
    fn a_declared_length_over_7609_is_err_invalid_len() {
        let mut a = Assembler::default();
        for bcnt in [7610, u16::MAX] {
            let outcome = a.feed(&init_report(CID, CTAPHID_PING, bcnt, 0), Instant::now());
            assert_eq!(outcome, error(CID, HidError::InvalidLen));
            assert_eq!(HidError::InvalidLen.code(), 0x03);
            assert_eq!(a.assembling(), None);
        }
    }

    #[test]
    fn a_continuation_without_an_init_is_ignored() {
        let mut a = Assembler::default();
        let now = Instant::now();
        assert_eq!(a.feed(&cont_report(CID, 0, 0), now), Outcome::Ignored);
        // Also one from another channel while a message is being assembled.
        assert_eq!(
            a.feed(&init_report(CID, CTAPHID_PING, 100, 1), now),
            Outcome::Incomplete
        );
        assert_eq!(a.feed(&cont_report(OTHER, 0, 2), now), Outcome::Ignored);
        let Outcome::Complete(m) = a.feed(&cont_report(CID, 0, 1), now) else {
            panic!("the own continuation completes the message");
        };
        assert_eq!(m.payload, vec![1; 100]);
    }

    #[test]
    fn a_wrong_seq_is_err_invalid_seq_and_abandons_the_message() {
        let mut a = Assembler::default();
        let now = Instant::now();
        a.feed(&init_report(CID, CTAPHID_PING, 200, 0), now);
        assert_eq!(a.feed(&cont_report(CID, 0, 0), now), Outcome::Incomplete);
        assert_eq!(
            a.feed(&cont_report(CID, 2, 0), now),
            error(CID, HidError::InvalidSeq)
        );
        assert_eq!(HidError::InvalidSeq.code(), 0x04);
        // The rest of the broken message is now spurious.
        assert_eq!(a.feed(&cont_report(CID, 1, 0), now), Outcome::Ignored);
        // A repeated SEQ is as wrong as a skipped one.
        a.feed(&init_report(CID, CTAPHID_PING, 200, 0), now);
        a.feed(&cont_report(CID, 0, 0), now);
        assert_eq!(
            a.feed(&cont_report(CID, 0, 0), now),
            error(CID, HidError::InvalidSeq)
        );
    }

    #[test]
    fn another_command_on_the_channel_mid_message_is_err_invalid_seq() {
        let mut a = Assembler::default();
        let now = Instant::now();
        a.feed(&init_report(CID, CTAPHID_CBOR, 100, 0), now);
        assert_eq!(
            a.feed(&init_report(CID, CTAPHID_PING, 1, 0), now),
            error(CID, HidError::InvalidSeq)
        );
        assert_eq!(a.assembling(), None);
    }

    #[test]
    fn init_on_the_channel_mid_message_resynchronises() {
        let mut a = Assembler::default();
        let now = Instant::now();
        a.feed(&init_report(CID, CTAPHID_CBOR, 100, 0), now);
        let outcome = a.feed(&init_report(CID, CTAPHID_INIT, 8, 9), now);
        assert_eq!(
            outcome,
            Outcome::Complete(Message::new(CID, CTAPHID_INIT, vec![9; 8]))
        );
        assert_eq!(a.assembling(), None);
    }

    #[test]
    fn another_channel_is_busy_for_long_messages_but_short_ones_pass() {
        let mut a = Assembler::default();
        let now = Instant::now();
        a.feed(&init_report(CID, CTAPHID_CBOR, 100, 5), now);
        assert_eq!(
            a.feed(&init_report(OTHER, CTAPHID_PING, 58, 0), now),
            error(OTHER, HidError::ChannelBusy)
        );
        assert_eq!(HidError::ChannelBusy.code(), 0x06);
        assert_eq!(
            a.feed(&init_report(OTHER, CTAPHID_CANCEL, 0, 0), now),
            Outcome::Complete(Message::new(OTHER, CTAPHID_CANCEL, vec![]))
        );
        // The first message was not disturbed.
        assert_eq!(a.assembling(), Some(CID));
        let Outcome::Complete(m) = a.feed(&cont_report(CID, 0, 5), now) else {
            panic!("the message completes");
        };
        assert_eq!((m.cid, m.payload), (CID, vec![5; 100]));
    }

    #[test]
    fn an_unfinished_message_times_out_at_its_deadline() {
        let mut a = Assembler::new(Duration::from_millis(500));
        let start = Instant::now();
        a.feed(&init_report(CID, CTAPHID_PING, 200, 0), start);
        assert_eq!(a.deadline(), Some(start + Duration::from_millis(500)));
        // Packets in time keep it going; the deadline does not move.
        a.feed(&cont_report(CID, 0, 0), start + Duration::from_millis(300));
        assert_eq!(a.expire(start + Duration::from_millis(499)), None);
        assert_eq!(a.expire(start + Duration::from_millis(500)), Some(CID));
        assert_eq!(a.assembling(), None);
        assert_eq!(HidError::MsgTimeout.code(), 0x05);
        // Its late continuation is spurious.
        let late = start + Duration::from_millis(600);
        assert_eq!(a.feed(&cont_report(CID, 1, 0), late), Outcome::Ignored);
    }

    #[test]
    fn feeding_after_the_deadline_starts_afresh() {
        let mut a = Assembler::new(Duration::from_millis(500));
        let start = Instant::now();
        a.feed(&init_report(CID, CTAPHID_PING, 200, 0), start);
        let late = start + Duration::from_secs(1);
        // Another channel is not told busy by a message that has timed out.
        assert_eq!(
            a.feed(&init_report(OTHER, CTAPHID_PING, 100, 0), late),
            Outcome::Incomplete
        );
        assert_eq!(a.assembling(), Some(OTHER));
    }

    #[test]
    fn arbitrary_reports_never_panic_nor_grow_the_buffer() {
        // A tiny deterministic fuzz: xorshift bytes biased towards two channels, small SEQs
        // and both packet kinds.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut a = Assembler::new(Duration::from_millis(50));
        let mut now = Instant::now();
        for _ in 0..50_000 {
            let mut r = [0u8; REPORT_LEN];
            for b in r.iter_mut() {
                *b = next() as u8;
            }
            let x = next();
            r[..4].copy_from_slice(&(if x & 1 == 0 { CID } else { OTHER }).to_be_bytes());
            if x & 2 == 0 {
                r[4] = ((x >> 8) % 4) as u8;
            }
            if x & 4 == 0 {
                r[5] = 0;
            }
            now += Duration::from_millis((x >> 16) % 3);
            let _ = a.feed(&r, now);
            if let Some(p) = &a.partial {
                assert!(p.payload.len() <= p.expected_len);
                assert!(p.expected_len <= MAX_MESSAGE_LEN);
                assert!(p.next_seq <= 0x7F);
            }
        }
    }
}
