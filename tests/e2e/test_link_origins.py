"""Issue 13 through the link, with real processes on loopback: two PCs paired with one phone
(two pairing tools, the reference relay, the virtual phone).

- Item 2: PC A's getNextAssertion sequence is its own: PC B, polling getNextAssertion and the
  credential-management "next" subcommands in between, gets CTAP2_ERR_NOT_ALLOWED, and PC A
  continues to the end.
- Item 1: signed silent assertions (up=false) from one PC are counted; past 20 within 10
  minutes the user is told once, naming the computer; below it, nothing is said."""

from __future__ import annotations

from hashlib import sha256

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2, CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocolV2

from linklib import LinkPhone, PairingTool, phone_cli

RP_ID = "example.com"
CDH = b"\x01" * 32
ES256 = [{"type": "public-key", "alg": -7}]
WARNING = "SilentAssertionsFromComputer"


def pair(procs, tmp_path, relay, tool_name):
    tool = procs(PairingTool(tmp_path / f"{tool_name}-tool", relay, name=tool_name))
    result = phone_cli(tmp_path / "phone", "pair", "--allow-insecure-loopback", tool.code())
    assert result.returncode == 0, result.stderr
    tool.wait_for(r"^paired with Virtual phone$")
    return tool


@pytest.fixture
def two_pcs(procs, tmp_path, relay):
    pc_a = pair(procs, tmp_path, relay, "PC A")
    pc_b = pair(procs, tmp_path, relay, "PC B")
    phone = procs(LinkPhone(tmp_path / "phone"))
    return pc_a, pc_b, phone


def register(ctap, n, rk=True):
    user = {"id": b"user-%d" % n, "name": f"u{n}@example.com"}
    options = {"rk": True, "uv": True} if rk else None
    att = ctap.make_credential(CDH, {"id": RP_ID}, user, ES256, options=options)
    return att.auth_data.credential_data.credential_id


def not_allowed(call):
    with pytest.raises(CtapError) as e:
        call()
    assert e.value.code == CtapError.ERR.NOT_ALLOWED, e.value.code


def test_pc_b_cannot_continue_pc_a_s_get_next_assertion(two_pcs):
    pc_a, pc_b, phone = two_pcs
    ctap_a = Ctap2(pc_a.device())
    ctap_b = Ctap2(pc_b.device())
    for n in (1, 2, 3):
        register(ctap_a, n)
    first = ctap_a.get_assertion(RP_ID, CDH)
    assert first.number_of_credentials == 3
    seen = [first.user["id"]]
    cm_b = CredentialManagement(ctap_b, PinProtocolV2(), b"\0" * 32)
    for _ in range(2):
        not_allowed(ctap_b.get_next_assertion)
        not_allowed(cm_b.enumerate_rps_next)
        not_allowed(cm_b.enumerate_creds_next)
        ctap_b.get_info()  # PC B's own command does not end PC A's sequence
        seen.append(ctap_a.get_next_assertion().user["id"])
    assert sorted(seen) == [b"user-1", b"user-2", b"user-3"]
    not_allowed(ctap_a.get_next_assertion)
    phone.wait_for(r"^link: PC B command 0x08 -> status 0x30$")


def test_pc_b_cannot_read_pc_a_s_credential_enumeration(two_pcs):
    """PC A enumerates with a token from the phone's own user verification (cm permission);
    PC B, with no token, polls the "next" subcommands in between."""
    pc_a, pc_b, phone = two_pcs
    ctap_a = Ctap2(pc_a.device())
    ctap_b = Ctap2(pc_b.device())
    for n in (1, 2, 3):
        register(ctap_a, n)
    token = ClientPin(ctap_a, PinProtocolV2()).get_uv_token(ClientPin.PERMISSION.CREDENTIAL_MGMT)
    cm_a = CredentialManagement(ctap_a, PinProtocolV2(), token)
    first = cm_a.enumerate_creds_begin(sha256(RP_ID.encode()).digest())
    assert first[CredentialManagement.RESULT.TOTAL_CREDENTIALS] == 3
    seen = [first[CredentialManagement.RESULT.USER]["id"]]
    cm_b = CredentialManagement(ctap_b, PinProtocolV2(), b"\0" * 32)
    for _ in range(2):
        not_allowed(cm_b.enumerate_creds_next)
        not_allowed(cm_b.enumerate_rps_next)
        not_allowed(ctap_b.get_next_assertion)
        seen.append(cm_a.enumerate_creds_next()[CredentialManagement.RESULT.USER]["id"])
    assert sorted(seen) == [b"user-1", b"user-2", b"user-3"]
    not_allowed(cm_a.enumerate_creds_next)
    phone.wait_for(r"^link: PC B command 0x0a -> status 0x30$")


def silent_probe(ctap, credential_id):
    resp = ctap.get_assertion(RP_ID, CDH, [{"type": "public-key", "id": credential_id}],
                              options={"up": False})
    assert not resp.auth_data.is_user_present()
    return resp


def warnings(phone):
    """The notices of the new kind in the phone's log (the scripted user prints each notice on
    stderr, before the response is sent)."""
    return [l for l in phone.log().splitlines() if l.startswith("event: ") and WARNING in l]


def test_a_pc_making_silent_assertions_at_a_rate_no_browser_would_is_reported(two_pcs):
    pc_a, pc_b, phone = two_pcs
    ctap_a = Ctap2(pc_a.device())
    credential_id = register(ctap_a, 1, rk=False)
    ctap_b = Ctap2(pc_b.device())
    # 20 from PC A, 20 from PC B: each at the threshold, nobody is told.
    for _ in range(20):
        silent_probe(ctap_a, credential_id)
        silent_probe(ctap_b, credential_id)
    assert warnings(phone) == []
    # The 21st from PC A: the user is told, naming PC A, once.
    for _ in range(3):
        silent_probe(ctap_a, credential_id)
    told = warnings(phone)
    assert len(told) == 1, phone.log()
    assert 'computer_name: "PC A", count: 21, window_minutes: 10' in told[0]
