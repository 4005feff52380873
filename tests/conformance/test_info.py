"""authenticatorGetInfo (CTAP 2.1 §6.4), read strictly: canonical CBOR (§8) and realistic
limits, since python-fido2 falls back to U2F on anything it cannot parse."""

import pytest
from fido2.ctap2 import Ctap2

from phonelib import ERR, RP, make_credential, raw_call, strict_loads, user

REQUIRED_OPTIONS = {"rk": True, "up": True, "plat": False, "pinUvAuthToken": True,
                    "credMgmt": True, "authnrCfg": True, "makeCredUvNotRqd": True}


def raw_info(phone) -> dict:
    resp = raw_call(phone.device(), b"\x04")
    assert resp[0] == 0, f"getInfo status {resp[0]:#x}"
    return strict_loads(resp[1:])  # raises on any non-canonical encoding


def test_get_info_is_canonical_and_complete(phone):
    info = raw_info(phone)
    assert list(info) == sorted(info), "top-level keys must be in canonical order"
    assert "FIDO_2_1" in info[0x01] and "FIDO_2_0" in info[0x01]
    assert len(info[0x03]) == 16 and info[0x03] != bytes(16)
    options = info[0x04]
    for name, value in REQUIRED_OPTIONS.items():
        assert options.get(name) == value, (name, options)
    assert options["clientPin"] is False, "no PIN set on a fresh phone"
    assert options["uv"] is True, "built-in UV is on by default"
    assert 1024 <= info[0x05] <= 7609, "maxMsgSize must fit one CTAPHID message"
    assert set(info[0x06]) == {1, 2}
    assert info[0x07] >= 1
    assert info[0x08] >= 16
    assert {"alg": -7, "type": "public-key"} in info[0x0A]
    # ES256 then EdDSA (Ed25519), in that order (issue 16).
    assert info[0x0A] == [{"alg": -7, "type": "public-key"}, {"alg": -8, "type": "public-key"}]
    assert info[0x0C] is False  # forcePINChange
    assert info[0x0D] >= 4  # minPINLength
    assert info[0x14] > 0  # remainingDiscoverableCredentials


def test_python_fido2_parses_info_with_strict_cbor(phone):
    ctap = Ctap2(phone.device(), strict_cbor=True)
    info = ctap.info
    assert "FIDO_2_1" in info.versions
    assert info.max_msg_size == 7609
    assert info.pin_uv_protocols == [2, 1], "preference order: protocol 2 first"
    assert set(info.extensions) >= {"credProtect", "hmac-secret"}


def test_aaguid_and_info_are_stable_across_power_cycles(phone):
    before = raw_info(phone)
    phone.restart()
    after = raw_info(phone)
    assert before == after


def test_no_builtin_uv_removes_uv_option(make_phone):
    info = raw_info(make_phone("--no-builtin-uv"))
    assert "uv" not in info[0x04]


def test_remaining_discoverable_credentials_counts_down(phone):
    ctap = phone.ctap2()
    before = ctap.get_info().remaining_disc_creds
    make_credential(ctap, RP, user(1), rk=True, uv=True)
    assert ctap.get_info().remaining_disc_creds == before - 1


def test_max_credential_id_length_covers_our_ids(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap)
    assert len(att.auth_data.credential_data.credential_id) <= ctap.info.max_cred_id_length


def test_get_info_with_parameters_is_invalid_length(phone):
    ctap = phone.ctap2()
    assert raw_call(ctap.device, b"\x04\xa0") == bytes([ERR.INVALID_LENGTH])
    assert ctap.get_info().versions


def test_stdout_carries_only_the_banner(phone):
    ctap = phone.ctap2()
    ctap.get_info()
    make_credential(ctap)
    assert phone.stdout_rest() == b"", "everything but the banner belongs on stderr"


@pytest.mark.parametrize("answer,expected", [("approve", 0), ("deny", ERR.OPERATION_DENIED)])
def test_selection(make_phone, answer, expected):
    ctap = make_phone("--presence", answer).ctap2()
    try:
        ctap.selection()
        status = 0
    except Exception as e:  # CtapError
        status = e.code
    assert status == expected
