//! Seed inputs for every target: valid requests and flows, so that the fuzzer starts past the
//! framing and the CBOR decoder. `cargo run --bin seeds` writes them to `corpus/<target>/`.

use authenticator_core::cbor::{self, Value};
use authenticator_core::ctaphid::{
    BROADCAST_CID, CTAPHID_CANCEL, CTAPHID_CBOR, CTAPHID_INIT, CTAPHID_PING, CTAPHID_WINK, Message,
};

use crate::hid::{RECORD_LEN, control};
use crate::requests;

/// (target, file name, bytes).
pub type Seed = (&'static str, String, Vec<u8>);

/// A link target's seed maker: (file name, bytes).
type LinkSeeds = fn() -> Vec<(String, Vec<u8>)>;

pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (name, request) in ctap_requests() {
        seeds.push(("ctap_dispatch", name.to_owned(), request.clone()));
        if let Some(params) = request.get(1..).filter(|p| !p.is_empty()) {
            seeds.push(("cbor_decode", name.to_owned(), params.to_vec()));
        }
    }
    for (name, bytes) in cbor_values() {
        seeds.push(("cbor_decode", name.to_owned(), bytes));
    }
    for (name, bytes) in structured_programs() {
        seeds.push(("ctap_dispatch_structured", name.to_owned(), bytes));
    }
    for (name, bytes) in hid_sessions() {
        seeds.push(("ctaphid_reassembly", name.to_owned(), bytes));
    }
    let link: [(&'static str, LinkSeeds); 7] = [
        ("hybrid_qr", crate::hybrid::qr_seeds),
        ("hybrid_frames", crate::hybrid::frame_seeds),
        ("qr_parse", crate::qr::seeds),
        ("link_frame", crate::frame::seeds),
        ("link_handshake", crate::handshake::seeds),
        ("relay_routing", crate::routing::seeds),
        ("ble_reassembly", crate::ble::seeds),
    ];
    for (target, make) in link {
        for (name, bytes) in make() {
            seeds.push((target, name, bytes));
        }
    }
    seeds
}

fn int(k: i64) -> Value {
    Value::int(k)
}

fn text(s: &str) -> Value {
    Value::from(s)
}

fn request(cmd: u8, params: Option<Value>) -> Vec<u8> {
    let mut out = vec![cmd];
    if let Some(p) = params {
        cbor::encode_into(&p, &mut out);
    }
    out
}

fn make_credential_params(rk: bool) -> Value {
    Value::map([
        (int(1), Value::from(vec![0x11; 32])),
        (
            int(2),
            Value::map([
                (text("id"), text("example.com")),
                (text("name"), text("Example")),
            ]),
        ),
        (
            int(3),
            Value::map([
                (text("id"), Value::from(vec![1; 16])),
                (text("name"), text("alice")),
                (text("displayName"), text("Alice")),
            ]),
        ),
        (
            int(4),
            Value::Array(vec![Value::map([
                (text("alg"), int(-7)),
                (text("type"), text("public-key")),
            ])]),
        ),
        (
            int(6),
            Value::map([
                (text("credProtect"), int(2)),
                (text("hmac-secret"), Value::Bool(true)),
            ]),
        ),
        (
            int(7),
            Value::map([(text("rk"), Value::Bool(rk)), (text("uv"), Value::Bool(rk))]),
        ),
    ])
}

fn ctap_requests() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("get_info", vec![0x04]),
        (
            "make_credential",
            request(0x01, Some(make_credential_params(false))),
        ),
        (
            "make_credential_rk_uv",
            request(0x01, Some(make_credential_params(true))),
        ),
        (
            "get_assertion",
            request(
                0x02,
                Some(Value::map([
                    (int(1), text("example.com")),
                    (int(2), Value::from(vec![0x22; 32])),
                    (
                        int(3),
                        Value::Array(vec![Value::map([
                            (text("id"), Value::from(vec![7; 16])),
                            (text("type"), text("public-key")),
                        ])]),
                    ),
                    (int(5), Value::map([(text("up"), Value::Bool(true))])),
                ])),
            ),
        ),
        (
            "get_assertion_uv",
            request(
                0x02,
                Some(Value::map([
                    (int(1), text("example.com")),
                    (int(2), Value::from(vec![0x22; 32])),
                    (int(5), Value::map([(text("uv"), Value::Bool(true))])),
                ])),
            ),
        ),
        ("get_next_assertion", vec![0x08]),
        (
            "client_pin_retries",
            request(0x06, Some(Value::map([(int(1), int(2)), (int(2), int(1))]))),
        ),
        (
            "client_pin_key_agreement",
            request(0x06, Some(Value::map([(int(1), int(2)), (int(2), int(2))]))),
        ),
        (
            "client_pin_uv_retries",
            request(0x06, Some(Value::map([(int(1), int(1)), (int(2), int(7))]))),
        ),
        ("reset", vec![0x07]),
        ("selection", vec![0x0B]),
        (
            "cred_mgmt_metadata",
            request(
                0x0A,
                Some(Value::map([
                    (int(1), int(1)),
                    (int(3), int(2)),
                    (int(4), Value::from(vec![0; 32])),
                ])),
            ),
        ),
        (
            "cred_mgmt_next_rp",
            request(0x41, Some(Value::map([(int(1), int(3))]))),
        ),
        (
            "config_always_uv",
            request(
                0x0D,
                Some(Value::map([
                    (int(1), int(2)),
                    (int(3), int(1)),
                    (int(4), Value::from(vec![0; 16])),
                ])),
            ),
        ),
    ]
}

