//! The test kit: the doubles every test of this workspace uses in place of the platform, so
//! that there is one of each. Compiled for the crate's own unit tests and, behind the
//! `testkit` feature, for integration tests, benches and fuzzers; never in a shipping build.
//!
//! - [`ScriptedUser`]: a `UserInterface` whose answers a test sets and changes while it runs,
//!   and which records every prompt and notice.
//! - [`TestProtector`]: a `KeyProtector` held in memory (sealing, plain, or unwrapping to a
//!   fixed key), with an in-memory anchor and failures a test can switch on.
//! - [`FakeClock`]: a wall clock a test sets and advances.
//!
//! Timers inside the core run on tokio's clock: tests pause it (`start_paused`) and advance it
//! instead of sleeping.

mod clock;
mod protector;
mod user;

pub use clock::FakeClock;
pub use protector::TestProtector;
pub use user::{Answer, ScriptedUser};
