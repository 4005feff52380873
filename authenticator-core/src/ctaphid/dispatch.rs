//! [`CtapHid`]: the transport's state machine, with no I/O and no clock of its own. A report
//! and the time it arrived go in; what to send, which CBOR request to start or cancel, and
//! whether to wink come out. The async server (and a fuzz target) only drive it.
//!
//! Rules, in the order they are applied to a whole message (§11.2.9):
//! - CANCEL is never answered (§11.2.9.1.5); it cancels the CBOR request of its channel, if
//!   any, and is otherwise ignored, even on an unknown channel.
//! - INIT is answered even while busy, since it touches no transaction but its own channel's:
//!   on the broadcast channel it allocates a channel, on an allocated one it resynchronises it
//!   (§11.2.5.3), cancelling and discarding that channel's CBOR request.
//! - Anything else on channel 0, the broadcast channel or an unknown channel is
//!   ERR_INVALID_CHANNEL; while a message is assembled or a CBOR request runs it is
//!   ERR_CHANNEL_BUSY (§11.2.5.1: one transaction at a time).
//! - PING echoes, WINK winks, CBOR starts a request; MSG (we advertise NMSG), LOCK (optional,
//!   §11.2.9.2.2, and pointless for a device that already serves one transaction at a time),
//!   and every other command are ERR_INVALID_CMD.
//!
//! Invariant: at most one CBOR request is in flight, and its response is sent only if its
//! channel was not resynchronised meanwhile.

use tokio::time::Instant;

use super::channels::{Channels, CidSource, MAX_CHANNELS, random_cid};
use super::{
    Assembler, BROADCAST_CID, CAPABILITIES, CTAPHID_CANCEL, CTAPHID_CBOR, CTAPHID_INIT,
    CTAPHID_KEEPALIVE, CTAPHID_PING, CTAPHID_PROTOCOL_VERSION, CTAPHID_WINK, HidError,
    INIT_NONCE_LEN, MAX_MESSAGE_LEN, MESSAGE_TIMEOUT, Message, Outcome, Report,
};
use crate::request::Origin;
use std::time::Duration;

/// CTAP 2.1 §8.2 status CTAP1_ERR_OTHER, sent in place of a CBOR response the transport cannot
/// carry (empty, or over 7609 bytes). Kept here rather than taken from the engine so that the
/// transport does not depend on it.
const CTAP1_ERR_OTHER: u8 = 0x7F;

/// §11.2.9.1.3: the vendor-defined device version in the INIT response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceVersion {
    pub major: u8,
    pub minor: u8,
    pub build: u8,
}

impl Default for DeviceVersion {
    /// The crate's version (components over 255 read as 255).
    fn default() -> Self {
        let part = |s: &str| {
            s.parse::<u64>()
                .map_or(0, |v| u8::try_from(v).unwrap_or(u8::MAX))
        };
        Self {
            major: part(env!("CARGO_PKG_VERSION_MAJOR")),
            minor: part(env!("CARGO_PKG_VERSION_MINOR")),
            build: part(env!("CARGO_PKG_VERSION_PATCH")),
        }
    }
}

/// §11.2.9.1.7: why the authenticator has not answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeepaliveStatus {
    Processing = 1,
    UpNeeded = 2,
}

/// What the driver of [`CtapHid`] must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message (see [`Message::to_reports`]).
    Send(Message),
    /// Run this CTAP2 request (command byte and CBOR) and hand its response to
    /// [`CtapHid::finish_cbor`]; keepalives go to `cid` meanwhile. `origin` is the channel's.
    StartCbor {
        cid: u32,
        origin: Origin,
        request: Vec<u8>,
    },
    /// Cancel the running CBOR request (`RequestSignals::cancel`).
    CancelCbor,
    /// Run the wink hook.
    Wink,
}

struct CborInFlight {
    cid: u32,
    /// The channel was resynchronised: the response goes nowhere.
    discarded: bool,
}

pub struct CtapHid {
    assembler: Assembler,
    channels: Channels,
    version: DeviceVersion,
    cbor: Option<CborInFlight>,
}

impl CtapHid {
    pub fn new(version: DeviceVersion) -> Self {
        Self::with_timeout(version, MESSAGE_TIMEOUT)
    }

    /// `message_timeout`: how long a message may take from its init packet to its last packet.
    pub fn with_timeout(version: DeviceVersion, message_timeout: Duration) -> Self {
        Self::with_parts(version, message_timeout, random_cid)
    }

