//! The structured CTAP target: fuzz input read as a short program of *valid-looking* requests.
//!
//! Input layout: one byte picks the engine (see `engine`), then up to [`MAX_STEPS`] steps,
//! each an op byte, a user-script byte, and whatever that op's generator reads. Running out of
//! input reads zeros, and zero choices mean "well-formed", so short inputs make valid requests;
//! other choices drop a member, swap in an arbitrary CBOR value, or pick an edge case.
//!
//! The program plays the platform too: it runs getKeyAgreement and the platform half of PIN/UV
//! protocol one or two (`pin_protocol::platform_encapsulate`), sets and changes real PINs,
//! obtains pinUvAuthTokens (through the built-in UV or the PIN) and computes pinUvAuthParams
//! with them, and encrypts hmac-secret salts, so makeCredential, getAssertion, clientPIN,
//! credentialManagement and authenticatorConfig are reached past their authentication checks.
//! Credential ids returned by the engine are remembered and reused in allow/exclude lists and
//! credential-management requests.
//!
//! Requests come from one origin (a CTAPHID channel, say); op 12 has a second origin poll the
//! follow-up commands (getNextAssertion, the credential-management "get next" subcommands) in
//! between. It never begins a sequence of its own, so each poll must be CTAP2_ERR_NOT_ALLOWED
//! whatever the first origin has in progress, and the first origin's program goes on as if the
//! poll never happened.
//!
//! Each input starts from a reset authenticator (authenticatorReset, approved), so an input's
//! outcome does not depend on the inputs before it, apart from random keys and ids.

use std::sync::OnceLock;
use std::time::Duration;

use authenticator_core::cbor::{self, Value};
use authenticator_core::ctap::pin_protocol::{
    PinUvAuthProtocol, SharedSecret, authenticate_with_token, platform_encapsulate,
};
use authenticator_core::request::{Origin, RequestSignals};
use sha2::{Digest, Sha256};

use crate::check;
use crate::engine::{Answer, ENGINE_COUNT, Harness, answer_from_bits};
use crate::source::Source;

pub const MAX_STEPS: usize = 24;

const CMD_MAKE_CREDENTIAL: u8 = 0x01;
const CMD_GET_ASSERTION: u8 = 0x02;
const CMD_GET_INFO: u8 = 0x04;
const CMD_CLIENT_PIN: u8 = 0x06;
const CMD_RESET: u8 = 0x07;
const CMD_GET_NEXT_ASSERTION: u8 = 0x08;
const CMD_CREDENTIAL_MANAGEMENT: u8 = 0x0A;
const CMD_SELECTION: u8 = 0x0B;
const CMD_CONFIG: u8 = 0x0D;
const CMD_CREDENTIAL_MANAGEMENT_PREVIEW: u8 = 0x41;

const ALL_COMMANDS: &[u8] = &[
    CMD_MAKE_CREDENTIAL,
    CMD_GET_ASSERTION,
    CMD_GET_INFO,
    CMD_CLIENT_PIN,
    CMD_RESET,
    CMD_GET_NEXT_ASSERTION,
    CMD_CREDENTIAL_MANAGEMENT,
    CMD_SELECTION,
    CMD_CONFIG,
    CMD_CREDENTIAL_MANAGEMENT_PREVIEW,
    0x03,
    0x05,
    0x09,
    0x0C,
    0x40,
    0xC0,
    0xFF,
];

const RP_IDS: &[&str] = &[
    "example.com",
    "login.example.com",
    "other.test",
    "a",
    "",
    "ü.example",
];

const TEXTS: &[&str] = &[
    "public-key",
    "id",
    "name",
    "displayName",
    "type",
    "alg",
    "rk",
    "up",
    "uv",
    "credProtect",
    "hmac-secret",
    "credBlob",
    "minPinLength",
    "largeBlobKey",
    "transports",
    "usb",
    "icon",
    "alice",
    "Alice Example",
    "",
    "ü",
];

const SMALL_INTS: &[i64] = &[
    -7, -8, -25, -35, -257, 0, 1, 2, 3, 4, -1, -2, -3, 24, 255, 256,
];

// clientPIN subcommands (CTAP 2.1 §6.5.5).
const GET_PIN_RETRIES: u64 = 0x01;
const GET_KEY_AGREEMENT: u64 = 0x02;
const SET_PIN: u64 = 0x03;
const CHANGE_PIN: u64 = 0x04;
const GET_PIN_TOKEN: u64 = 0x05;
const GET_TOKEN_USING_UV: u64 = 0x06;
const GET_UV_RETRIES: u64 = 0x07;
const GET_TOKEN_USING_PIN: u64 = 0x09;

// credentialManagement subcommands (§6.8).
const CM_METADATA: u64 = 0x01;
const CM_RPS_BEGIN: u64 = 0x02;
const CM_RPS_NEXT: u64 = 0x03;
const CM_CREDS_BEGIN: u64 = 0x04;
const CM_CREDS_NEXT: u64 = 0x05;
const CM_DELETE: u64 = 0x06;
const CM_UPDATE_USER: u64 = 0x07;

/// Runs one structured input.
pub fn run(data: &[u8]) {
    let _ = step_ends(data);
}

/// Runs one structured input and returns where in it each step ended (for writing seeds).
pub fn step_ends(data: &[u8]) -> Vec<usize> {
    let harness = Harness::get();
    let mut src = Source::new(data);
    let engine = src.below(ENGINE_COUNT);
    let mut program = Program {
        h: harness,
        engine,
        origin: Origin::ctaphid_channel(),
        intruder: Origin::ctaphid_channel(),
        session: None,
        token: None,
        pin: None,
        credentials: Vec::new(),
    };
    program.reset();
    let mut ends = Vec::new();
    for _ in 0..MAX_STEPS {
        if src.is_empty() {
            break;
        }
        program.step(&mut src);
        ends.push(src.pos());
    }
    ends
}

/// `FUZZ_TRACE=1` prints every request's command and status (for reading what an input does,
/// e.g. `FUZZ_TRACE=1 cargo fuzz run ctap_dispatch_structured <file>`).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some_and(|v| v != "0"))
}

/// The platform's half of one PIN/UV protocol key agreement.
struct Session {
    protocol: PinUvAuthProtocol,
    x: [u8; 32],
    y: [u8; 32],
    shared: SharedSecret,
}

