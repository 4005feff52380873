"""SCIM provisioning end to end (issue 20), with real processes: the workspace server driven
the way Entra ID drives it (bearer token, SCIM 2.0 calls), the virtual phone serving CTAPHID,
and python-fido2 as the PC's client.

A user created over SCIM is assigned a key, activates from the emailed link and signs in;
SCIM active=false makes the phone refuse CTAP (CTAP2_ERR_OPERATION_DENIED, as for an admin
suspension) within seconds, active=true restores it, and SCIM DELETE revokes the key: the phone
wipes its passkeys and the workspace receives the phone's signed acknowledgement."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from fido2.ctap import CtapError
from fido2.server import Fido2Server

from test_activation import RP, activate, client, ok, register, wait_for
from wslib import phone_cli

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
EMAIL = "dana@acme.example"


def scim(server, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{server.url}/scim/v2{path}", data=data, method=method,
        headers={"content-type": "application/scim+json", "authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def set_active(server, token, user_id, value):
    status, body = scim(server, token, "PATCH", f"/Users/{user_id}", {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": value}],
    })
    assert status == 200, body
    return body


def test_scim_user_lifecycle_reaches_the_phone(server, make_phone, tmp_path):
    token = server.admin("POST", "/admin/scim-token")["token"]
    status, body = scim(server, token, "GET", "/Users")
    assert status == 200 and body["totalResults"] == 0
    assert scim(server, "not-the-token", "GET", "/Users")[0] == 401

    status, user = scim(server, token, "POST", "/Users", {
        "schemas": [USER],
        "externalId": "5f1c0b9e-0000-4000-8000-00000000d0a0",
        "userName": "5f1c0b9e-0000-4000-8000-00000000d0a0",
        "active": True,
        "displayName": "Dana Scully",
        "emails": [{"primary": True, "type": "work", "value": EMAIL}],
        "name": {"givenName": "Dana", "familyName": "Scully"},
    })
    assert status == 201, user
    listed = [u for u in server.admin("GET", "/admin/users") if u["email"] == EMAIL]
    assert [(u["id"], u["source"], u["groups"]) for u in listed] == [
        (user["id"], "scim", ["Everyone"])]

    # The administrator assigns a key; the user activates from the emailed link and signs in.
    server.assign({"id": user["id"]}, client_pin=False)
    data = tmp_path / "phone"
    phone = make_phone(data)
    assert "status: active" in ok(activate(data, server.link_for(EMAIL)))
    fido_client, _ = client(phone)
    srv, auth_data = register(fido_client)
    options, state = srv.authenticate_begin([auth_data.credential_data],
                                            user_verification="required")
    response = fido_client.get_assertion(options.public_key).get_response(0)
    srv.authenticate_complete(state, [auth_data.credential_data], response)
    assert "1 passkey(s)" in ok(phone_cli(data, "passkeys", "list"))

    def denied():
        try:
            phone.ctap2().get_assertion(RP["id"], b"\0" * 32)
            return False
        except CtapError as e:
            return e.code == CtapError.ERR.OPERATION_DENIED

    # Entra's soft delete: active "False" (a string). Suspended on the phone within seconds.
    assert set_active(server, token, user["id"], "False")["active"] is False
    assert server.key_of(EMAIL)["status"] == "suspended"
    wait_for(denied, timeout=10, what="the phone to refuse CTAP after SCIM active=false")
    assert "status: suspended" in ok(phone_cli(data, "status"))

    assert set_active(server, token, user["id"], True)["active"] is True
    wait_for(lambda: not denied(), timeout=10, what="the phone to serve again after active=true")
    options, state = srv.authenticate_begin([auth_data.credential_data])
    response = fido_client.get_assertion(options.public_key).get_response(0)
    srv.authenticate_complete(state, [auth_data.credential_data], response)

    # Hard delete: the key is revoked, the phone wipes its passkeys and acknowledges (signed).
    assert scim(server, token, "DELETE", f"/Users/{user['id']}") == (204, None)
    assert scim(server, token, "GET", f"/Users/{user['id']}")[0] == 404
    wait_for(lambda: "status: revoked" in ok(phone_cli(data, "status")), timeout=10,
             what="the phone to apply the revocation")
    assert "0 passkey(s)" in ok(phone_cli(data, "passkeys", "list"))
    assert denied(), "a revoked key serves nothing"
    assert not [u for u in server.admin("GET", "/admin/users") if u["email"] == EMAIL]
