"""End to end with python-fido2's Fido2Client (as a browser would drive the phone) and
Fido2Server (as a relying party verifies it), with user verification required: through the
phone's built-in UV, and through the client PIN."""

import pytest
from fido2.attestation import AttestationType, PackedAttestation
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client
from fido2.server import Fido2Server
from fido2.webauthn import AuthenticatorData

from phonelib import ScriptedUser, check_auth_data_encoding, client_pin

ORIGIN = "https://example.com"
RP = {"id": "example.com", "name": "Example"}
PIN = "246810"


def verify_self_attestation(attestation_object, client_data_hash):
    result = PackedAttestation().verify(attestation_object.att_stmt,
                                        attestation_object.auth_data, client_data_hash)
    assert result.attestation_type == AttestationType.SELF


def server():
    return Fido2Server(RP, attestation="direct", verify_attestation=verify_self_attestation)


def make_client(phone, pin=None, **kw):
    ui = ScriptedUser(pin)
    client = Fido2Client(phone.device(), client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=ui, **kw)
    from fido2.client import _Ctap2ClientBackend
    assert isinstance(client._backend, _Ctap2ClientBackend), \
        "python-fido2 fell back to CTAP1: it could not use the phone's CTAP2"
    return client, ui


def register(client, srv, n=1, uv="required", rk="required", exclude=None):
    user = {"id": b"account-%d" % n, "name": f"user{n}@example.com", "displayName": f"User {n}"}
    options, state = srv.register_begin(user, credentials=exclude, resident_key_requirement=rk,
                                        user_verification=uv)
    reg = client.make_credential(options.public_key)
    auth_data = srv.register_complete(state, reg)
    check_auth_data_encoding(auth_data)
    return auth_data


def authenticate(client, srv, creds, allow=True, uv="required", index=0):
    options, state = srv.authenticate_begin(creds if allow else None, user_verification=uv)
    selection = client.get_assertion(options.public_key)
    response = selection.get_response(index)
    srv.authenticate_complete(state, creds, response)
    ad = response.response.authenticator_data
    check_auth_data_encoding(ad)
    return ad, selection


@pytest.fixture(params=["builtin-uv", "pin"])
def mode(request, make_phone):
    """(phone, client, user) verified through built-in UV or through the client PIN."""
    if request.param == "builtin-uv":
        phone = make_phone()
        client, ui = make_client(phone)
    else:
        phone = make_phone("--no-builtin-uv")
        client_pin(phone.ctap2(), 2).set_pin(PIN)
        client, ui = make_client(phone, PIN)
    return request.param, phone, client, ui


def test_register_and_authenticate_discoverable_with_user_verification(mode):
    kind, phone, client, ui = mode
    srv = server()
    auth_data = register(client, srv)
    assert auth_data.flags & AuthenticatorData.FLAG.UV
    assert auth_data.flags & AuthenticatorData.FLAG.UP
    cred = auth_data.credential_data
    counters = []
    for _ in range(2):
        ad, _ = authenticate(client, srv, [cred], allow=False)
        assert ad.is_user_verified() and ad.is_user_present()
        counters.append(ad.counter)
    assert counters[0] < counters[1]
    if kind == "pin":
        assert ui.pin_requests >= 3 and ui.uv_requests == 0
    else:
        assert ui.uv_requests >= 3 and ui.pin_requests == 0
        assert "verify:" in phone.log(), "the phone's own verification ran"



def test_an_rp_that_prefers_eddsa_gets_an_ed25519_passkey(mode):
    """A relying party listing EdDSA first (as OpenSSH's ed25519-sk does) gets an Ed25519
    passkey; Fido2Server verifies the attestation and the assertions with python-fido2's
    EdDSA. Its default list (ES256 first) still gets ES256."""
    from fido2.cose import EdDSA, ES256
    from fido2.webauthn import PublicKeyCredentialParameters
    _, _, client, _ = mode
    srv = server()
    srv.allowed_algorithms = [PublicKeyCredentialParameters(type="public-key", alg=alg)
                              for alg in (EdDSA.ALGORITHM, ES256.ALGORITHM)]
    cred = register(client, srv).credential_data
    assert isinstance(cred.public_key, EdDSA) and cred.public_key[3] == -8
    for allow in (True, False):
        ad, _ = authenticate(client, srv, [cred], allow=allow)
        assert ad.is_user_verified()
    assert register(client, server(), 2).credential_data.public_key[3] == -7


def test_authenticate_with_allow_list_and_user_verification(mode):
    _, _, client, _ = mode
    srv = server()
    cred = register(client, srv).credential_data
    ad, _ = authenticate(client, srv, [cred], allow=True)
    assert ad.is_user_verified() and ad.is_user_present()


def test_several_accounts_are_offered_to_the_client(mode):
    _, _, client, _ = mode
    srv = server()
    creds = [register(client, srv, n).credential_data for n in (1, 2)]
    _, selection = authenticate(client, srv, creds, allow=False)
    responses = selection.get_assertions()
    assert len(responses) == 2
    assert {r.user["id"] for r in responses} == {b"account-1", b"account-2"}
    authenticate(client, srv, creds, allow=False, index=1)


def test_discouraged_uv_gives_up_only(make_phone):
    phone = make_phone()
    client, _ = make_client(phone)
    srv = server()
    cred = register(client, srv, rk="discouraged", uv="discouraged").credential_data
    ad, _ = authenticate(client, srv, [cred], uv="discouraged")
    assert ad.is_user_present() and not ad.is_user_verified(), "UV flag only when UV happened"


def test_register_with_exclude_list_of_unknown_credentials(mode):
    _, _, client, _ = mode
    srv = server()
    first = register(client, srv, 1).credential_data
    from fido2.webauthn import PublicKeyCredentialDescriptor
    unknown = PublicKeyCredentialDescriptor(type="public-key", id=b"\x07" * 16)
    second = register(client, srv, 2, exclude=[unknown])
    assert second.credential_data.credential_id != first.credential_id
    assert second.flags & AuthenticatorData.FLAG.UV


def test_register_again_with_exclude_list_is_refused(mode):
    _, _, client, _ = mode
    srv = server()
    first = register(client, srv, 1)
    with pytest.raises(ClientError) as e:
        register(client, srv, 1, exclude=[first.credential_data])
    assert e.value.code == ClientError.ERR.DEVICE_INELIGIBLE
