"""authenticatorCredentialManagement (CTAP 2.1 §6.8): metadata, enumerate, delete, update,
with PIN tokens (both protocols) and the built-in UV token."""

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import CredentialManagement
from fido2.ctap2.pin import ClientPin

from phonelib import (EDDSA, ERR, ES256, RP, client_pin, descriptor, get_assertion,
                      make_credential, pin_protocol, rp_id_hash, user)

P = ClientPin.PERMISSION
R = CredentialManagement.RESULT
PIN = "1234"
OTHER_RP = {"id": "other.example", "name": "Other"}


@pytest.fixture(params=[1, 2], ids=["protocol1", "protocol2"])
def proto(request):
    return request.param


@pytest.fixture
def setup(make_phone, proto):
    """A PIN-only phone with two discoverable passkeys for example.com, one for
    other.example and one non-discoverable one."""
    phone = make_phone("--no-builtin-uv")
    ctap = phone.ctap2()
    client_pin(ctap, proto).set_pin(PIN)
    ctap = phone.ctap2()
    made = {}
    for key, rp, n in [("a1", RP, 1), ("a2", RP, 2), ("b1", OTHER_RP, 3)]:
        t = client_pin(ctap, proto).get_pin_token(PIN, P.MAKE_CREDENTIAL, rp["id"])
        made[key] = make_credential(ctap, rp, user(n), rk=True, token=t, protocol=proto,
                                    label=key)
    made["plain"] = make_credential(ctap, RP, user(4), label="plain")
    return phone, ctap, made


def credman(ctap, proto, rp_id=None, permissions=P.CREDENTIAL_MGMT):
    t = client_pin(ctap, proto).get_pin_token(PIN, permissions, rp_id)
    return CredentialManagement(ctap, pin_protocol(proto), t)


def test_metadata(setup, proto):
    _, ctap, _ = setup
    meta = credman(ctap, proto).get_metadata()
    assert meta[R.EXISTING_CRED_COUNT] == 3, "discoverable passkeys only"
    assert meta[R.MAX_REMAINING_COUNT] > 0
    assert meta[R.MAX_REMAINING_COUNT] <= ctap.get_info().remaining_disc_creds + 1


def test_enumerate_rps_and_credentials(setup, proto):
    _, ctap, made = setup
    cm = credman(ctap, proto)
    rps = cm.enumerate_rps()
    assert rps[0][R.TOTAL_RPS] == 2 and all(R.TOTAL_RPS not in r for r in rps[1:])
    assert sorted(r[R.RP]["id"] for r in rps) == ["example.com", "other.example"]
    for r in rps:
        assert r[R.RP_ID_HASH] == rp_id_hash(r[R.RP]["id"])
    creds = cm.enumerate_creds(rp_id_hash("example.com"))
    assert creds[0][R.TOTAL_CREDENTIALS] == 2
    assert all(R.TOTAL_CREDENTIALS not in c for c in creds[1:])
    by_id = {c[R.CREDENTIAL_ID]["id"]: c for c in creds}
    for key, n in [("a1", 1), ("a2", 2)]:
        cd = made[key].auth_data.credential_data
        c = by_id[cd.credential_id]
        assert c[R.USER] == user(n)
        assert c[R.PUBLIC_KEY] == cd.public_key
        assert c[R.CREDENTIAL_ID]["type"] == "public-key"
        assert c[R.CRED_PROTECT] == 1


def test_an_eddsa_passkey_is_enumerated_with_its_okp_key(make_phone):
    """Credential management returns the Ed25519 passkey's own COSE key (kty OKP, alg -8)
    beside an ES256 one's."""
    phone = make_phone("--no-builtin-uv")
    ctap = phone.ctap2()
    client_pin(ctap, 2).set_pin(PIN)
    made = []
    for n, algs in [(1, EDDSA), (2, ES256)]:
        t = client_pin(ctap, 2).get_pin_token(PIN, P.MAKE_CREDENTIAL, RP["id"])
        made.append(make_credential(ctap, RP, user(n), rk=True, token=t, protocol=2,
                                    label=f"m{n}", algs=algs))
    creds = credman(ctap, 2).enumerate_creds(rp_id_hash(RP["id"]))
    by_id = {c[R.CREDENTIAL_ID]["id"]: c[R.PUBLIC_KEY] for c in creds}
    keys = [m.auth_data.credential_data.public_key for m in made]
    assert [by_id[m.auth_data.credential_data.credential_id] for m in made] == keys
    assert [(k[1], k[3]) for k in keys] == [(1, -8), (2, -7)]


def test_enumerate_rp_without_credentials_is_no_credentials(setup, proto):
    _, ctap, _ = setup
    with pytest.raises(CtapError) as e:
        credman(ctap, proto).enumerate_creds_begin(rp_id_hash("nobody.example"))
    assert e.value.code == ERR.NO_CREDENTIALS


def test_get_next_without_begin_is_not_allowed(setup, proto):
    _, ctap, _ = setup
    cm = credman(ctap, proto)
    for nxt in (cm.enumerate_rps_next, cm.enumerate_creds_next):
        with pytest.raises(CtapError) as e:
            nxt()
        assert e.value.code == ERR.NOT_ALLOWED
    cm.enumerate_rps_begin()
    ctap.get_info()  # another command ends the enumeration
    with pytest.raises(CtapError) as e:
        cm.enumerate_rps_next()
    assert e.value.code == ERR.NOT_ALLOWED


