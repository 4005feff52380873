//! A secure session over any [`Link`]: the Noise handshakes of proto/link.md §3 run over the
//! link (first pairing with IKpsk1, reconnect with KKpsk0), then typed messages travel as
//! sealed frames (§4). Here: the session and the phone's side (the Noise initiator); the PC's
//! side (the responder) is in `session/pc.rs`, built only with the `pc` feature (the pairing
//! tool, tests, fuzzers), and shares this module's payload helpers.
//!
//! Invariants: frames are sealed and sent under one lock, so the order of the counters is the
//! order on the wire even when a keepalive task and a response race; every receive error
//! (link or channel) ends the session, and so does a `shutdown` from the peer. Handshake
//! payloads are parsed strictly (unknown keys refused). Secrets (pairing secret) are wiped on
//! drop and never in errors or `Debug`.

use std::sync::Mutex as StdMutex;
use std::time::Duration;

use tokio::sync::Mutex;
use zeroize::Zeroizing;

use super::channel::{ChannelError, MessageType, SecureChannel};
use super::noise::{HandshakeState, KeyPair, NoiseError, PSK_LEN, PUBLIC_KEY_LEN, Pattern, Role};
use super::transport::{Link, LinkError};
use crate::cbor::{self, MapReader, Value};

/// A handshake message that does not come within this ends the attempt (§5.6).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Display names in handshake payloads are at most this many bytes (§3.3).
pub const MAX_NAME_BYTES: usize = 64;

// The PC's side of the three handshakes (the Noise responder): what the pairing tool runs, and
// the tests that play it. The phone library leaves it out (the `pc` feature).
#[cfg(any(test, feature = "pc"))]
mod pc;
#[cfg(any(test, feature = "pc"))]
pub use pc::{PhoneHello, pc_first_pairing, pc_obr_handshake, pc_reconnect};

/// Why a session could not start or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The peer is not who the pairing says, or the code's secret is wrong.
    #[error("the handshake failed: {0}")]
    Handshake(NoiseError),
    #[error("the secure channel ended: {0}")]
    Channel(#[from] ChannelError),
    /// A handshake message did not arrive in time.
    #[error("the peer did not answer the handshake within {0} s")]
    HandshakeTimeout(u64),
    /// A handshake payload was malformed.
    #[error("the peer sent a malformed handshake payload: {0}")]
    BadPayload(&'static str),
    /// The peer ended the session.
    #[error("the peer ended the session")]
    PeerShutdown,
}

impl From<NoiseError> for SessionError {
    fn from(e: NoiseError) -> Self {
        Self::Handshake(e)
    }
}

/// An established session.
pub struct LinkSession {
    link: Box<dyn Link>,
    channel: StdMutex<SecureChannel>,
    send_lock: Mutex<()>,
    recv_lock: Mutex<()>,
    peer_static: [u8; PUBLIC_KEY_LEN],
    #[cfg_attr(not(any(test, feature = "pc")), allow(dead_code))]
    handshake_hash: [u8; 32],
}

impl std::fmt::Debug for LinkSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSession")
            .field("link", &self.link.kind())
            .finish_non_exhaustive()
    }
}

impl LinkSession {
    /// The peer's static public key (SEC1 uncompressed).
    pub fn peer_static(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.peer_static
    }

    /// The Noise handshake hash, for channel binding.
    #[cfg(any(test, feature = "pc"))]
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }

    pub fn link_kind(&self) -> &'static str {
        self.link.kind()
    }

    /// Seals and sends one message.
    pub async fn send(
        &self,
        message_type: MessageType,
        payload: &[u8],
    ) -> Result<(), SessionError> {
        let _order = self.send_lock.lock().await;
        let frame = {
            let mut channel = self.channel.lock().map_err(|_| ChannelError::Poisoned)?;
            channel.seal(message_type, payload)?
        };
        self.link.send(&frame).await?;
        Ok(())
    }

    /// Receives the next message. A `shutdown` from the peer is [`SessionError::PeerShutdown`].
    /// Cancel-safe as long as the link's `recv` is.
    pub async fn recv(&self) -> Result<(MessageType, Vec<u8>), SessionError> {
        let _one = self.recv_lock.lock().await;
        let frame = match self.link.recv().await {
            Ok(frame) => frame,
            Err(e) => {
                self.poison();
                return Err(e.into());
            }
        };
        let opened = {
            let mut channel = self.channel.lock().map_err(|_| ChannelError::Poisoned)?;
            channel.open(&frame)?
        };
        match opened {
            (MessageType::Shutdown, _) => {
                self.poison();
                Err(SessionError::PeerShutdown)
            }
            other => Ok(other),
        }
    }

    /// Ends the session. If the peer has not ended it, a `shutdown` frame goes out and the link
    /// is left for the peer to close once it has read it; otherwise (or if the shutdown
    /// cannot be sent) the link is closed here.
    pub async fn close(&self) {
        let told_peer = !self.is_over()
            && matches!(
                tokio::time::timeout(
                    Duration::from_secs(2),
                    self.send(MessageType::Shutdown, &[])
                )
                .await,
                Ok(Ok(()))
            );
        self.poison();
        if told_peer {
            self.link.detach().await;
        } else {
            self.link.close().await;
        }
    }

    /// True once the channel failed or either side shut down.
    pub fn is_over(&self) -> bool {
        self.channel.lock().map(|c| c.is_poisoned()).unwrap_or(true)
    }

    fn poison(&self) {
        if let Ok(mut channel) = self.channel.lock() {
            channel.poison();
        }
    }
}

