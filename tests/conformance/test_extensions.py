"""Extensions (CTAP 2.1 §12): credProtect levels, hmac-secret (through Fido2Client and raw),
credBlob. Outputs must be canonical CBOR inside the authenticator data."""

import os

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import CredentialManagement
from fido2.ctap2.extensions import CredProtectExtension, HmacSecretExtension
from fido2.ctap2.pin import ClientPin
from fido2.server import Fido2Server
from fido2.utils import websafe_decode

from phonelib import (ERR, RP, check_signed_by, client_pin, descriptor, get_assertion,
                      make_credential, pin_protocol, rp_id_hash, user)

P = ClientPin.PERMISSION


# --- credProtect ----------------------------------------------------------------------------
@pytest.fixture
def protected(phone):
    """Discoverable passkeys with credProtect 1, 2, 3 (made with UV) for example.com."""
    ctap = phone.ctap2()
    made = {}
    for level in (1, 2, 3):
        att = make_credential(ctap, rk=True, uv=True, usr=user(level),
                              extensions={"credProtect": level}, label=f"cp{level}")
        assert att.auth_data.extensions == {"credProtect": level}
        made[level] = att
    return ctap, made


def test_cred_protect_without_uv_or_list_shows_level_1_only(protected):
    ctap, made = protected
    resp = get_assertion(ctap)  # no allowList, no UV
    assert resp.number_of_credentials is None
    assert resp.credential["id"] == made[1].auth_data.credential_data.credential_id


def test_cred_protect_with_allow_list_without_uv(protected):
    ctap, made = protected
    for level in (1, 2):
        resp = get_assertion(ctap, allow=[descriptor(made[level])])
        assert resp.credential["id"] == made[level].auth_data.credential_data.credential_id
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, allow=[descriptor(made[3])])
    assert e.value.code == ERR.NO_CREDENTIALS


def test_cred_protect_with_uv_shows_all(protected):
    ctap, made = protected
    resp = get_assertion(ctap, uv=True)
    assert resp.number_of_credentials == 3
    resp = get_assertion(ctap, allow=[descriptor(made[3])], uv=True)
    assert resp.credential["id"] == made[3].auth_data.credential_data.credential_id


def test_cred_protect_level_in_credential_management(protected):
    ctap, made = protected
    t = client_pin(ctap, 2).get_uv_token(P.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, pin_protocol(2), t)
    levels = {c[CredentialManagement.RESULT.USER]["id"]: c[CredentialManagement.RESULT.CRED_PROTECT]
              for c in cm.enumerate_creds(rp_id_hash("example.com"))}
    assert levels == {b"user-1": 1, b"user-2": 2, b"user-3": 3}


def test_cred_protect_3_non_discoverable_needs_uv(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap, extensions={"credProtect": 3})
    assert att.auth_data.extensions == {"credProtect": 3}
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, allow=[descriptor(att)])
    assert e.value.code == ERR.NO_CREDENTIALS
    get_assertion(ctap, allow=[descriptor(att)], uv=True)


def test_cred_protect_3_is_not_excluded_without_uv(protected):
    """§6.1.2 excludeList: a userVerificationRequired credential only counts when the user
    was verified, so it cannot be probed without UV."""
    ctap, made = protected
    make_credential(ctap, usr=user(7), exclude=[descriptor(made[3])], label="x1")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, usr=user(8), uv=True, exclude=[descriptor(made[3])], label="x2")
    assert e.value.code == ERR.CREDENTIAL_EXCLUDED
    with pytest.raises(CtapError) as e:
        make_credential(ctap, usr=user(9), exclude=[descriptor(made[2])], label="x3")
    assert e.value.code == ERR.CREDENTIAL_EXCLUDED


@pytest.mark.parametrize("level", [0, 4, 255])
def test_cred_protect_out_of_range_is_an_error(phone, level):
    ctap = phone.ctap2()
    with pytest.raises(CtapError):
        make_credential(ctap, extensions={"credProtect": level})