def test_delete_credential(setup, proto):
    _, ctap, made = setup
    cm = credman(ctap, proto)
    cm.delete_cred(descriptor(made["a1"]))
    assert cm.get_metadata()[R.EXISTING_CRED_COUNT] == 2
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, allow=[descriptor(made["a1"])])
    assert e.value.code == ERR.NO_CREDENTIALS
    with pytest.raises(CtapError) as e:
        cm.delete_cred(descriptor(made["a1"]))
    assert e.value.code == ERR.NO_CREDENTIALS


def test_update_user_information(setup, proto):
    _, ctap, made = setup
    cm = credman(ctap, proto)
    new = {"id": b"user-2", "name": "renamed@example.com", "displayName": "Renamed"}
    cm.update_user_info(descriptor(made["a2"]), new)
    creds = cm.enumerate_creds(rp_id_hash("example.com"))
    users = {c[R.CREDENTIAL_ID]["id"]: c[R.USER] for c in creds}
    assert users[made["a2"].auth_data.credential_data.credential_id] == new


def test_update_with_other_user_handle_is_refused(setup, proto):
    _, ctap, made = setup
    with pytest.raises(CtapError) as e:
        credman(ctap, proto).update_user_info(descriptor(made["a2"]),
                                              {"id": b"someone-else", "name": "x"})
    assert e.value.code == ERR.INVALID_PARAMETER


def test_without_token_is_puat_required(setup):
    _, ctap, _ = setup
    with pytest.raises(CtapError) as e:
        ctap.credential_mgmt(CredentialManagement.CMD.GET_CREDS_METADATA)
    assert e.value.code == ERR.PUAT_REQUIRED


def test_token_without_cm_permission(setup, proto):
    _, ctap, _ = setup
    cm = credman(ctap, proto, "example.com", P.GET_ASSERTION)
    with pytest.raises(CtapError) as e:
        cm.get_metadata()
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_wrong_pin_uv_auth_param(setup, proto):
    _, ctap, _ = setup
    credman(ctap, proto)  # a token is in use
    with pytest.raises(CtapError) as e:
        ctap.credential_mgmt(CredentialManagement.CMD.GET_CREDS_METADATA, None, proto,
                             bytes(32 if proto == 2 else 16))
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_rp_bound_token_manages_only_its_rp(setup, proto):
    _, ctap, made = setup
    cm = credman(ctap, proto, "example.com")
    assert len(cm.enumerate_creds(rp_id_hash("example.com"))) == 2
    for call in (cm.get_metadata, cm.enumerate_rps_begin,
                 lambda: cm.enumerate_creds_begin(rp_id_hash("other.example")),
                 lambda: cm.delete_cred(descriptor(made["b1"]))):
        with pytest.raises(CtapError) as e:
            call()
        assert e.value.code == ERR.PIN_AUTH_INVALID
    cm.delete_cred(descriptor(made["a1"]))


def test_uv_token_manages_credentials(phone):
    ctap = phone.ctap2()
    make_credential(ctap, rk=True, uv=True)
    t = client_pin(ctap, 2).get_uv_token(P.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, pin_protocol(2), t)
    assert cm.get_metadata()[R.EXISTING_CRED_COUNT] == 1
    assert [r[R.RP]["id"] for r in cm.enumerate_rps()] == ["example.com"]


def test_preview_command_number_works_too(setup, proto):
    _, ctap, _ = setup
    t = client_pin(ctap, proto).get_pin_token(PIN, P.CREDENTIAL_MGMT)
    param = pin_protocol(proto).authenticate(t, b"\x01")
    resp = ctap.send_cbor(0x41, {1: 1, 3: proto, 4: param})
    assert resp[R.EXISTING_CRED_COUNT] == 3


def test_unknown_subcommand(setup, proto):
    _, ctap, _ = setup
    with pytest.raises(CtapError) as e:
        ctap.credential_mgmt(0x42, None, proto, bytes(16))
    assert e.value.code == ERR.INVALID_SUBCOMMAND


def test_long_names_are_stored_truncated_so_responses_fit(make_phone, proto):
    """CTAP 2.1 §6.1.2 lets the authenticator truncate rp name, user name and displayName to
    64 bytes; we do, so credential management responses stay within maxMsgSize (found by the
    structured CTAP fuzzer: a 7 KB name made enumerateRPs answer 8 KB)."""
    phone = make_phone("--no-builtin-uv")
    ctap = phone.ctap2()
    client_pin(ctap, proto).set_pin(PIN)
    rp = {"id": "example.com", "name": "R" * 1500}
    usr = {"id": b"long", "name": "n" * 1500, "displayName": "é" * 1000}
    t = client_pin(ctap, proto).get_pin_token(PIN, P.MAKE_CREDENTIAL, rp["id"])
    make_credential(ctap, rp, usr, rk=True, token=t, protocol=proto)
    cm = credman(ctap, proto)
    (entry,) = cm.enumerate_rps()
    assert entry[R.RP]["name"] == "R" * 64
    (cred,) = cm.enumerate_creds(rp_id_hash("example.com"))
    assert cred[R.USER]["name"] == "n" * 64
    assert cred[R.USER]["displayName"] == "é" * 32, "cut on a character boundary"


def test_an_overlong_rp_id_is_refused(make_phone):
    ctap = make_phone().ctap2()
    with pytest.raises(CtapError) as e:
        make_credential(ctap, {"id": "a" * 300 + ".example"}, user(1))
    assert e.value.code == ERR.INVALID_LENGTH
