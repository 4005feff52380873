//! The kernel's uhid events (`linux/uhid.h`, `struct uhid_event`) as bytes, and what the
//! device does with each one it reads: the pure part of `serve --uhid`, with no I/O, so the
//! layout is unit-tested and the report forwarding fuzzed (`tests/pairing-tool/fuzz`).
//!
//! Layout (checked against Debian 12's `linux-libc-dev` header with a C `sizeof`/`offsetof`
//! probe, and asserted below): every event is one `struct uhid_event`, packed, little-endian
//! on the architectures we build for (the kernel uses host order; x86_64 and arm64 are
//! little-endian): `type: u32` then a union. The union is 4376 bytes: its largest member,
//! `uhid_create2_req`, is 4372, and `uhid_start_req`'s `u64` aligns the (unpacked) union to 8,
//! so the whole event is 4 + 4376 = **4380** bytes. The kernel reads one event per `write`
//! (zero-filling a short one) and returns one whole event per `read`; we always write 4380.
//!
//! Invariants: decoding never panics and never trusts a size field beyond the 4096-byte array
//! it describes; an output report reaches CTAPHID only as exactly 64 bytes (the kernel hands
//! us 65: report id 0, then the report), anything else is dropped with the reason; input
//! reports go back as exactly 64 bytes (`UHID_INPUT2`, `size` 64). The kernel is trusted (it
//! is the one writing these events); what arrives *inside* an output report comes from any
//! local process that can open the hidraw node and is treated as hostile by CTAPHID.

use std::fmt;

/// `struct uhid_event`: 4 (type) + 4376 (the union, 4372 rounded up to its 8-byte alignment).
pub const EVENT_LEN: usize = 4380;
/// `UHID_DATA_MAX` and `HID_MAX_DESCRIPTOR_SIZE`: the data and descriptor arrays.
pub const UHID_DATA_MAX: usize = 4096;
/// The union starts right after `type`.
const PAYLOAD: usize = 4;

// `enum uhid_event_type`.
pub const UHID_DESTROY: u32 = 1;
pub const UHID_START: u32 = 2;
pub const UHID_STOP: u32 = 3;
pub const UHID_OPEN: u32 = 4;
pub const UHID_CLOSE: u32 = 5;
pub const UHID_OUTPUT: u32 = 6;
pub const UHID_GET_REPORT: u32 = 9;
pub const UHID_GET_REPORT_REPLY: u32 = 10;
pub const UHID_CREATE2: u32 = 11;
pub const UHID_INPUT2: u32 = 12;
pub const UHID_SET_REPORT: u32 = 13;
pub const UHID_SET_REPORT_REPLY: u32 = 14;

/// `enum uhid_report_type`: UHID_OUTPUT carries `UHID_OUTPUT_REPORT` for a hidraw `write`.
pub const UHID_OUTPUT_REPORT: u8 = 1;

// `struct uhid_create2_req` offsets within the event.
pub const CREATE2_NAME: usize = PAYLOAD; // u8[128]
pub const CREATE2_PHYS: usize = CREATE2_NAME + 128; // u8[64]
pub const CREATE2_UNIQ: usize = CREATE2_PHYS + 64; // u8[64]
pub const CREATE2_RD_SIZE: usize = CREATE2_UNIQ + 64; // u16
pub const CREATE2_BUS: usize = CREATE2_RD_SIZE + 2; // u16
pub const CREATE2_VENDOR: usize = CREATE2_BUS + 2; // u32
pub const CREATE2_PRODUCT: usize = CREATE2_VENDOR + 4; // u32
pub const CREATE2_VERSION: usize = CREATE2_PRODUCT + 4; // u32
pub const CREATE2_COUNTRY: usize = CREATE2_VERSION + 4; // u32
pub const CREATE2_RD_DATA: usize = CREATE2_COUNTRY + 4; // u8[4096]
/// `struct uhid_input2_req`: `size: u16`, then `data[4096]`.
pub const INPUT2_SIZE: usize = PAYLOAD;
pub const INPUT2_DATA: usize = INPUT2_SIZE + 2;
/// `struct uhid_output_req`: `data[4096]`, then `size: u16`, `rtype: u8`.
pub const OUTPUT_DATA: usize = PAYLOAD;
pub const OUTPUT_SIZE: usize = OUTPUT_DATA + UHID_DATA_MAX;
pub const OUTPUT_RTYPE: usize = OUTPUT_SIZE + 2;
/// `struct uhid_get_report_req` / `uhid_set_report_req` start with `id: u32`; the replies are
/// `id: u32, err: u16` (GET's reply then `size: u16, data[]`).
const REPORT_REQ_ID: usize = PAYLOAD;
const REPLY_ERR: usize = REPORT_REQ_ID + 4;

