//! Shared pieces of the fuzz targets in `fuzz_targets/`:
//!
//! - [`engine`]: the process-wide CTAP engines over one vault in a temp dir, a scripted user
//!   and a current-thread tokio runtime with a paused clock.
//! - [`check`]: what every CTAP response must satisfy.
//! - [`source`]: reading fuzz input as a stream of choices.
//! - [`requests`]: a generator of valid-looking CTAP requests (the structured target), which
//!   also does the platform's side of the PIN/UV protocol so that tokens can be used.
//! - [`hid`]: the CTAPHID target's input format.
//! - [`seeds`]: the seed corpora, written by `cargo run --bin seeds`.

pub mod check;
pub mod engine;
pub mod hid;
pub mod requests;
pub mod seeds;
pub mod source;
