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
//! What each peer could do in bad faith, and what the tests show: the browser (a stranger's
//! QR or advert) cannot make the phone serve without the QR secret (an advert under a wrong
//! secret is ignored); the tunnel server sees only the Noise handshake and ciphertext; the
//! phone's user may decline, and the browser then gets a CTAP error, not a credential.

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