struct Token {
    protocol: PinUvAuthProtocol,
    token: Vec<u8>,
}

struct Program<'h> {
    h: &'h Harness,
    engine: usize,
    /// Where the program's requests come from.
    origin: Origin,
    /// A second origin that only polls follow-up commands (op 12).
    intruder: Origin,
    session: Option<Session>,
    token: Option<Token>,
    /// The PIN this program set, if any.
    pin: Option<Vec<u8>>,
    /// Credential ids the engine returned.
    credentials: Vec<Vec<u8>>,
}

impl Program<'_> {
    /// Sends a request with the current user script and checks the response.
    fn send(&mut self, request: &[u8], cancelled: bool) -> (u8, Option<Value>) {
        let signals = RequestSignals::new(self.origin.clone());
        if cancelled {
            signals.cancel();
        }
        let response = self.h.handle(self.engine, request, &signals);
        let body = check::response(request, &response);
        if trace() {
            eprintln!(
                "engine {} cmd {:#04x} ({} bytes){} -> status {:#04x} ({} bytes)",
                self.engine,
                request.first().copied().unwrap_or(0),
                request.len(),
                if cancelled { " cancelled" } else { "" },
                response[0],
                response.len()
            );
        }
        (response[0], body)
    }

    fn command(&mut self, cmd: u8, params: Option<&Value>, cancelled: bool) -> (u8, Option<Value>) {
        let mut request = vec![cmd];
        if let Some(params) = params {
            cbor::encode_into(params, &mut request);
        }
        self.send(&request, cancelled)
    }

    /// authenticatorReset with an approving user; wipes what the previous input left.
    fn reset(&mut self) {
        self.h.approve_all();
        let response = self.h.handle(
            self.engine,
            &[CMD_RESET],
            &RequestSignals::new(self.origin.clone()),
        );
        assert_eq!(
            response,
            [0],
            "an approved authenticatorReset inside the reset window failed"
        );
        self.session = None;
        self.token = None;
        self.pin = None;
        self.credentials.clear();
    }

    fn step(&mut self, src: &mut Source) {
        let op = src.u8();
        let script = src.u8();
        let presence = if script & 0x04 != 0 {
            answer_from_bits(script)
        } else {
            Answer::Yes
        };
        let verification = if script & 0x20 != 0 {
            answer_from_bits(script >> 3)
        } else {
            Answer::Yes
        };
        let choice = match script >> 6 {
            3 => u32::MAX,
            n => u32::from(n),
        };
        self.h.script_user(presence, verification, choice);
        // The op's high nibble is its flavour (see `Flavour`); 0xF runs the request already
        // cancelled.
        let cancelled = op >> 4 == 0x0F;
        let f = Flavour(if cancelled { 0 } else { op >> 4 });
        match (op & 0x0F) % 13 {
            0 => self.make_credential(src, f, cancelled),
            1 => self.get_assertion(src, f, cancelled),
            2 => self.get_next_assertion(src, cancelled),
            3 => self.client_pin(src, f, cancelled),
            4 => self.credential_management(src, f, cancelled),
            5 => self.config(src, f, cancelled),
            6 => self.simple(src, f, cancelled),
            7 => self.raw(src, f, cancelled),
            8 => {
                let secs = [1u64, 10, 19, 20, 29, 30, 31, 600];
                let picked = *src.pick(&secs);
                let secs = f.index(&secs).copied().unwrap_or(picked);
                self.h.advance(Duration::from_secs(secs));
            }
            9 => self.obtain_token(src, f),
            10 => self.set_or_change_pin(src),
            12 => self.intruder(src),
            _ => {
                let protocol = protocol_of(src.u8());
                self.session = None;
                self.ensure_session(protocol);
            }
        }
    }

    // ---- the platform side of PIN/UV auth ----

    /// getKeyAgreement and the platform's encapsulation, unless a session of `protocol` exists.
    fn ensure_session(&mut self, protocol: PinUvAuthProtocol) -> bool {
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.protocol == protocol)
        {
            return true;
        }
        self.session = None;
        let request = Value::map([
            (Value::int(1), Value::int(i64::from(protocol.number()))),
            (Value::int(2), Value::Unsigned(GET_KEY_AGREEMENT)),
        ]);
        let (status, body) = self.command(CMD_CLIENT_PIN, Some(&request), false);
        if status != 0 {
            return false;
        }
        let key = body.as_ref().and_then(|b| int_get(b, 1));
        let coordinate = |k: i64| {
            key.and_then(|key| int_get(key, k))
                .and_then(Value::as_bytes)
                .map(<[u8]>::to_vec)
        };
        let (Some(ax), Some(ay)) = (coordinate(-2), coordinate(-3)) else {
            panic!("getKeyAgreement answered without a COSE key: {body:?}");
        };
        let (x, y, shared) = platform_encapsulate(protocol, &ax, &ay)
            .expect("the authenticator's key agreement key is a valid P-256 point");
        self.session = Some(Session {
            protocol,
            x,
            y,
            shared,
        });
        true
    }

    /// Forgets the session after answers that mean the authenticator changed its key.
    fn after_pin_status(&mut self, status: u8) {
        // PIN_INVALID, PIN_BLOCKED, PIN_AUTH_BLOCKED: a mismatch regenerated the key.
        if matches!(status, 0x31 | 0x32 | 0x34) {
            self.session = None;
        }
    }

    fn session_key(&self, src: &mut Source) -> Value {
        let Some(s) = &self.session else {
            return cose_key(src, &[0x11; 32], &[0x22; 32]);
        };
        let (x, y) = (s.x, s.y);
        cose_key(src, &x, &y)
    }

    /// A token from getPinUvAuthTokenUsingUvWithPermissions, ...UsingPinWithPermissions or
    /// getPinToken (which needs the PIN this program set).
    /// Flavour: bits 0-2 pick the permissions (1: mc, 2: ga, 3: cm, 4: acfg, 5: cm|acfg,
    /// 6: all four, 7: mc|ga|cm), bit 3 asks for no rp id.
    fn obtain_token(&mut self, src: &mut Source, f: Flavour) {
        let protocol = protocol_of(src.u8());
        let method = src.u8();
        let all = [0x03u64, 0x01, 0x02, 0x04, 0x20, 0x24, 0x27, 0x07];
        let picked = *src.pick(&all);
        let permissions = if f.0 & 7 != 0 {
            all[usize::from(f.0 & 7)]
        } else {
            picked
        };
        let rp_id = match src.below(4) {
            _ if f.0 & 8 != 0 => None,
            0 | 1 => Some(*src.pick(RP_IDS)),
            2 => None,
            _ => Some("example.com"),
        };
        self.session = None;
        if !self.ensure_session(protocol) {
            return;
        }
        let Some(session) = &self.session else {
            return;
        };
        let key_agreement = ec2(&session.x, &session.y, Some(-25));
        let mut entries = vec![
            (Value::int(1), Value::int(i64::from(protocol.number()))),
            (Value::int(3), key_agreement),
        ];
        let sub = match (&self.pin, method % 3) {
            (Some(pin), 0 | 1) => {
                let pin_hash_enc = session
                    .shared
                    .encrypt(&left16_sha256(pin))
                    .expect("16 bytes are one block");
                entries.push((Value::int(6), Value::from(pin_hash_enc)));
                if method % 3 == 0 {
                    GET_TOKEN_USING_PIN
                } else {
                    GET_PIN_TOKEN
                }
            }
            _ => GET_TOKEN_USING_UV,
        };
        entries.push((Value::int(2), Value::Unsigned(sub)));
        if sub != GET_PIN_TOKEN {
            entries.push((Value::int(9), Value::Unsigned(permissions)));
            if let Some(rp_id) = rp_id {
                entries.push((Value::int(0x0A), Value::from(rp_id)));
            }
        }
        let (status, body) = self.command(CMD_CLIENT_PIN, Some(&Value::map(entries)), false);
        self.after_pin_status(status);
        self.take_token(status, body.as_ref(), Some(protocol));
    }

    /// Keeps the token of a successful token subcommand sent with `protocol`, if the session
    /// is of that protocol (a request may name the other one).
    fn take_token(
        &mut self,
        status: u8,
        body: Option<&Value>,
        protocol: Option<PinUvAuthProtocol>,
    ) {
        if status != 0 {
            return;
        }
        let (Some(encrypted), Some(session)) = (
            body.and_then(|b| int_get(b, 2)).and_then(Value::as_bytes),
            self.session
                .as_ref()
                .filter(|s| Some(s.protocol) == protocol),
        ) else {
            return;
        };
        let token = session
            .shared
            .decrypt(encrypted)
            .expect("the token decrypts with the shared secret");
        assert_eq!(token.len(), 32, "a pinUvAuthToken is 32 bytes");
        self.token = Some(Token {
            protocol: session.protocol,
            token: token.expose().to_vec(),
        });
    }

    /// setPIN (no PIN yet) or changePIN (with the program's PIN), properly encrypted.
    fn set_or_change_pin(&mut self, src: &mut Source) {
        let protocol = protocol_of(src.u8());
        let new_pin = pin_text(src);
        self.session = None;
        if !self.ensure_session(protocol) {
            return;
        }
        let Some(session) = &self.session else {
            return;
        };
        let new_pin_enc = session
            .shared
            .encrypt(&pad64(&new_pin))
            .expect("64 bytes are whole blocks");
        let mut entries = vec![
            (Value::int(1), Value::int(i64::from(protocol.number()))),
            (Value::int(3), ec2(&session.x, &session.y, Some(-25))),
            (Value::int(5), Value::from(new_pin_enc.clone())),
        ];
        let sub = match &self.pin {
            None => {
                let param = session.shared.authenticate(&new_pin_enc);
                entries.push((Value::int(4), Value::from(param)));
                SET_PIN
            }
            Some(old) => {
                let pin_hash_enc = session
                    .shared
                    .encrypt(&left16_sha256(old))
                    .expect("16 bytes are one block");
                let mut message = new_pin_enc.clone();
                message.extend_from_slice(&pin_hash_enc);
                let param = session.shared.authenticate(&message);
                entries.push((Value::int(4), Value::from(param)));
                entries.push((Value::int(6), Value::from(pin_hash_enc)));
                CHANGE_PIN
            }
        };
        entries.push((Value::int(2), Value::Unsigned(sub)));
        let (status, _) = self.command(CMD_CLIENT_PIN, Some(&Value::map(entries)), false);
        self.after_pin_status(status);
        if status == 0 {
            self.pin = Some(new_pin);
            if sub == CHANGE_PIN {
                self.token = None;
            }
        }
    }

    /// pinUvAuthParam (key 0) and pinUvAuthProtocol (key 1) for `message`: usually the real
    /// thing when a token exists, else absent, empty, wrong or arbitrary.
    fn auth(&mut self, src: &mut Source, message: &[u8]) -> [Option<Value>; 2] {
        let mode = src.u8() % 8;
        let valid = |p: &Self| {
            p.token.as_ref().map(|t| {
                (
                    Value::from(authenticate_with_token(t.protocol, &t.token, message)),
                    Value::int(i64::from(t.protocol.number())),
                )
            })
        };
        match mode {
            0 | 1 => match valid(self) {
                Some((param, protocol)) => [Some(param), Some(protocol)],
                None => [None, None],
            },
            2 => [None, None],
            3 => [
                Some(Value::Bytes(Vec::new())),
                Some(Value::int(*src.pick(&[1, 2]))),
            ],
            4 => {
                let len = *src.pick(&[16usize, 32, 0, 31]);
                [
                    Some(Value::Bytes(filler(len, src.u8()))),
                    Some(Value::int(*src.pick(&[1, 2, 3]))),
                ]
            }
            5 => match valid(self) {
                // The right param with a missing or unknown protocol.
                Some((param, _)) => [Some(param), src.bool().then(|| Value::int(3))],
                None => [None, Some(Value::int(1))],
            },
            6 => match valid(self) {
                // The right param under the other protocol's number.
                Some((param, protocol)) => {
                    let other = if protocol == Value::int(1) { 2 } else { 1 };
                    [Some(param), Some(Value::int(other))]
                }
                None => [Some(generic(src, 0)), Some(generic(src, 0))],
            },
            _ => [Some(generic(src, 0)), Some(generic(src, 0))],
        }
    }

    // ---- commands ----

    /// Flavour: bit 0 rk, bit 1 uv (options {rk, uv} as given), bit 2 an excludeList, bit 3
    /// every extension.
    fn make_credential(&mut self, src: &mut Source, f: Flavour, cancelled: bool) {
        let client_data_hash = filler(32, src.u8());
        let mut m = IntMap::default();
        m.required(src, 0x01, |src| {
            if src.below(8) == 7 {
                Value::Bytes(filler(src.below(64), 1))
            } else {
                Value::from(client_data_hash.clone())
            }
        });
        m.required(src, 0x02, |src| {
            let id = rp_id(src);
            let name = src.bool().then(|| Value::from(text(src)));
            text_map(src, vec![("id", Some(Value::from(id))), ("name", name)])
        });
        let salt = self.credentials.len();
        m.required(src, 0x03, |src| user_entity(src, salt));
        m.required(src, 0x04, |src| {
            let n = [1usize, 1, 2, 0][src.below(4)];
            Value::Array(
                (0..n)
                    .map(|_| {
                        let alg = Value::int(*src.pick(&[-7, -7, -8, -257, 5]));
                        let kind = Value::from(*src.pick(&["public-key", "public-key", "x"]));
                        text_map(src, vec![("alg", Some(alg)), ("type", Some(kind))])
                    })
                    .collect(),
            )
        });
        let descriptors = self.descriptor_list(src);
        if f.0 & 4 != 0 {
            m.set(0x05, Some(descriptors));
        } else {
            m.optional(src, 0x05, |_| descriptors);
        }
        if f.0 & 8 != 0 {
            let extensions = [
                ("credProtect", Some(Value::int(*src.pick(&[2, 3, 1])))),
                ("hmac-secret", Some(Value::Bool(true))),
                ("credBlob", Some(Value::Bytes(filler(16, 0x3C)))),
                ("minPinLength", Some(Value::Bool(true))),
            ];
            m.set(0x06, Some(text_map(src, extensions.to_vec())));
        }
        m.optional(src, 0x06, |src| {
            let mask = src.u8();
            let mut entries = Vec::new();
            if mask & 1 != 0 {
                entries.push(("credProtect", Some(Value::int(*src.pick(&[1, 2, 3, 0, 4])))));
            }
            if mask & 2 != 0 {
                entries.push(("hmac-secret", Some(Value::Bool(mask & 0x10 == 0))));
            }
            if mask & 4 != 0 {
                let len = *src.pick(&[0usize, 8, 32, 33]);
                entries.push(("credBlob", Some(Value::Bytes(filler(len, mask)))));
            }
            if mask & 8 != 0 {
                entries.push(("minPinLength", Some(Value::Bool(mask & 0x20 == 0))));
            }
            if mask & 0x40 != 0 {
                entries.push(("credProtect", Some(generic(src, 1))));
            }
            text_map(src, entries)
        });
        if f.0 & 3 != 0 {
            let rk = Some(Value::Bool(f.0 & 1 != 0));
            let uv = Some(Value::Bool(f.0 & 2 != 0));
            m.set(0x07, Some(text_map(src, vec![("rk", rk), ("uv", uv)])));
        }
        m.optional(src, 0x07, |src| options(src));
        let [param, protocol] = self.auth(src, &client_data_hash);
        m.set(0x08, param);
        m.set(0x09, protocol);
        if src.below(32) == 31 {
            m.set(0x0A, Some(Value::int(*src.pick(&[1, 2]))));
        }
        m.noise(src);
        let (status, body) = self.command(CMD_MAKE_CREDENTIAL, Some(&m.into_value()), cancelled);
        if status == 0 {
            let auth_data = body
                .as_ref()
                .and_then(|b| int_get(b, 2))
                .and_then(Value::as_bytes)
                .expect("makeCredential's response has authData");
            let id = attested_credential_id(auth_data).expect("authData has a credential");
            self.remember(id);
        }
    }

    /// Flavour: bit 0 an allowList, bit 1 uv, bit 2 hmac-secret, bit 3 up false.
    fn get_assertion(&mut self, src: &mut Source, f: Flavour, cancelled: bool) {
        let client_data_hash = filler(32, src.u8());
        let mut m = IntMap::default();
        m.required(src, 0x01, |src| Value::from(rp_id(src)));
        m.required(src, 0x02, |_| Value::from(client_data_hash.clone()));
        let descriptors = self.descriptor_list(src);
        if f.0 & 1 != 0 {
            m.set(0x03, Some(descriptors));
        } else {
            m.optional(src, 0x03, |_| descriptors);
        }
        let extensions = if src.bool() || f.0 & 4 != 0 {
            self.assertion_extensions(src)
        } else {
            None
        };
        m.set(0x04, extensions);
        if f.0 & 0x0A != 0 {
            let uv = (f.0 & 2 != 0).then_some(Value::Bool(true));
            let up = (f.0 & 8 != 0).then_some(Value::Bool(false));
            m.set(0x05, Some(text_map(src, vec![("uv", uv), ("up", up)])));
        }
        m.optional(src, 0x05, |src| options(src));
        let [param, protocol] = self.auth(src, &client_data_hash);
        m.set(0x06, param);
        m.set(0x07, protocol);
        m.noise(src);
        let (status, body) = self.command(CMD_GET_ASSERTION, Some(&m.into_value()), cancelled);
        self.after_assertion(status, body.as_ref());
    }

    fn after_assertion(&mut self, status: u8, body: Option<&Value>) {
        if status != 0 {
            return;
        }
        let id = body
            .and_then(|b| int_get(b, 1))
            .and_then(|d| text_get(d, "id"))
            .and_then(Value::as_bytes)
            .expect("an assertion names its credential");
        self.remember(id.to_vec());
    }

    fn assertion_extensions(&mut self, src: &mut Source) -> Option<Value> {
        let mask = src.u8();
        let mut entries = Vec::new();
        if mask & 1 == 0 {
            let protocol = protocol_of(src.u8());
            if self.ensure_session(protocol) {
                let salt_len = *src.pick(&[32usize, 64, 32, 16, 48]);
                let salt = filler(salt_len, src.u8());
                let key = self.session_key(src);
                let session = self.session.as_ref()?;
                let salt_enc = session
                    .shared
                    .encrypt(&salt)
                    .expect("salts are whole blocks");
                let salt_auth = if src.below(8) == 7 {
                    filler(16, 9)
                } else {
                    session.shared.authenticate(&salt_enc)
                };
                let number = match src.below(8) {
                    7 => Some(Value::int(3)),
                    6 if protocol == PinUvAuthProtocol::One => None,
                    _ => Some(Value::int(i64::from(protocol.number()))),
                };
                let mut hmac = vec![
                    (Value::int(1), key),
                    (Value::int(2), Value::from(salt_enc)),
                    (Value::int(3), Value::from(salt_auth)),
                ];
                if let Some(number) = number {
                    hmac.push((Value::int(4), number));
                }
                entries.push(("hmac-secret", Some(Value::map(hmac))));
            }
        }
        if mask & 2 != 0 {
            entries.push(("credBlob", Some(Value::Bool(mask & 4 == 0))));
        }
        if mask & 8 != 0 {
            entries.push(("hmac-secret", Some(generic(src, 1))));
        }
        Some(text_map(src, entries))
    }

    /// The second origin polls a follow-up command; it began no sequence, so whatever the
    /// program's own origin has in progress, the answer is CTAP2_ERR_NOT_ALLOWED.
    fn intruder(&mut self, src: &mut Source) {
        let mut request = Vec::new();
        match src.below(3) {
            0 => request.push(CMD_GET_NEXT_ASSERTION),
            n => {
                let sub = if n == 1 { CM_RPS_NEXT } else { CM_CREDS_NEXT };
                request.push(
                    *src.pick(&[CMD_CREDENTIAL_MANAGEMENT, CMD_CREDENTIAL_MANAGEMENT_PREVIEW]),
                );
                cbor::encode_into(
                    &Value::map([(Value::int(1), Value::Unsigned(sub))]),
                    &mut request,
                );
            }
        }
        let response = self.h.handle(
            self.engine,
            &request,
            &RequestSignals::new(self.intruder.clone()),
        );
        if trace() {
            eprintln!("intruder cmd {:#04x} -> {:02x?}", request[0], response);
        }
        assert_eq!(
            response,
            [0x30],
            "a follow-up from an origin that began no sequence was not CTAP2_ERR_NOT_ALLOWED"
        );
    }

    fn get_next_assertion(&mut self, src: &mut Source, cancelled: bool) {
        let mut request = vec![CMD_GET_NEXT_ASSERTION];
        if src.below(8) == 7 {
            request.push(0xA0);
        }
        let (status, body) = self.send(&request, cancelled);
        self.after_assertion(status, body.as_ref());
    }

    /// Flavour: n > 0 picks the n-th subcommand of the list below.
    fn client_pin(&mut self, src: &mut Source, f: Flavour, cancelled: bool) {
        let sub = f.pick(
            src,
            &[
                GET_PIN_RETRIES,
                GET_KEY_AGREEMENT,
                SET_PIN,
                CHANGE_PIN,
                GET_PIN_TOKEN,
                GET_TOKEN_USING_UV,
                GET_UV_RETRIES,
                GET_TOKEN_USING_PIN,
                0x08,
                0x0A,
                0xFF,
            ],
        );
        let protocol = protocol_of(src.u8());
        if src.below(4) != 3 {
            self.ensure_session(protocol);
        }
        let pin = if src.bool() {
            self.pin.clone().unwrap_or_else(|| pin_text(src))
        } else {
            pin_text(src)
        };
        let mut m = IntMap::default();
        m.optional_likely(src, 0x01, |src| {
            Value::int(match src.below(8) {
                7 => 3,
                _ => i64::from(protocol.number()),
            })
        });
        m.required(src, 0x02, |_| Value::Unsigned(sub));
        let needs_key = matches!(
            sub,
            SET_PIN | CHANGE_PIN | GET_PIN_TOKEN | GET_TOKEN_USING_UV | GET_TOKEN_USING_PIN
        );
        let key = self.session_key(src);
        if needs_key {
            m.required(src, 0x03, |_| key);
        } else {
            m.optional(src, 0x03, |_| key);
        }
        // newPinEnc, pinHashEnc and the param, encrypted and authenticated for real when there
        // is a session.
        let (new_pin_enc, pin_hash_enc, param) = match &self.session {
            Some(s) => {
                let new_pin_enc = if src.below(8) == 7 {
                    filler(*src.pick(&[0usize, 63, 80, 96]), 3)
                } else {
                    s.shared.encrypt(&pad64(&pin)).expect("whole blocks")
                };
                let hash_source = self.pin.clone().unwrap_or_else(|| pin.clone());
                let pin_hash_enc = if src.below(8) == 7 {
                    filler(*src.pick(&[0usize, 15, 32, 48]), 4)
                } else {
                    s.shared
                        .encrypt(&left16_sha256(&hash_source))
                        .expect("one block")
                };
                let mut message = new_pin_enc.clone();
                if sub == CHANGE_PIN {
                    message.extend_from_slice(&pin_hash_enc);
                }
                let param = if src.below(8) == 7 {
                    filler(16, 5)
                } else {
                    s.shared.authenticate(&message)
                };
                (new_pin_enc, pin_hash_enc, param)
            }
            None => (filler(64, 6), filler(16, 7), filler(16, 8)),
        };
        let wants_new_pin = matches!(sub, SET_PIN | CHANGE_PIN);
        let wants_hash = matches!(sub, CHANGE_PIN | GET_PIN_TOKEN | GET_TOKEN_USING_PIN);
        let param = Value::from(param);
        if wants_new_pin {
            m.required(src, 0x04, |_| param);
            m.required(src, 0x05, |_| Value::from(new_pin_enc));
        }
        if wants_hash {
            m.required(src, 0x06, |_| Value::from(pin_hash_enc));
        }
        let permissions = Value::Unsigned(*src.pick(&[
            0x03u64, 0x01, 0x02, 0x04, 0x20, 0x24, 0x08, 0x10, 0x40, 0x80, 0, 0x100, 0x3F,
        ]));
        if matches!(sub, GET_TOKEN_USING_UV | GET_TOKEN_USING_PIN) {
            m.required(src, 0x09, |_| permissions);
        } else {
            m.optional(src, 0x09, |_| permissions);
        }
        m.optional_likely(src, 0x0A, |src| Value::from(rp_id(src)));
        m.noise(src);
        let request = m.into_value();
        let sent_protocol = int_get(&request, 1)
            .and_then(Value::as_unsigned)
            .and_then(PinUvAuthProtocol::from_u64);
        let (status, body) = self.command(CMD_CLIENT_PIN, Some(&request), cancelled);
        self.after_pin_status(status);
        if status == 0 {
            match sub {
                SET_PIN | CHANGE_PIN => {
                    self.pin = Some(pin);
                    self.token = None;
                }
                GET_PIN_TOKEN | GET_TOKEN_USING_UV | GET_TOKEN_USING_PIN => {
                    self.take_token(status, body.as_ref(), sent_protocol);
                }
                _ => {}
            }
        }
    }

    /// Flavour: n > 0 picks the n-th subcommand of the list below.
    fn credential_management(&mut self, src: &mut Source, f: Flavour, cancelled: bool) {
        let cmd = if src.below(4) == 3 {
            CMD_CREDENTIAL_MANAGEMENT_PREVIEW
        } else {
            CMD_CREDENTIAL_MANAGEMENT
        };
        let sub = f.pick(
            src,
            &[
                CM_METADATA,
                CM_RPS_BEGIN,
                CM_RPS_NEXT,
                CM_CREDS_BEGIN,
                CM_CREDS_NEXT,
                CM_DELETE,
                CM_UPDATE_USER,
                0x00,
                0x08,
            ],
        );
        let sub_params = match sub {
            CM_CREDS_BEGIN => Some(int_map(vec![(1, Some(rp_id_hash_value(src)))])),
            CM_DELETE => {
                let d = self.descriptor(src);
                Some(int_map(vec![(2, Some(d))]))
            }
            CM_UPDATE_USER => {
                let d = self.descriptor(src);
                let user = user_entity(src, 7);
                Some(int_map(vec![(2, Some(d)), (3, Some(user))]))
            }
            _ => None,
        };
        let sub_params = match src.below(16) {
            15 => Some(generic(src, 1)),
            14 => None,
            _ => sub_params,
        };
        let mut message = vec![sub as u8];
        if let Some(sp) = &sub_params {
            cbor::encode_into(sp, &mut message);
        }
        let mut m = IntMap::default();
        m.required(src, 0x01, |_| Value::Unsigned(sub));
        m.set(0x02, sub_params);
        if !matches!(sub, CM_RPS_NEXT | CM_CREDS_NEXT) || src.below(8) == 7 {
            let [param, protocol] = self.auth(src, &message);
            m.set(0x03, protocol);
            m.set(0x04, param);
        }
        m.noise(src);
        let (status, body) = self.command(cmd, Some(&m.into_value()), cancelled);
        if status == 0 {
            if let Some(id) = body
                .as_ref()
                .and_then(|b| int_get(b, 7))
                .and_then(|d| text_get(d, "id"))
                .and_then(Value::as_bytes)
            {
                self.remember(id.to_vec());
            }
        }
    }

    /// Flavour: n > 0 picks the n-th subcommand of the list below.
    fn config(&mut self, src: &mut Source, f: Flavour, cancelled: bool) {
        let sub = f.pick(src, &[0x02u64, 0x03, 0x03, 0x01, 0x00, 0x04, 0xFF]);
        let sub_params = if sub == 0x03 || src.below(8) == 7 {
            let mask = src.u8();
            let mut entries = Vec::new();
            if mask & 1 != 0 {
                entries.push((
                    1,
                    Some(Value::int(*src.pick(&[4, 6, 8, 63, 64, 3, 0, 300]))),
                ));
            }
            if mask & 2 != 0 {
                let n = *src.pick(&[1usize, 2, 0, 8, 9]);
                let ids = (0..n).map(|_| Value::from(rp_id(src))).collect::<Vec<_>>();
                // Duplicate-free is not required here, but keep the list as a client would.
                entries.push((2, Some(Value::Array(ids))));
            }
            if mask & 4 != 0 {
                entries.push((3, Some(Value::Bool(mask & 8 == 0))));
            }
            if mask & 0x10 != 0 {
                entries.push((1, Some(generic(src, 1))));
            }
            Some(int_map(entries))
        } else {
            None
        };
        let mut message = vec![0xFF; 32];
        message.push(CMD_CONFIG);
        message.push(sub as u8);
        if let Some(sp) = &sub_params {
            cbor::encode_into(sp, &mut message);
        }
        let mut m = IntMap::default();
        m.required(src, 0x01, |_| Value::Unsigned(sub));
        m.set(0x02, sub_params);
        let [param, protocol] = self.auth(src, &message);
        m.set(0x03, protocol);
        m.set(0x04, param);
        m.noise(src);
        self.command(CMD_CONFIG, Some(&m.into_value()), cancelled);
    }

    /// getInfo, selection, reset and unknown commands, sometimes with trailing bytes.
    /// Flavour: n > 0 picks the n-th command of the list below.
    fn simple(&mut self, src: &mut Source, f: Flavour, cancelled: bool) {
        let cmd = f.pick(
            src,
            &[
                CMD_GET_INFO,
                CMD_GET_INFO,
                CMD_SELECTION,
                CMD_RESET,
                0x03,
                0x05,
                0x09,
                0x0C,
                0x40,
                0xC0,
                0xFF,
            ],
        );
        let mut request = vec![cmd];
        match src.below(8) {
            7 => request.extend(src.bytes(4)),
            6 => request.clear(),
            _ => {}
        }
        let (status, _) = self.send(&request, cancelled);
        if cmd == CMD_RESET && request.len() == 1 && status == 0 {
            self.session = None;
            self.token = None;
            self.pin = None;
            self.credentials.clear();
        }
    }

    /// Any command with an arbitrary (canonical) CBOR value, or raw bytes.
    /// Flavour: n > 0 picks the n-th command of `ALL_COMMANDS`.
    fn raw(&mut self, src: &mut Source, f: Flavour, cancelled: bool) {
        let cmd = if src.below(8) == 7 {
            src.u8()
        } else {
            f.pick(src, ALL_COMMANDS)
        };
        let mut request = vec![cmd];
        match src.below(4) {
            0 | 1 => {
                // A map with small integer keys, as every CTAP command takes.
                let n = src.below(8);
                let entries = (0..n)
                    .map(|_| (src.below(12) as i64, Some(generic(src, 1))))
                    .collect();
                cbor::encode_into(&int_map(entries), &mut request);
            }
            2 => cbor::encode_into(&generic(src, 0), &mut request),
            _ => {
                let n = src.below(64);
                request.extend(src.bytes(n));
            }
        }
        self.send(&request, cancelled);
    }

    // ---- pieces ----

    fn remember(&mut self, id: Vec<u8>) {
        if !self.credentials.contains(&id) && self.credentials.len() < 16 {
            self.credentials.push(id);
        }
    }

    fn credential_id(&self, src: &mut Source) -> Vec<u8> {
        let pick = src.u8();
        if !self.credentials.is_empty() && pick < 0xC0 {
            return self.credentials[usize::from(pick) % self.credentials.len()].clone();
        }
        let len = [16usize, 0, 64, 65][usize::from(pick) % 4];
        filler(len, pick)
    }

    fn descriptor(&self, src: &mut Source) -> Value {
        let id = self.credential_id(src);
        let kind = if src.below(8) == 7 {
            "secret-key"
        } else {
            "public-key"
        };
        let mut entries = vec![
            ("id", Some(Value::from(id))),
            ("type", Some(Value::from(kind))),
        ];
        if src.below(4) == 3 {
            entries.push((
                "transports",
                Some(Value::Array(vec![
                    Value::from("usb"),
                    Value::from("hybrid"),
                ])),
            ));
        }
        text_map(src, entries)
    }

    fn descriptor_list(&self, src: &mut Source) -> Value {
        let n = [1usize, 2, 0, 3, 1, 17][src.below(6)];
        Value::Array((0..n).map(|_| self.descriptor(src)).collect())
    }
}

