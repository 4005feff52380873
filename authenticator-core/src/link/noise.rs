//! The Noise handshakes (Noise Protocol Framework revision 34 with the P-256 DH functions that
//! proto/link.md §3.1 defines, which are also CTAP 2.2 hybrid's):
//! - the link's (proto/link.md §3): `Noise_IKpsk1_P256_AESGCM_SHA256` for the first pairing and
//!   `Noise_KKpsk0_P256_AESGCM_SHA256` for reconnects; the phone is the initiator in production
//!   (the responder side serves the emulated pairing tool and the tests);
//! - hybrid's (CTAP 2.2 "Hybrid transports", Chromium `device/fido/cable/v2_handshake.cc`):
//!   `Noise_KNpsk0_P256_AESGCM_SHA256` after a QR scan (the browser initiates with the static
//!   identity key whose compressed form the QR carries; the phone responds with no static key)
//!   and `Noise_NKpsk0_P256_AESGCM_SHA256` for linked devices (the phone's static key is
//!   known; not used yet).
//!
//! Each pattern has its own prologue (`Spec::prologue`): the link's product string, or
//! Chromium's one byte for hybrid. Both hybrid protocol names are 31 bytes, so, as Noise §5.2
//! says for names of at most HASHLEN, they are zero-padded rather than hashed (as Chromium and
//! webauthn-rs do). Chromium's handshake nonce differs from Noise's layout, but every key in
//! these handshakes seals at most once (n = 0, an all-zero nonce either way), so a standard
//! Noise implementation interoperates (checked against `snow` in `hybrid/handshake_tests.rs`).
//!
//! Invariants: every private scalar, chaining key, cipher key and psk is wiped on drop and has
//! no `Debug`; a peer public key is used only after it is checked to be a P-256 point (SEC1
//! uncompressed, on the curve, not the identity); a handshake that failed once is dead (every
//! later call errs), so a caller cannot retry a message against a half-updated state.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use hkdf::Hkdf;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::aead::{self, MAX_MESSAGE_LEN, TAG_LEN};
use super::channel::SecureChannel;
use crate::secret::{RandomUnavailable, SecretBytes, fill_random};

/// HASHLEN of SHA-256 (Noise rev 34 §12.5).
pub const HASH_LEN: usize = 32;
/// DH output: the x-coordinate of the shared point (proto/link.md §3.1).
pub const DH_LEN: usize = 32;
/// Public keys travel as SEC1 uncompressed points (proto/link.md §3.1).
pub const PUBLIC_KEY_LEN: usize = 65;
/// Pre-shared keys are 32 bytes (Noise rev 34 §9.1).
pub const PSK_LEN: usize = 32;
/// The prologue both sides mix in: product string then the link version (proto/link.md §3.2).
pub const PROLOGUE: &[u8] = b"passkeyphone/link\x01";

const SEC1_UNCOMPRESSED: u8 = 0x04;
/// Random scalars fall outside [1, n) with probability about 2^-32; repeated rejections mean a
/// broken random source.
const SCALAR_ATTEMPTS: usize = 8;

/// Why a handshake failed. No variant carries key material or message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoiseError {
    /// A message failed authentication: the peer used another pre-shared key, another static
    /// key than the one we expect (or expects another of ours), or the message was altered.
    #[error(
        "handshake message failed authentication (wrong pre-shared key, wrong static key, or corrupted message)"
    )]
    Authentication,
    /// A public key in a message or given by the caller is not a valid P-256 point.
    #[error("a public key is not a valid uncompressed P-256 point")]
    InvalidPublicKey,
    /// A stored private scalar is zero or not below the group order.
    #[error("a private key is not a valid P-256 scalar")]
    InvalidPrivateKey,
    /// A message is shorter or longer than this pattern allows, or a payload is too large.
    #[error("handshake message has an invalid length")]
    InvalidLength,
    /// A write where a read was due, a message after the last one, or a channel asked for
    /// before the handshake finished.
    #[error("handshake call out of order")]
    OutOfOrder,
    /// An earlier call failed; the handshake must start again with fresh keys.
    #[error("handshake already failed")]
    Failed,
    #[error("the system random number generator is unavailable")]
    Random,
}

impl From<RandomUnavailable> for NoiseError {
    fn from(_: RandomUnavailable) -> Self {
        Self::Random
    }
}

