//! `serve --uhid`: the paired phone as a FIDO HID device of the Linux kernel, created through
//! `/dev/uhid`. The kernel then exposes `/dev/hidrawN`, where libfido2, browsers and OpenSSH
//! find it as they find a USB security key.
//!
//! The device is one HID session of the core's CTAPHID server (`ctaphid::serve`), run with the
//! same handler as the TCP socket (the [`crate::forward::Forwarder`]): output reports from the
//! kernel go in as 64-byte reports, the server's 64-byte reports go back as `UHID_INPUT2`. So
//! keepalives, cancel, busy, "not paired" and "phone unreachable" are the TCP socket's,
//! byte for byte. The event layout is in [`event`].
//!
//! Invariants:
//! - The device exists from [`run`]'s `UHID_CREATE2` until its future ends or is dropped: a
//!   guard writes `UHID_DESTROY` then (exit, SIGTERM, a failure of either side).
//! - Neither direction can stall the other: reports to CTAPHID wait for the server, while its
//!   answers are drained independently, so a host flooding reports cannot deadlock the loop.
//! - Writes to the device are made in the calling task: the kernel handles a uhid write within
//!   the call (it never waits on user space), so they do not block the runtime.
//!
//! Peers: any local process that may open the hidraw node (by default root; with systemd's
//! FIDO rule the logged-in user) can send any report: it reaches the phone exactly as a TCP
//! socket client would, through CTAPHID's checks, and every credential operation still needs
//! the phone's user. The phone's name becomes the device name: it is escaped
//! (`Pairing::display_name`) and cut to the kernel's 127 bytes. Someone who can open
//! `/dev/uhid` can create HID devices of their own anyway (it is root's by default).

pub mod event;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use authenticator_core::ctaphid::{self, CtapHandler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use event::{DeviceInfo, EVENT_LEN, Incoming, REPORT_LEN, RawEvent};

/// The kernel's uhid character device.
pub const DEFAULT_PATH: &str = "/dev/uhid";
/// The udev rule that gives group `uhid` the device (README "uhid device").
pub const UDEV_RULE: &str = r#"KERNEL=="uhid", GROUP="uhid", MODE="0660""#;
/// Reports buffered between the device and the CTAPHID server, each way.
const DUPLEX_REPORTS: usize = 256;

/// Opens the uhid device for reading and writing, or says what to do about it.
///
/// # Errors
/// A message naming the missing module, or the udev rule and group.
pub fn open(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| open_error(path, &e))
}

/// The message for a failed open of `path`.
pub fn open_error(path: &Path, error: &io::Error) -> String {
    let shown = path.display();
    match error.kind() {
        io::ErrorKind::NotFound => format!(
            "cannot open {shown}: it does not exist. Load the kernel's uhid module: \
             `sudo modprobe uhid` (to load it at boot: `echo uhid | sudo tee \
             /etc/modules-load.d/uhid.conf`)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot open {shown}: permission denied. Let group uhid use it: put the udev rule \
             `{UDEV_RULE}` in /etc/udev/rules.d/70-uhid.rules, then `sudo groupadd --system \
             uhid`, `sudo usermod -aG uhid $USER`, `sudo udevadm control --reload && sudo \
             udevadm trigger --sysname-match=uhid`, and log in again (see the pairing tool's \
             README)"
        ),
        _ => format!("cannot open {shown}: {error}"),
    }
}

/// The device's name: the paired phone's, or that the tool is not paired yet.
pub fn device_name(phone: Option<&str>) -> String {
    match phone {
        Some(phone) => format!("{phone} via pairing-tool"),
        None => "pairing-tool (no phone paired)".to_owned(),
    }
}