/// The high nibble of an op byte: a few bits that steer the op's generator towards one case
/// (so that seeds and single-byte mutations can name it); the other choices still apply.
#[derive(Clone, Copy)]
struct Flavour(u8);

impl Flavour {
    /// The (n-1)-th item for flavour n > 0; for 0, an item picked by the input.
    fn pick<T: Copy>(self, src: &mut Source, items: &[T]) -> T {
        let picked = *src.pick(items);
        self.index(items).copied().unwrap_or(picked)
    }

    fn index<T>(self, items: &[T]) -> Option<&T> {
        (self.0 != 0).then(|| &items[usize::from(self.0 - 1) % items.len()])
    }
}

/// A map with integer keys built member by member: each member is usually well formed, and
/// sometimes absent or an arbitrary value.
#[derive(Default)]
struct IntMap {
    entries: Vec<(i64, Option<Value>)>,
}

impl IntMap {
    fn set(&mut self, k: i64, v: Option<Value>) {
        self.entries.push((k, v));
    }

    /// Well formed unless the choice byte says absent (14) or arbitrary (15).
    fn required(&mut self, src: &mut Source, k: i64, good: impl FnOnce(&mut Source) -> Value) {
        let v = match src.u8() % 16 {
            14 => None,
            15 => Some(generic(src, 1)),
            _ => Some(good(src)),
        };
        self.set(k, v);
    }