// The facts of the header (offsetof / sizeof), at compile time.
const _: () = assert!(CREATE2_PHYS == 132 && CREATE2_UNIQ == 196 && CREATE2_RD_SIZE == 260);
const _: () = assert!(CREATE2_BUS == 262 && CREATE2_VENDOR == 264 && CREATE2_PRODUCT == 268);
const _: () = assert!(CREATE2_VERSION == 272 && CREATE2_COUNTRY == 276 && CREATE2_RD_DATA == 280);
// sizeof(struct uhid_create2_req) == 4372; the union rounds it up to 4376.
const _: () = assert!(CREATE2_RD_DATA + UHID_DATA_MAX - PAYLOAD == 4372);
const _: () = assert!(EVENT_LEN == PAYLOAD + (4372usize).next_multiple_of(8));
const _: () = assert!(INPUT2_DATA == 6 && OUTPUT_SIZE == 4100 && OUTPUT_RTYPE == 4102);
const _: () = assert!(OUTPUT_RTYPE < EVENT_LEN && INPUT2_DATA + UHID_DATA_MAX <= EVENT_LEN);

/// `BUS_USB` (`linux/input.h`): libfido2 1.12 skips devices on `BUS_VIRTUAL`.
pub const BUS_USB: u16 = 0x03;
/// pid.codes (VID 0x1209, given out for open-source hardware) reserves PID 0x0001 as its
/// "Test PID": an id that names no one's product, so no host quirk for a real key applies to
/// this device and nothing impersonates a vendor. A shipped tool would ask pid.codes for its own.
pub const VENDOR_ID: u32 = 0x1209;
pub const PRODUCT_ID: u32 = 0x0001;
/// bcdDevice-like version the kernel shows in `HID_ID`/uevent: 1.0.
pub const DEVICE_VERSION: u32 = 0x0100;

/// CTAP 2.1 §11.2.8.1: the FIDO HID report descriptor, one 64-byte input and one 64-byte
/// output report without report ids.
pub const FIDO_REPORT_DESCRIPTOR: [u8; 34] = [
    0x06, 0xD0, 0xF1, // Usage Page (FIDO Alliance, 0xF1D0)
    0x09, 0x01, // Usage (CTAPHID, 0x01)
    0xA1, 0x01, // Collection (Application)
    0x09, 0x20, //   Usage (Input Report Data, 0x20)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8 bits)
    0x95, 0x40, //   Report Count (64)
    0x81, 0x02, //   Input (Data, Variable, Absolute)
    0x09, 0x21, //   Usage (Output Report Data, 0x21)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8 bits)
    0x95, 0x40, //   Report Count (64)
    0x91, 0x02, //   Output (Data, Variable, Absolute)
    0xC0, // End Collection
];

/// CTAPHID reports are 64 bytes (CTAP 2.1 §11.2.4).
pub const REPORT_LEN: usize = 64;
/// What the kernel hands us for one hidraw write of an unnumbered report: id 0, then 64.
pub const OUTPUT_REPORT_LEN: usize = REPORT_LEN + 1;
/// The error a GET_REPORT / SET_REPORT gets: EIO (the device has no feature reports).
const EIO: u16 = 5;

/// One whole event, as read from or written to `/dev/uhid`.
pub type RawEvent = [u8; EVENT_LEN];

/// `name`, `phys` and `uniq` are NUL-terminated within their arrays.
const NAME_MAX: usize = 128 - 1;
const PHYS_MAX: usize = 64 - 1;

/// What the device looks like to the kernel.
pub struct DeviceInfo {
    /// `HID_NAME`, what `fido2-token -L` and browsers show; cut to 127 bytes at a char boundary.
    pub name: String,
    /// `HID_PHYS`.
    pub phys: String,
}

/// `UHID_CREATE2` for a FIDO device on the USB bus.
pub fn create2(info: &DeviceInfo) -> Box<RawEvent> {
    let mut event = blank(UHID_CREATE2);
    put_text(&mut event[CREATE2_NAME..CREATE2_PHYS], &info.name, NAME_MAX);
    put_text(&mut event[CREATE2_PHYS..CREATE2_UNIQ], &info.phys, PHYS_MAX);
    put_u16(
        &mut event,
        CREATE2_RD_SIZE,
        FIDO_REPORT_DESCRIPTOR.len() as u16,
    );
    put_u16(&mut event, CREATE2_BUS, BUS_USB);
    put_u32(&mut event, CREATE2_VENDOR, VENDOR_ID);
    put_u32(&mut event, CREATE2_PRODUCT, PRODUCT_ID);
    put_u32(&mut event, CREATE2_VERSION, DEVICE_VERSION);
    put_u32(&mut event, CREATE2_COUNTRY, 0);
    event[CREATE2_RD_DATA..CREATE2_RD_DATA + FIDO_REPORT_DESCRIPTOR.len()]
        .copy_from_slice(&FIDO_REPORT_DESCRIPTOR);
    event
}

