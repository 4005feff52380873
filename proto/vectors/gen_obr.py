#!/usr/bin/env python3
"""Independent generator of the OBR grant and receipt vectors (proto/obr-grant.md).

Written from the spec, RFC 9052 (COSE_Sign1) and SEC 1, not from the Rust code, so the two
implementations check each other. Uses only the `cryptography` package, the standard library
and the deterministic-key helpers of gen_vectors.py. Signatures are deterministic (RFC 6979),
so running this again rewrites an identical file.

    .venv/bin/python proto/vectors/gen_obr.py
"""

import hashlib
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_vectors import KeyPair, fixed, fixed_scalar, h, write_json  # noqa: E402

# proto/obr-grant.md
COSE_SIGN1_TAG = 18
ALG_ES256 = -7
ALG_ES384 = -35
MAX_LIFETIME = 900
MAX_GRANT_LEN = 8192
SKEW = 30
NOW = 1_767_225_900  # 2026-01-01T00:05:00Z


# Canonical CBOR (CTAP2 form) with arrays and negative integers. `Raw` splices
# pre-encoded bytes (to build deliberately broken inputs).
class Raw(bytes):
    pass


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError(n)


def cbor(v):
    if isinstance(v, Raw):
        return bytes(v)
    if v is None:
        return b"\xf6"
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        return cbor_head(3, len(v.encode())) + v.encode()
    if isinstance(v, list):
        return cbor_head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        items = [(cbor(k), cbor(x)) for k, x in v.items()]
        # CTAP 2.1 section 8: major type, then encoded length, then bytes.
        items.sort(key=lambda kv: (kv[0][0] >> 5, len(kv[0]), kv[0]))
        return cbor_head(5, len(items)) + b"".join(k + x for k, x in items)
    raise TypeError(v)


def cbor_map_in_order(pairs):
    """A map with entries in the given order (to make non-canonical maps)."""
    return Raw(cbor_head(5, len(pairs)) + b"".join(cbor(k) + cbor(v) for k, v in pairs))


def kid(pub):
    return hashlib.sha256(pub).digest()[:16]


def sign_raw(kp, message):
    der = kp.priv.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big"), der


def sig_structure(protected, payload):
    return cbor(["Signature1", protected, b"", payload])


def cose_sign1(kp, payload, protected=None, unprotected=None, tag=True, signature=None,
               sign_protected=None):
    if protected is None:
        protected = cbor({1: ALG_ES256, 4: kid(kp.pub)})
    # Both travel as byte strings, whatever (possibly broken) CBOR they hold.
    protected, payload = bytes(protected), bytes(payload)
    if unprotected is None:
        unprotected = {}
    sig = signature
    if sig is None:
        sig, _ = sign_raw(kp, sig_structure(sign_protected or protected, payload))
    body = cbor([protected, unprotected, payload, sig])
    return cbor_head(6, COSE_SIGN1_TAG) + body if tag else body