    /// Absent unless the choice byte says well formed (8-13) or arbitrary (14).
    fn optional(&mut self, src: &mut Source, k: i64, good: impl FnOnce(&mut Source) -> Value) {
        let v = match src.u8() % 16 {
            8..=13 => Some(good(src)),
            14 => Some(generic(src, 1)),
            _ => None,
        };
        self.set(k, v);
    }

    /// Well formed unless the choice byte says absent (12-14) or arbitrary (15).
    fn optional_likely(
        &mut self,
        src: &mut Source,
        k: i64,
        good: impl FnOnce(&mut Source) -> Value,
    ) {
        let v = match src.u8() % 16 {
            12..=14 => None,
            15 => Some(generic(src, 1)),
            _ => Some(good(src)),
        };
        self.set(k, v);
    }

    /// Sometimes an extra member the command does not know.
    fn noise(&mut self, src: &mut Source) {
        if src.below(16) == 15 {
            let k = [0x0Bi64, 0x10, 0x7F, -1, 0][src.below(5)];
            self.set(k, Some(generic(src, 1)));
        }
    }

    fn into_value(self) -> Value {
        int_map(self.entries)
    }
}

/// A map from integer keys, dropping absent members and later duplicates (the encoder must
/// never see a duplicate key).
fn int_map(entries: Vec<(i64, Option<Value>)>) -> Value {
    let mut out: Vec<(Value, Value)> = Vec::new();
    for (k, v) in entries {
        let k = Value::int(k);
        if let Some(v) = v
            && !out.iter().any(|(seen, _)| *seen == k)
        {
            out.push((k, v));
        }
    }
    Value::Map(out)
}

