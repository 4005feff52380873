//! Shared pieces of the fuzz targets in `fuzz_targets/`:
//!
//! - [`engine`]: the process-wide CTAP engines over one vault in a temp dir, a scripted user
//!   and a current-thread tokio runtime with a paused clock.
//! - [`check`]: what every CTAP response must satisfy.
//! - [`source`]: reading fuzz input as a stream of choices.
//! - [`requests`]: a generator of valid-looking CTAP requests (the structured target), which
//!   also does the platform's side of the PIN/UV protocol so that tokens can be used.
//! - [`hid`]: the CTAPHID target's input format.
//! - [`link_keys`]: the fixed keys of the link targets.
//! - [`qr`], [`frame`], [`handshake`], [`routing`], [`ble`]: the link targets (`qr_parse`,
//!   `link_frame`, `link_handshake`, `relay_routing`, `ble_reassembly`).
//! - [`hybrid`]: the hybrid targets (`hybrid_qr`, `hybrid_frames`).
//! - [`seeds`]: the seed corpora, written by `cargo run --bin seeds`.

pub mod ble;
pub mod check;
pub mod engine;
pub mod frame;
pub mod handshake;
pub mod hid;
pub mod hybrid;
pub mod link_keys;
pub mod qr;
pub mod requests;
pub mod routing;
pub mod seeds;
pub mod source;
