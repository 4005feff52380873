//! CTAPHID, the authenticator side of FIDO CTAP 2.1 §11.2 "USB Human Interface Device (USB HID)",
//! independent of how the 64-byte reports travel (USB on a real key, TCP for the virtual phone).
//!
//! - `packet`: one report as an init or continuation packet, and a message cut into reports.
//! - `assembler`: reports back into one message, with the sequence, length and timeout checks.
//! - `channels`: the channel ids handed out by CTAPHID_INIT.
//! - `dispatch`: [`CtapHid`], the synchronous state machine: a report in, actions out.
//! - `server`: [`serve`], the async loop that runs [`CtapHid`] over a byte stream and a
//!   [`CtapHandler`] (the CTAP engine), with keepalives and cancellation.
//!
//! Invariants: no report can panic the transport or make it allocate more than one message
//! (7609 bytes) plus a bounded channel table; time is always a parameter of the state machine,
//! so every timeout is testable without sleeping. The device serves one transaction at a time
//! (§11.2.5.1), so one message is assembled and one CBOR request runs at a time.
//!
//! Fuzzing: [`CtapHid::receive`] (report bytes and an arrival time in, actions out) covers the
//! whole transport; [`Assembler::feed`] covers reassembly alone.

mod assembler;
mod channels;
mod dispatch;
mod packet;
mod server;

use std::time::Duration;

/// The engine as this transport sees it (it lives below both the engine and the transports),
/// and what a handler receives and ends (each CTAPHID channel is one origin), so that a
/// handler outside the core (the virtual phone's, over the API's CTAP channels) can be written.
pub use crate::request::{CtapHandler, Origin, RequestSignals};
pub use assembler::{Assembler, Outcome};
pub use dispatch::{Action, CtapHid, DeviceVersion, KeepaliveStatus};
pub use packet::{Message, MessageTooLong, Packet};
pub use server::{ServerConfig, serve, serve_with};

/// §11.2.4: packets are HID reports of the endpoint size, 64 bytes on full-speed USB; the
/// virtual phone's stream carries reports of the same size.
pub const REPORT_LEN: usize = 64;
pub type Report = [u8; REPORT_LEN];
/// §11.2.4: an init packet is CID(4) CMD(1) BCNTH(1) BCNTL(1) then data.
pub const INIT_DATA_LEN: usize = REPORT_LEN - 7;
/// §11.2.4: a continuation packet is CID(4) SEQ(1) then data.
pub const CONT_DATA_LEN: usize = REPORT_LEN - 5;
/// §11.2.4: bit 7 of the fifth byte tells an init packet (set) from a continuation (clear).
pub const INIT_FLAG: u8 = 0x80;
/// §11.2.4: SEQ runs from 0 to 0x7F, so a message has at most 128 continuation packets.
pub const MAX_SEQ: u8 = 0x7F;
const MAX_CONT_PACKETS: usize = 128;
/// §11.2.4: 64 - 7 + 128 * (64 - 5) = 7609 bytes.
pub const MAX_MESSAGE_LEN: usize = INIT_DATA_LEN + MAX_CONT_PACKETS * CONT_DATA_LEN;

/// §11.2.3 "Concurrency and channels": channel 0 is reserved and never allocated.
pub const RESERVED_CID: u32 = 0;
/// §11.2.3 and §11.2.9.1.3: the broadcast channel, only for CTAPHID_INIT (allocation).
pub const BROADCAST_CID: u32 = 0xFFFF_FFFF;

// §11.2.9 commands (the CMD byte without INIT_FLAG).
/// §11.2.9.1.4: echo.
pub const CTAPHID_PING: u8 = 0x01;
/// §11.2.9.1.1: a CTAP1/U2F APDU; not supported here (we advertise CAPABILITY_NMSG).
pub const CTAPHID_MSG: u8 = 0x03;
/// §11.2.9.2.2: optional channel lock; not supported here.
pub const CTAPHID_LOCK: u8 = 0x04;
/// §11.2.9.1.3: channel allocation and resynchronisation.
pub const CTAPHID_INIT: u8 = 0x06;
/// §11.2.9.2.1: "show the user which device this is".
pub const CTAPHID_WINK: u8 = 0x08;
/// §11.2.9.1.2: a CTAP2 request (command byte and CBOR parameters).
pub const CTAPHID_CBOR: u8 = 0x10;
/// §11.2.9.1.5: cancel the channel's pending CBOR request; never answered.
pub const CTAPHID_CANCEL: u8 = 0x11;
/// §11.2.9.1.7: sent by the authenticator while a CBOR request runs.
pub const CTAPHID_KEEPALIVE: u8 = 0x3B;
/// §11.2.9.1.6: sent by the authenticator with one error byte.
pub const CTAPHID_ERROR: u8 = 0x3F;

/// §11.2.9.1.3: the INIT request is an 8-byte nonce, echoed in the response.
pub const INIT_NONCE_LEN: usize = 8;
/// §11.2.9.1.3: the CTAPHID protocol version in the INIT response.
pub const CTAPHID_PROTOCOL_VERSION: u8 = 2;
/// §11.2.9.1.3 capability flags: implements WINK.
pub const CAPABILITY_WINK: u8 = 0x01;
/// §11.2.9.1.3 capability flags: implements CBOR (CTAP2).
pub const CAPABILITY_CBOR: u8 = 0x04;
/// §11.2.9.1.3 capability flags: does NOT implement MSG (no CTAP1/U2F).
pub const CAPABILITY_NMSG: u8 = 0x08;
pub const CAPABILITIES: u8 = CAPABILITY_WINK | CAPABILITY_CBOR | CAPABILITY_NMSG;

/// §11.2.5.2 asks that a transaction complete "within a specified period of time" without
/// fixing it. We give a whole message 3 s from its init packet: python-fido2 and libfido2 send
/// the packets back to back (milliseconds even over a relay), and a deadline on the whole
/// message, rather than between packets, bounds how long a stalled client keeps the device busy.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(3);
/// §11.2.9.1.7 wants a keepalive at least every 100 ms while a CBOR request runs; 80 ms leaves
/// room for scheduling jitter.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(80);
const _: () = assert!(KEEPALIVE_INTERVAL.as_millis() < 100);

/// §11.2.9.1.6: the CTAPHID_ERROR codes, each with its wire byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HidError {
    /// The command is unknown or not supported.
    InvalidCmd = 0x01,
    /// A parameter of the command is invalid.
    InvalidPar = 0x02,
    /// The message length is invalid (too long, or wrong for the command).
    InvalidLen = 0x03,
    /// A continuation packet came out of order, or an init packet interrupted a message.
    InvalidSeq = 0x04,
    /// The message was not completed in time (§11.2.5.2).
    MsgTimeout = 0x05,
    /// The device is busy with another transaction (§11.2.5.1).
    ChannelBusy = 0x06,
    /// The command needs a channel lock (never sent: we do not implement LOCK).
    LockRequired = 0x0A,
    /// The channel is reserved, broadcast (for anything but INIT) or not allocated.
    InvalidChannel = 0x0B,
    /// Anything else (e.g. no random channel id could be drawn).
    Other = 0x7F,
}

impl HidError {
    pub fn code(self) -> u8 {
        self as u8
    }
}