/// A map from text keys, the same way; sometimes with an extra unknown member.
fn text_map(src: &mut Source, entries: Vec<(&str, Option<Value>)>) -> Value {
    let mut out: Vec<(Value, Value)> = Vec::new();
    for (k, v) in entries {
        let k = Value::from(k);
        if let Some(v) = v
            && !out.iter().any(|(seen, _)| *seen == k)
        {
            out.push((k, v));
        }
    }
    if src.below(16) == 15 {
        let k = Value::from(*src.pick(&["icon", "zzz", "id"]));
        if !out.iter().any(|(seen, _)| *seen == k) {
            out.push((k, generic(src, 2)));
        }
    }
    Value::Map(out)
}

/// An arbitrary CBOR value of the CTAP subset, nested at most a little past `cbor::MAX_DEPTH`.
pub fn generic(src: &mut Source, depth: usize) -> Value {
    let tag = src.u8();
    match tag % 12 {
        0 => Value::Unsigned(u64::from(src.u8())),
        1 => Value::Unsigned(src.u64() >> (src.u8() % 64)),
        2 => Value::Negative(u64::from(src.u8())),
        3 => Value::Negative(src.u64() >> (src.u8() % 64)),
        4 => {
            let len = *src.pick(&[0usize, 16, 32, 48, 64, 65, 1, 7]);
            Value::Bytes(filler(len, tag))
        }
        5 => Value::from(text(src)),
        6 if depth <= 9 => {
            let n = src.below(5);
            Value::Array((0..n).map(|_| generic(src, depth + 1)).collect())
        }
        7 if depth <= 9 => {
            let n = src.below(5);
            let mut out: Vec<(Value, Value)> = Vec::new();
            for _ in 0..n {
                let k = if src.bool() {
                    Value::int(*src.pick(SMALL_INTS))
                } else {
                    Value::from(*src.pick(TEXTS))
                };
                let v = generic(src, depth + 1);
                if !out.iter().any(|(seen, _)| *seen == k) {
                    out.push((k, v));
                }
            }
            Value::Map(out)
        }
        8 => Value::Bool(src.bool()),
        9 => Value::Null,
        10 => Value::int(*src.pick(SMALL_INTS)),
        _ => Value::from(*src.pick(TEXTS)),
    }
}

