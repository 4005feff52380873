"""Follow-up state belongs to its origin (issue 13, item 2): each TCP connection to the
virtual phone's CTAPHID socket is its own channel. While the first connection runs an
enumeration begun with its PIN token, or a getNextAssertion sequence, a second connection
with no token polling the "next" commands gets CTAP2_ERR_NOT_ALLOWED and learns nothing;
its own commands do not end the first connection's sequence, which continues to the end."""

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import CredentialManagement
from fido2.ctap2.pin import ClientPin

from phonelib import RP, ERR, client_pin, make_credential, pin_protocol, rp_id_hash, user

P = ClientPin.PERMISSION
R = CredentialManagement.RESULT
PIN = "1234"
RPS = [RP, {"id": "other.example", "name": "Other"}, {"id": "third.example", "name": "Third"}]


@pytest.fixture
def phone_with_passkeys(make_phone):
    """A PIN-only phone with discoverable passkeys: two for example.com, one each for
    other.example and third.example."""
    phone = make_phone("--no-builtin-uv")
    ctap = phone.ctap2()
    client_pin(ctap, 2).set_pin(PIN)
    ctap = phone.ctap2()
    for rp, n in [(RPS[0], 1), (RPS[0], 2), (RPS[1], 3), (RPS[2], 4)]:
        t = client_pin(ctap, 2).get_pin_token(PIN, P.MAKE_CREDENTIAL, rp["id"])
        make_credential(ctap, rp, user(n), rk=True, token=t, protocol=2, label=f"u{n}")
    return phone


def not_allowed(call):
    with pytest.raises(CtapError) as e:
        call()
    assert e.value.code == ERR.NOT_ALLOWED, e.value.code


def intruder_polls(ctap_b):
    """Everything a second PC without a token can try to read the first one's sequence by."""
    # The "next" subcommands need no token; any token bytes will do for building them.
    cm_b = CredentialManagement(ctap_b, pin_protocol(2), b"\0" * 32)
    not_allowed(cm_b.enumerate_rps_next)
    not_allowed(cm_b.enumerate_creds_next)
    not_allowed(ctap_b.get_next_assertion)
    ctap_b.get_info()  # a command of its own: must not end the first connection's sequence


def test_a_second_connection_cannot_read_or_end_an_rp_enumeration(phone_with_passkeys):
    phone = phone_with_passkeys
    ctap_a, ctap_b = phone.ctap2(), phone.ctap2()
    t = client_pin(ctap_a, 2).get_pin_token(PIN, P.CREDENTIAL_MGMT)
    cm_a = CredentialManagement(ctap_a, pin_protocol(2), t)
    first = cm_a.enumerate_rps_begin()
    assert first[R.TOTAL_RPS] == 3
    seen = [first[R.RP]["id"]]
    for _ in range(2):
        intruder_polls(ctap_b)
        seen.append(cm_a.enumerate_rps_next()[R.RP]["id"])
    assert sorted(seen) == sorted(rp["id"] for rp in RPS)
    not_allowed(cm_a.enumerate_rps_next)


def test_a_second_connection_cannot_read_or_end_a_credential_enumeration(phone_with_passkeys):
    phone = phone_with_passkeys
    ctap_a, ctap_b = phone.ctap2(), phone.ctap2()
    t = client_pin(ctap_a, 2).get_pin_token(PIN, P.CREDENTIAL_MGMT)
    cm_a = CredentialManagement(ctap_a, pin_protocol(2), t)
    first = cm_a.enumerate_creds_begin(rp_id_hash("example.com"))
    assert first[R.TOTAL_CREDENTIALS] == 2
    intruder_polls(ctap_b)
    second = cm_a.enumerate_creds_next()
    assert {first[R.USER]["id"], second[R.USER]["id"]} == {b"user-1", b"user-2"}
    not_allowed(cm_a.enumerate_creds_next)


def test_a_second_connection_cannot_continue_a_get_next_assertion_sequence(phone_with_passkeys):
    phone = phone_with_passkeys
    ctap_a, ctap_b = phone.ctap2(), phone.ctap2()
    first = ctap_a.get_assertion("example.com", b"\x01" * 32)
    assert first.number_of_credentials == 2
    intruder_polls(ctap_b)
    second = ctap_a.get_next_assertion()
    assert {first.user["id"], second.user["id"]} == {b"user-1", b"user-2"}
    not_allowed(ctap_a.get_next_assertion)


def test_the_owners_own_other_command_still_ends_its_enumeration(phone_with_passkeys):
    ctap_a = phone_with_passkeys.ctap2()
    t = client_pin(ctap_a, 2).get_pin_token(PIN, P.CREDENTIAL_MGMT)
    cm_a = CredentialManagement(ctap_a, pin_protocol(2), t)
    cm_a.enumerate_rps_begin()
    ctap_a.get_info()
    not_allowed(cm_a.enumerate_rps_next)