/// `UHID_INPUT2` carrying one 64-byte CTAPHID report to the host.
pub fn input2(report: &[u8; REPORT_LEN]) -> Box<RawEvent> {
    let mut event = blank(UHID_INPUT2);
    put_u16(&mut event, INPUT2_SIZE, REPORT_LEN as u16);
    event[INPUT2_DATA..INPUT2_DATA + REPORT_LEN].copy_from_slice(report);
    event
}

/// `UHID_DESTROY`: the kernel removes the device (closing the fd does too).
pub fn destroy() -> Box<RawEvent> {
    blank(UHID_DESTROY)
}

/// What one event from the kernel means for the device.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A CTAPHID report written by a host process: hand it to CTAPHID.
    Report([u8; REPORT_LEN]),
    /// An event to answer at once (GET_REPORT / SET_REPORT: the kernel waits for a reply).
    Reply(Box<RawEvent>),
    /// A lifecycle event (START, STOP, OPEN, CLOSE): nothing to do but note it.
    Lifecycle(u32),
    /// Dropped, with the reason (for the log).
    Ignored(Ignored),
}

/// Why an event was dropped.
#[derive(Debug, PartialEq, Eq)]
pub enum Ignored {
    /// An output event that is not an output report of report id 0 with 64 bytes.
    BadOutput {
        size: usize,
        rtype: u8,
        report_id: Option<u8>,
    },
    /// A type the kernel does not send to user space, or one we do not know.
    UnknownType(u32),
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::BadOutput {
                size,
                rtype,
                report_id,
            } => write!(
                f,
                "an output event of {size} bytes (type {rtype}, report id {report_id:?}); \
                 a CTAPHID report is 65 bytes of type {UHID_OUTPUT_REPORT}, report id 0"
            ),
            Ignored::UnknownType(kind) => write!(f, "an event of unknown type {kind}"),
        }
    }
}

/// Reads one event from the kernel.
pub fn decode(event: &RawEvent) -> Incoming {
    match event_type(event) {
        UHID_OUTPUT => {
            let size = usize::from(get_u16(event, OUTPUT_SIZE));
            let rtype = event[OUTPUT_RTYPE];
            let data = &event[OUTPUT_DATA..OUTPUT_DATA + size.min(UHID_DATA_MAX)];
            match data.split_first() {
                Some((0, report)) if rtype == UHID_OUTPUT_REPORT && size == OUTPUT_REPORT_LEN => {
                    let mut out = [0u8; REPORT_LEN];
                    out.copy_from_slice(report);
                    Incoming::Report(out)
                }
                _ => Incoming::Ignored(Ignored::BadOutput {
                    size,
                    rtype,
                    report_id: data.first().copied(),
                }),
            }
        }
        UHID_GET_REPORT => {
            let mut reply = blank(UHID_GET_REPORT_REPLY);
            reply[REPORT_REQ_ID..REPORT_REQ_ID + 4]
                .copy_from_slice(&event[REPORT_REQ_ID..REPORT_REQ_ID + 4]);
            put_u16(&mut reply, REPLY_ERR, EIO);
            Incoming::Reply(reply)
        }
        UHID_SET_REPORT => {
            let mut reply = blank(UHID_SET_REPORT_REPLY);
            reply[REPORT_REQ_ID..REPORT_REQ_ID + 4]
                .copy_from_slice(&event[REPORT_REQ_ID..REPORT_REQ_ID + 4]);
            put_u16(&mut reply, REPLY_ERR, EIO);
            Incoming::Reply(reply)
        }
        kind @ (UHID_START | UHID_STOP | UHID_OPEN | UHID_CLOSE) => Incoming::Lifecycle(kind),
        other => Incoming::Ignored(Ignored::UnknownType(other)),
    }
}

/// The event's type field.
pub fn event_type(event: &RawEvent) -> u32 {
    get_u32(event, 0)
}

/// A zeroed event of type `kind`.
fn blank(kind: u32) -> Box<RawEvent> {
    let mut event = Box::new([0u8; EVENT_LEN]);
    put_u32(&mut event, 0, kind);
    event
}