fn text(src: &mut Source) -> String {
    match src.below(8) {
        0..=4 => (*src.pick(TEXTS)).to_owned(),
        5 | 6 => {
            let n = src.below(12);
            String::from_utf8_lossy(&src.bytes(n)).into_owned()
        }
        // Long enough to push responses (user entities, enumerations) past 7609 bytes.
        _ => "ü".repeat(usize::from(src.u8()) * 16),
    }
}

fn rp_id(src: &mut Source) -> String {
    if src.below(16) == 15 {
        text(src)
    } else {
        (*src.pick(RP_IDS)).to_owned()
    }
}

fn rp_id_hash_value(src: &mut Source) -> Value {
    if src.below(8) == 7 {
        Value::Bytes(filler(*src.pick(&[32usize, 0, 31]), 0x42))
    } else {
        Value::from(Sha256::digest(rp_id(src).as_bytes()).to_vec())
    }
}

/// A user entity; `salt` varies the default user id from one call to the next.
fn user_entity(src: &mut Source, salt: usize) -> Value {
    let len = *src.pick(&[16usize, 1, 32, 64, 65, 0]);
    // Few distinct ids, so that discoverable passkeys replace each other now and then.
    let id = Value::Bytes(vec![(src.below(3) + salt) as u8; len]);
    let name = src.bool().then(|| Value::from(text(src)));
    let display = src.bool().then(|| Value::from(text(src)));
    text_map(
        src,
        vec![("id", Some(id)), ("name", name), ("displayName", display)],
    )
}

