"""python-fido2 registers and signs in through a CtapDevice whose requests go to
`handle_ctap`; the passkey then shows in `passkeys()`, can be renamed and deleted."""

from __future__ import annotations

import base64

import pytest
from fido2.client import ClientError
from fido2.ctap2 import Ctap2

from bindkit import ERR, RP, ac, kinds, register, sign_in


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


def test_get_info(phone):
    info = Ctap2(phone.device()).get_info()
    assert "FIDO_2_1" in info.versions
    assert info.options.get("rk") is True and info.options.get("uv") is True
    assert len(info.aaguid) == 16


def test_register_sign_in_rename_delete(phone):
    dev = phone.device()
    srv, cred = register(dev, user_name="alice@example.com")
    sign_in(dev, srv, [cred])

    # python-fido2 gets a pinUvAuthToken with the phone's built-in UV for each ceremony: one
    # verify_user prompt each, naming the site (the core labels these prompts MANAGE).
    verify = phone.ui.prompts_of("verify_user")
    assert len(verify) == 2 and all(p.rp_id == RP["id"] for p in verify), verify
    assert phone.ui.prompts_of("confirm_presence") == []
    seen = kinds(phone.ui.events)
    assert seen[0] == "PASSKEY_CREATED" and "SIGNED_IN" in seen, phone.ui.events
    assert phone.ui.events[0].rp_id == "example.com"
    assert phone.ui.events[0].user_name == "alice@example.com"

    [pk] = phone.passkeys()
    assert pk.id == b64url(cred.credential_id)
    assert pk.rp_id == "example.com" and pk.rp_name == "Example"
    assert pk.user_name == "alice@example.com" and pk.user_display_name == "User 1"
    assert pk.discoverable and pk.name is None and pk.sign_count >= 1 and pk.created_at > 0

    phone.rename_passkey(pk.id, "Work laptop login")
    [renamed] = phone.passkeys()
    assert renamed.name == "Work laptop login" and renamed.id == pk.id
    sign_in(dev, srv, [cred])  # a renamed passkey still signs in

    phone.delete_passkey(pk.id)
    assert phone.passkeys() == []
    with pytest.raises(ClientError) as e:
        sign_in(dev, srv, [cred])
    assert e.value.cause.code == ERR.NO_CREDENTIALS
    with pytest.raises(ac.AuthenticatorError.NotFound):
        phone.delete_passkey(pk.id)


def test_uv_prompts_name_the_operation(phone):
    srv, cred = register(phone.device())
    sign_in(phone.device(), srv, [cred])
    assert [p.operation for p in phone.ui.prompts_of("verify_user")] == [
        ac.UserOperation.REGISTER, ac.UserOperation.SIGN_IN]


def test_one_sign_in_is_one_notice(phone):
    srv, cred = register(phone.device())
    sign_in(phone.device(), srv, [cred])
    assert kinds(phone.ui.events) == ["PASSKEY_CREATED", "SIGNED_IN"]