/// The link's two handshake patterns (proto/link.md §3.3 and §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// First pairing: the phone knows the PC's static key from the QR code.
    IKpsk1,
    /// Reconnect: both sides know each other's static key and the per-pairing secret.
    KKpsk0,
}

impl Pattern {
    #[cfg(any(test, feature = "testkit"))]
    pub fn protocol_name(self) -> &'static str {
        Spec::from(self).protocol_name()
    }
}

/// Hybrid's two handshake patterns (CTAP 2.2 "Hybrid transports", Chromium
/// `Noise::HandshakeType`). Kept apart from [`Pattern`] so the link's callers, which match on
/// it, see only the link's patterns.
///
/// The hybrid items here are used by `crate::hybrid`, which is built only with tests and the
/// test kit until its session ships; until then the shipped library does not use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
pub enum HybridPattern {
    /// After a QR scan: `-> s` pre-message; `-> psk, e`; `<- e, ee, se`. The responder (the
    /// phone) has no static key.
    KNpsk0,
    /// For linked devices: `<- s` pre-message; `-> psk, e, es`; `<- e, ee`. The initiator (the
    /// browser) has no static key.
    NKpsk0,
}

#[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
impl HybridPattern {
    pub fn protocol_name(self) -> &'static str {
        Spec::from(self).protocol_name()
    }

    /// Chromium's one-byte prologue: 0x01 for KNpsk0 (QR-initiated), 0x00 for NKpsk0.
    pub fn prologue(self) -> &'static [u8] {
        Spec::from(self).prologue()
    }
}

/// Chromium `HandshakeInitiator::BuildInitialMessage`: prologue byte 1 for the QR-initiated
/// (KNpsk0) handshake.
const HYBRID_QR_PROLOGUE: &[u8] = &[1];
/// Chromium: prologue byte 0 for the linked-device (NKpsk0) handshake.
const HYBRID_LINKED_PROLOGUE: &[u8] = &[0];

/// Every pattern this module runs, and what each one's tokens and keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    IKpsk1,
    KKpsk0,
    KNpsk0,
    NKpsk0,
}

impl From<Pattern> for Spec {
    fn from(pattern: Pattern) -> Self {
        match pattern {
            Pattern::IKpsk1 => Self::IKpsk1,
            Pattern::KKpsk0 => Self::KKpsk0,
        }
    }
}

impl From<HybridPattern> for Spec {
    fn from(pattern: HybridPattern) -> Self {
        match pattern {
            HybridPattern::KNpsk0 => Self::KNpsk0,
            HybridPattern::NKpsk0 => Self::NKpsk0,
        }
    }
}

impl Spec {
    fn protocol_name(self) -> &'static str {
        match self {
            Self::IKpsk1 => "Noise_IKpsk1_P256_AESGCM_SHA256",
            Self::KKpsk0 => "Noise_KKpsk0_P256_AESGCM_SHA256",
            Self::KNpsk0 => "Noise_KNpsk0_P256_AESGCM_SHA256",
            Self::NKpsk0 => "Noise_NKpsk0_P256_AESGCM_SHA256",
        }
    }

    /// The prologue both sides mix in first: the link's for its patterns, Chromium's single
    /// byte for hybrid's.
    fn prologue(self) -> &'static [u8] {
        match self {
            Self::IKpsk1 | Self::KKpsk0 => PROLOGUE,
            Self::KNpsk0 => HYBRID_QR_PROLOGUE,
            Self::NKpsk0 => HYBRID_LINKED_PROLOGUE,
        }
    }

    fn messages(self) -> [&'static [Token]; 2] {
        use Token::*;
        match self {
            Self::IKpsk1 => [&[E, Es, S, Ss, Psk], &[E, Ee, Se]],
            Self::KKpsk0 => [&[Psk, E, Es, Ss], &[E, Ee, Se]],
            Self::KNpsk0 => [&[Psk, E], &[E, Ee, Se]],
            Self::NKpsk0 => [&[Psk, E, Es], &[E, Ee]],
        }
    }

    /// Whether `role` has a static key in this pattern.
    fn has_static(self, role: Role) -> bool {
        match (self, role) {
            (Self::IKpsk1 | Self::KKpsk0, _) => true,
            (Self::KNpsk0, Role::Initiator) | (Self::NKpsk0, Role::Responder) => true,
            (Self::KNpsk0, Role::Responder) | (Self::NKpsk0, Role::Initiator) => false,
        }
    }

    /// Whether `role`'s static key is a pre-message (known to the peer before message 1).
    fn static_is_premessage(self, role: Role) -> bool {
        match self {
            Self::IKpsk1 => role == Role::Responder,
            Self::KKpsk0 => true,
            Self::KNpsk0 => role == Role::Initiator,
            Self::NKpsk0 => role == Role::Responder,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    E,
    S,
    Ee,
    Es,
    Se,
    Ss,
    Psk,
}

/// Which side of the handshake this is. The phone is the link's initiator and hybrid's
/// responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Responder,
}