fn options(src: &mut Source) -> Value {
    let mask = src.u8();
    let mut entries = Vec::new();
    for (i, name) in ["rk", "up", "uv"].iter().enumerate() {
        if mask & (1 << i) != 0 {
            entries.push((*name, Some(Value::Bool(mask & (8 << i) != 0))));
        }
    }
    if mask & 0x40 != 0 {
        entries.push(("uv", Some(generic(src, 2))));
    }
    text_map(src, entries)
}

/// A COSE_Key for keyAgreement: usually the given point as the spec wants it, sometimes with
/// a wrong member or a point off the curve.
fn cose_key(src: &mut Source, x: &[u8], y: &[u8]) -> Value {
    match src.below(16) {
        15 => generic(src, 2),
        14 => ec2(y, x, Some(-25)),
        13 => ec2(&x[..31.min(x.len())], y, Some(-25)),
        12 => ec2(x, y, Some(-7)),
        11 => Value::map([
            (Value::int(1), Value::int(3)),
            (Value::int(-1), Value::int(1)),
            (Value::int(-2), Value::from(x.to_vec())),
            (Value::int(-3), Value::from(y.to_vec())),
        ]),
        10 => ec2(x, y, None),
        _ => ec2(x, y, Some(-25)),
    }
}

fn ec2(x: &[u8], y: &[u8], alg: Option<i64>) -> Value {
    let mut entries = vec![
        (Value::int(1), Value::int(2)),
        (Value::int(-1), Value::int(1)),
        (Value::int(-2), Value::from(x.to_vec())),
        (Value::int(-3), Value::from(y.to_vec())),
    ];
    if let Some(alg) = alg {
        entries.push((Value::int(3), Value::int(alg)));
    }
    Value::Map(entries)
}