    fn with_parts(version: DeviceVersion, message_timeout: Duration, source: CidSource) -> Self {
        Self {
            assembler: Assembler::new(message_timeout),
            channels: Channels::new(MAX_CHANNELS, source),
            version,
            cbor: None,
        }
    }

    /// Takes one report received at `now`. Never panics, whatever the bytes and the time.
    pub fn receive(&mut self, report: &Report, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(timed_out) = self.poll_timeout(now) {
            actions.push(Action::Send(timed_out));
        }
        match self.assembler.feed(report, now) {
            Outcome::Incomplete | Outcome::Ignored => {}
            Outcome::Error { cid, error } => actions.push(Action::Send(Message::error(cid, error))),
            Outcome::Complete(message) => self.dispatch(message, &mut actions),
        }
        actions
    }

    /// When [`poll_timeout`](Self::poll_timeout) next has something to say.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.assembler.deadline()
    }

    /// ERR_MSG_TIMEOUT for the channel whose message is overdue at `now` (§11.2.5.2).
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Message> {
        self.assembler
            .expire(now)
            .map(|cid| Message::error(cid, HidError::MsgTimeout))
    }

    /// The origins of the channels allocated now (each channel is one request origin).
    pub fn origins(&self) -> Vec<Origin> {
        self.channels.origins().cloned().collect()
    }

    /// The channel of the running CBOR request, if any.
    pub fn cbor_in_flight(&self) -> Option<u32> {
        self.cbor.as_ref().map(|c| c.cid)
    }

    /// The running CBOR request ended with `response` (status byte and CBOR); returns the
    /// message to send, if its channel still wants it.
    pub fn finish_cbor(&mut self, response: Vec<u8>) -> Option<Message> {
        let done = self.cbor.take()?;
        if done.discarded {
            return None;
        }
        let payload = if response.is_empty() || response.len() > MAX_MESSAGE_LEN {
            vec![CTAP1_ERR_OTHER]
        } else {
            response
        };
        Some(Message::new(done.cid, CTAPHID_CBOR, payload))
    }

    /// A keepalive for the running CBOR request (§11.2.9.1.7), unless there is none to keep.
    pub fn keepalive(&self, status: KeepaliveStatus) -> Option<Message> {
        let running = self.cbor.as_ref().filter(|c| !c.discarded)?;
        Some(Message::new(
            running.cid,
            CTAPHID_KEEPALIVE,
            vec![status as u8],
        ))
    }

    fn is_busy(&self) -> bool {
        self.cbor.is_some() || self.assembler.assembling().is_some()
    }

    fn dispatch(&mut self, message: Message, actions: &mut Vec<Action>) {
        let Message { cid, cmd, payload } = message;
        match cmd {
            CTAPHID_CANCEL => self.cancel(cid, actions),
            CTAPHID_INIT => {
                let reply = self.init(cid, &payload, actions);
                actions.push(Action::Send(reply));
            }
            _ if !self.channels.contains(cid) => {
                actions.push(Action::Send(Message::error(cid, HidError::InvalidChannel)));
            }
            _ if self.is_busy() => {
                actions.push(Action::Send(Message::error(cid, HidError::ChannelBusy)));
            }
            _ => {
                self.channels.touch(cid);
                actions.extend(self.command(cid, cmd, payload));
            }
        }
    }

    /// §11.2.9.1.5: no reply, whether or not something was cancelled.
    fn cancel(&mut self, cid: u32, actions: &mut Vec<Action>) {
        if self
            .cbor
            .as_ref()
            .is_some_and(|c| c.cid == cid && !c.discarded)
        {
            actions.push(Action::CancelCbor);
        }
    }

    /// §11.2.9.1.3. Returns the reply; pushes a cancellation first when resynchronising.
    fn init(&mut self, cid: u32, payload: &[u8], actions: &mut Vec<Action>) -> Message {
        let is_known = cid == BROADCAST_CID || self.channels.contains(cid);
        if !is_known {
            return Message::error(cid, HidError::InvalidChannel);
        }
        let Ok(nonce) = <[u8; INIT_NONCE_LEN]>::try_from(payload) else {
            return Message::error(cid, HidError::InvalidLen);
        };
        let channel = if cid == BROADCAST_CID {
            // The running request's channel must survive, or its client could not CANCEL.
            let keep = self.cbor_in_flight();
            match self.channels.allocate(keep) {
                Some(new_cid) => new_cid,
                None => return Message::error(cid, HidError::Other),
            }
        } else {
            self.channels.touch(cid);
            if let Some(running) = self.cbor.as_mut().filter(|c| c.cid == cid && !c.discarded) {
                // §11.2.5.3: abort the transaction. The engine is told to stop and its answer
                // dropped; until it returns the device stays busy for other requests.
                running.discarded = true;
                actions.push(Action::CancelCbor);
            }
            cid
        };
        let mut reply = Vec::with_capacity(17);
        reply.extend_from_slice(&nonce);
        reply.extend_from_slice(&channel.to_be_bytes());
        reply.extend_from_slice(&[
            CTAPHID_PROTOCOL_VERSION,
            self.version.major,
            self.version.minor,
            self.version.build,
            CAPABILITIES,
        ]);
        Message::new(cid, CTAPHID_INIT, reply)
    }

    /// A command on an allocated channel of an idle device.
    fn command(&mut self, cid: u32, cmd: u8, payload: Vec<u8>) -> Vec<Action> {
        match cmd {
            // §11.2.9.1.4: any length the framing allows.
            CTAPHID_PING => vec![Action::Send(Message::new(cid, CTAPHID_PING, payload))],
            // §11.2.9.2.1: the request has no data.
            CTAPHID_WINK if !payload.is_empty() => {
                vec![Action::Send(Message::error(cid, HidError::InvalidLen))]
            }
            CTAPHID_WINK => vec![
                Action::Wink,
                Action::Send(Message::new(cid, CTAPHID_WINK, vec![])),
            ],
            // §11.2.9.1.2: at least the CTAP command byte.
            CTAPHID_CBOR if payload.is_empty() => {
                vec![Action::Send(Message::error(cid, HidError::InvalidLen))]
            }
            CTAPHID_CBOR => {
                // `command` runs only on allocated channels (see `dispatch`).
                let Some(origin) = self.channels.origin(cid).cloned() else {
                    return vec![Action::Send(Message::error(cid, HidError::InvalidChannel))];
                };
                self.cbor = Some(CborInFlight {
                    cid,
                    discarded: false,
                });
                vec![Action::StartCbor {
                    cid,
                    origin,
                    request: payload,
                }]
            }
            _ => vec![Action::Send(Message::error(cid, HidError::InvalidCmd))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        CAPABILITY_CBOR, CAPABILITY_NMSG, CAPABILITY_WINK, CTAPHID_ERROR, CTAPHID_LOCK,
        CTAPHID_MSG, RESERVED_CID,
    };
    use super::*;

    const NONCE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    const VERSION: DeviceVersion = DeviceVersion {
        major: 1,
        minor: 2,
        build: 3,
    };

    fn device() -> CtapHid {
        CtapHid::new(VERSION)
    }

    /// Feeds a whole message, returning the actions of all its reports.
    fn send(hid: &mut CtapHid, cid: u32, cmd: u8, payload: &[u8], now: Instant) -> Vec<Action> {
        let reports = Message::new(cid, cmd, payload.to_vec())
            .to_reports()
            .unwrap();
        reports.iter().flat_map(|r| hid.receive(r, now)).collect()
    }

    fn error(cid: u32, error: HidError) -> Vec<Action> {
        vec![Action::Send(Message::error(cid, error))]
    }

    /// INIT on the broadcast channel; returns the new channel.
    fn allocate(hid: &mut CtapHid) -> u32 {
        let actions = send(hid, BROADCAST_CID, CTAPHID_INIT, &NONCE, Instant::now());
        let [Action::Send(reply)] = actions.as_slice() else {
            panic!("INIT is answered with one message: {actions:?}");
        };
        u32::from_be_bytes(reply.payload[8..12].try_into().unwrap())
    }

    #[test]
    fn error_codes_have_their_spec_bytes() {
        let codes = [
            (HidError::InvalidCmd, 0x01),
            (HidError::InvalidPar, 0x02),
            (HidError::InvalidLen, 0x03),
            (HidError::InvalidSeq, 0x04),
            (HidError::MsgTimeout, 0x05),
            (HidError::ChannelBusy, 0x06),
            (HidError::LockRequired, 0x0A),
            (HidError::InvalidChannel, 0x0B),
            (HidError::Other, 0x7F),
        ];
        for (error, code) in codes {
            assert_eq!(error.code(), code, "{error:?}");
            let message = Message::error(9, error);
            assert_eq!((message.cmd, message.payload), (CTAPHID_ERROR, vec![code]));
        }
    }

    #[test]
    fn init_on_broadcast_allocates_distinct_channels_and_echoes_the_nonce() {
        let mut hid = device();
        let actions = send(
            &mut hid,
            BROADCAST_CID,
            CTAPHID_INIT,
            &NONCE,
            Instant::now(),
        );
        let [Action::Send(reply)] = actions.as_slice() else {
            panic!("one reply: {actions:?}");
        };
        assert_eq!((reply.cid, reply.cmd), (BROADCAST_CID, CTAPHID_INIT));
        assert_eq!(reply.payload.len(), 17);
        assert_eq!(&reply.payload[..8], &NONCE);
        let first = u32::from_be_bytes(reply.payload[8..12].try_into().unwrap());
        assert!(first != RESERVED_CID && first != BROADCAST_CID);
        assert_eq!(&reply.payload[12..], &[2, 1, 2, 3, 0x0D]);
        assert_eq!(CAPABILITY_WINK | CAPABILITY_CBOR | CAPABILITY_NMSG, 0x0D);

        let second = allocate(&mut hid);
        assert_ne!(first, second);
        // Both work.
        for cid in [first, second] {
            let pong = send(&mut hid, cid, CTAPHID_PING, b"hi", Instant::now());
            assert_eq!(
                pong,
                vec![Action::Send(Message::new(
                    cid,
                    CTAPHID_PING,
                    b"hi".to_vec()
                ))]
            );
        }
    }

    #[test]
    fn init_needs_an_8_byte_nonce() {
        let mut hid = device();
        let now = Instant::now();
        for len in [0, 7, 9, 57] {
            let nonce = vec![0xAB; len];
            let actions = send(&mut hid, BROADCAST_CID, CTAPHID_INIT, &nonce, now);
            assert_eq!(actions, error(BROADCAST_CID, HidError::InvalidLen));
        }
        let cid = allocate(&mut hid);
        let actions = send(&mut hid, cid, CTAPHID_INIT, &[0; 4], now);
        assert_eq!(actions, error(cid, HidError::InvalidLen));
    }

    #[test]
    fn init_on_an_allocated_channel_echoes_that_channel() {
        let mut hid = device();
        let cid = allocate(&mut hid);
        let actions = send(&mut hid, cid, CTAPHID_INIT, &NONCE, Instant::now());
        let [Action::Send(reply)] = actions.as_slice() else {
            panic!("one reply: {actions:?}");
        };
        assert_eq!(reply.cid, cid);
        assert_eq!(&reply.payload[..8], &NONCE);
        assert_eq!(&reply.payload[8..12], &cid.to_be_bytes());
    }

    #[test]
    fn reserved_broadcast_and_unknown_channels_are_err_invalid_channel() {
        let mut hid = device();
        let now = Instant::now();
        let known = allocate(&mut hid);
        let unknown = known.wrapping_add(1);
        for cmd in [CTAPHID_PING, CTAPHID_CBOR, CTAPHID_WINK, CTAPHID_MSG, 0x55] {
            for cid in [RESERVED_CID, BROADCAST_CID, unknown] {
                let actions = send(&mut hid, cid, cmd, &[0x04], now);
                assert_eq!(actions, error(cid, HidError::InvalidChannel), "{cmd:#x}");
            }
        }
        for cid in [RESERVED_CID, unknown] {
            let actions = send(&mut hid, cid, CTAPHID_INIT, &NONCE, now);
            assert_eq!(actions, error(cid, HidError::InvalidChannel));
        }
        assert_eq!(HidError::InvalidChannel.code(), 0x0B);
    }

    #[test]
    fn ping_echoes_multi_packet_payloads() {
        let mut hid = device();
        let cid = allocate(&mut hid);
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let actions = send(&mut hid, cid, CTAPHID_PING, &payload, Instant::now());
        assert_eq!(
            actions,
            vec![Action::Send(Message::new(cid, CTAPHID_PING, payload))]
        );
    }

    #[test]
    fn wink_runs_the_hook_and_answers_empty() {
        let mut hid = device();
        let cid = allocate(&mut hid);
        let now = Instant::now();
        assert_eq!(
            send(&mut hid, cid, CTAPHID_WINK, &[], now),
            vec![
                Action::Wink,
                Action::Send(Message::new(cid, CTAPHID_WINK, vec![]))
            ]
        );
        assert_eq!(
            send(&mut hid, cid, CTAPHID_WINK, &[1], now),
            error(cid, HidError::InvalidLen)
        );
    }

    #[test]
    fn msg_lock_and_unknown_commands_are_err_invalid_cmd() {
        let mut hid = device();
        let cid = allocate(&mut hid);
        let now = Instant::now();
        for cmd in [
            CTAPHID_MSG,
            CTAPHID_LOCK,
            CTAPHID_KEEPALIVE,
            CTAPHID_ERROR,
            0x00,
            0x40,
            0x7F,
        ] {
            let actions = send(&mut hid, cid, cmd, &[1], now);
            assert_eq!(actions, error(cid, HidError::InvalidCmd), "{cmd:#x}");
        }
        assert_eq!(HidError::InvalidCmd.code(), 0x01);
    }

    #[test]
    fn cbor_runs_one_request_and_other_requests_are_busy() {
        let mut hid = device();
        let a = allocate(&mut hid);
        let b = allocate(&mut hid);
        let now = Instant::now();
        assert_eq!(
            send(&mut hid, a, CTAPHID_CBOR, &[0x04], now),
            vec![Action::StartCbor {
                cid: a,
                origin: hid.channels.origin(a).unwrap().clone(),
                request: vec![0x04]
            }]
        );
        assert_eq!(hid.cbor_in_flight(), Some(a));
        for (cid, cmd) in [(b, CTAPHID_PING), (b, CTAPHID_CBOR), (a, CTAPHID_PING)] {
            assert_eq!(
                send(&mut hid, cid, cmd, &[1], now),
                error(cid, HidError::ChannelBusy)
            );
        }
        // A new client can still open a channel.
        allocate(&mut hid);
        assert_eq!(
            hid.keepalive(KeepaliveStatus::UpNeeded),
            Some(Message::new(a, CTAPHID_KEEPALIVE, vec![2]))
        );
        assert_eq!(
            hid.finish_cbor(vec![0x00, 0xA0]),
            Some(Message::new(a, CTAPHID_CBOR, vec![0x00, 0xA0]))
        );
        assert_eq!(hid.keepalive(KeepaliveStatus::Processing), None);
        assert_eq!(
            send(&mut hid, b, CTAPHID_PING, &[1], now),
            vec![Action::Send(Message::new(b, CTAPHID_PING, vec![1]))]
        );
    }

    #[test]
    fn a_message_being_assembled_makes_other_channels_busy() {
        let mut hid = device();
        let a = allocate(&mut hid);
        let b = allocate(&mut hid);
        let now = Instant::now();
        let reports = Message::new(a, CTAPHID_PING, vec![7; 100])
            .to_reports()
            .unwrap();
        assert!(hid.receive(&reports[0], now).is_empty());
        assert_eq!(
            send(&mut hid, b, CTAPHID_PING, &[1], now),
            error(b, HidError::ChannelBusy)
        );
        assert_eq!(
            hid.receive(&reports[1], now),
            vec![Action::Send(Message::new(a, CTAPHID_PING, vec![7; 100]))]
        );
    }

    #[test]
    fn empty_cbor_is_err_invalid_len() {
        let mut hid = device();
        let cid = allocate(&mut hid);
        assert_eq!(
            send(&mut hid, cid, CTAPHID_CBOR, &[], Instant::now()),
            error(cid, HidError::InvalidLen)
        );
        assert_eq!(hid.cbor_in_flight(), None);
    }

    #[test]
    fn cancel_is_never_answered_and_only_cancels_its_own_channel() {
        let mut hid = device();
        let a = allocate(&mut hid);
        let b = allocate(&mut hid);
        let now = Instant::now();
        // Nothing running: ignored, also on unknown and reserved channels.
        for cid in [a, RESERVED_CID, a.wrapping_add(b)] {
            assert!(send(&mut hid, cid, CTAPHID_CANCEL, &[], now).is_empty());
        }
        send(&mut hid, a, CTAPHID_CBOR, &[0x01], now);
        assert!(send(&mut hid, b, CTAPHID_CANCEL, &[], now).is_empty());
        assert_eq!(
            send(&mut hid, a, CTAPHID_CANCEL, &[], now),
            vec![Action::CancelCbor]
        );
        // The cancelled request still answers (with CTAP2_ERR_KEEPALIVE_CANCEL).
        assert_eq!(
            hid.finish_cbor(vec![0x2D]),
            Some(Message::new(a, CTAPHID_CBOR, vec![0x2D]))
        );
    }

    #[test]
    fn init_on_the_busy_channel_cancels_and_discards_its_request() {
        let mut hid = device();
        let a = allocate(&mut hid);
        let now = Instant::now();
        send(&mut hid, a, CTAPHID_CBOR, &[0x01], now);
        let actions = send(&mut hid, a, CTAPHID_INIT, &NONCE, now);
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0], Action::CancelCbor);
        let Action::Send(reply) = &actions[1] else {
            panic!("INIT is answered");
        };
        assert_eq!(
            (reply.cid, &reply.payload[8..12]),
            (a, &a.to_be_bytes()[..])
        );
        // No keepalives, no response for the abandoned transaction.
        assert_eq!(hid.keepalive(KeepaliveStatus::Processing), None);
        assert!(send(&mut hid, a, CTAPHID_CANCEL, &[], now).is_empty());
        assert_eq!(hid.finish_cbor(vec![0x2D]), None);
        assert_eq!(
            send(&mut hid, a, CTAPHID_PING, &[3], now),
            vec![Action::Send(Message::new(a, CTAPHID_PING, vec![3]))]
        );
    }

    #[test]
    fn responses_the_transport_cannot_carry_become_ctap1_err_other() {
        let mut hid = device();
        let a = allocate(&mut hid);
        let now = Instant::now();
        for response in [vec![], vec![0; MAX_MESSAGE_LEN + 1]] {
            send(&mut hid, a, CTAPHID_CBOR, &[0x01], now);
            assert_eq!(
                hid.finish_cbor(response),
                Some(Message::new(a, CTAPHID_CBOR, vec![0x7F]))
            );
        }
        assert_eq!(hid.finish_cbor(vec![0]), None, "nothing in flight");
    }

    #[test]
    fn an_overdue_message_is_err_msg_timeout() {
        let mut hid = CtapHid::with_timeout(VERSION, Duration::from_millis(500));
        let a = allocate(&mut hid);
        let b = allocate(&mut hid);
        let start = Instant::now();
        let reports = Message::new(a, CTAPHID_PING, vec![1; 100])
            .to_reports()
            .unwrap();
        hid.receive(&reports[0], start);
        assert_eq!(
            hid.next_deadline(),
            Some(start + Duration::from_millis(500))
        );
        assert_eq!(hid.poll_timeout(start + Duration::from_millis(499)), None);
        // The next report after the deadline first reports the timeout, then is handled.
        let late = start + Duration::from_millis(500);
        let actions = send(&mut hid, b, CTAPHID_PING, &[2], late);
        assert_eq!(
            actions,
            vec![
                Action::Send(Message::error(a, HidError::MsgTimeout)),
                Action::Send(Message::new(b, CTAPHID_PING, vec![2])),
            ]
        );
        assert!(hid.receive(&reports[1], late).is_empty());
        assert_eq!(hid.next_deadline(), None);
        // Without further input the driver polls at the deadline.
        hid.receive(&reports[0], late);
        let deadline = hid.next_deadline().unwrap();
        assert_eq!(
            hid.poll_timeout(deadline),
            Some(Message::error(a, HidError::MsgTimeout))
        );
    }

    #[test]
    fn init_fails_with_err_other_when_no_channel_id_can_be_drawn() {
        let mut hid = CtapHid::with_parts(VERSION, MESSAGE_TIMEOUT, || None);
        assert_eq!(
            send(
                &mut hid,
                BROADCAST_CID,
                CTAPHID_INIT,
                &NONCE,
                Instant::now()
            ),
            error(BROADCAST_CID, HidError::Other)
        );
    }

    #[test]
    fn arbitrary_reports_never_panic() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut hid = CtapHid::with_timeout(VERSION, Duration::from_millis(20));
        let a = allocate(&mut hid);
        let mut now = Instant::now();
        let cids = [a, BROADCAST_CID, RESERVED_CID, 0x1234_5678];
        for _ in 0..50_000 {
            let mut r = [0u8; 64];
            r.iter_mut().for_each(|b| *b = next() as u8);
            let x = next();
            r[..4].copy_from_slice(&cids[(x % 4) as usize].to_be_bytes());
            if x & 0x10 == 0 {
                r[4] =
                    0x80 | [0x01, 0x03, 0x04, 0x06, 0x08, 0x10, 0x11, 0x3F][(x >> 8) as usize % 8];
                r[5] = 0;
            }
            now += Duration::from_millis((x >> 16) % 3);
            for action in hid.receive(&r, now) {
                if let Action::Send(m) = action {
                    assert!(m.to_reports().is_ok());
                }
            }
            if x & 0x300 == 0
                && let Some(m) = hid.finish_cbor(vec![0])
            {
                assert!(m.to_reports().is_ok());
            }
        }
    }
}
