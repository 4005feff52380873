//! The PC's side of the link's handshakes (proto/link.md §3, proto/obr-grant.md §6): the Noise
//! responder of a first pairing, a reconnect and an OBR session, run over a [`Link`]. Only the
//! pairing tool (and the tests and fuzzers that play it) runs these, so the phone library is
//! built without them (the `pc` feature of `authenticator-core`).
//!
//! Invariants: each payload is built and parsed by the same helpers as the phone's side in
//! [`super`] (one implementation of each message format); as there, payloads are parsed
//! strictly and the pairing secret is wiped on drop.

use zeroize::Zeroizing;

use super::{
    LinkSession, SessionError, finish, name_payload, payload_map, read_name, recv_handshake,
};
use crate::cbor::{self, Value};
use crate::link::noise::{HandshakeState, KeyPair, PSK_LEN, PUBLIC_KEY_LEN, Pattern, Role};
use crate::link::transport::{Link, LinkError};
use crate::secret::random_array;

/// What the PC learns from a first pairing.
pub struct PhoneHello {
    pub phone_static: [u8; PUBLIC_KEY_LEN],
    pub phone_name: Option<String>,
    pub pairing_secret: Zeroizing<[u8; PSK_LEN]>,
}

/// PC side of a first pairing (IKpsk1 responder): learns the phone's key and name, sends a
/// fresh pairing secret and its own name.
pub async fn pc_first_pairing(
    link: Box<dyn Link>,
    pc_static: KeyPair,
    psk: &[u8; PSK_LEN],
    pc_name: Option<&str>,
) -> Result<(LinkSession, PhoneHello), SessionError> {
    let mut state = HandshakeState::new(Pattern::IKpsk1, Role::Responder, pc_static, None, psk)?;
    let first = recv_handshake(link.as_ref()).await?;
    let payload = state.read_message(&first)?;
    let mut map = payload_map(payload.expose())?;
    let phone_name = read_name(&mut map, 1)?;
    if !map.is_empty() {
        return Err(SessionError::BadPayload("unknown key"));
    }
    let pairing_secret: Zeroizing<[u8; PSK_LEN]> = Zeroizing::new(
        random_array()
            .map_err(|_| LinkError::Transport("the random number generator failed".into()))?,
    );
    let reply = state.write_message(&name_payload(
        2,
        pc_name,
        vec![(Value::int(1), Value::Bytes(pairing_secret.to_vec()))],
    ))?;
    link.send(&reply).await?;
    let session = finish(link, state)?;
    let phone_static = session.peer_static;
    Ok((
        session,
        PhoneHello {
            phone_static,
            phone_name,
            pairing_secret,
        },
    ))
}

/// PC side of a reconnect (KKpsk0 responder).
pub async fn pc_reconnect(
    link: Box<dyn Link>,
    pc_static: KeyPair,
    phone_static: &[u8],
    pairing_secret: &[u8; PSK_LEN],
) -> Result<LinkSession, SessionError> {
    let mut state = HandshakeState::new(
        Pattern::KKpsk0,
        Role::Responder,
        pc_static,
        Some(phone_static),
        pairing_secret,
    )?;
    // While the phone answers the knock: e, se and ss need nothing from it (issue 18).
    state.precompute()?;
    let first = recv_handshake(link.as_ref()).await?;
    let payload = state.read_message(&first)?;
    let map = payload_map(payload.expose())?;
    if !map.is_empty() {
        return Err(SessionError::BadPayload("unknown key"));
    }
    let reply = state.write_message(&[])?;
    link.send(&reply).await?;
    finish(link, state)
}

/// Admin tool side of an OBR session (IKpsk1 responder, empty payloads). The caller checks
/// the session's `peer_static` against the phone's OBR key the workspace reported.
pub async fn pc_obr_handshake(
    link: Box<dyn Link>,
    pc_static: KeyPair,
    psk: &[u8; PSK_LEN],
) -> Result<LinkSession, SessionError> {
    let mut state = HandshakeState::new(Pattern::IKpsk1, Role::Responder, pc_static, None, psk)?;
    let first = recv_handshake(link.as_ref()).await?;
    let payload = state.read_message(&first)?;
    if !payload_map(payload.expose())?.is_empty() {
        return Err(SessionError::BadPayload("unknown key"));
    }
    let reply = state.write_message(&cbor::encode(&Value::map([])))?;
    link.send(&reply).await?;
    finish(link, state)
}