/// A P-256 key pair (static or ephemeral). The scalar is wiped on drop (every clone's too); no
/// `Debug`. `Clone` lets a long-lived holder (the pairing tool's static key) hand a copy to
/// each handshake instead of deriving the public key again per session (issue 18); an
/// ephemeral key is never cloned (`write_message` makes or takes it for one handshake).
#[derive(Clone)]
pub struct KeyPair {
    secret: SecretKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl KeyPair {
    /// A fresh key pair from the system random source.
    pub fn generate() -> Result<Self, NoiseError> {
        for _ in 0..SCALAR_ATTEMPTS {
            let mut bytes = Zeroizing::new([0u8; 32]);
            fill_random(bytes.as_mut())?;
            // Rejection sampling keeps the scalar uniform in [1, n).
            if let Ok(key) = Self::from_scalar_bytes(&bytes) {
                return Ok(key);
            }
        }
        Err(NoiseError::Random)
    }

    /// A key pair from a stored big-endian scalar in [1, n).
    pub fn from_scalar_bytes(bytes: &[u8; 32]) -> Result<Self, NoiseError> {
        let secret = SecretKey::from_slice(bytes).map_err(|_| NoiseError::InvalidPrivateKey)?;
        let public = encode_uncompressed(&secret.public_key());
        Ok(Self { secret, public })
    }

    /// The scalar, for storing a static key in the vault.
    pub fn scalar_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    /// The SEC1 uncompressed public key.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public
    }

    /// DH(key_pair, public_key) of Noise rev 34 §4.1 with P-256: the x-coordinate of the
    /// shared point.
    fn dh(&self, peer: &PublicKey) -> Zeroizing<[u8; DH_LEN]> {
        let mut scalar = self.secret.to_nonzero_scalar();
        let shared = (peer.to_projective() * scalar.as_ref()).to_affine();
        scalar.zeroize();
        // A non-identity point of a prime-order group times a scalar in [1, n) is never the
        // identity, so the x-coordinate is well defined.
        Zeroizing::new(shared.x().into())
    }
}

pub(crate) fn encode_uncompressed(key: &PublicKey) -> [u8; PUBLIC_KEY_LEN] {
    let point = key.as_affine();
    let x: [u8; 32] = point.x().into();
    let y: [u8; 32] = point.y().into();
    let mut out = [0u8; PUBLIC_KEY_LEN];
    out[0] = SEC1_UNCOMPRESSED;
    out[1..33].copy_from_slice(&x);
    out[33..].copy_from_slice(&y);
    out
}

/// Parses a SEC1 uncompressed P-256 public key: 65 bytes, prefix 0x04, on the curve.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, NoiseError> {
    if bytes.len() != PUBLIC_KEY_LEN || bytes.first() != Some(&SEC1_UNCOMPRESSED) {
        return Err(NoiseError::InvalidPublicKey);
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| NoiseError::InvalidPublicKey)
}

/// HKDF(chaining_key, input_key_material, 3) of Noise rev 34 §4.3, which is RFC 5869 HKDF with
/// the chaining key as salt and empty info; callers use the first two or all three outputs.
fn noise_hkdf(ck: &[u8; HASH_LEN], ikm: &[u8]) -> Zeroizing<[u8; 3 * HASH_LEN]> {
    let mut out = Zeroizing::new([0u8; 3 * HASH_LEN]);
    // 96 bytes is far below HKDF-SHA-256's limit of 255 * 32, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(ck), ikm).expand(&[], out.as_mut());
    out
}

fn split_at_32(bytes: &[u8], index: usize) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    if let Some(part) = bytes.get(index * 32..(index + 1) * 32) {
        out.copy_from_slice(part);
    }
    out
}

/// CipherState of Noise rev 34 §5.1 with AESGCM.
struct CipherState {
    key: Option<Zeroizing<[u8; 32]>>,
    n: u64,
}

