"""Malformed input: generated (seeded, reproducible) requests that must each get an error,
after which the same process must still serve a valid request.

CBOR level (CTAPHID_CBOR payloads, CTAP 2.1 §8 and §6): truncated and non-canonical CBOR,
wrong types, missing and unknown keys, unknown commands and subcommands, oversize fields.
CTAPHID level (raw 64-byte reports, §11.2): bad channel ids, bad sequence numbers, oversize
lengths, truncated messages, bad INIT nonces, unknown commands.

Every case is checked for its exact status where the spec defines one, for a one-byte error
response (no data after an error status), and is followed by a getInfo on the same
connection, which must succeed and be canonical."""

from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass, field

import pytest

from phonelib import (BROADCAST_CID, CONT_DATA, HERR_INVALID_CHANNEL, HERR_INVALID_CMD,
                      HERR_INVALID_LEN, HERR_INVALID_SEQ, HID_CBOR, HID_ERROR, HID_INIT,
                      HID_MSG, HID_PING, HID_WINK, INIT_DATA, MAX_MESSAGE, Float,
                      IndefArray, IndefBytes, LongBytes, NonMinInt, OrderedMap, Raw, Simple,
                      Tag, cdh, cont_packet, enc, fragments, init_packet, raw_call, strict_loads)

SEED = 0xC7A9_2021
MIN_CASES = 1000

OK = 0x00
UNEXPECTED_TYPE = 0x11
INVALID_CBOR = 0x12
MISSING = 0x14
INVALID_COMMAND = 0x01
INVALID_PARAMETER = 0x02
INVALID_LENGTH = 0x03
INVALID_SUBCOMMAND = 0x3E
ANY_ERROR = None  # any non-zero status

# A valid-looking P-256 COSE key (the generator point) for requests that carry one.
GX = bytes.fromhex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
GY = bytes.fromhex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
COSE = {1: 2, 3: -25, -1: 1, -2: GX, -3: GY}


def base_requests() -> dict[str, tuple[int, dict]]:
    """Well-formed requests (that would fail harmlessly or succeed) to mutate."""
    h = cdh("malformed")
    return {
        "mc": (0x01, {
            1: h,
            2: {"id": "example.com", "name": "Example"},
            3: {"id": b"user-id", "name": "name", "displayName": "Display"},
            4: [{"alg": -7, "type": "public-key"}],
            5: [{"id": b"\x11" * 16, "type": "public-key"}],
            6: {"credProtect": 1, "hmac-secret": True, "credBlob": b"\x01",
                "minPinLength": True},
            7: {"rk": False, "uv": False},
        }),
        "ga": (0x02, {
            1: "example.com",
            2: h,
            3: [{"id": b"\x22" * 16, "type": "public-key"}],
            4: {"credBlob": True},
            5: {"up": False},
        }),
        "pin_retries": (0x06, {1: 2, 2: 1}),
        "pin_set": (0x06, {1: 2, 2: 3, 3: COSE, 4: b"\x00" * 32, 5: b"\x00" * 80}),
        "pin_token": (0x06, {1: 2, 2: 9, 3: COSE, 6: b"\x00" * 32, 9: 2, 10: "example.com"}),
        "cm_meta": (0x0A, {1: 1, 3: 2, 4: b"\x00" * 32}),
        "cfg": (0x0D, {1: 2, 3: 2, 4: b"\x00" * 32}),
    }


@dataclass
class Case:
    name: str
    request: bytes
    expected: int | None  # exact status, or ANY_ERROR
    also: tuple[int, ...] = field(default_factory=tuple)  # other acceptable statuses


# --- path helpers ---------------------------------------------------------------------------
def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def replaced(params, path, value):
    out = copy.deepcopy(params)
    _get(out, path[:-1])[path[-1]] = value
    return out


def removed(params, path):
    out = copy.deepcopy(params)
    del _get(out, path[:-1])[path[-1]]
    return out


def req(cmd: int, params) -> bytes:
    return bytes([cmd]) + enc(params)