fn cbor_values() -> Vec<(&'static str, Vec<u8>)> {
    let values = [
        ("zero", int(0)),
        ("u64_max", Value::Unsigned(u64::MAX)),
        ("neg_min", Value::Negative(u64::MAX)),
        ("text", text("ü.example")),
        ("bytes", Value::from(vec![0xAB; 300])),
        (
            "nested",
            Value::Array(vec![Value::Array(vec![Value::map([(
                int(-1),
                Value::Array(vec![Value::Null, Value::Bool(false)]),
            )])])]),
        ),
        (
            "key_order",
            Value::map([
                (int(24), int(0)),
                (int(-1), int(1)),
                (text("a"), int(2)),
                (text("aa"), int(3)),
                (Value::from(vec![1]), int(4)),
            ]),
        ),
    ];
    values
        .into_iter()
        .map(|(name, v)| (name, cbor::encode(&v)))
        .collect()
}

/// Structured programs: each step's op byte (low nibble: the op, high nibble: its flavour) and
/// script byte (0: the user approves), the rest of the step zeros, which the generator reads as
/// "well formed". Step lengths are measured by running the program.
fn structured_programs() -> Vec<(&'static str, Vec<u8>)> {
    // Ops of `requests::Program::step`.
    const MC: u8 = 0;
    const GA: u8 = 1;
    const NEXT: u8 = 2;
    const PIN: u8 = 3;
    const CM: u8 = 4;
    const CONFIG: u8 = 5;
    const SIMPLE: u8 = 6;
    const RAW: u8 = 7;
    const CLOCK: u8 = 8;
    const TOKEN: u8 = 9;
    const SET_PIN: u8 = 10;
    const SESSION: u8 = 11;
    // Flavours (high nibble).
    const RK_UV: u8 = 0x30;
    const ALL_EXTENSIONS: u8 = 0x80;
    const ALLOW_LIST: u8 = 0x10;
    const UV: u8 = 0x20;
    const HMAC: u8 = 0x40;
    const CM_ACFG_NO_RP: u8 = 0xD0;
    let nth = |n: u8| n << 4;
    let programs: Vec<(&str, u8, Vec<u8>)> = vec![
        ("mc", 0, vec![MC]),
        ("cancelled", 0, vec![MC | 0xF0]),
        (
            "rk_ga_next",
            0,
            vec![MC | RK_UV, MC | RK_UV, GA, NEXT, CLOCK | nth(8), NEXT],
        ),
        (
            "ga_allow_list",
            0,
            vec![MC, GA | ALLOW_LIST, GA | ALLOW_LIST | UV],
        ),
        (
            "ga_hmac",
            0,
            vec![MC | RK_UV | ALL_EXTENSIONS, GA | HMAC | UV, GA | HMAC],
        ),
        (
            "cred_mgmt",
            0,
            vec![
                MC | RK_UV,
                MC | RK_UV,
                TOKEN | CM_ACFG_NO_RP,
                CM | nth(1),
                CM | nth(2),
                CM | nth(3),
                CM | nth(4),
                CM | nth(5),
                CM | nth(7),
                CM | nth(6),
            ],
        ),
        (
            "config",
            0,
            vec![
                TOKEN | CM_ACFG_NO_RP,
                CONFIG | nth(1),
                CONFIG | nth(2),
                MC,
                SET_PIN,
            ],
        ),
        (
            "pin_token",
            0,
            vec![SET_PIN, TOKEN | nth(6), MC, GA | ALLOW_LIST, SET_PIN, TOKEN],
        ),
        (
            "select_on_device",
            2,
            vec![MC | RK_UV, MC | RK_UV, GA | UV, GA],
        ),
        (
            "no_builtin_uv",
            3,
            vec![
                MC,
                GA | ALLOW_LIST,
                TOKEN,
                SET_PIN,
                TOKEN | nth(6),
                MC,
                CONFIG | nth(1),
            ],
        ),
        (
            "client_pin_subcommands",
            1,
            (1..=11).map(|n| PIN | nth(n)).collect(),
        ),
        (
            "session_simple_raw",
            3,
            vec![SESSION, SIMPLE | nth(1), RAW | nth(1), SIMPLE | nth(4)],
        ),
        ("token_clock", 0, vec![TOKEN | nth(1), CLOCK | nth(8), MC]),
    ];
    programs
        .into_iter()
        .map(|(name, engine, ops)| {
            let mut data = vec![engine];
            for (i, op) in ops.iter().enumerate() {
                data.extend_from_slice(&[*op, 0]);
                let mut probe = data.clone();
                probe.resize(data.len() + 4096, 0);
                let ends = requests::step_ends(&probe);
                data.resize(ends[i], 0);
            }
            (name, data)
        })
        .collect()
}