impl CipherState {
    fn empty() -> Self {
        Self { key: None, n: 0 }
    }

    fn encrypt_with_ad(&mut self, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let Some(key) = &self.key else {
            return Ok(plaintext.to_vec());
        };
        let cipher = Aes256Gcm::new(&(**key).into());
        let ciphertext =
            aead::seal(&cipher, self.n, ad, plaintext).map_err(|_| NoiseError::InvalidLength)?;
        // A handshake uses a key at most twice, so n never nears 2^64 - 1.
        self.n += 1;
        Ok(ciphertext)
    }

    fn decrypt_with_ad(
        &mut self,
        ad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, NoiseError> {
        let Some(key) = &self.key else {
            return Ok(Zeroizing::new(ciphertext.to_vec()));
        };
        let cipher = Aes256Gcm::new(&(**key).into());
        let plaintext =
            aead::open(&cipher, self.n, ad, ciphertext).map_err(|_| NoiseError::Authentication)?;
        self.n += 1;
        Ok(Zeroizing::new(plaintext))
    }
}

/// SymmetricState of Noise rev 34 §5.2.
struct SymmetricState {
    ck: Zeroizing<[u8; HASH_LEN]>,
    h: [u8; HASH_LEN],
    cipher: CipherState,
}

impl SymmetricState {
    fn initialize(protocol_name: &str) -> Self {
        let name = protocol_name.as_bytes();
        let mut h = [0u8; HASH_LEN];
        if name.len() <= HASH_LEN {
            h[..name.len()].copy_from_slice(name);
        } else {
            h = Sha256::digest(name).into();
        }
        Self {
            ck: Zeroizing::new(h),
            h,
            cipher: CipherState::empty(),
        }
    }

    fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h = hasher.finalize().into();
    }

    fn mix_key(&mut self, ikm: &[u8]) {
        let out = noise_hkdf(&self.ck, ikm);
        self.ck = split_at_32(out.as_ref(), 0);
        self.cipher = CipherState {
            key: Some(split_at_32(out.as_ref(), 1)),
            n: 0,
        };
    }

    fn mix_key_and_hash(&mut self, ikm: &[u8]) {
        let out = noise_hkdf(&self.ck, ikm);
        self.ck = split_at_32(out.as_ref(), 0);
        let temp_h = split_at_32(out.as_ref(), 1);
        self.mix_hash(temp_h.as_ref());
        self.cipher = CipherState {
            key: Some(split_at_32(out.as_ref(), 2)),
            n: 0,
        };
    }

    fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let ciphertext = self.cipher.encrypt_with_ad(&self.h, plaintext)?;
        self.mix_hash(&ciphertext);
        Ok(ciphertext)
    }

    fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, NoiseError> {
        let plaintext = self.cipher.decrypt_with_ad(&self.h, ciphertext)?;
        self.mix_hash(ciphertext);
        Ok(plaintext)
    }

    /// Split() of §5.2: (initiator -> responder key, responder -> initiator key).
    fn split(&self) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
        let out = noise_hkdf(&self.ck, &[]);
        (split_at_32(out.as_ref(), 0), split_at_32(out.as_ref(), 1))
    }
}

/// What a finished handshake gives: the transport channel, the handshake hash (for channel
/// binding, Noise rev 34 §11.2) and the peer's static key (learned from message 1 by an IK
/// responder; the pre-shared one otherwise).
pub struct HandshakeOutcome {
    pub channel: SecureChannel,
    pub handshake_hash: [u8; HASH_LEN],
    pub remote_static: [u8; PUBLIC_KEY_LEN],
}

/// The keys of a finished handshake for a caller with its own transport. Wiped on drop; no
/// `Debug`.
#[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
pub struct TransportKeys {
    /// Seals what this side sends.
    pub send: Zeroizing<[u8; 32]>,
    /// Opens what the peer sends.
    pub receive: Zeroizing<[u8; 32]>,
    pub handshake_hash: [u8; HASH_LEN],
}

/// HandshakeState of Noise rev 34 §5.3 for the patterns above.
pub struct HandshakeState {
    role: Role,
    pattern: Spec,
    symmetric: SymmetricState,
    s: Option<KeyPair>,
    e: Option<KeyPair>,
    rs: Option<PublicKey>,
    re: Option<PublicKey>,
    psk: Zeroizing<[u8; PSK_LEN]>,
    next_message: usize,
    failed: bool,
    /// DH results computed ahead by [`Self::precompute`], each used once by its token.
    ready: Vec<(Token, Zeroizing<[u8; DH_LEN]>)>,
    /// P-256 DH operations done so far, for tests of [`Self::precompute`].
    #[cfg(test)]
    dh_count: usize,
}