def all_paths(obj, prefix=()):
    """Every (path, value) below obj, maps and arrays included."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,), v
            yield from all_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,), v
            yield from all_paths(v, prefix + (i,))


# --- CBOR-level generators ------------------------------------------------------------------
def gen_truncated(rng: random.Random) -> list[Case]:
    cases = []
    for name, (cmd, params) in base_requests().items():
        body = enc(params)
        cuts = sorted(rng.sample(range(1, len(body)), min(60, len(body) - 1)))
        for cut in cuts:
            cases.append(Case(f"truncated {name} at {cut}/{len(body)}",
                              bytes([cmd]) + body[:cut], INVALID_CBOR))
    return cases


def _non_canonical_values(value, rng):
    """Non-canonical (or non-CTAP) encodings standing in for `value`."""
    out = []
    if isinstance(value, bool):
        # true/false as a two-byte simple value, undefined, a float
        out += [Raw(b"\xf8" + bytes([21 if value else 20])), Simple(23), Float(1.0, 2)]
    elif isinstance(value, int):
        widths = [w for w in (1, 2, 4, 8) if (value if value >= 0 else -1 - value) < {1: 24, 2: 256, 4: 65536, 8: 2 ** 32}[w]]
        out += [NonMinInt(value, w) for w in widths]
        out += [Float(float(value), rng.choice([2, 4, 8])), Tag(rng.choice([0, 1, 2, 55799]), value)]
    elif isinstance(value, (bytes, bytearray)):
        n = len(value)
        out += [LongBytes(bytes(value), w) for w in (1, 2, 4, 8) if n < {1: 24, 2: 256, 4: 65536, 8: 2 ** 32}[w]]
        out += [IndefBytes([bytes(value[: n // 2]), bytes(value[n // 2:])]), Tag(24, bytes(value))]
    elif isinstance(value, str):
        b = value.encode()
        out += [LongBytes(b, w, text=True) for w in (1, 2, 4) if len(b) < {1: 24, 2: 256, 4: 65536}[w]]
        out += [IndefBytes([b[:1], b[1:]], text=True), Raw(bytes([0x60 | min(len(b) + 1, 23)]) + b"\xff" + b[: min(len(b) + 1, 23) - 1]),
                Raw(bytes([0x62, 0xC3, 0x28]))]  # invalid UTF-8
    elif isinstance(value, list):
        out += [IndefArray(value), Raw(bytes([0x98, len(value)]) + b"".join(enc(x) for x in value))]
    elif isinstance(value, dict):
        items = list(value.items())
        out.append(OrderedMap(items, indefinite=True))
        if len(items) >= 2:
            ordered = sorted(items, key=lambda kv: (enc(kv[0])[0] >> 5, len(enc(kv[0])), enc(kv[0])))
            swapped = ordered[:]
            i = rng.randrange(len(swapped) - 1)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            out.append(OrderedMap(swapped))
            out.append(OrderedMap(list(reversed(ordered))))
        if items:
            out.append(OrderedMap(sorted(items, key=lambda kv: enc(kv[0])) + [items[0]]))  # dup
            k0 = items[0][0]
            if isinstance(k0, int):
                others = [kv for kv in items if kv[0] != k0]
                out.append(OrderedMap([(NonMinInt(k0, 1), items[0][1])] + sorted(
                    others, key=lambda kv: enc(kv[0]))))
        out.append(Raw(bytes([0xB8, len(items)]) + b"".join(
            enc(k) + enc(v) for k, v in sorted(items, key=lambda kv: (len(enc(kv[0])), enc(kv[0]))))))
    out += [Simple(rng.choice([0, 16, 19, 23])), Raw(bytes([rng.choice([0x1C, 0x1D, 0x1E, 0x3C, 0x5D, 0x7E, 0x9C, 0xBD, 0xDC, 0xFC])])),
            Raw(b"\xff"), Raw(b"\xf7")]
    return out


def gen_non_canonical(rng: random.Random) -> list[Case]:
    cases = []
    for name, (cmd, params) in base_requests().items():
        for path, value in all_paths(params):
            for bad in _non_canonical_values(value, rng):
                cases.append(Case(f"non-canonical {name} {path} {type(bad).__name__}",
                                  req(cmd, replaced(params, path, bad)), INVALID_CBOR))
        for bad in _non_canonical_values(params, rng):
            cases.append(Case(f"non-canonical {name} top-level {type(bad).__name__}",
                              bytes([cmd]) + enc(bad), INVALID_CBOR))
        body = enc(params)
        for trailing in (b"\x00", b"\xa0", b"\xff", os.urandom(3)):
            cases.append(Case(f"trailing bytes {name}", bytes([cmd]) + body + trailing,
                              INVALID_CBOR))
    return cases


WRONG = {"uint": 5, "neg": -5, "bytes": b"\x01\x02", "text": "x", "array": [1],
         "map": {1: 2}, "bool": True, "null": None}
ACCEPTS = {"uint": {"uint"}, "int": {"uint", "neg"}, "bytes": {"bytes"}, "text": {"text"},
           "array": {"array"}, "map": {"map"}, "bool": {"bool"}}

# (request, path, expected type, extra params the field needs to be read)
TYPED_FIELDS = [
    ("mc", (1,), "bytes", {}), ("mc", (2,), "map", {}), ("mc", (2, "id"), "text", {}),
    ("mc", (2, "name"), "text", {}), ("mc", (3,), "map", {}), ("mc", (3, "id"), "bytes", {}),
    ("mc", (3, "name"), "text", {}), ("mc", (3, "displayName"), "text", {}),
    ("mc", (4,), "array", {}), ("mc", (4, 0), "map", {}), ("mc", (4, 0, "alg"), "int", {}),
    ("mc", (4, 0, "type"), "text", {}), ("mc", (5,), "array", {}), ("mc", (5, 0), "map", {}),
    ("mc", (5, 0, "id"), "bytes", {}), ("mc", (5, 0, "type"), "text", {}),
    ("mc", (6,), "map", {}), ("mc", (6, "credProtect"), "uint", {}),
    ("mc", (6, "hmac-secret"), "bool", {}), ("mc", (6, "credBlob"), "bytes", {}),
    ("mc", (6, "minPinLength"), "bool", {}), ("mc", (7,), "map", {}),
    ("mc", (7, "rk"), "bool", {}), ("mc", (7, "uv"), "bool", {}),
    ("mc", (8,), "bytes", {9: 2}), ("mc", (9,), "uint", {}), ("mc", (10,), "uint", {}),
    ("ga", (1,), "text", {}), ("ga", (2,), "bytes", {}), ("ga", (3,), "array", {}),
    ("ga", (3, 0), "map", {}), ("ga", (3, 0, "id"), "bytes", {}),
    ("ga", (3, 0, "type"), "text", {}), ("ga", (4,), "map", {}),
    ("ga", (4, "credBlob"), "bool", {}), ("ga", (4, "hmac-secret"), "map", {}),
    ("ga", (5,), "map", {}), ("ga", (5, "up"), "bool", {}), ("ga", (5, "uv"), "bool", {}),
    ("ga", (6,), "bytes", {7: 2}), ("ga", (7,), "uint", {}),
    ("pin_retries", (1,), "uint", {}), ("pin_retries", (2,), "uint", {}),
    ("pin_retries", (4,), "bytes", {}), ("pin_retries", (5,), "bytes", {}),
    ("pin_retries", (6,), "bytes", {}), ("pin_retries", (9,), "uint", {}),
    ("pin_retries", (10,), "text", {}),
    ("cm_meta", (1,), "uint", {}), ("cm_meta", (3,), "uint", {}), ("cm_meta", (4,), "bytes", {}),
    ("cfg", (1,), "uint", {}), ("cfg", (3,), "uint", {}), ("cfg", (4,), "bytes", {}),
]


def gen_wrong_types(rng: random.Random) -> list[Case]:
    bases = base_requests()
    cases = []
    for name, path, kind, extra in TYPED_FIELDS:
        cmd, params = bases[name]
        params = {**copy.deepcopy(params), **extra}
        if len(path) == 1 and path[0] not in params:
            params[path[0]] = None  # placeholder, replaced below
        for wname, wvalue in WRONG.items():
            if wname in ACCEPTS[kind]:
                continue
            cases.append(Case(f"wrong type {name} {path} {kind}<-{wname}",
                              req(cmd, replaced(params, path, wvalue)), UNEXPECTED_TYPE))
    # Parameters that must be a CBOR map at all.
    for name, (cmd, params) in bases.items():
        for wname, wvalue in WRONG.items():
            if wname != "map":
                cases.append(Case(f"wrong type {name} params<-{wname}", req(cmd, wvalue),
                                  UNEXPECTED_TYPE))
    return cases


UNKNOWN_KEYS = [{0x20: 1}, {0x0F: b"x"}, {-1: "y"}, {"unknown": True}, {0x7F: [1, 2]},
                {0x18: {}}, {100000: None}]

REQUIRED = [
    ("mc", (1,)), ("mc", (2,)), ("mc", (3,)), ("mc", (4,)), ("mc", (2, "id")),
    ("mc", (3, "id")), ("mc", (4, 0, "alg")), ("mc", (4, 0, "type")), ("mc", (5, 0, "id")),
    ("mc", (5, 0, "type")),
    ("ga", (1,)), ("ga", (2,)), ("ga", (3, 0, "id")), ("ga", (3, 0, "type")),
    ("pin_retries", (2,)), ("pin_set", (1,)), ("pin_set", (3,)), ("pin_set", (4,)),
    ("pin_set", (5,)), ("pin_token", (1,)), ("pin_token", (3,)), ("pin_token", (6,)),
    ("pin_token", (9,)), ("cm_meta", (1,)), ("cm_meta", (3,)), ("cfg", (1,)), ("cfg", (3,)),
]


def gen_missing_and_unknown(rng: random.Random) -> list[Case]:
    bases = base_requests()
    cases = []
    for name, path in REQUIRED:
        cmd, params = bases[name]
        without = removed(params, path)
        cases.append(Case(f"missing {name} {path}", req(cmd, without), MISSING))
        for extra in rng.sample(UNKNOWN_KEYS, 3):
            cases.append(Case(f"missing {name} {path} + unknown {list(extra)}",
                              req(cmd, {**without, **extra}), MISSING))
    # Other sub-commands' required parameters.
    for sub, keys in [(2, [1]), (4, [3, 4, 5, 6]), (5, [3, 6]), (6, [3, 9])]:
        full = {1: 2, 2: sub, 3: COSE, 4: b"\0" * 32, 5: b"\0" * 80, 6: b"\0" * 32, 9: 2,
                10: "example.com"}
        for k in keys:
            if k == 1:
                p = {2: sub}
            else:
                p = {kk: v for kk, v in full.items() if kk != k}
                if sub == 5:
                    p.pop(9), p.pop(10)
            cases.append(Case(f"missing clientPin sub {sub} key {k}", req(0x06, p), MISSING))
    # hmac-secret input members (getAssertion extension).
    for missing in (1, 2, 3):
        hs = {k: v for k, v in {1: COSE, 2: b"\0" * 48, 3: b"\0" * 32}.items() if k != missing}
        cases.append(Case(f"missing hmac-secret member {missing}",
                          req(0x02, {1: "example.com", 2: cdh(), 4: {"hmac-secret": hs}}),
                          MISSING))
    for cmd in (0x01, 0x02, 0x06, 0x0A, 0x0D):
        cases.append(Case(f"no parameters for {cmd:#x}", bytes([cmd]), MISSING,
                          also=(INVALID_CBOR, INVALID_LENGTH)))
        cases.append(Case(f"empty map for {cmd:#x}", req(cmd, {}), MISSING))
    return cases


def gen_commands(rng: random.Random) -> list[Case]:
    known = {0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0D, 0x41}
    cases = []
    for cmd in range(256):
        if cmd in known:
            continue
        cases.append(Case(f"unknown command {cmd:#04x}", bytes([cmd]), INVALID_COMMAND))
        if rng.random() < 0.5:
            cases.append(Case(f"unknown command {cmd:#04x} with map", req(cmd, {1: 1}),
                              INVALID_COMMAND))
    for sub in [0, 8, 10, 11, 16, 32, 0x7F, 0xFF, 0x100, 2 ** 32]:
        cases.append(Case(f"clientPin subcommand {sub}", req(0x06, {1: 2, 2: sub}),
                          INVALID_SUBCOMMAND))
    for sub in [0, 8, 9, 16, 0x7F, 0xFF, 0x1000]:
        cases.append(Case(f"credMgmt subcommand {sub}", req(0x0A, {1: sub, 3: 2, 4: bytes(32)}),
                          INVALID_SUBCOMMAND))
    for sub in [0, 4, 5, 16, 0x7F, 0xFE, 0x1000]:
        cases.append(Case(f"config subcommand {sub}", req(0x0D, {1: sub, 3: 2, 4: bytes(32)}),
                          INVALID_SUBCOMMAND))
    for sub in [1, 0xFF]:  # enterprise attestation / vendorPrototype: not offered
        cases.append(Case(f"config subcommand {sub}", req(0x0D, {1: sub, 3: 2, 4: bytes(32)}),
                          ANY_ERROR))
    for cmd in (0x04, 0x07, 0x08, 0x0B):
        for extra in (b"\xa0", b"\x00", b"\xa1\x01\x01", os.urandom(5), b"\xf6"):
            cases.append(Case(f"parameters for parameterless {cmd:#x}", bytes([cmd]) + extra,
                              INVALID_LENGTH))
    return cases


def _nested(depth: int):
    v = 1
    for _ in range(depth):
        v = [v]
    return v


def gen_oversize(rng: random.Random) -> list[Case]:
    bases = base_requests()
    mc_cmd, mc = bases["mc"]
    cases = []
    for n in (65, 100, 255, 1000, 4000):
        cases.append(Case(f"user.id of {n} bytes", req(mc_cmd, replaced(mc, (3, "id"), os.urandom(n))),
                          ANY_ERROR))
    for n in (1000, 3000, 7000):
        p = removed(replaced(mc, (2, "id"), "a" * n), (3,))
        cases.append(Case(f"rp.id of {n} chars without user", req(mc_cmd, p), MISSING))
    for n in (0, 1, 15, 17, 33, 64, 1000):
        if n == 0:
            continue  # zero-length is the "is a PIN set?" probe, not malformed
        cases.append(Case(f"pinUvAuthParam of {n} bytes",
                          req(mc_cmd, {**mc, 8: os.urandom(n), 9: 2}), ANY_ERROR))
    for proto in (0, 3, 255, 2 ** 32, 2 ** 64 - 1):
        cases.append(Case(f"pinUvAuthProtocol {proto}",
                          req(mc_cmd, {**mc, 8: os.urandom(32), 9: proto}), INVALID_PARAMETER))
        cases.append(Case(f"clientPin protocol {proto}", req(0x06, {1: proto, 2: 2}),
                          INVALID_PARAMETER))
    for perm in (0x40, 0x80, 0x100, 0xFFFF, 2 ** 40):
        cases.append(Case(f"permissions {perm:#x}", req(0x06, {
            1: 2, 2: 9, 3: COSE, 6: bytes(32), 9: perm, 10: "example.com"}), 0x40))
    for n in (0, 16, 63, 65, 79, 81, 128, 1024):
        cases.append(Case(f"newPinEnc of {n} bytes", req(0x06, {
            1: 2, 2: 3, 3: COSE, 4: bytes(32), 5: os.urandom(n)}), ANY_ERROR))
    for depth in (9, 12, 20, 64):
        cases.append(Case(f"nesting depth {depth} in extensions",
                          req(mc_cmd, replaced(mc, (6, "example.deep"), _nested(depth))),
                          INVALID_CBOR))
    for head in (b"\x5a\xff\xff\xff\xff", b"\x5b" + b"\xff" * 8, b"\x7a\x00\x10\x00\x00",
                 b"\x9a\x00\x10\x00\x00", b"\xbb" + b"\x7f" * 8, b"\x99\xff\xff",
                 b"\x59\x1d\xb9"):
        for path in ((1,), (3, "id"), (6,)):
            cases.append(Case(f"declared length {head.hex()} at {path}",
                              req(mc_cmd, replaced(mc, path, Raw(head))), INVALID_CBOR))
    entries = [{"id": os.urandom(16), "type": "public-key"} for _ in range(200)]
    entries[-1] = {"type": "public-key"}
    cases.append(Case("200-entry allowList with a bad last entry",
                      req(0x02, {1: "example.com", 2: cdh(), 3: entries}), MISSING))
    key = {1: 2, 3: -25, -1: 1, -2: GX, -3: os.urandom(31)}
    cases.append(Case("short key agreement coordinate",
                      req(0x06, {1: 2, 2: 5, 3: key, 6: bytes(32)}), ANY_ERROR))
    key = {1: 2, 3: -25, -1: 1, -2: GX, -3: bytes(32)}
    cases.append(Case("key agreement point not on the curve",
                      req(0x06, {1: 2, 2: 5, 3: key, 6: bytes(32)}), ANY_ERROR))
    return cases


CBOR_GENERATORS = {
    "truncated": gen_truncated,
    "non_canonical": gen_non_canonical,
    "wrong_types": gen_wrong_types,
    "missing_and_unknown_keys": gen_missing_and_unknown,
    "commands": gen_commands,
    "oversize": gen_oversize,
}


def cbor_cases(kind: str) -> list[Case]:
    return CBOR_GENERATORS[kind](random.Random(f"{SEED}-{kind}"))


# --- CTAPHID-level generators ---------------------------------------------------------------
@dataclass
class HidCase:
    name: str
    packets: list  # bytes, or callables(cid) -> bytes for packets on the valid channel
    cid: object  # the channel the error comes back on: int, or "own"
    error: int


def hid_cases(rng: random.Random) -> list[HidCase]:
    cases = []
    own = "own"
    for _ in range(60):
        cid = rng.randrange(1, 0xFFFFFFFF)
        cmd = rng.choice([HID_PING, HID_CBOR, HID_WINK, HID_MSG])
        payload = b"\x04" if cmd == HID_CBOR else (b"" if cmd == HID_WINK else os.urandom(rng.randrange(1, 50)))
        cases.append(HidCase(f"unallocated cid {cid:#x} cmd {cmd:#x}",
                             fragments(cid, cmd, payload), cid, HERR_INVALID_CHANNEL))
    for _ in range(10):
        cid = rng.randrange(1, 0xFFFFFFFF)
        cases.append(HidCase(f"unallocated cid {cid:#x} multi-packet",
                             fragments(cid, HID_PING, os.urandom(rng.randrange(58, 300))), cid,
                             HERR_INVALID_CHANNEL))
    for cmd in (HID_PING, HID_CBOR, HID_WINK, HID_INIT):
        payload = os.urandom(8) if cmd == HID_INIT else (b"\x04" if cmd == HID_CBOR else b"")
        cases.append(HidCase(f"reserved cid 0 cmd {cmd:#x}", fragments(0, cmd, payload), 0,
                             HERR_INVALID_CHANNEL))
    for cmd in (HID_PING, HID_CBOR, HID_WINK, HID_MSG):
        payload = b"\x04" if cmd == HID_CBOR else b""
        cases.append(HidCase(f"broadcast cid cmd {cmd:#x}", fragments(BROADCAST_CID, cmd, payload),
                             BROADCAST_CID, HERR_INVALID_CHANNEL))
    for _ in range(60):
        bcnt = rng.randrange(INIT_DATA + 1, MAX_MESSAGE + 1)
        seq = rng.randrange(1, 128)
        cases.append(HidCase(f"first continuation seq {seq} (bcnt {bcnt})", [
            lambda c, b=bcnt: init_packet(c, HID_PING, b, os.urandom(INIT_DATA)),
            lambda c, s=seq: cont_packet(c, s, os.urandom(CONT_DATA))], own, HERR_INVALID_SEQ))
    for _ in range(30):
        bcnt = rng.randrange(INIT_DATA + 2 * CONT_DATA + 1, MAX_MESSAGE + 1)
        bad = rng.choice([0, 2, 3, 0x7F])
        cases.append(HidCase(f"second continuation seq {bad} (bcnt {bcnt})", [
            lambda c, b=bcnt: init_packet(c, HID_PING, b, os.urandom(INIT_DATA)),
            lambda c: cont_packet(c, 0, os.urandom(CONT_DATA)),
            lambda c, s=bad: cont_packet(c, s, os.urandom(CONT_DATA))], own, HERR_INVALID_SEQ))
    for bcnt in [MAX_MESSAGE + 1, MAX_MESSAGE + 2, 8000, 0x7FFF, 0x8000, 0xFFFF] + \
            [rng.randrange(MAX_MESSAGE + 1, 0x10000) for _ in range(34)]:
        cmd = rng.choice([HID_PING, HID_CBOR, HID_WINK])
        cases.append(HidCase(f"bcnt {bcnt} over the maximum",
                             [lambda c, b=bcnt, m=cmd: init_packet(c, m, b, os.urandom(INIT_DATA))],
                             own, HERR_INVALID_LEN))
    for _ in range(40):
        bcnt = rng.randrange(INIT_DATA + 1, MAX_MESSAGE + 1)
        sent = rng.randrange(0, (bcnt - INIT_DATA - 1) // CONT_DATA + 1)
        interrupt = rng.choice([HID_PING, HID_CBOR, HID_WINK])
        pkts = [lambda c, b=bcnt: init_packet(c, HID_CBOR, b, b"\x04" + os.urandom(INIT_DATA - 1))]
        pkts += [lambda c, s=s: cont_packet(c, s, os.urandom(CONT_DATA)) for s in range(sent)]
        pkts += [lambda c, m=interrupt: init_packet(c, m, 1, b"\x04")]
        cases.append(HidCase(f"truncated message ({sent} of its continuations) interrupted "
                             f"by cmd {interrupt:#x}", pkts, own, HERR_INVALID_SEQ))
    for n in list(range(0, 8)) + list(range(9, INIT_DATA + 1, 4)):
        cases.append(HidCase(f"INIT nonce of {n} bytes", [init_packet(BROADCAST_CID, HID_INIT, n, os.urandom(n))],
                             BROADCAST_CID, HERR_INVALID_LEN))
    known = {0x01, 0x03, 0x04, 0x06, 0x08, 0x10, 0x11}
    for cmd in range(0x80):
        if cmd in known:
            continue
        cases.append(HidCase(f"unknown CTAPHID command {cmd:#x}",
                             [lambda c, m=cmd: init_packet(c, m, 0)], own, HERR_INVALID_CMD))
    for cmd in (0x03, 0x04):
        cases.append(HidCase(f"CTAPHID command {cmd:#x} (MSG/LOCK) not supported",
                             [lambda c, m=cmd: init_packet(c, m, 1, b"\x01")], own, HERR_INVALID_CMD))
    cases.append(HidCase("CBOR with an empty payload",
                         [lambda c: init_packet(c, HID_CBOR, 0)], own, HERR_INVALID_LEN))
    cases.append(HidCase("WINK with a payload",
                         [lambda c: init_packet(c, HID_WINK, 3, b"abc")], own, HERR_INVALID_LEN))
    return cases


ALL_HID_CASES = hid_cases(random.Random(f"{SEED}-hid"))


def test_at_least_a_thousand_generated_cases():
    total = sum(len(cbor_cases(k)) for k in CBOR_GENERATORS) + len(ALL_HID_CASES)
    print(f"{total} malformed requests "
          f"({total - len(ALL_HID_CASES)} CBOR-level, {len(ALL_HID_CASES)} CTAPHID-level)")
    assert total >= MIN_CASES


def _check_info(resp: bytes):
    assert resp[:1] == b"\x00", f"getInfo after a malformed request: status {resp[:1].hex()}"
    strict_loads(resp[1:])


@pytest.mark.parametrize("kind", list(CBOR_GENERATORS))
def test_malformed_cbor_requests(phone, kind):
    cases = cbor_cases(kind)
    assert cases
    dev = phone.device()
    failures = []
    for case in cases:
        assert len(case.request) <= MAX_MESSAGE, case.name
        resp = raw_call(dev, case.request)
        status = resp[0] if resp else None
        ok = status not in (None, OK) and (
            case.expected is ANY_ERROR or status == case.expected or status in case.also)
        if not ok or len(resp) != 1:
            failures.append(f"{case.name}: request {case.request[:48].hex()}... "
                            f"expected {case.expected if case.expected is None else hex(case.expected)}"
                            f", got {resp[:8].hex()} ({len(resp)} bytes)")
        _check_info(raw_call(dev, b"\x04"))
    assert phone.alive()
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures[:40])


def test_malformed_ctaphid_traffic(phone):
    raw = phone.raw()
    own = raw.allocate()
    failures = []
    for case in ALL_HID_CASES:
        packets = [p(own) if callable(p) else p for p in case.packets]
        raw.write(*packets)
        m = raw.read_message(timeout=5)
        want_cid = own if case.cid == "own" else case.cid
        if (m.cid, m.cmd, m.payload) != (want_cid, HID_ERROR, bytes([case.error])):
            failures.append(f"{case.name}: expected ERROR {case.error:#04x} on {want_cid:#x}, "
                            f"got cmd {m.cmd:#x} payload {m.payload[:8].hex()} on {m.cid:#x}")
        assert not raw.pending(0.0), f"{case.name}: more than one response"
        _check_info(raw.cbor(own, b"\x04"))
    assert phone.alive()
    assert not failures, f"{len(failures)} of {len(ALL_HID_CASES)} cases:\n" + "\n".join(failures[:40])


def test_stray_continuation_packets_are_ignored(phone):
    raw = phone.raw()
    own = raw.allocate()
    rng = random.Random(f"{SEED}-stray")
    for _ in range(20):
        raw.write(cont_packet(own, rng.randrange(0, 128), os.urandom(CONT_DATA)))
    m = raw.call(own, HID_PING, b"still here")
    assert (m.cid, m.cmd, m.payload) == (own, HID_PING, b"still here")