/// CTAPHID sessions as records (control byte + report), see `hid`.
fn hid_sessions() -> Vec<(&'static str, Vec<u8>)> {
    let nonce = vec![1, 2, 3, 4, 5, 6, 7, 8];
    let records = |message: Message, channel: u8, step: u8, answer: Option<u8>| {
        let reports = message.to_reports().expect("seed messages fit");
        let mut out = Vec::with_capacity(reports.len() * RECORD_LEN);
        let last = reports.len() - 1;
        for (i, r) in reports.iter().enumerate() {
            out.push(control(
                step,
                channel,
                if i == last { answer } else { None },
            ));
            out.extend_from_slice(r);
        }
        out
    };
    let init = records(
        Message::new(BROADCAST_CID, CTAPHID_INIT, nonce.clone()),
        1,
        0,
        None,
    );
    // Channel mode 2 replaces cid 0 with the first allocated channel.
    let on_channel = |cmd: u8, payload: Vec<u8>, answer: Option<u8>| {
        records(Message::new(0, cmd, payload), 2, 0, answer)
    };
    let get_info = on_channel(CTAPHID_CBOR, vec![0x04], Some(0));
    let mut sessions = vec![
        ("init", init.clone()),
        ("init_get_info", [init.clone(), get_info.clone()].concat()),
        (
            "init_ping_200",
            [
                init.clone(),
                on_channel(CTAPHID_PING, vec![0x5A; 200], None),
            ]
            .concat(),
        ),
        (
            "init_wink_cancel",
            [
                init.clone(),
                on_channel(CTAPHID_WINK, vec![], None),
                on_channel(CTAPHID_CBOR, vec![0x04], None),
                on_channel(CTAPHID_CANCEL, vec![], Some(1)),
            ]
            .concat(),
        ),
        (
            "init_cbor_max",
            [
                init.clone(),
                on_channel(CTAPHID_CBOR, vec![0x01; 7609], Some(3)),
            ]
            .concat(),
        ),
        (
            "two_channels_busy",
            [
                init.clone(),
                init.clone(),
                on_channel(CTAPHID_CBOR, vec![0x04], None),
                records(Message::new(1, CTAPHID_PING, vec![1; 100]), 2, 0, None),
                records(Message::new(0, CTAPHID_INIT, nonce.clone()), 2, 0, Some(2)),
            ]
            .concat(),
        ),
    ];
    // A message that stalls past the 3 s timeout.
    let mut stalled = init.clone();
    let long = Message::new(0, CTAPHID_PING, vec![3; 300])
        .to_reports()
        .expect("fits");
    stalled.push(control(0, 2, None));
    stalled.extend_from_slice(&long[0]);
    stalled.push(control(7, 2, None));
    stalled.extend_from_slice(&long[1]);
    sessions.push(("timeout", stalled));
    sessions.push(("resync", [init.clone(), get_info, init].concat()));
    sessions
}