impl HandshakeState {
    /// Initialize() of §5.3 for a pattern where this side has a static key. `remote_static` is
    /// the peer's SEC1 uncompressed key: required except where the peer sends it or has none
    /// (an IKpsk1 responder learns it from message 1, and refuses one given here).
    pub fn new(
        pattern: Pattern,
        role: Role,
        local_static: KeyPair,
        remote_static: Option<&[u8]>,
        psk: &[u8; PSK_LEN],
    ) -> Result<Self, NoiseError> {
        Self::initialize(pattern.into(), role, Some(local_static), remote_static, psk)
    }

    #[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
    /// Initialize() of §5.3 for a hybrid pattern (see [`Self::initialize`] for the keys).
    pub fn new_hybrid(
        pattern: HybridPattern,
        role: Role,
        local_static: Option<KeyPair>,
        remote_static: Option<&[u8]>,
        psk: &[u8; PSK_LEN],
    ) -> Result<Self, NoiseError> {
        Self::initialize(pattern.into(), role, local_static, remote_static, psk)
    }

    /// Initialize() of §5.3 for any pattern, with the pattern's prologue. `local_static` is
    /// required exactly when this side has a static key in the pattern (a KNpsk0 responder and
    /// an NKpsk0 initiator have none); `remote_static` exactly when the peer's static key is a
    /// pre-message. A key given where none belongs is refused, so a caller cannot believe it
    /// authenticated something the pattern never checks.
    fn initialize(
        pattern: Spec,
        role: Role,
        local_static: Option<KeyPair>,
        remote_static: Option<&[u8]>,
        psk: &[u8; PSK_LEN],
    ) -> Result<Self, NoiseError> {
        let peer = match role {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        };
        if pattern.has_static(role) != local_static.is_some() {
            return Err(NoiseError::InvalidPrivateKey);
        }
        let rs = remote_static.map(parse_public_key).transpose()?;
        if pattern.static_is_premessage(peer) != rs.is_some() {
            return Err(NoiseError::InvalidPublicKey);
        }
        let mut symmetric = SymmetricState::initialize(pattern.protocol_name());
        symmetric.mix_hash(pattern.prologue());
        // Pre-messages (§7.1): the initiator's keys are hashed before the responder's.
        let local_public = local_static
            .as_ref()
            .filter(|_| pattern.static_is_premessage(role))
            .map(|key| *key.public_key());
        let remote_public = rs.as_ref().map(encode_uncompressed);
        let (initiator_key, responder_key) = match role {
            Role::Initiator => (local_public, remote_public),
            Role::Responder => (remote_public, local_public),
        };
        let initiator_pre = pattern.static_is_premessage(Role::Initiator);
        let responder_pre = pattern.static_is_premessage(Role::Responder);
        if initiator_pre {
            let key = initiator_key.ok_or(NoiseError::InvalidPublicKey)?;
            symmetric.mix_hash(&key);
        }
        if responder_pre {
            let key = responder_key.ok_or(NoiseError::InvalidPublicKey)?;
            symmetric.mix_hash(&key);
        }
        Ok(Self {
            role,
            pattern,
            symmetric,
            s: local_static,
            e: None,
            rs,
            re: None,
            psk: Zeroizing::new(*psk),
            next_message: 0,
            failed: false,
            ready: Vec::new(),
            #[cfg(test)]
            dh_count: 0,
        })
    }

