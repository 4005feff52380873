#!/usr/bin/env python3
"""Independent generator of the link test vectors (proto/link.md).

Written from the spec and the Noise Protocol Framework (revision 34), not from the Rust code,
so that the two implementations check each other. Uses only the `cryptography` package and
the standard library. Every input is fixed, so running this again rewrites identical files.

    python3 proto/vectors/gen_vectors.py
"""

import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

# proto/link.md, "Constants".
PROLOGUE = b"passkeyphone/link" + bytes([1])
QR_PSK_INFO = b"passkeyphone/link qr psk"
QR_SCHEME = "PASSKEYPHONE"
# proto/link.md section 6.
BLE_UUID_INFO = b"passkeyphone/link ble uuid"
BLE_QR_UUID_INFO = b"passkeyphone/link ble qr uuid"
BLE_WINDOW_SECS = 600
BLE_CMD_MSG = 0x83
HASHLEN = 32
PAD_BLOCK = 32
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def h(b):
    return b.hex()


def fixed(label, n=32):
    """Deterministic test bytes: SHA-256 of a label, repeated as needed."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"passkeyphone vectors: {label} {i}".encode()).digest()
        i += 1
    return out[:n]


def fixed_scalar(label):
    k = int.from_bytes(fixed(label), "big")
    assert 1 <= k < P256_ORDER
    return k.to_bytes(32, "big")


class KeyPair:
    def __init__(self, scalar):
        self.scalar = scalar
        self.priv = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
        self.pub = self.priv.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert len(self.pub) == 65

    def compressed(self):
        return self.priv.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )


def dh(kp, pub):
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    z = kp.priv.exchange(ec.ECDH(), peer)  # x-coordinate, 32 bytes
    assert len(z) == 32
    return z


def hmac_sha256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def noise_hkdf(ck, ikm, n):
    """Noise rev 34 section 4.3 HKDF(chaining_key, input_key_material, num_outputs)."""
    temp = hmac_sha256(ck, ikm)
    outs = []
    prev = b""
    for i in range(1, n + 1):
        prev = hmac_sha256(temp, prev + bytes([i]))
        outs.append(prev)
    return outs


def rfc5869(salt, ikm, info, length):
    prk = hmac_sha256(salt if salt else bytes(HASHLEN), ikm)
    out = b""
    t = b""
    i = 1
    while len(out) < length:
        t = hmac_sha256(prk, t + info + bytes([i]))
        out += t
        i += 1
    return out[:length]


def nonce(n):
    # Noise rev 34 section 12.3 (AESGCM): 32 zero bits then the 64-bit big-endian counter.
    return bytes(4) + n.to_bytes(8, "big")


class CipherState:
    def __init__(self):
        self.k = None
        self.n = 0

    def encrypt(self, ad, pt):
        if self.k is None:
            return pt
        ct = AESGCM(self.k).encrypt(nonce(self.n), pt, ad)
        self.n += 1
        return ct

    def decrypt(self, ad, ct):
        if self.k is None:
            return ct
        pt = AESGCM(self.k).decrypt(nonce(self.n), ct, ad)
        self.n += 1
        return pt


class SymmetricState:
    def __init__(self, name):
        name = name.encode()
        self.h = name + bytes(HASHLEN - len(name)) if len(name) <= HASHLEN else hashlib.sha256(name).digest()
        self.ck = self.h
        self.cs = CipherState()

    def mix_hash(self, data):
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm):
        self.ck, k = noise_hkdf(self.ck, ikm, 2)
        self.cs = CipherState()
        self.cs.k = k

    def mix_key_and_hash(self, ikm):
        self.ck, th, k = noise_hkdf(self.ck, ikm, 3)
        self.mix_hash(th)
        self.cs = CipherState()
        self.cs.k = k

    def encrypt_and_hash(self, pt):
        ct = self.cs.encrypt(self.h, pt)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ct):
        pt = self.cs.decrypt(self.h, ct)
        self.mix_hash(ct)
        return pt

    def split(self):
        return noise_hkdf(self.ck, b"", 2)


PATTERNS = {
    # name: (pre-messages as (initiator keys, responder keys), message token lists)
    "IKpsk1": ((), ("s",), [["e", "es", "s", "ss", "psk"], ["e", "ee", "se"]]),
    "KKpsk0": (("s",), ("s",), [["psk", "e", "es", "ss"], ["e", "ee", "se"]]),
}


class Handshake:
    def __init__(self, pattern, initiator, s, e, rs, psk):
        self.name = f"Noise_{pattern}_P256_AESGCM_SHA256"
        pre_i, pre_r, self.msgs = PATTERNS[pattern]
        self.initiator = initiator
        self.s, self.e, self.rs, self.re, self.psk = s, e, rs, None, psk
        self.ss = SymmetricState(self.name)
        self.ss.mix_hash(PROLOGUE)
        # Pre-messages: the initiator's keys first, then the responder's (section 7.1).
        for tok in pre_i:
            self.ss.mix_hash(s.pub if initiator else rs)
        for tok in pre_r:
            self.ss.mix_hash(rs if initiator else s.pub)
        self.i = 0

    def _dh(self, tok):
        if tok == "ee":
            return dh(self.e, self.re)
        if tok == "ss":
            return dh(self.s, self.rs)
        if tok == "es":
            return dh(self.e, self.rs) if self.initiator else dh(self.s, self.re)
        if tok == "se":
            return dh(self.s, self.re) if self.initiator else dh(self.e, self.rs)
        raise ValueError(tok)

    def write(self, payload):
        out = b""
        for tok in self.msgs[self.i]:
            if tok == "e":
                out += self.e.pub
                self.ss.mix_hash(self.e.pub)
                self.ss.mix_key(self.e.pub)  # psk modifier, section 9.2
            elif tok == "s":
                out += self.ss.encrypt_and_hash(self.s.pub)
            elif tok == "psk":
                self.ss.mix_key_and_hash(self.psk)
            else:
                self.ss.mix_key(self._dh(tok))
        out += self.ss.encrypt_and_hash(payload)
        self.i += 1
        return out

    def read(self, msg):
        for tok in self.msgs[self.i]:
            if tok == "e":
                self.re, msg = msg[:65], msg[65:]
                self.ss.mix_hash(self.re)
                self.ss.mix_key(self.re)
            elif tok == "s":
                n = 65 + 16 if self.ss.cs.k is not None else 65
                ct, msg = msg[:n], msg[n:]
                self.rs = self.ss.decrypt_and_hash(ct)
            elif tok == "psk":
                self.ss.mix_key_and_hash(self.psk)
            else:
                self.ss.mix_key(self._dh(tok))
        payload = self.ss.decrypt_and_hash(msg)
        self.i += 1
        return payload


# Canonical CBOR (CTAP2 form) for the few types used here.
def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError(n)


def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        return cbor_head(3, len(v.encode())) + v.encode()
    if isinstance(v, dict):
        items = sorted((cbor(k), cbor(x)) for k, x in v.items())
        # Integer and string keys: bytewise order of the encoded keys, after major type and
        # length, which for these keys is plain bytewise order within a major type.
        items.sort(key=lambda kv: (kv[0][0] >> 5, len(kv[0]), kv[0]))
        return cbor_head(5, len(items)) + b"".join(k + x for k, x in items)
    raise TypeError(v)


# QR digit encoding, proto/link.md "Digit encoding" (after caBLE v2).
PARTIAL_DIGITS = [0, 3, 5, 8, 10, 13, 15]


def digits_encode(data):
    out = ""
    while len(data) >= 7:
        chunk, data = data[:7], data[7:]
        out += str(int.from_bytes(chunk + b"\x00", "little")).zfill(17)
    if data:
        out += str(int.from_bytes(data + bytes(8 - len(data)), "little")).zfill(PARTIAL_DIGITS[len(data)])
    return out


def pad(plaintext):
    padded_len = (len(plaintext) + 1 + PAD_BLOCK - 1) // PAD_BLOCK * PAD_BLOCK
    zeros = padded_len - len(plaintext) - 1
    return plaintext + bytes(zeros) + bytes([zeros])


# BLE rotating service UUID, proto/link.md section 6.5.
def ble_uuid_bytes(ikm, label, window):
    okm = rfc5869(b"", ikm, label + window.to_bytes(8, "big"), 16)
    b = bytearray(okm)
    b[6] = (b[6] & 0x0F) | 0x40  # RFC 4122 version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant 10
    return okm, bytes(b)


def uuid_text(b):
    x = b.hex()
    return f"{x[0:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}"


def scan_windows(t):
    w = t // BLE_WINDOW_SECS
    return sorted({max(w - 1, 0), w, w + 1})


# BLE fragmentation, proto/link.md section 6.4 (after CTAP 2.1 section 11.4).
def ble_fragment(msg, flen):
    assert 20 <= flen <= 512 and len(msg) <= 65535
    out = [bytes([BLE_CMD_MSG]) + len(msg).to_bytes(2, "big") + msg[: flen - 3]]
    rest = msg[flen - 3 :]
    seq = 0
    while rest:
        out.append(bytes([seq]) + rest[: flen - 1])
        rest = rest[flen - 1 :]
        seq = (seq + 1) % 0x80
    return out


class BleError(Exception):
    pass


def ble_reassemble(fragments):
    """Strict reassembly; returns the messages or raises BleError(name)."""
    messages = []
    partial = None  # (expected length, data, next sequence number)
    for f in fragments:
        if len(f) == 0:
            raise BleError("empty")
        if len(f) > 512:
            raise BleError("fragment_too_long")
        if f[0] & 0x80:
            if f[0] != BLE_CMD_MSG:
                raise BleError("unknown_command")
            if partial is not None:
                raise BleError("unexpected_init")
            if len(f) < 3:
                raise BleError("short_init")
            n = int.from_bytes(f[1:3], "big")
            data = f[3:]
            if len(data) > n:
                raise BleError("overlong")
            partial = (n, data, 0)
        else:
            if partial is None:
                raise BleError("unexpected_continuation")
            n, data, seq = partial
            if f[0] != seq:
                raise BleError("wrong_sequence")
            if len(f) == 1:
                raise BleError("empty")
            if len(data) + len(f) - 1 > n:
                raise BleError("overlong")
            partial = (n, data + f[1:], (seq + 1) % 0x80)
        if partial is not None and len(partial[1]) == partial[0]:
            messages.append(partial[1])
            partial = None
    if partial is not None:
        raise BleError("incomplete")
    return messages


def ble_vectors(pairing_secret, qr_secret):
    times = [0, 1_795_000_000, 1_795_000_199, 1_795_000_200]
    derivations = []
    for kind, ikm, label in (
        ("pairing", pairing_secret, BLE_UUID_INFO),
        ("qr", qr_secret, BLE_QR_UUID_INFO),
    ):
        for t in times:
            w = t // BLE_WINDOW_SECS
            okm, u = ble_uuid_bytes(ikm, label, w)
            derivations.append(
                {
                    "kind": kind,
                    "unix_time": t,
                    "window": w,
                    "info": h(label + w.to_bytes(8, "big")),
                    "okm": h(okm),
                    "uuid": uuid_text(u),
                    "scan_uuids": [uuid_text(ble_uuid_bytes(ikm, label, x)[1]) for x in scan_windows(t)],
                }
            )
    valid = []
    for comment, flen, msg in [
        ("empty message", 20, b""),
        ("fills the initial fragment", 20, fixed("ble 17", 17)),
        ("one byte in a continuation", 20, fixed("ble 18", 18)),
        ("three fragments", 20, fixed("ble 50", 50)),
        ("ATT_MTU 67", 64, fixed("ble 200", 200)),
        ("ATT_MTU 185", 182, fixed("ble 1000", 1000)),
        ("ATT_MTU 517: 512-byte fragments", 512, fixed("ble 1500", 1500)),
        ("sequence numbers wrap after 0x7f", 20, fixed("ble 2500", 2500)),
    ]:
        frags = ble_fragment(msg, flen)
        assert ble_reassemble(frags) == [msg]
        valid.append(
            {"comment": comment, "fragment_len": flen, "message": h(msg), "fragments": [h(f) for f in frags]}
        )
    f50 = ble_fragment(fixed("ble 50", 50), 20)
    invalid = [
        ("zero-length fragment", [b""], "empty"),
        ("continuation without data", [f50[0], b"\x00"], "empty"),
        ("fragment longer than 512 bytes", [b"\x83\xff\xff" + bytes(510)], "fragment_too_long"),
        ("initial fragment without its length", [b"\x83\x00"], "short_init"),
        ("reserved command byte", [b"\xbf\x00\x00"], "unknown_command"),
        ("continuation first", [f50[1]], "unexpected_continuation"),
        ("initial fragment before the last message ended", [f50[0], f50[0]], "unexpected_init"),
        ("continuation lost", [f50[0], f50[2]], "wrong_sequence"),
        ("continuations swapped", [f50[0], f50[2], f50[1]], "wrong_sequence"),
        ("initial fragment carries more than its length", [b"\x83\x00\x01\x01\x02"], "overlong"),
        ("last continuation carries an extra byte", [f50[0], f50[1], f50[2] + b"\x00"], "overlong"),
    ]
    invalid_cases = []
    for comment, frags, error in invalid:
        try:
            ble_reassemble(frags)
            raise AssertionError(comment)
        except BleError as e:
            assert str(e) == error, (comment, str(e))
        invalid_cases.append({"comment": comment, "fragments": [h(f) for f in frags], "error": error})
    return {
        "description": "BLE link (proto/link.md section 6): rotating service UUIDs and fragmentation",
        "uuid_window_secs": BLE_WINDOW_SECS,
        "pairing_secret": h(pairing_secret),
        "qr_secret": h(qr_secret),
        "uuid_derivations": derivations,
        "fragment_len_for_att_mtu": [
            {"att_mtu": m, "fragment_len": min(max(m - 3, 20), 512)} for m in (23, 24, 67, 185, 247, 515, 517)
        ],
        "fragmentation": valid,
        "invalid_reassembly": invalid_cases,
    }


def seal_script(script, keys, counters):
    """Transport frames (section 4) for (direction, type, payload) steps; advances counters."""
    frames = []
    for direction, mtype, payload in script:
        n = counters[direction]
        padded = pad(bytes([mtype]) + payload)
        assert len(padded) % PAD_BLOCK == 0
        frame = AESGCM(keys[direction]).encrypt(nonce(n), padded, b"")
        frames.append(
            {
                "direction": direction,
                "counter": n,
                "message_type": mtype,
                "payload": h(payload),
                "padded_plaintext": h(padded),
                "frame": h(frame),
            }
        )
        counters[direction] = n + 1
    return frames


def write_json(name, obj):
    with open(os.path.join(OUT_DIR, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def run_handshake(pattern, psk, payloads, phone_s, phone_e, pc_s, pc_e, initiator_knows_rs=True):
    ini = Handshake(pattern, True, phone_s, phone_e, pc_s.pub, psk)
    res = Handshake(pattern, False, pc_s, pc_e, phone_s.pub if pattern == "KKpsk0" else None, psk)
    m1 = ini.write(payloads[0])
    assert res.read(m1) == payloads[0]
    m2 = res.write(payloads[1])
    assert ini.read(m2) == payloads[1]
    assert ini.ss.h == res.ss.h
    assert res.rs == phone_s.pub
    k1, k2 = ini.ss.split()
    assert (k1, k2) == tuple(res.ss.split())
    vec = {
        "protocol_name": ini.name,
        "prologue": h(PROLOGUE),
        "psk": h(psk),
        "initiator_static_private": h(phone_s.scalar),
        "initiator_static_public": h(phone_s.pub),
        "initiator_ephemeral_private": h(phone_e.scalar),
        "initiator_ephemeral_public": h(phone_e.pub),
        "responder_static_private": h(pc_s.scalar),
        "responder_static_public": h(pc_s.pub),
        "responder_ephemeral_private": h(pc_e.scalar),
        "responder_ephemeral_public": h(pc_e.pub),
        "messages": [
            {"sender": "initiator", "payload": h(payloads[0]), "message": h(m1)},
            {"sender": "responder", "payload": h(payloads[1]), "message": h(m2)},
        ],
        "handshake_hash": h(ini.ss.h),
        "initiator_to_responder_key": h(k1),
        "responder_to_initiator_key": h(k2),
    }
    return vec, k1, k2


def main():
    phone_s = KeyPair(fixed_scalar("phone static"))
    pc_s = KeyPair(fixed_scalar("pc static"))

    # --- QR payload ---
    qr_secret = fixed("qr secret", 16)
    routing = fixed("relay routing", 20)
    issued_at = 1_795_000_000
    qr_map = {1: pc_s.compressed(), 2: qr_secret, 3: routing, 4: issued_at}
    qr_cbor = cbor(qr_map)
    qr_cases = []
    for label, data in [
        ("empty", b""),
        ("one byte", b"\x01"),
        ("six bytes all ones", b"\xff" * 6),
        ("seven bytes all ones", b"\xff" * 7),
        ("eight bytes", bytes(range(8))),
        ("fifteen bytes", bytes(range(15))),
    ]:
        qr_cases.append({"comment": label, "bytes": h(data), "digits": digits_encode(data)})
    write_json(
        "qr.json",
        {
            "description": "QR pairing payload (proto/link.md section 2): CBOR map <-> digit string",
            "scheme": QR_SCHEME,
            "pairing": {
                "pc_static_private": h(pc_s.scalar),
                "pc_static_public_compressed": h(pc_s.compressed()),
                "qr_secret": h(qr_secret),
                "routing": h(routing),
                "issued_at": issued_at,
                "cbor": h(qr_cbor),
                "uri": QR_SCHEME + ":/" + digits_encode(qr_cbor),
                "psk": h(rfc5869(b"", qr_secret, QR_PSK_INFO, 32)),
            },
            "digit_encoding": qr_cases,
        },
    )

    # --- IKpsk1: first pairing, psk from the QR secret ---
    psk_ik = rfc5869(b"", qr_secret, QR_PSK_INFO, 32)
    pairing_secret = fixed("pairing secret", 32)
    ik, k1, k2 = run_handshake(
        "IKpsk1",
        psk_ik,
        [cbor({}), cbor({1: pairing_secret})],
        phone_s,
        KeyPair(fixed_scalar("phone ephemeral ik")),
        pc_s,
        KeyPair(fixed_scalar("pc ephemeral ik")),
    )
    ik["description"] = "First pairing: phone = initiator, PC = responder, psk = HKDF(QR secret)"
    ik["qr_secret"] = h(qr_secret)
    write_json("noise_ikpsk1.json", ik)

    # --- KKpsk0: reconnect with the per-pairing secret ---
    kk, _, _ = run_handshake(
        "KKpsk0",
        pairing_secret,
        [cbor({}), b""],
        phone_s,
        KeyPair(fixed_scalar("phone ephemeral kk")),
        pc_s,
        KeyPair(fixed_scalar("pc ephemeral kk")),
    )
    kk["description"] = "Reconnect: phone = initiator, PC = responder, psk = per-pairing secret"
    write_json("noise_kkpsk0.json", kk)

    # --- Transport, with the IKpsk1 split keys ---
    counters = {"initiator_to_responder": 0, "responder_to_initiator": 0}
    keys = {"initiator_to_responder": k1, "responder_to_initiator": k2}
    script = [
        ("initiator_to_responder", 1, b""),
        ("initiator_to_responder", 1, b"\x04"),
        ("responder_to_initiator", 2, b"\x02"),
        ("initiator_to_responder", 1, fixed("t30", 30)),
        ("initiator_to_responder", 1, fixed("t31", 31)),
        ("responder_to_initiator", 1, fixed("t32", 32)),
        ("responder_to_initiator", 1, fixed("t33", 33)),
        ("initiator_to_responder", 3, b""),
        ("responder_to_initiator", 4, fixed("t62", 62)),
        ("responder_to_initiator", 5, fixed("t63", 63)),
        ("initiator_to_responder", 0, b""),
    ]
    frames = seal_script(script, keys, counters)
    write_json(
        "transport.json",
        {
            "description": "Transport frames (proto/link.md section 4) under the noise_ikpsk1.json split keys",
            "initiator_to_responder_key": h(k1),
            "responder_to_initiator_key": h(k2),
            "frames": frames,
        },
    )

    # --- Liveness (section 5.8): a request on an idle session, the phone's acknowledgement
    # (a keepalive sent before the request is acted on), a later keepalive, the answer; the
    # limits the PC applies. Same keys, counters starting at 0. ---
    liveness = [
        ("responder_to_initiator", 1, b"\x02" + fixed("liveness request", 40)),
        ("initiator_to_responder", 2, b"\x01"),
        ("initiator_to_responder", 2, b"\x02"),
        ("initiator_to_responder", 1, b"\x00" + fixed("liveness answer", 60)),
    ]
    write_json(
        "liveness.json",
        {
            "description": "Liveness (proto/link.md section 5.8): request, acknowledgement, "
            "keepalive, answer under the noise_ikpsk1.json split keys",
            "initiator_to_responder_key": h(k1),
            "responder_to_initiator_key": h(k2),
            "ack_limit_ms": 2500,
            "knock_answer_limit_ms": 2500,
            "frames": seal_script(
                liveness,
                keys,
                {"initiator_to_responder": 0, "responder_to_initiator": 0},
            ),
        },
    )

    # --- BLE: rotating service UUIDs (pairing secret of the IKpsk1 vector, QR secret of the
    # pairing code) and fragmentation ---
    write_json("ble.json", ble_vectors(pairing_secret, qr_secret))


if __name__ == "__main__":
    main()