def test_cred_protect_through_fido2_client(phone):
    client = Fido2Client(phone.device(), DefaultClientDataCollector("https://example.com"),
                         UserInteraction(), extensions=[CredProtectExtension()])
    srv = Fido2Server(RP)
    options, state = srv.register_begin(
        {"id": b"cp", "name": "cp"}, resident_key_requirement="required",
        user_verification="required",
        extensions={"credentialProtectionPolicy": "userVerificationRequired",
                    "enforceCredentialProtectionPolicy": True})
    auth_data = srv.register_complete(state, client.make_credential(options.public_key))
    assert auth_data.extensions == {"credProtect": 3}


# --- hmac-secret ----------------------------------------------------------------------------
class Approve(UserInteraction):
    def request_uv(self, permissions, rp_id):
        return True


def hmac_client(phone):
    return Fido2Client(phone.device(), DefaultClientDataCollector("https://example.com"), Approve(),
                       extensions=[HmacSecretExtension(allow_hmac_secret=True)])


def test_hmac_secret_through_fido2_client(phone):
    client = hmac_client(phone)
    srv = Fido2Server(RP)
    options, state = srv.register_begin(
        {"id": b"hs", "name": "hs"}, resident_key_requirement="required",
        user_verification="required", extensions={"hmacCreateSecret": True})
    reg = client.make_credential(options.public_key)
    assert reg.client_extension_results["hmacCreateSecret"] is True
    auth_data = srv.register_complete(state, reg)
    assert auth_data.extensions == {"hmac-secret": True}

    salt1, salt2 = os.urandom(32), os.urandom(32)

    def secret(uv, salts):
        opts, st = srv.authenticate_begin(user_verification=uv,
                                          extensions={"hmacGetSecret": salts})
        resp = client.get_assertion(opts.public_key).get_response(0)
        srv.authenticate_complete(st, [auth_data.credential_data], resp)
        out = resp.client_extension_results["hmacGetSecret"]  # JSON form: base64url
        return (websafe_decode(out["output1"]),
                websafe_decode(out["output2"]) if out.get("output2") else None)

    a1, a2 = secret("required", {"salt1": salt1, "salt2": salt2})
    assert len(a1) == 32 and len(a2) == 32 and a1 != a2
    b1, b2 = secret("required", {"salt1": salt1, "salt2": salt2})
    assert (a1, a2) == (b1, b2), "the same salts give the same secrets"
    c1, c2 = secret("required", {"salt1": salt2})
    assert c1 == a2 and c2 is None, "one salt gives one secret, bound to the salt alone"
    d1, _ = secret("discouraged", {"salt1": salt1})
    assert d1 != a1, "CredRandomWithUV and CredRandomWithoutUV differ (§12.5)"


def test_prf_through_fido2_client(phone):
    client = Fido2Client(phone.device(), DefaultClientDataCollector("https://example.com"),
                         Approve(), extensions=[HmacSecretExtension()])
    srv = Fido2Server(RP)
    options, state = srv.register_begin({"id": b"prf", "name": "prf"},
                                        resident_key_requirement="required",
                                        user_verification="required", extensions={"prf": {}})
    reg = client.make_credential(options.public_key)
    assert reg.client_extension_results["prf"]["enabled"] is True
    cred = srv.register_complete(state, reg).credential_data
    results = []
    for _ in range(2):
        # Discoverable flow: with an allowList python-fido2 pre-flights with up=false and hits
        # the token bug covered in test_client_server.py.
        opts, st = srv.authenticate_begin(user_verification="required",
                                          extensions={"prf": {"eval": {"first": b"salt"}}})
        resp = client.get_assertion(opts.public_key).get_response(0)
        srv.authenticate_complete(st, [cred], resp)
        results.append(websafe_decode(resp.client_extension_results["prf"]["results"]["first"]))
    assert len(results[0]) == 32 and results[0] == results[1]


def test_hmac_secret_with_bad_salt_auth_is_refused(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True, extensions={"hmac-secret": True})
    cp = client_pin(ctap, 2)
    ka, shared = cp._get_shared_secret()
    salt_enc = cp.protocol.encrypt(shared, os.urandom(32))
    ext = {"hmac-secret": {1: ka, 2: salt_enc, 3: bytes(32), 4: 2}}
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, allow=[descriptor(att)], extensions=ext)
    assert e.value.code == ERR.PIN_AUTH_INVALID