    /// Does now the work of the rest of the handshake that needs nothing from the peer: makes
    /// this side's ephemeral key (if it still sends one) and computes every DH whose two keys
    /// are known (`ss`; with `e` made and the peer's static a pre-message, a responder's `se`
    /// and an initiator's `es`). The tokens then use these results, so the messages, keys and
    /// hash are the same bytes as without it. Issue 18: the link's responder (the PC) calls it
    /// while it waits for the phone's first message, which takes 2 of its 4 DH and its key
    /// generation off the reconnect's critical path.
    #[cfg_attr(not(any(test, feature = "pc")), allow(dead_code))]
    pub fn precompute(&mut self) -> Result<(), NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        let messages = self.pattern.messages();
        let initiator = self.role == Role::Initiator;
        let mine = move |index: usize| (index == 0) == initiator;
        let remaining = self.next_message.min(2)..2;
        if self.e.is_none()
            && remaining
                .clone()
                .any(|i| mine(i) && messages[i].contains(&Token::E))
        {
            self.e = Some(KeyPair::generate()?);
        }
        for i in remaining {
            for token in messages[i] {
                if !matches!(token, Token::Ee | Token::Es | Token::Se | Token::Ss)
                    || self.ready.iter().any(|(done, _)| done == token)
                {
                    continue;
                }
                // A DH whose keys are not all known yet is left for its token.
                if let Ok(shared) = self.compute_dh(*token) {
                    self.ready.push((*token, shared));
                }
            }
        }
        Ok(())
    }

    /// P-256 DH operations done so far (those of [`Self::precompute`] included).
    #[cfg(test)]
    pub(crate) fn dh_count(&self) -> usize {
        self.dh_count
    }

    /// Uses `ephemeral` instead of a fresh key for this side's `e`, for known-answer tests.
    #[cfg(test)]
    pub(crate) fn inject_ephemeral(&mut self, ephemeral: KeyPair) {
        self.e = Some(ephemeral);
    }

    /// The Split() keys (initiator -> responder, responder -> initiator), for known-answer
    /// tests.
    #[cfg(test)]
    pub(crate) fn split_keys(&self) -> ([u8; 32], [u8; 32]) {
        let (a, b) = self.symmetric.split();
        (*a, *b)
    }

    fn local_static(&self) -> Result<&KeyPair, NoiseError> {
        // The constructor guarantees a static key wherever the pattern uses one.
        self.s.as_ref().ok_or(NoiseError::OutOfOrder)
    }

    fn my_turn_to_write(&self) -> bool {
        // Message 0 goes initiator -> responder, message 1 back.
        (self.next_message == 0) == (self.role == Role::Initiator)
    }

    /// True once both messages have been processed.
    pub fn is_finished(&self) -> bool {
        self.next_message == 2
    }

    /// WriteMessage() of §5.3: the next handshake message carrying `payload`.
    pub fn write_message(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        if self.is_finished() || !self.my_turn_to_write() {
            return Err(NoiseError::OutOfOrder);
        }
        let result = self.write_tokens(payload);
        self.failed = result.is_err();
        result
    }

    fn write_tokens(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let tokens = self.pattern.messages()[self.next_message];
        let mut out = Vec::new();
        for token in tokens {
            match token {
                Token::E => {
                    if self.e.is_none() {
                        self.e = Some(KeyPair::generate()?);
                    }
                    let public = *self.e.as_ref().ok_or(NoiseError::OutOfOrder)?.public_key();
                    out.extend_from_slice(&public);
                    self.symmetric.mix_hash(&public);
                    // The psk modifier (§9.2) also mixes e into the key.
                    self.symmetric.mix_key(&public);
                }
                Token::S => {
                    let public = *self.local_static()?.public_key();
                    let ciphertext = self.symmetric.encrypt_and_hash(&public)?;
                    out.extend_from_slice(&ciphertext);
                }
                Token::Psk => self.symmetric.mix_key_and_hash(self.psk.as_ref()),
                dh_token => {
                    let shared = self.dh(*dh_token)?;
                    self.symmetric.mix_key(shared.as_ref());
                }
            }
        }
        let ciphertext = self.symmetric.encrypt_and_hash(payload)?;
        out.extend_from_slice(&ciphertext);
        if out.len() > MAX_MESSAGE_LEN {
            return Err(NoiseError::InvalidLength);
        }
        self.next_message += 1;
        Ok(out)
    }

    /// ReadMessage() of §5.3: processes the peer's next message and returns its payload.
    pub fn read_message(&mut self, message: &[u8]) -> Result<SecretBytes, NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        if self.is_finished() || self.my_turn_to_write() {
            return Err(NoiseError::OutOfOrder);
        }
        let result = self.read_tokens(message);
        self.failed = result.is_err();
        result
    }

    fn read_tokens(&mut self, message: &[u8]) -> Result<SecretBytes, NoiseError> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(NoiseError::InvalidLength);
        }
        let tokens = self.pattern.messages()[self.next_message];
        let mut rest = message;
        for token in tokens {
            match token {
                Token::E => {
                    let (public, tail) = take(rest, PUBLIC_KEY_LEN)?;
                    rest = tail;
                    self.re = Some(parse_public_key(public)?);
                    self.symmetric.mix_hash(public);
                    self.symmetric.mix_key(public);
                }
                Token::S => {
                    // After `e` with a psk the key is always set, so s is encrypted.
                    let len = PUBLIC_KEY_LEN + TAG_LEN;
                    let (ciphertext, tail) = take(rest, len)?;
                    rest = tail;
                    let public = self.symmetric.decrypt_and_hash(ciphertext)?;
                    self.rs = Some(parse_public_key(&public)?);
                }
                Token::Psk => self.symmetric.mix_key_and_hash(self.psk.as_ref()),
                dh_token => {
                    let shared = self.dh(*dh_token)?;
                    self.symmetric.mix_key(shared.as_ref());
                }
            }
        }
        if rest.len() < TAG_LEN {
            return Err(NoiseError::InvalidLength);
        }
        let mut payload = self.symmetric.decrypt_and_hash(rest)?;
        self.next_message += 1;
        Ok(SecretBytes::new(std::mem::take(&mut *payload)))
    }

    /// The DH of `token`: computed ahead by [`Self::precompute`], or now.
    fn dh(&mut self, token: Token) -> Result<Zeroizing<[u8; DH_LEN]>, NoiseError> {
        if let Some(index) = self.ready.iter().position(|(done, _)| *done == token) {
            return Ok(self.ready.swap_remove(index).1);
        }
        self.compute_dh(token)
    }

    fn compute_dh(&mut self, token: Token) -> Result<Zeroizing<[u8; DH_LEN]>, NoiseError> {
        let shared = self.shared(token)?;
        #[cfg(test)]
        {
            self.dh_count += 1;
        }
        Ok(shared)
    }

    fn shared(&self, token: Token) -> Result<Zeroizing<[u8; DH_LEN]>, NoiseError> {
        let missing = NoiseError::OutOfOrder;
        let e = || self.e.as_ref().ok_or(missing);
        let re = || self.re.as_ref().ok_or(missing);
        let rs = || self.rs.as_ref().ok_or(missing);
        let initiator = self.role == Role::Initiator;
        Ok(match token {
            Token::Ee => e()?.dh(re()?),
            Token::Ss => self.local_static()?.dh(rs()?),
            Token::Es if initiator => e()?.dh(rs()?),
            Token::Es => self.local_static()?.dh(re()?),
            Token::Se if initiator => self.local_static()?.dh(re()?),
            Token::Se => e()?.dh(rs()?),
            Token::E | Token::S | Token::Psk => return Err(missing),
        })
    }

    /// Split() after the last message, as raw keys for a transport other than the link's
    /// [`SecureChannel`] (hybrid's `Crypter`): this side's sending key, its receiving key, and
    /// the handshake hash.
    #[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
    pub fn into_transport_keys(self) -> Result<TransportKeys, NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        if !self.is_finished() {
            return Err(NoiseError::OutOfOrder);
        }
        let (initiator_to_responder, responder_to_initiator) = self.symmetric.split();
        let (send, receive) = match self.role {
            Role::Initiator => (initiator_to_responder, responder_to_initiator),
            Role::Responder => (responder_to_initiator, initiator_to_responder),
        };
        Ok(TransportKeys {
            send,
            receive,
            handshake_hash: self.symmetric.h,
        })
    }

    /// Split() after the last message: the transport channel and what the caller keeps.
    pub fn into_outcome(self) -> Result<HandshakeOutcome, NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        if !self.is_finished() {
            return Err(NoiseError::OutOfOrder);
        }
        let remote_static = self
            .rs
            .as_ref()
            .map(encode_uncompressed)
            .ok_or(NoiseError::OutOfOrder)?;
        let (initiator_to_responder, responder_to_initiator) = self.symmetric.split();
        let channel = match self.role {
            Role::Initiator => SecureChannel::new(&initiator_to_responder, &responder_to_initiator),
            Role::Responder => SecureChannel::new(&responder_to_initiator, &initiator_to_responder),
        };
        Ok(HandshakeOutcome {
            channel,
            handshake_hash: self.symmetric.h,
            remote_static,
        })
    }
}

fn take(bytes: &[u8], len: usize) -> Result<(&[u8], &[u8]), NoiseError> {
    if bytes.len() < len {
        return Err(NoiseError::InvalidLength);
    }
    Ok(bytes.split_at(len))
}
