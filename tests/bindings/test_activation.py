"""Activation through the bindings against a real workspace-server process: the emailed link,
then the emailed client PIN; a wrong PIN, a locked activation and an already used link are
typed errors; suspension and resumption arrive through `check_workspace`."""

from __future__ import annotations

import time

import pytest
from fido2.client import ClientError
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2, CredentialManagement
from fido2.ctap2.pin import ClientPin

from bindkit import ALICE, ERR, ac, register, variant


def assigned(server, email=ALICE, name="Alice Liddell", client_pin=True) -> str:
    user = server.add_user(email, name)
    server.assign(user, client_pin=client_pin)
    return server.link_for(email)


def test_link_then_pin_activates(server, phone):
    assert phone.enrollment() is None
    link = assigned(server)
    info = phone.parse_activation_link(link)
    assert info.workspace_host == server.url.removeprefix("http://")  # host:port

    pending = phone.activate(link)
    assert pending.status == ac.KeyState.PENDING and pending.waiting_for_pin
    assert server.key_of(ALICE)["status"] == "pending"

    active = phone.submit_activation_pin(server.pin_for(ALICE))
    assert active.status == ac.KeyState.ACTIVE and not active.waiting_for_pin
    assert server.key_of(ALICE)["status"] == "active"

    now = phone.enrollment()
    assert now is not None and now.status == ac.KeyState.ACTIVE
    assert now.user_email == ALICE and now.user_display_name == "Alice Liddell"
    assert now.workspace_name == "Emulated Workspace"
    assert now.security_key_id.startswith("sk_")
    assert phone.refresh_enrollment().status == ac.KeyState.ACTIVE
    # The workspace's PIN is now the authenticator's client PIN.
    assert phone.pin_status().is_set


def test_activating_with_a_pin_ends_tokens_issued_before(server, phone):
    """A PC's PIN/UV auth token from before activation stops working once the workspace's
    client PIN is installed, as after a PIN change."""
    ctap = Ctap2(phone.device())
    client_pin = ClientPin(ctap)
    token = client_pin.get_uv_token(ClientPin.PERMISSION.CREDENTIAL_MGMT)
    before = CredentialManagement(ctap, client_pin.protocol, token)
    assert before.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 0

    phone.activate(assigned(server))
    assert phone.submit_activation_pin(server.pin_for(ALICE)).status == ac.KeyState.ACTIVE
    with pytest.raises(CtapError) as e:
        before.get_metadata()
    assert e.value.code == ERR.PIN_AUTH_INVALID
    # A token obtained afterwards works.
    client_pin = ClientPin(Ctap2(phone.device()))
    fresh = client_pin.get_uv_token(ClientPin.PERMISSION.CREDENTIAL_MGMT)
    after = CredentialManagement(ctap, client_pin.protocol, fresh)
    assert after.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 0


def test_a_wrong_pin_is_a_typed_error_with_the_attempts_left(server, phone):
    phone.activate(assigned(server))
    pin = server.pin_for(ALICE)
    wrong = "999999" if pin != "999999" else "888888"
    for left in (4, 3):
        with pytest.raises(ac.AuthenticatorError.PinInvalid) as e:
            phone.submit_activation_pin(wrong)
        assert e.value.attempts_left == left
        assert e.value.reason == f"wrong PIN; {left} attempt(s) left"
    assert phone.enrollment().status == ac.KeyState.PENDING
    # PINs outside the policy are refused locally, without spending an attempt.
    for bad in ("", "12", "1" * 64, "x" * (1 << 20)):
        with pytest.raises(ac.AuthenticatorError.InvalidInput) as e:
            phone.submit_activation_pin(bad)
        assert e.value.reason == "the PIN must have 6 to 63 characters"
    with pytest.raises(ac.AuthenticatorError.PinInvalid) as e:
        phone.submit_activation_pin(wrong)
    assert e.value.attempts_left == 2
    assert phone.submit_activation_pin(pin).status == ac.KeyState.ACTIVE


def test_too_many_wrong_pins_lock_the_activation(server, phone):
    phone.activate(assigned(server))
    pin = server.pin_for(ALICE)
    wrong = "999999" if pin != "999999" else "888888"
    for _ in range(4):
        with pytest.raises(ac.AuthenticatorError.PinInvalid):
            phone.submit_activation_pin(wrong)
    with pytest.raises(ac.AuthenticatorError.Refused) as e:
        phone.submit_activation_pin(wrong)
    assert e.value.reason == ("activation is locked after too many wrong PINs; "
                              "ask your administrator to assign the key again")
    assert phone.enrollment().status == ac.KeyState.LOCKED
    with pytest.raises(ac.AuthenticatorError.InvalidState) as e:
        phone.submit_activation_pin(pin)
    assert e.value.reason == "no client PIN is expected: the security key is locked"


def test_a_link_already_used_by_another_device(server, make_phone):
    link = assigned(server, client_pin=False)
    first = make_phone("first")
    assert first.activate(link).status == ac.KeyState.ACTIVE
    second = make_phone("second")
    with pytest.raises(ac.AuthenticatorError) as e:
        second.activate(link)
    assert variant(e.value) == "Refused", repr(e.value)
    assert e.value.reason == "this activation link was already used by another device"
    assert second.enrollment() is None


def test_no_pin_expected_once_active(server, phone):
    assert phone.activate(assigned(server, client_pin=False)).status == ac.KeyState.ACTIVE
    with pytest.raises(ac.AuthenticatorError.InvalidState) as e:
        phone.submit_activation_pin("123456")
    assert e.value.reason == "no client PIN is expected: the security key is active"


def test_the_workspace_suspends_and_resumes_through_check_workspace(server, phone):
    link = assigned(server, client_pin=False)
    assert phone.activate(link).status == ac.KeyState.ACTIVE
    update = phone.check_workspace(0)
    assert update.enrollment.status == ac.KeyState.ACTIVE
    assert (update.new_approvals, update.stopped_approvals, update.refused_approvals) == \
        ([], [], [])
    user = [u for u in server.admin("GET", "/admin/users") if u["email"] == ALICE][0]
    server.admin("POST", f"/admin/users/{user['id']}/suspend")
    assert wait_for_status(phone, ac.KeyState.SUSPENDED)
    with pytest.raises(ClientError) as e:  # a suspended key serves no registration
        register(phone.device())
    assert e.value.cause.code == ERR.OPERATION_DENIED
    server.admin("POST", f"/admin/users/{user['id']}/resume")
    assert wait_for_status(phone, ac.KeyState.ACTIVE)
    register(phone.device())


def wait_for_status(phone, status, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if phone.check_workspace(2).enrollment.status == status:
            return phone.enrollment().status == status
    return False