@pytest.mark.parametrize("salt_len", [16, 48, 96])
def test_hmac_secret_with_wrong_salt_length_is_refused(phone, salt_len):
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True, extensions={"hmac-secret": True})
    cp = client_pin(ctap, 2)
    ka, shared = cp._get_shared_secret()
    salt_enc = cp.protocol.encrypt(shared, os.urandom(salt_len))
    ext = {"hmac-secret": {1: ka, 2: salt_enc, 3: cp.protocol.authenticate(shared, salt_enc), 4: 2}}
    with pytest.raises(CtapError):
        get_assertion(ctap, allow=[descriptor(att)], extensions=ext)


@pytest.mark.parametrize("proto", [1, 2])
def test_hmac_secret_raw_both_protocols(phone, proto):
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True, extensions={"hmac-secret": True})
    cp = client_pin(ctap, proto)
    ka, shared = cp._get_shared_secret()
    salts = os.urandom(64)
    salt_enc = cp.protocol.encrypt(shared, salts)
    ext = {"hmac-secret": {1: ka, 2: salt_enc, 3: cp.protocol.authenticate(shared, salt_enc),
                           4: proto}}
    resp = get_assertion(ctap, allow=[descriptor(att)], extensions=ext, uv=True)
    out = cp.protocol.decrypt(shared, resp.auth_data.extensions["hmac-secret"])
    assert len(out) == 64
    assert bytes(resp.auth_data)[32] & 0x80, "ED flag with extension outputs"


# --- credBlob -------------------------------------------------------------------------------
def test_cred_blob_stored_and_returned(phone):
    ctap = phone.ctap2()
    blob = os.urandom(ctap.info.max_cred_blob_length)
    att = make_credential(ctap, rk=True, uv=True, extensions={"credBlob": blob})
    assert att.auth_data.extensions == {"credBlob": True}
    resp = get_assertion(ctap, allow=[descriptor(att)], extensions={"credBlob": True})
    assert resp.auth_data.extensions == {"credBlob": blob}


def test_cred_blob_too_large_is_not_stored(phone):
    ctap = phone.ctap2()
    blob = os.urandom(ctap.info.max_cred_blob_length + 1)
    att = make_credential(ctap, rk=True, uv=True, extensions={"credBlob": blob})
    assert att.auth_data.extensions == {"credBlob": False}
    resp = get_assertion(ctap, allow=[descriptor(att)], extensions={"credBlob": True})
    assert resp.auth_data.extensions == {"credBlob": b""}


def test_unknown_extensions_are_ignored(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap, extensions={"example.unknown": {"x": 1}})
    assert att.auth_data.extensions is None
    resp = get_assertion(ctap, allow=[descriptor(att)], extensions={"example.unknown": True})
    assert resp.auth_data.extensions is None and not bytes(resp.auth_data)[32] & 0x80


# --- silent assertions (issue 13, item 1) ---------------------------------------------------
def hmac_secret_input(ctap):
    cp = client_pin(ctap, 2)
    ka, shared = cp._get_shared_secret()
    salt_enc = cp.protocol.encrypt(shared, os.urandom(32))
    return {"hmac-secret": {1: ka, 2: salt_enc, 3: cp.protocol.authenticate(shared, salt_enc),
                            4: 2}}


def test_hmac_secret_without_user_presence_is_unsupported_option(phone):
    """hmac-secret's output is a key (PRF, disk unlock): never handed out without presence.
    Nothing is signed: the answer is the bare status."""
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True, extensions={"hmac-secret": True})
    for allow in ([descriptor(att)], None):
        with pytest.raises(CtapError) as e:
            get_assertion(ctap, allow=allow, up=False, extensions=hmac_secret_input(ctap))
        assert e.value.code == ERR.UNSUPPORTED_OPTION


def test_a_silent_probe_without_extensions_still_works(phone):
    """Browsers and python-fido2 probe allowLists with up=false: signed, UP=0, no output."""
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True, extensions={"hmac-secret": True})
    resp = get_assertion(ctap, allow=[descriptor(att)], up=False)
    assert not resp.auth_data.is_user_present()
    assert not resp.auth_data.extensions
    check_signed_by(resp, att)
    # With presence, hmac-secret still works.
    resp = get_assertion(ctap, allow=[descriptor(att)], extensions=hmac_secret_input(ctap))
    assert resp.auth_data.is_user_present()
    assert len(resp.auth_data.extensions["hmac-secret"]) in (48, 64)