/// Copies at most `max` bytes of `text`, cut at a char boundary; the rest stays 0 (the NUL).
fn put_text(field: &mut [u8], text: &str, max: usize) {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // A NUL inside would end the kernel's string early: stop there.
    let bytes = &text.as_bytes()[..end];
    let bytes = bytes.split(|b| *b == 0).next().unwrap_or_default();
    field[..bytes.len()].copy_from_slice(bytes);
}

pub fn get_u16(event: &RawEvent, at: usize) -> u16 {
    u16::from_le_bytes([event[at], event[at + 1]])
}

pub fn get_u32(event: &RawEvent, at: usize) -> u32 {
    u32::from_le_bytes([event[at], event[at + 1], event[at + 2], event[at + 3]])
}

fn put_u16(event: &mut RawEvent, at: usize, value: u16) {
    event[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(event: &mut RawEvent, at: usize, value: u32) {
    event[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output event as the kernel writes it for a hidraw `write` of `data`.
    pub fn output(data: &[u8], rtype: u8) -> Box<RawEvent> {
        let mut event = blank(UHID_OUTPUT);
        event[OUTPUT_DATA..OUTPUT_DATA + data.len()].copy_from_slice(data);
        put_u16(&mut event, OUTPUT_SIZE, data.len() as u16);
        event[OUTPUT_RTYPE] = rtype;
        event
    }

    #[test]
    fn the_event_types_are_the_headers() {
        // enum uhid_event_type counts from __UHID_LEGACY_CREATE = 0.
        assert_eq!(
            [
                UHID_DESTROY,
                UHID_START,
                UHID_STOP,
                UHID_OPEN,
                UHID_CLOSE,
                UHID_OUTPUT
            ],
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(
            [
                UHID_GET_REPORT,
                UHID_GET_REPORT_REPLY,
                UHID_CREATE2,
                UHID_INPUT2,
                UHID_SET_REPORT,
                UHID_SET_REPORT_REPLY
            ],
            [9, 10, 11, 12, 13, 14]
        );
        assert_eq!(EVENT_LEN, 4380);
    }

    #[test]
    fn create2_puts_every_field_at_the_headers_offset() {
        let event = create2(&DeviceInfo {
            name: "Pixel 9 via pairing-tool".into(),
            phys: "pairing-tool".into(),
        });
        assert_eq!(event.len(), 4380);
        assert_eq!(&event[0..4], &11u32.to_le_bytes());
        assert_eq!(&event[4..4 + 24], b"Pixel 9 via pairing-tool");
        assert!(event[4 + 24..132].iter().all(|b| *b == 0));
        assert_eq!(&event[132..132 + 12], b"pairing-tool");
        assert!(event[196..260].iter().all(|b| *b == 0), "uniq is empty");
        assert_eq!(&event[260..262], &34u16.to_le_bytes(), "rd_size");
        assert_eq!(&event[262..264], &[0x03, 0x00], "bus: BUS_USB");
        assert_eq!(&event[264..268], &[0x09, 0x12, 0, 0], "vendor 0x1209");
        assert_eq!(&event[268..272], &[0x01, 0, 0, 0], "product 0x0001");
        assert_eq!(&event[272..276], &[0x00, 0x01, 0, 0], "version 0x0100");
        assert_eq!(&event[276..280], &[0, 0, 0, 0], "country");
        assert_eq!(&event[280..280 + 34], &FIDO_REPORT_DESCRIPTOR);
        assert!(event[280 + 34..].iter().all(|b| *b == 0));
    }

    #[test]
    fn the_descriptor_declares_the_fido_usage_and_64_byte_reports() {
        let d = &FIDO_REPORT_DESCRIPTOR;
        assert_eq!(
            &d[..5],
            &[0x06, 0xD0, 0xF1, 0x09, 0x01],
            "usage page F1D0, usage 1"
        );
        // Two main items (Input 0x81, Output 0x91), each after Report Size 8 and Count 64.
        for main in [0x81u8, 0x91] {
            let at = d.iter().position(|b| *b == main).unwrap();
            assert_eq!(&d[at - 4..at + 2], &[0x75, 0x08, 0x95, 0x40, main, 0x02]);
        }
        assert_eq!(d.last(), Some(&0xC0));
    }

    #[test]
    fn a_long_or_hostile_name_is_cut_at_a_char_boundary_and_stays_terminated() {
        // 126 ASCII bytes then a 3-byte char: 129 bytes, cut before the char (126 bytes).
        let name = format!("{}€", "a".repeat(126));
        let event = create2(&DeviceInfo {
            name,
            phys: String::new(),
        });
        assert_eq!(&event[4..130], "a".repeat(126).as_bytes());
        assert_eq!(&event[130..132], &[0, 0]);
        let event = create2(&DeviceInfo {
            name: "Evil\0phone".into(),
            phys: String::new(),
        });
        assert_eq!(&event[4..9], b"Evil\0");
        assert!(event[9..132].iter().all(|b| *b == 0));
    }

    #[test]
    fn input2_is_size_64_then_the_report() {
        let report: [u8; 64] = std::array::from_fn(|i| i as u8 + 1);
        let event = input2(&report);
        assert_eq!(&event[0..4], &12u32.to_le_bytes());
        assert_eq!(&event[4..6], &64u16.to_le_bytes());
        assert_eq!(&event[6..70], &report);
        assert!(event[70..].iter().all(|b| *b == 0));
        assert_eq!(
            &destroy()[..],
            &{
                let mut e = [0u8; EVENT_LEN];
                e[0] = 1;
                e
            }[..]
        );
    }

    #[test]
    fn an_output_report_is_report_id_0_then_64_bytes() {
        let mut data = [0u8; 65];
        for (i, b) in data.iter_mut().enumerate().skip(1) {
            *b = i as u8;
        }
        let event = output(&data, UHID_OUTPUT_REPORT);
        assert_eq!(
            &event[4100..4103],
            &[65, 0, 1],
            "size at 4100, rtype at 4102"
        );
        let mut expected = [0u8; 64];
        expected.copy_from_slice(&data[1..]);
        assert_eq!(decode(&event), Incoming::Report(expected));
    }

    #[test]
    fn other_output_events_are_dropped_with_their_reason() {
        let bad = |data: &[u8], rtype| decode(&output(data, rtype));
        assert_eq!(
            bad(&[0u8; 64], UHID_OUTPUT_REPORT),
            Incoming::Ignored(Ignored::BadOutput {
                size: 64,
                rtype: 1,
                report_id: Some(0)
            })
        );
        let mut numbered = [0u8; 65];
        numbered[0] = 2;
        assert_eq!(
            bad(&numbered, UHID_OUTPUT_REPORT),
            Incoming::Ignored(Ignored::BadOutput {
                size: 65,
                rtype: 1,
                report_id: Some(2)
            })
        );
        assert_eq!(
            bad(&[0u8; 65], 0),
            Incoming::Ignored(Ignored::BadOutput {
                size: 65,
                rtype: 0,
                report_id: Some(0)
            })
        );
        assert_eq!(
            bad(&[], UHID_OUTPUT_REPORT),
            Incoming::Ignored(Ignored::BadOutput {
                size: 0,
                rtype: 1,
                report_id: None
            })
        );
        // A size beyond the array is not trusted.
        let mut huge = output(&[0u8; 65], UHID_OUTPUT_REPORT);
        put_u16(&mut huge, OUTPUT_SIZE, u16::MAX);
        assert_eq!(
            decode(&huge),
            Incoming::Ignored(Ignored::BadOutput {
                size: 65535,
                rtype: 1,
                report_id: Some(0)
            })
        );
        assert_eq!(
            decode(&blank(99)),
            Incoming::Ignored(Ignored::UnknownType(99))
        );
        assert_eq!(
            Ignored::UnknownType(99).to_string(),
            "an event of unknown type 99"
        );
    }

    #[test]
    fn feature_report_requests_get_an_eio_reply_with_their_id() {
        for (request, reply_type) in [
            (UHID_GET_REPORT, UHID_GET_REPORT_REPLY),
            (UHID_SET_REPORT, UHID_SET_REPORT_REPLY),
        ] {
            let mut event = blank(request);
            put_u32(&mut event, 4, 0xDEAD_BEEF);
            let Incoming::Reply(reply) = decode(&event) else {
                panic!("no reply to {request}")
            };
            assert_eq!(get_u32(&reply, 0), reply_type);
            assert_eq!(get_u32(&reply, 4), 0xDEAD_BEEF, "id");
            assert_eq!(get_u16(&reply, 8), 5, "err = EIO");
            assert!(reply[10..].iter().all(|b| *b == 0), "size 0, no data");
        }
    }

    #[test]
    fn lifecycle_events_are_noted() {
        for kind in [UHID_START, UHID_STOP, UHID_OPEN, UHID_CLOSE] {
            assert_eq!(decode(&blank(kind)), Incoming::Lifecycle(kind));
        }
    }
}
