//! Writes the `uhid_forwarding` seed corpus to `corpus/uhid_forwarding/` (see README.md):
//! inputs in the target's record format that reach every branch the fuzzer could not guess,
//! a CBOR exchange on an allocated channel above all.

use std::fs;
use std::path::Path;

/// An output-report record: control (kind 1, channel choice, clock step, answer bit), a
/// mutation byte of 0 (well formed), then the 64-byte report.
fn report(channel: u8, answer: bool, bytes: &[u8]) -> Vec<u8> {
    let mut record = vec![1 | (channel << 2) | if answer { 0x80 } else { 0 }, 0];
    let mut report = [0u8; 64];
    report[..bytes.len()].copy_from_slice(bytes);
    record.extend_from_slice(&report);
    record
}

/// CTAPHID_INIT on the broadcast channel (channel choice 1 writes the id).
fn init() -> Vec<u8> {
    report(1, false, &[0, 0, 0, 0, 0x86, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])
}

fn main() -> std::io::Result<()> {
    let dir = Path::new("corpus/uhid_forwarding");
    fs::create_dir_all(dir)?;
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    // INIT, then a getInfo CBOR request on the allocated channel, answered.
    let mut cbor = init();
    cbor.extend(report(2, true, &[0, 0, 0, 0, 0x90, 0, 1, 0x04]));
    seeds.push(("init-cbor", cbor));
    // INIT, then a 100-byte PING in two packets.
    let mut ping = init();
    let mut first = vec![0, 0, 0, 0, 0x81, 0, 100];
    first.extend(std::iter::repeat_n(0xAB, 57));
    ping.extend(report(2, false, &first));
    let mut cont = vec![0, 0, 0, 0, 0];
    cont.extend(std::iter::repeat_n(0xCD, 43));
    ping.extend(report(2, false, &cont));
    seeds.push(("init-ping-two-packets", ping));
    // A CBOR request cancelled, after a clock step past the message timeout.
    let mut cancel = init();
    cancel.extend(report(2, false, &[0, 0, 0, 0, 0x90, 0, 1, 0x04]));
    cancel.extend(report(2, false, &[0, 0, 0, 0, 0x91, 0, 0]));
    let mut late = report(2, false, &[0, 0, 0, 0, 0x81, 0, 0]);
    late[0] |= 7 << 4;
    cancel.extend(late);
    seeds.push(("cbor-cancel-timeout", cancel));
    // Feature requests, lifecycle, a numbered report and a raw event of another type.
    let mut other = vec![2, 1, 2, 3, 4, 2 | 4, 5, 6, 7, 8, 3, 3 | 4, 3 | 8, 3 | 12];
    other.extend([1, 2 | 1, 9]);
    other.extend([0u8; 64]);
    other.extend([0, 8, 0, 13, 0, 0, 0, 1, 0, 0, 0]);
    seeds.push(("feature-lifecycle-malformed", other));
    for (name, bytes) in seeds {
        fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    Ok(())
}
