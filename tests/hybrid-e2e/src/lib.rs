//! End to end for issue 15's hybrid transport against implementations no one here wrote:
//! webauthn-authenticator-rs 0.6.2 (features `cable`, `cable-override-tunnel`) is the browser,
//! webauthn-rs-core 0.6.2 the relying party, python-dbusmock's `bluez5` template on a private
//! D-Bus the Bluetooth stack the browser scans through, and the tunnel is either our
//! `tests/tunnel-server` or webauthn-rs's `cable-tunnel-server-backend` 0.1.0.
//!
//! A run starts, in order: the bus and the fake BlueZ ([`scenario::Context`]), then per
//! scenario a tunnel server ([`tunnels`]), the browser in this process ([`browser`]) and the
//! phone as a child process ([`phone`]), or in phase 1 a stand-in built from the core's test
//! kit ([`standin`]). Every process is stopped by its pid when its handle drops.
//!
//! What each peer could do in bad faith, and what the tests show: a stranger's advert (another
//! QR secret) does not make the browser connect; the tunnel server sees only the Noise
//! handshake and ciphertext (no rp id, user or credential id in any relayed message), and if it
//! alters the browser's handshake the phone refuses it and serves nothing; a tunnel that
//! expires leaves the browser with an error, not a hang; the phone's user may decline or fail
//! verification, and the browser then gets the matching CTAP error, not a credential.

pub mod browser;
pub mod bus;
pub mod fake_bluez;
pub mod paths;
pub mod phone;
pub mod process;
pub mod rp;
pub mod runner;
pub mod scenario;
pub mod standin;
pub mod tamper;
pub mod tunnels;