/// What the phone learns from a first pairing.
pub struct PcHello {
    pub pairing_secret: Zeroizing<[u8; PSK_LEN]>,
    /// The PC's display name, if it sent one.
    pub pc_name: Option<String>,
}

async fn recv_handshake(link: &dyn Link) -> Result<Vec<u8>, SessionError> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, link.recv()).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(SessionError::HandshakeTimeout(HANDSHAKE_TIMEOUT.as_secs())),
    }
}

fn finish(link: Box<dyn Link>, state: HandshakeState) -> Result<LinkSession, SessionError> {
    let outcome = state.into_outcome()?;
    Ok(LinkSession {
        link,
        channel: StdMutex::new(outcome.channel),
        send_lock: Mutex::new(()),
        recv_lock: Mutex::new(()),
        peer_static: outcome.remote_static,
        handshake_hash: outcome.handshake_hash,
    })
}

fn name_payload(key: i64, name: Option<&str>, mut entries: Vec<(Value, Value)>) -> Vec<u8> {
    if let Some(name) = name {
        entries.push((Value::int(key), Value::Text(truncate(name))));
    }
    cbor::encode(&Value::map(entries))
}

/// Cuts a display name to [`MAX_NAME_BYTES`] on a character boundary.
pub fn truncate(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

fn read_name(map: &mut MapReader, key: i64) -> Result<Option<String>, SessionError> {
    let name = map
        .text(key)
        .map_err(|_| SessionError::BadPayload("name is not text"))?;
    match name {
        Some(n) if n.len() > MAX_NAME_BYTES => Err(SessionError::BadPayload("name too long")),
        other => Ok(other),
    }
}

fn payload_map(bytes: &[u8]) -> Result<MapReader, SessionError> {
    let value = cbor::decode(bytes).map_err(|_| SessionError::BadPayload("not canonical CBOR"))?;
    MapReader::new(value).map_err(|_| SessionError::BadPayload("not a map"))
}

/// Phone side of a first pairing (IKpsk1 initiator). `pc_static` is from the pairing code,
/// `psk` is the code's derived psk (§2.5).
pub async fn phone_first_pairing(
    link: Box<dyn Link>,
    phone_static: KeyPair,
    pc_static: &[u8; PUBLIC_KEY_LEN],
    psk: &[u8; PSK_LEN],
    phone_name: Option<&str>,
) -> Result<(LinkSession, PcHello), SessionError> {
    let mut state = HandshakeState::new(
        Pattern::IKpsk1,
        Role::Initiator,
        phone_static,
        Some(pc_static),
        psk,
    )?;
    let message = state.write_message(&name_payload(1, phone_name, Vec::new()))?;
    link.send(&message).await?;
    let reply = recv_handshake(link.as_ref()).await?;
    let payload = state.read_message(&reply)?;
    let mut map = payload_map(payload.expose())?;
    let secret = map
        .bytes(1)
        .map_err(|_| SessionError::BadPayload("pairing secret is not bytes"))?
        .ok_or(SessionError::BadPayload("no pairing secret"))?;
    let secret = Zeroizing::new(secret);
    let pairing_secret: [u8; PSK_LEN] = secret
        .as_slice()
        .try_into()
        .map_err(|_| SessionError::BadPayload("pairing secret is not 32 bytes"))?;
    let pc_name = read_name(&mut map, 2)?;
    if !map.is_empty() {
        return Err(SessionError::BadPayload("unknown key"));
    }
    let session = finish(link, state)?;
    Ok((
        session,
        PcHello {
            pairing_secret: Zeroizing::new(pairing_secret),
            pc_name,
        },
    ))
}

/// Phone side of a reconnect (KKpsk0 initiator).
pub async fn phone_reconnect(
    link: Box<dyn Link>,
    phone_static: KeyPair,
    pc_static: &[u8],
    pairing_secret: &[u8; PSK_LEN],
) -> Result<LinkSession, SessionError> {
    let mut state = HandshakeState::new(
        Pattern::KKpsk0,
        Role::Initiator,
        phone_static,
        Some(pc_static),
        pairing_secret,
    )?;
    let message = state.write_message(&cbor::encode(&Value::map([])))?;
    link.send(&message).await?;
    let reply = recv_handshake(link.as_ref()).await?;
    let payload = state.read_message(&reply)?;
    if !payload.expose().is_empty() {
        return Err(SessionError::BadPayload("reconnect reply must be empty"));
    }
    finish(link, state)
}

/// The psk of an on-behalf registration session (proto/obr-grant.md §6): derived from the
/// grant id, which only the workspace, the admin tool and the phone know.
pub fn obr_psk(grant_id: &[u8]) -> Zeroizing<[u8; PSK_LEN]> {
    let mut psk = Zeroizing::new([0u8; PSK_LEN]);
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, grant_id);
    // 32 bytes is far below HKDF-SHA-256's limit, so expand cannot fail.
    let _ = hk.expand(b"passkeyphone/link obr psk", psk.as_mut());
    psk
}