/// Creates the device on `writer`, serves it with `handler` until the kernel side fails or
/// this future is dropped, then destroys it. `on_start` runs at the kernel's `UHID_START`
/// (the HID driver bound the device: the hidraw node is being created).
///
/// # Errors
/// The device could not be created; reading or writing it failed.
pub async fn run<R, W>(
    reader: R,
    writer: W,
    info: &DeviceInfo,
    handler: Arc<dyn CtapHandler>,
    on_start: impl FnOnce() + Send,
) -> Result<(), String>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let writer = KernelWriter(Arc::new(Mutex::new(writer)));
    writer
        .send(&event::create2(info))
        .map_err(|e| format!("cannot create the uhid device: {e}"))?;
    let _destroy = DestroyOnDrop(writer.clone());
    eprintln!("pairing-tool: uhid device created: {}", info.name);

    let mut from_kernel = read_events(reader);
    let (ours, theirs) = tokio::io::duplex(DUPLEX_REPORTS * REPORT_LEN);
    let (mut from_server, mut to_server) = tokio::io::split(ours);
    let mut on_start = Some(on_start);

    // Kernel -> CTAPHID: reports in, feature requests answered, lifecycle noted.
    let inbound = async {
        loop {
            let raw = match from_kernel.recv().await {
                Some(Ok(raw)) => raw,
                Some(Err(e)) => return format!("reading the uhid device failed: {e}"),
                None => return "the uhid device reader stopped".to_owned(),
            };
            match event::decode(&raw) {
                Incoming::Report(report) => {
                    if let Err(e) = to_server.write_all(&report).await {
                        return format!("the CTAPHID server stopped: {e}");
                    }
                }
                Incoming::Reply(reply) => {
                    if let Err(e) = writer.send(&reply) {
                        return format!("writing to the uhid device failed: {e}");
                    }
                }
                Incoming::Lifecycle(kind) => {
                    if kind == event::UHID_START
                        && let Some(on_start) = on_start.take()
                    {
                        on_start();
                    }
                }
                Incoming::Ignored(why) => eprintln!("pairing-tool: uhid: dropped {why}"),
            }
        }
    };
    // CTAPHID -> kernel: every 64 bytes one UHID_INPUT2.
    let outbound = async {
        let mut report = [0u8; REPORT_LEN];
        loop {
            if let Err(e) = from_server.read_exact(&mut report).await {
                return format!("the CTAPHID server stopped: {e}");
            }
            if let Err(e) = writer.send(&event::input2(&report)) {
                return format!("writing to the uhid device failed: {e}");
            }
        }
    };
    let server = ctaphid::serve(theirs, handler);
    tokio::select! {
        why = inbound => Err(why),
        why = outbound => Err(why),
        ended = server => Err(match ended {
            Ok(()) => "the CTAPHID server stopped".to_owned(),
            Err(e) => format!("the CTAPHID server failed: {e}"),
        }),
    }
}

/// Whole events from the device, read on a thread of their own (a read blocks until the
/// kernel has an event). The thread ends when the receiver is gone or the read fails.
fn read_events<R: Read + Send + 'static>(
    mut reader: R,
) -> mpsc::Receiver<io::Result<Box<RawEvent>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        loop {
            let mut raw = Box::new([0u8; EVENT_LEN]);
            // The kernel returns one whole event per read; a stream double may split it.
            let read = reader.read_exact(&mut raw[..]).map(|()| raw);
            let failed = read.is_err();
            if tx.blocking_send(read).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// The device's write side, shared by the loop and the destroy guard.
struct KernelWriter<W>(Arc<Mutex<W>>);

impl<W> Clone for KernelWriter<W> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<W: Write> KernelWriter<W> {
    fn send(&self, raw: &RawEvent) -> io::Result<()> {
        let mut writer = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        writer.write_all(raw)?;
        writer.flush()
    }
}

/// Writes `UHID_DESTROY` when the device's loop ends, however it ends.
struct DestroyOnDrop<W: Write>(KernelWriter<W>);

impl<W: Write> Drop for DestroyOnDrop<W> {
    fn drop(&mut self) {
        match self.0.send(&event::destroy()) {
            Ok(()) => eprintln!("pairing-tool: uhid device destroyed"),
            Err(e) => eprintln!("pairing-tool: cannot destroy the uhid device: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