fn protocol_of(b: u8) -> PinUvAuthProtocol {
    if b & 1 == 0 {
        PinUvAuthProtocol::Two
    } else {
        PinUvAuthProtocol::One
    }
}

/// A PIN: usually 4 to 12 ASCII digits, sometimes too short, too long or not UTF-8.
fn pin_text(src: &mut Source) -> Vec<u8> {
    match src.below(16) {
        15 => vec![b'1'; *src.pick(&[3usize, 63, 64])],
        14 => vec![0xFF, 0xFE, b'1', b'2'],
        13 => "ü".repeat(4).into_bytes(),
        _ => {
            let n = 4 + src.below(9);
            (0..n).map(|i| b'0' + ((i as u8) % 10)).collect()
        }
    }
}

fn pad64(pin: &[u8]) -> Vec<u8> {
    let mut padded = pin.to_vec();
    padded.resize(64.max(pin.len().div_ceil(16) * 16), 0);
    padded
}

fn left16_sha256(pin: &[u8]) -> Vec<u8> {
    Sha256::digest(pin)[..16].to_vec()
}

/// `len` bytes derived from `seed` (the content seldom matters, the length does).
fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i as u8).wrapping_mul(31)))
        .collect()
}

fn int_get(map: &Value, k: i64) -> Option<&Value> {
    let k = Value::int(k);
    map.as_map()?
        .iter()
        .find(|(key, _)| *key == k)
        .map(|(_, v)| v)
}

fn text_get<'v>(map: &'v Value, k: &str) -> Option<&'v Value> {
    map.as_map()?
        .iter()
        .find(|(key, _)| key.as_text() == Some(k))
        .map(|(_, v)| v)
}

/// The credential id in authenticator data with attested credential data (AT flag).
fn attested_credential_id(auth_data: &[u8]) -> Option<Vec<u8>> {
    let flags = *auth_data.get(32)?;
    if flags & 0x40 == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([
        *auth_data.get(53)?,
        *auth_data.get(54)?,
    ]));
    auth_data.get(55..55 + len).map(<[u8]>::to_vec)
}