/// Phone side of an OBR session (IKpsk1 initiator, empty payloads): `obr_key` is the phone's
/// OBR key (never its device identity key), `admin_static` the admin tool's key named in the
/// grant.
pub async fn phone_obr_handshake(
    link: Box<dyn Link>,
    obr_key: KeyPair,
    admin_static: &[u8; PUBLIC_KEY_LEN],
    psk: &[u8; PSK_LEN],
) -> Result<LinkSession, SessionError> {
    let mut state = HandshakeState::new(
        Pattern::IKpsk1,
        Role::Initiator,
        obr_key,
        Some(admin_static),
        psk,
    )?;
    let message = state.write_message(&cbor::encode(&Value::map([])))?;
    link.send(&message).await?;
    let reply = recv_handshake(link.as_ref()).await?;
    let payload = state.read_message(&reply)?;
    if !payload_map(payload.expose())?.is_empty() {
        return Err(SessionError::BadPayload("unknown key"));
    }
    finish(link, state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::memory::memory_pair;

    fn key() -> KeyPair {
        KeyPair::generate().unwrap()
    }

    fn clone_key(k: &KeyPair) -> KeyPair {
        KeyPair::from_scalar_bytes(&k.scalar_bytes()).unwrap()
    }

    async fn pair() -> (LinkSession, LinkSession, KeyPair, KeyPair, [u8; 32]) {
        let (phone_end, pc_end) = memory_pair();
        let (phone_key, pc_key) = (key(), key());
        let pc_pub = *pc_key.public_key();
        let psk = [9u8; 32];
        let pc = tokio::spawn({
            let pc_key = clone_key(&pc_key);
            async move { pc_first_pairing(Box::new(pc_end), pc_key, &psk, Some("Desk PC")).await }
        });
        let (phone, pc_hello) = phone_first_pairing(
            Box::new(phone_end),
            clone_key(&phone_key),
            &pc_pub,
            &psk,
            Some("Pixel"),
        )
        .await
        .unwrap();
        let (pc, phone_hello) = pc.await.unwrap().unwrap();
        assert_eq!(pc_hello.pc_name.as_deref(), Some("Desk PC"));
        assert_eq!(phone_hello.phone_name.as_deref(), Some("Pixel"));
        assert_eq!(*pc_hello.pairing_secret, *phone_hello.pairing_secret);
        assert_eq!(&phone_hello.phone_static, phone_key.public_key());
        assert_eq!(phone.handshake_hash(), pc.handshake_hash());
        let secret = *pc_hello.pairing_secret;
        (phone, pc, phone_key, pc_key, secret)
    }

    #[tokio::test]
    async fn first_pairing_then_reconnect_carry_messages_both_ways() {
        let (phone, pc, phone_key, pc_key, secret) = pair().await;
        pc.send(MessageType::Ctap, b"\x04").await.unwrap();
        assert_eq!(
            phone.recv().await.unwrap(),
            (MessageType::Ctap, b"\x04".to_vec())
        );
        phone.send(MessageType::Ctap, b"\x00\xa0").await.unwrap();
        assert_eq!(pc.recv().await.unwrap().1, b"\x00\xa0");
        phone.close().await;
        assert_eq!(pc.recv().await.unwrap_err(), SessionError::PeerShutdown);

        let (phone_end, pc_end) = memory_pair();
        let phone_pub = *phone_key.public_key();
        let pc_pub = *pc_key.public_key();
        let pc = tokio::spawn(async move {
            pc_reconnect(Box::new(pc_end), pc_key, &phone_pub, &secret).await
        });
        let phone = phone_reconnect(Box::new(phone_end), phone_key, &pc_pub, &secret)
            .await
            .unwrap();
        let pc = pc.await.unwrap().unwrap();
        pc.send(MessageType::Cancel, &[]).await.unwrap();
        assert_eq!(phone.recv().await.unwrap(), (MessageType::Cancel, vec![]));
    }

    #[tokio::test]
    async fn reconnect_with_the_wrong_secret_or_key_fails() {
        let (_phone, _pc, phone_key, pc_key, secret) = pair().await;
        let phone_pub = *phone_key.public_key();
        let pc_pub = *pc_key.public_key();
        // A PC that was never paired: its own key, a guessed secret.
        let (phone_end, pc_end) = memory_pair();
        let stranger = key();
        let pc = tokio::spawn(async move {
            pc_reconnect(Box::new(pc_end), stranger, &phone_pub, &[0u8; 32]).await
        });
        let phone = tokio::spawn(async move {
            phone_reconnect(Box::new(phone_end), phone_key, &pc_pub, &secret).await
        });
        assert_eq!(
            pc.await.unwrap().unwrap_err(),
            SessionError::Handshake(NoiseError::Authentication)
        );
        // The PC gave up without answering: the phone's handshake fails too.
        let err = phone.await.unwrap().unwrap_err();
        assert!(
            matches!(err, SessionError::Link(LinkError::Closed(_))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn concurrent_senders_keep_counter_order() {
        let (phone, pc, ..) = pair().await;
        let phone = std::sync::Arc::new(phone);
        let mut tasks = Vec::new();
        for i in 0..20u8 {
            let phone = phone.clone();
            tasks.push(tokio::spawn(async move {
                phone.send(MessageType::Keepalive, &[i]).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..20 {
            seen.push(pc.recv().await.unwrap().1[0]);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn names_are_cut_on_character_boundaries() {
        let long = "é".repeat(40);
        let cut = truncate(&long);
        assert_eq!(cut.len(), 64);
        assert!(long.starts_with(&cut));
    }

    #[tokio::test]
    async fn obr_handshake_binds_both_keys_and_the_grant_id() {
        let (phone_end, pc_end) = memory_pair();
        let (device, admin) = (key(), key());
        let (device_pub, admin_pub) = (*device.public_key(), *admin.public_key());
        let psk = obr_psk(&[4u8; 16]);
        let pc_psk = *psk;
        let pc =
            tokio::spawn(async move { pc_obr_handshake(Box::new(pc_end), admin, &pc_psk).await });
        let phone = phone_obr_handshake(Box::new(phone_end), device, &admin_pub, &psk)
            .await
            .unwrap();
        let pc = pc.await.unwrap().unwrap();
        assert_eq!(pc.peer_static(), &device_pub);
        assert_eq!(phone.peer_static(), &admin_pub);
        pc.send(MessageType::ObrGrant, b"grant").await.unwrap();
        assert_eq!(
            phone.recv().await.unwrap(),
            (MessageType::ObrGrant, b"grant".to_vec())
        );

        // Another grant id (psk): the admin tool cannot read message 1.
        let (phone_end, pc_end) = memory_pair();
        let other = *obr_psk(&[5u8; 16]);
        let admin = key();
        let admin_pub = *admin.public_key();
        let pc =
            tokio::spawn(async move { pc_obr_handshake(Box::new(pc_end), admin, &other).await });
        let phone = tokio::spawn(async move {
            phone_obr_handshake(Box::new(phone_end), key(), &admin_pub, &psk).await
        });
        assert_eq!(
            pc.await.unwrap().unwrap_err(),
            SessionError::Handshake(NoiseError::Authentication)
        );
        assert!(phone.await.unwrap().is_err());
    }
}
