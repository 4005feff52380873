//! One 64-byte report read as a packet, and one message cut into reports (§11.2.4).
//!
//! Parsing cannot fail: every 64-byte report is either an init packet (bit 7 of byte 4 set) or
//! a continuation packet; what the fields mean is the assembler's business. Fragmenting refuses
//! messages over 7609 bytes, so every message built here can be sent.

use super::{
    CONT_DATA_LEN, CTAPHID_ERROR, HidError, INIT_DATA_LEN, INIT_FLAG, MAX_MESSAGE_LEN, MAX_SEQ,
    REPORT_LEN, Report,
};

/// A report as the packet it is. The data arrays include the padding after the message's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// §11.2.4 initialization packet: starts a message of `bcnt` bytes.
    Init {
        cid: u32,
        /// The command without [`INIT_FLAG`].
        cmd: u8,
        bcnt: u16,
        data: &'a [u8; INIT_DATA_LEN],
    },
    /// §11.2.4 continuation packet: `seq` is 0..=0x7F by construction (bit 7 clear).
    Cont {
        cid: u32,
        seq: u8,
        data: &'a [u8; CONT_DATA_LEN],
    },
}

impl<'a> Packet<'a> {
    pub fn parse(report: &'a Report) -> Self {
        let [c0, c1, c2, c3, kind, body @ ..] = report;
        let cid = u32::from_be_bytes([*c0, *c1, *c2, *c3]);
        if kind & INIT_FLAG != 0 {
            let [bcnt_high, bcnt_low, data @ ..] = body;
            Packet::Init {
                cid,
                cmd: kind & !INIT_FLAG,
                bcnt: u16::from_be_bytes([*bcnt_high, *bcnt_low]),
                data,
            }
        } else {
            Packet::Cont {
                cid,
                seq: *kind,
                data: body,
            }
        }
    }

    pub fn cid(&self) -> u32 {
        match self {
            Packet::Init { cid, .. } | Packet::Cont { cid, .. } => *cid,
        }
    }
}

/// A whole CTAPHID message: the channel, the command (without [`INIT_FLAG`]) and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub cid: u32,
    pub cmd: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a CTAPHID message holds at most {MAX_MESSAGE_LEN} bytes, not {0}")]
pub struct MessageTooLong(pub usize);

impl Message {
    pub fn new(cid: u32, cmd: u8, payload: Vec<u8>) -> Self {
        Self { cid, cmd, payload }
    }

    /// §11.2.9.1.6: CTAPHID_ERROR with its one error byte.
    pub fn error(cid: u32, error: HidError) -> Self {
        Self::new(cid, CTAPHID_ERROR, vec![error.code()])
    }

    /// Cuts the message into one init packet and as many continuation packets as needed, the
    /// last one zero-padded (§11.2.4: unused bytes "SHOULD be set to zero").
    ///
    /// # Errors
    /// [`MessageTooLong`] for a payload over 7609 bytes.
    pub fn to_reports(&self) -> Result<Vec<Report>, MessageTooLong> {
        let len = self.payload.len();
        let bcnt = u16::try_from(len)
            .ok()
            .filter(|_| len <= MAX_MESSAGE_LEN)
            .ok_or(MessageTooLong(len))?;
        let (first, rest) = self.payload.split_at(len.min(INIT_DATA_LEN));
        let mut reports = Vec::with_capacity(1 + rest.len().div_ceil(CONT_DATA_LEN));

        let mut init = [0u8; REPORT_LEN];
        init[..4].copy_from_slice(&self.cid.to_be_bytes());
        init[4] = self.cmd | INIT_FLAG;
        init[5..7].copy_from_slice(&bcnt.to_be_bytes());
        init[7..7 + first.len()].copy_from_slice(first);
        reports.push(init);

        // The length check above keeps the chunks within 128, so zip never drops one.
        for (seq, chunk) in (0..=MAX_SEQ).zip(rest.chunks(CONT_DATA_LEN)) {
            let mut cont = [0u8; REPORT_LEN];
            cont[..4].copy_from_slice(&self.cid.to_be_bytes());
            cont[4] = seq;
            cont[5..5 + chunk.len()].copy_from_slice(chunk);
            reports.push(cont);
        }
        Ok(reports)
    }
}

#[cfg(test)]
mod tests {
    use super::super::CTAPHID_PING;
    use super::*;

    #[test]
    fn parses_init_and_continuation_fields() {
        let mut report = [0u8; REPORT_LEN];
        report[..7].copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x90, 0x01, 0x02]);
        report[7] = 0xAA;
        let Packet::Init {
            cid,
            cmd,
            bcnt,
            data,
        } = Packet::parse(&report)
        else {
            panic!("bit 7 set is an init packet");
        };
        assert_eq!((cid, cmd, bcnt, data[0]), (0x1234_5678, 0x10, 0x0102, 0xAA));

        report[4] = 0x7F;
        let Packet::Cont { cid, seq, data } = Packet::parse(&report) else {
            panic!("bit 7 clear is a continuation packet");
        };
        assert_eq!(
            (cid, seq, data[0], data[2]),
            (0x1234_5678, 0x7F, 0x01, 0xAA)
        );
    }

    #[test]
    fn fragments_with_header_sequence_and_zero_padding() {
        let payload: Vec<u8> = (1..=200u8).collect();
        let reports = Message::new(0xCAFE_F00D, CTAPHID_PING, payload.clone())
            .to_reports()
            .unwrap();
        // 57 + 59 + 59 = 175 < 200 <= 234: four reports.
        assert_eq!(reports.len(), 4);
        assert_eq!(&reports[0][..7], &[0xCA, 0xFE, 0xF0, 0x0D, 0x81, 0x00, 200]);
        for (i, report) in reports[1..].iter().enumerate() {
            assert_eq!(&report[..4], &[0xCA, 0xFE, 0xF0, 0x0D]);
            assert_eq!(usize::from(report[4]), i);
        }
        let tail = 200 - INIT_DATA_LEN - 2 * CONT_DATA_LEN;
        assert!(reports[3][5 + tail..].iter().all(|b| *b == 0));
        let mut joined = reports[0][7..].to_vec();
        for report in &reports[1..] {
            joined.extend_from_slice(&report[5..]);
        }
        assert_eq!(&joined[..200], &payload[..]);
    }

    #[test]
    fn an_empty_message_is_one_init_packet() {
        let reports = Message::new(1, CTAPHID_PING, vec![]).to_reports().unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(&reports[0][4..7], &[0x81, 0, 0]);
    }

    #[test]
    fn refuses_messages_over_7609_bytes() {
        assert_eq!(MAX_MESSAGE_LEN, 7609);
        let max = Message::new(1, CTAPHID_PING, vec![0; MAX_MESSAGE_LEN]);
        let reports = max.to_reports().unwrap();
        assert_eq!(reports.len(), 129);
        assert_eq!(reports[128][4], MAX_SEQ);
        let too_long = Message::new(1, CTAPHID_PING, vec![0; MAX_MESSAGE_LEN + 1]);
        assert_eq!(too_long.to_reports(), Err(MessageTooLong(7610)));
        let way_too_long = Message::new(1, CTAPHID_PING, vec![0; 70_000]);
        assert_eq!(way_too_long.to_reports(), Err(MessageTooLong(70_000)));
    }

    #[test]
    fn error_messages_carry_the_error_byte() {
        let reports = Message::error(7, HidError::InvalidSeq)
            .to_reports()
            .unwrap();
        assert_eq!(&reports[0][..8], &[0, 0, 0, 7, 0xBF, 0, 1, 0x04]);
    }
}