def main():
    workspace = KeyPair(fixed_scalar("obr workspace grant key"))
    other_ws = KeyPair(fixed_scalar("obr other workspace key"))
    admin = KeyPair(fixed_scalar("obr admin pairing tool static"))
    other_pc = KeyPair(fixed_scalar("obr other pc static"))
    device = KeyPair(fixed_scalar("obr phone device key"))

    security_key_id = "sk_5c1f0e2a9b7d3e4f6a81"
    issued = NOW - 60
    expires = issued + 600
    fields = {
        "grant_id": fixed("obr grant id", 16),
        "issued_at": issued,
        "expires_at": expires,
        "workspace_id": "ws_0d9a3c51e2f47b68a9c0",
        "workspace_name": "Acme Corp",
        "admin_id": "adm_7e3b9c0d1a2f4e5b6c7d",
        "admin_name": "Ada Admin",
        "admin_static_key": admin.pub,
        "security_key_id": security_key_id,
        "operations": ["makeCredential"],
        "rp_ids": ["demo.example", "login.acme.example"],
        "max_registrations": 3,
    }
    keys = list(fields)  # key n+1 = keys[n]

    def payload_map(**changes):
        m = {i + 1: fields[k] for i, k in enumerate(keys)}
        for name, value in changes.items():
            n = keys.index(name) + 1
            if value is DROP:
                del m[n]
            else:
                m[n] = value
        return m

    def grant(kp=workspace, payload=None, **kw):
        if payload is None:
            payload = cbor(payload_map())
        return cose_sign1(kp, payload, **kw)

    valid_payload = cbor(payload_map())
    valid_protected = cbor({1: ALG_ES256, 4: kid(workspace.pub)})
    valid = grant()
    assert valid[0] == 0xD2

    def json_fields(f):
        out = {}
        for k, v in f.items():
            out[k] = h(v) if isinstance(v, bytes) else v
        return out

    # An invalid case: the grant bytes, the error of obr-grant.md section 3.3, and any input
    # that differs from the defaults (now, expected_key_id, peer_static, workspace_key).
    invalid = []

    def bad(name, data, error, **inputs):
        case = {"name": name, "grant": h(data), "error": error}
        for k, v in inputs.items():
            case[k] = h(v) if isinstance(v, bytes) else v
        invalid.append(case)

    good_sig, good_der = sign_raw(workspace, sig_structure(valid_protected, valid_payload))

    # Rule 0.
    bad("pinned_key_not_a_point", valid, "invalid_workspace_key",
        workspace_key=b"\x04" + bytes(64))
    # Rules 1-4: the COSE envelope.
    bad("too_large", valid + bytes(MAX_GRANT_LEN + 1 - len(valid)), "too_large")
    bad("empty", b"", "not_cose_sign1")
    bad("untagged", valid[1:], "not_cose_sign1")
    bad("tag_17_cose_mac0", b"\xd1" + valid[1:], "not_cose_sign1")
    bad("tag_98_cose_sign", b"\xd8\x62" + valid[1:], "not_cose_sign1")
    bad("trailing_bytes", valid + b"\x00", "malformed_cbor")
    bad("truncated", valid[:-1], "malformed_cbor")
    bad("non_canonical_array_length", b"\xd2\x98\x04" + valid[2:], "malformed_cbor")
    bad("array_of_3", b"\xd2" + cbor([valid_protected, {}, valid_payload]), "not_cose_sign1")
    bad("array_of_5",
        b"\xd2" + cbor([valid_protected, {}, valid_payload, good_sig, b""]), "not_cose_sign1")
    bad("detached_payload_nil",
        b"\xd2" + cbor([valid_protected, {}, None, good_sig]), "not_cose_sign1")
    bad("protected_as_map", b"\xd2" + cbor([{1: ALG_ES256, 4: kid(workspace.pub)}, {},
                                            valid_payload, good_sig]), "not_cose_sign1")
    bad("not_an_array", b"\xd2" + cbor({1: valid_payload}), "not_cose_sign1")
    # Rules 5-6: headers.
    bad("kid_in_unprotected",
        grant(protected=cbor({1: ALG_ES256}), unprotected={4: kid(workspace.pub)}),
        "bad_header")
    bad("unprotected_not_empty", grant(unprotected={3: 0}), "bad_header")
    bad("protected_extra_content_type",
        grant(protected=cbor({1: ALG_ES256, 3: 0, 4: kid(workspace.pub)})), "bad_header")
    bad("protected_kid_15_bytes",
        grant(protected=cbor({1: ALG_ES256, 4: kid(workspace.pub)[:15]})), "bad_header")
    bad("protected_not_canonical",
        grant(protected=cbor_map_in_order([(4, kid(workspace.pub)), (1, ALG_ES256)])),
        "bad_header")
    bad("protected_empty_bytes", grant(protected=b""), "bad_header")
    bad("alg_es384", grant(protected=cbor({1: ALG_ES384, 4: kid(workspace.pub)})),
        "unsupported_algorithm")
    bad("alg_missing", grant(protected=cbor({4: kid(workspace.pub)})), "unsupported_algorithm")
    bad("alg_as_text", grant(protected=cbor({1: "ES256", 4: kid(workspace.pub)})),
        "unsupported_algorithm")
    # Rules 7-8: key and signature.
    bad("wrong_kid",
        grant(protected=cbor({1: ALG_ES256, 4: fixed("obr wrong kid", 16)})), "kid_mismatch")
    bad("signed_by_unknown_key", grant(kp=other_ws), "kid_mismatch")
    bad("signed_by_unknown_key_claiming_workspace_kid",
        grant(kp=other_ws, protected=valid_protected), "bad_signature")
    flipped = bytearray(good_sig)
    flipped[10] ^= 0x01
    bad("bad_signature", grant(signature=bytes(flipped)), "bad_signature")
    bad("signature_der_encoded", grant(signature=good_der), "bad_signature")
    bad("signature_63_bytes", grant(signature=good_sig[:63]), "bad_signature")
    bad("signature_zero", grant(signature=bytes(64)), "bad_signature")
    bad("payload_altered_after_signing",
        grant(signature=good_sig, payload=cbor(payload_map(max_registrations=25))),
        "bad_signature")
    bad("signature_over_other_protected_header",
        grant(sign_protected=cbor({1: ALG_ES256, 4: kid(other_ws.pub)})), "bad_signature")
    # Rule 9: the payload's encoding (correctly signed).
    in_order = [(i + 1, fields[k]) for i, k in enumerate(keys)]
    swapped = [in_order[1], in_order[0]] + in_order[2:]
    bad("payload_keys_out_of_order", grant(payload=cbor_map_in_order(swapped)),
        "malformed_payload")
    non_minimal_12 = Raw(b"\x18\x0c")  # key 12 in two bytes
    bad("payload_non_minimal_key",
        grant(payload=cbor_map_in_order(in_order[:-1] + [(non_minimal_12, in_order[-1][1])])),
        "malformed_payload")
    bad("payload_trailing_bytes", grant(payload=valid_payload + b"\x00"), "malformed_payload")
    bad("payload_not_a_map", grant(payload=cbor([1, 2])), "malformed_payload")
    bad("payload_empty", grant(payload=b""), "malformed_payload")
    bad("payload_duplicate_key",
        grant(payload=cbor_map_in_order(in_order + [(12, 3)])), "malformed_payload")
    # Rules 10-11: fields present, typed, known.
    bad("missing_max_registrations", grant(payload=cbor(payload_map(max_registrations=DROP))),
        "missing_field")
    bad("missing_grant_id", grant(payload=cbor(payload_map(grant_id=DROP))), "missing_field")
    bad("issued_at_as_text", grant(payload=cbor(payload_map(issued_at=str(issued)))),
        "wrong_field_type")
    bad("issued_at_negative", grant(payload=cbor(payload_map(issued_at=-1))),
        "wrong_field_type")
    bad("admin_key_as_text", grant(payload=cbor(payload_map(admin_static_key=h(admin.pub)))),
        "wrong_field_type")
    bad("rp_ids_not_array", grant(payload=cbor(payload_map(rp_ids="demo.example"))),
        "wrong_field_type")
    bad("rp_id_as_bytes", grant(payload=cbor(payload_map(rp_ids=[b"demo.example"]))),
        "wrong_field_type")
    bad("unknown_field_13", grant(payload=cbor({**payload_map(), 13: 0})), "unknown_field")
    bad("unknown_text_key", grant(payload=cbor({**payload_map(), "x": 0})), "unknown_field")
    # Rule 12: field contents.
    bad("grant_id_15_bytes", grant(payload=cbor(payload_map(grant_id=bytes(15)))),
        "invalid_field")
    bad("admin_key_compressed", grant(payload=cbor(payload_map(
        admin_static_key=admin.compressed() + bytes(32)))), "invalid_field")
    bad("admin_key_not_on_curve", grant(payload=cbor(payload_map(
        admin_static_key=b"\x04" + bytes(63) + b"\x01"))), "invalid_field")
    bad("admin_name_empty", grant(payload=cbor(payload_map(admin_name=""))), "invalid_field")
    bad("admin_name_control_char",
        grant(payload=cbor(payload_map(admin_name="Ada\u202eAdmin"))), "invalid_field")
    bad("admin_name_newline",
        grant(payload=cbor(payload_map(admin_name="Ada\nApproved by IT"))), "invalid_field")
    bad("workspace_name_129_bytes",
        grant(payload=cbor(payload_map(workspace_name="a" * 129))), "invalid_field")
    bad("security_key_id_65_bytes",
        grant(payload=cbor(payload_map(security_key_id="s" * 65))), "invalid_field")
    # Rule 13: operations.
    bad("operation_get_assertion",
        grant(payload=cbor(payload_map(operations=["makeCredential", "getAssertion"]))),
        "unsupported_operation")
    bad("operation_wrong_case",
        grant(payload=cbor(payload_map(operations=["makecredential"]))),
        "unsupported_operation")
    bad("operations_empty", grant(payload=cbor(payload_map(operations=[]))), "invalid_field")
    bad("operations_duplicate",
        grant(payload=cbor(payload_map(operations=["makeCredential", "makeCredential"]))),
        "invalid_field")
    # Rule 14: RP scope.
    bad("rp_ids_empty", grant(payload=cbor(payload_map(rp_ids=[]))), "invalid_rp_scope")
    bad("rp_ids_17", grant(payload=cbor(payload_map(
        rp_ids=[f"rp{i}.example" for i in range(17)]))), "invalid_rp_scope")
    bad("rp_id_wildcard", grant(payload=cbor(payload_map(rp_ids=["*"]))), "invalid_rp_scope")
    bad("rp_id_upper_case", grant(payload=cbor(payload_map(rp_ids=["Demo.example"]))),
        "invalid_rp_scope")
    bad("rp_id_empty", grant(payload=cbor(payload_map(rp_ids=[""]))), "invalid_rp_scope")
    bad("rp_id_leading_dot", grant(payload=cbor(payload_map(rp_ids=[".example"]))),
        "invalid_rp_scope")
    bad("rp_id_with_scheme",
        grant(payload=cbor(payload_map(rp_ids=["https://demo.example"]))), "invalid_rp_scope")
    bad("rp_id_254_bytes", grant(payload=cbor(payload_map(
        rp_ids=["a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 62]))),
        "invalid_rp_scope")
    bad("rp_ids_duplicate",
        grant(payload=cbor(payload_map(rp_ids=["demo.example", "demo.example"]))),
        "invalid_rp_scope")
    # Rule 15: count.
    bad("count_0", grant(payload=cbor(payload_map(max_registrations=0))), "invalid_count")
    bad("count_26", grant(payload=cbor(payload_map(max_registrations=26))), "invalid_count")
    # Rules 16-18: time.
    bad("lifetime_901_s",
        grant(payload=cbor(payload_map(expires_at=issued + MAX_LIFETIME + 1))),
        "invalid_lifetime")
    bad("expires_at_issued_at", grant(payload=cbor(payload_map(expires_at=issued))),
        "invalid_lifetime")
    bad("expires_before_issued", grant(payload=cbor(payload_map(expires_at=issued - 1))),
        "invalid_lifetime")
    bad("not_yet_valid", valid, "not_yet_valid", now=issued - SKEW - 1)
    bad("expired", valid, "expired", now=expires + SKEW)
    bad("expired_long_ago", valid, "expired", now=expires + 86_400)
    # Rules 19-20: bound to the phone and to the admin's pairing tool.
    bad("wrong_security_key", valid, "wrong_security_key",
        expected_key_id="sk_a0b1c2d3e4f5a6b7c8d9")
    bad("wrong_peer", valid, "wrong_peer", peer_static=other_pc.pub)
    bad("peer_compressed_form", valid, "wrong_peer", peer_static=admin.compressed())

    for case in invalid:
        assert case["grant"] != h(valid) or "now" in case or "expected_key_id" in case \
            or "peer_static" in case or "workspace_key" in case, case["name"]
    names = [c["name"] for c in invalid]
    assert len(names) == len(set(names))

    # Receipt, signed by the phone's device key.
    receipt_fields = {
        "grant_id": fields["grant_id"],
        "index": 1,
        "rp_id": "demo.example",
        "credential_id": fixed("obr receipt credential id", 48),
        "aaguid": bytes.fromhex("7a1f9c3e5b2d4a68b0c1d2e3f4a5b6c7"),
        "created_at": NOW + 5,
        "auth_data_hash": hashlib.sha256(b"obr receipt example authenticatorData").digest(),
    }
    receipt_payload = cbor({i + 1: v for i, v in enumerate(receipt_fields.values())})
    receipt_protected = cbor({1: ALG_ES256, 4: kid(device.pub)})
    receipt = cose_sign1(device, receipt_payload)
    r_sig, _ = sign_raw(device, sig_structure(receipt_protected, receipt_payload))
    r_flipped = bytearray(r_sig)
    r_flipped[0] ^= 0x80
    invalid_receipts = [
        {"name": "bad_signature", "error": "bad_signature",
         "receipt": h(cose_sign1(device, receipt_payload, signature=bytes(r_flipped)))},
        {"name": "signed_by_workspace_key", "error": "kid_mismatch",
         "receipt": h(cose_sign1(workspace, receipt_payload))},
        {"name": "untagged", "error": "not_cose_sign1", "receipt": h(receipt[1:])},
        {"name": "missing_auth_data_hash", "error": "missing_field",
         "receipt": h(cose_sign1(device, cbor(
             {i + 1: v for i, v in enumerate(list(receipt_fields.values())[:6])})))},
        {"name": "index_0", "error": "invalid_field",
         "receipt": h(cose_sign1(device, cbor(
             {i + 1: (0 if i == 1 else v) for i, v in enumerate(receipt_fields.values())})))},
        {"name": "unknown_field_8", "error": "unknown_field",
         "receipt": h(cose_sign1(device, cbor(
             {**{i + 1: v for i, v in enumerate(receipt_fields.values())}, 8: 0})))},
    ]

    write_json("obr_grant.json", {
        "description": "OBR grant and receipt vectors, proto/obr-grant.md; made by gen_obr.py",
        "workspace_key": {
            "private": h(workspace.scalar),
            "public": h(workspace.pub),
            "kid": h(kid(workspace.pub)),
        },
        "admin_static_public": h(admin.pub),
        "security_key_id": security_key_id,
        "now": NOW,
        "skew": SKEW,
        "valid": {
            "grant": h(valid),
            "protected": h(valid_protected),
            "payload": h(valid_payload),
            "sig_structure": h(sig_structure(valid_protected, valid_payload)),
            "signature": h(good_sig),
            "fields": json_fields(fields),
            # Still accepted at these times (section 3.3 rules 17-18 with the skew).
            "accepted_at": [issued - SKEW, NOW, expires + SKEW - 1],
        },
        "invalid": invalid,
        "receipt": {
            "device_private": h(device.scalar),
            "device_public": h(device.pub),
            "kid": h(kid(device.pub)),
            "protected": h(receipt_protected),
            "payload": h(receipt_payload),
            "fields": json_fields(receipt_fields),
            "receipt": h(receipt),
            "deterministic": True,
        },
        "invalid_receipts": invalid_receipts,
    })


DROP = object()

if __name__ == "__main__":
    main()
