//! A minimal CTAPHID client over the TCP socket framing of proto/ctaphid-socket.md (raw
//! 64-byte reports): INIT a channel, send one CBOR request, read the answer while skipping
//! KEEPALIVEs. The demo uses it to reach the phone through the pairing tool, as a PC's
//! browser would.

use std::time::Duration;

use authenticator_core::ctaphid::{
    BROADCAST_CID, CONT_DATA_LEN, CTAPHID_CBOR, CTAPHID_INIT, CTAPHID_KEEPALIVE, INIT_DATA_LEN,
    INIT_FLAG, Message, REPORT_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one answer may take, keepalives included.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub struct HidClient {
    stream: tokio::sync::Mutex<TcpStream>,
    cid: u32,
}

impl HidClient {
    /// Connects to `address` and allocates a channel.
    pub async fn connect(address: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut client = Self {
            stream: tokio::sync::Mutex::new(stream),
            cid: BROADCAST_CID,
        };
        let nonce: [u8; 8] = crate::pin_client::random_array()?;
        let answer = client.transact(CTAPHID_INIT, nonce.to_vec()).await?;
        if answer.len() < 17 || answer[..8] != nonce {
            return Err("CTAPHID INIT answer does not echo the nonce".into());
        }
        client.cid = u32::from_be_bytes([answer[8], answer[9], answer[10], answer[11]]);
        Ok(client)
    }

    /// One CTAP request (command byte ‖ CBOR); returns status ‖ CBOR.
    pub async fn cbor(&self, request: Vec<u8>) -> Result<Vec<u8>, String> {
        self.transact(CTAPHID_CBOR, request).await
    }

    async fn transact(&self, cmd: u8, payload: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut stream = self.stream.lock().await;
        let reports = Message::new(self.cid, cmd, payload)
            .to_reports()
            .map_err(|e| e.to_string())?;
        for report in reports {
            stream
                .write_all(&report)
                .await
                .map_err(|e| format!("CTAPHID write failed: {e}"))?;
        }
        tokio::time::timeout(ANSWER_TIMEOUT, read_answer(&mut stream, self.cid, cmd))
            .await
            .map_err(|_| "no CTAPHID answer within 60 s".to_owned())?
    }
}

async fn read_report(stream: &mut TcpStream) -> Result<[u8; REPORT_LEN], String> {
    let mut report = [0u8; REPORT_LEN];
    stream
        .read_exact(&mut report)
        .await
        .map_err(|e| format!("CTAPHID read failed: {e}"))?;
    Ok(report)
}

async fn read_answer(stream: &mut TcpStream, cid: u32, cmd: u8) -> Result<Vec<u8>, String> {
    loop {
        let report = read_report(stream).await?;
        let got_cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        if got_cid != cid || report[4] & INIT_FLAG == 0 {
            return Err(format!("unexpected CTAPHID packet {:02x?}", &report[..7]));
        }
        let got_cmd = report[4] & !INIT_FLAG;
        if got_cmd == CTAPHID_KEEPALIVE {
            continue;
        }
        if got_cmd != cmd {
            return Err(format!(
                "CTAPHID answered command {got_cmd:#04x} (error {:#04x}?) to {cmd:#04x}",
                report[7]
            ));
        }
        let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
        let mut data = report[7..7 + len.min(INIT_DATA_LEN)].to_vec();
        let mut seq = 0u8;
        while data.len() < len {
            let next = read_report(stream).await?;
            if next[..4] != report[..4] || next[4] != seq {
                return Err("CTAPHID continuation out of order".into());
            }
            let take = (len - data.len()).min(CONT_DATA_LEN);
            data.extend_from_slice(&next[5..5 + take]);
            seq += 1;
        }
        return Ok(data);
    }
}
