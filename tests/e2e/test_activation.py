"""Activation end to end, with real processes: the emulated workspace server, the virtual phone
(serving CTAPHID and driven through its CLI), and python-fido2 as the PC's client.

The administrator's side follows the seeds: add a user, assign a smartphone security key
(with or without Client PIN), the activation email and PIN arrive in the outbox, the user's
status goes Pending -> Active; suspend refuses requests, revoke removes the passkeys."""

from __future__ import annotations

import time

import pytest
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.server import Fido2Server

from phonelib import ScriptedUser as User
from wslib import phone_cli

ORIGIN = "https://example.com"
RP = {"id": "example.com", "name": "Example"}
ALICE = "alice@acme.example"


def client(phone, pin=None):
    ui = User(pin)
    return Fido2Client(phone.device(), client_data_collector=DefaultClientDataCollector(ORIGIN),
                       user_interaction=ui), ui


def register(fido_client, n=1):
    srv = Fido2Server(RP, attestation="none")
    user = {"id": b"user-%d" % n, "name": f"user{n}", "displayName": f"User {n}"}
    options, state = srv.register_begin(user, user_verification="required",
                                        resident_key_requirement="required")
    auth_data = srv.register_complete(state, fido_client.make_credential(options.public_key))
    return srv, auth_data


def ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def fails(result) -> str:
    assert result.returncode != 0, f"expected a failure, got: {result.stdout}"
    return result.stderr.strip()


def activate(data_dir, link, *extra):
    return phone_cli(data_dir, "activate", link, "--allow-insecure-loopback", *extra)


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_client_pin_activation_then_registration_needs_that_pin(server, make_phone, tmp_path):
    alice = server.add_user(ALICE, "Alice Liddell")
    assert alice["groups"] == ["Everyone"], "default group"
    server.assign(alice, client_pin=True)
    assert server.key_of(ALICE)["status"] == "pending"
    link, pin = server.link_for(ALICE), server.pin_for(ALICE)

    data = tmp_path / "phone"
    phone = make_phone(data, "--no-builtin-uv")
    out = ok(activate(data, link))
    assert "status: pending" in out and "Alice Liddell" in out
    assert "pin submit" in out, "the phone tells the user a PIN is expected"
    assert "status: pending" in ok(phone_cli(data, "status"))
    # Pending: the authenticator refuses to register until the PIN is in.
    with pytest.raises(CtapError) as e:
        phone.ctap2().make_credential(b"\0" * 32, RP, {"id": b"x", "name": "x"},
                                      [{"type": "public-key", "alg": -7}])
    assert e.value.code == CtapError.ERR.OPERATION_DENIED

    out = ok(phone_cli(data, "pin", "submit", pin))
    assert "status: active" in out
    assert server.key_of(ALICE)["status"] == "active"
    jobs = server.admin("GET", f"/admin/users/{alice['id']}/binding-jobs")
    assert [j["status"] for j in jobs] == ["bound"]

    # The PC's client must now use that PIN: the wrong one fails, the right one registers.
    wrong, _ = client(phone, pin="000000" if pin != "000000" else "111111")
    with pytest.raises(ClientError):
        register(wrong)
    right, ui = client(phone, pin=pin)
    _, auth_data = register(right)
    assert auth_data.is_user_verified() and ui.pin_requests >= 1


def test_activation_without_client_pin_is_active_at_once(server, make_phone, tmp_path):
    bob = server.add_user("bob@acme.example", "Bob")
    server.assign(bob, client_pin=False)
    assert not [m for m in server.outbox("bob@acme.example") if m.get("pin")], "no PIN email"
    data = tmp_path / "phone"
    phone = make_phone(data)
    out = ok(activate(data, server.link_for("bob@acme.example")))
    assert "status: active" in out
    fido_client, ui = client(phone)
    _, auth_data = register(fido_client)
    assert auth_data.is_user_verified() and ui.pin_requests == 0, "built-in UV, no PIN"
    # Activating again from the same link is harmless (idempotent for the same device).
    assert "status: active" in ok(activate(data, server.link_for("bob@acme.example")))


def test_suspend_refuses_requests_until_resumed_and_revoke_removes_passkeys(
        server, make_phone, tmp_path):
    carol = server.add_user("carol@acme.example", "Carol")
    server.assign(carol, client_pin=False)
    data = tmp_path / "phone"
    phone = make_phone(data)
    ok(activate(data, server.link_for("carol@acme.example")))
    fido_client, _ = client(phone)
    register(fido_client)
    assert "1 passkey(s)" in ok(phone_cli(data, "passkeys", "list"))

    def denied():
        try:
            phone.ctap2().get_assertion("example.com", b"\0" * 32)
            return False
        except CtapError as e:
            return e.code == CtapError.ERR.OPERATION_DENIED

    server.admin("POST", f"/admin/users/{carol['id']}/suspend")
    wait_for(denied, what="the phone to apply the suspension")
    assert "status: suspended" in ok(phone_cli(data, "status"))
    server.admin("POST", f"/admin/users/{carol['id']}/resume")
    wait_for(lambda: not denied(), what="the phone to apply the resumption")

    server.admin("POST", f"/admin/users/{carol['id']}/revoke")
    wait_for(lambda: "status: revoked" in ok(phone_cli(data, "status")),
             what="the phone to apply the revocation")
    assert "0 passkey(s)" in ok(phone_cli(data, "passkeys", "list"))
    wait_for(lambda: server.key_of("carol@acme.example")["revocation_acknowledged"],
             what="the workspace to receive the phone's acknowledgement")
    assert denied(), "a revoked key serves nothing"


def test_wrong_client_pins_lock_the_activation(server, tmp_path):
    dave = server.add_user("dave@acme.example", "Dave")
    server.assign(dave, client_pin=True)
    data = tmp_path / "phone"
    ok(activate(data, server.link_for("dave@acme.example")))
    pin = server.pin_for("dave@acme.example")
    wrong = "999999" if pin != "999999" else "888888"
    for left in (4, 3, 2, 1):
        assert fails(phone_cli(data, "pin", "submit", wrong)) == \
            f"virtual-phone: wrong PIN; {left} attempt(s) left"
    assert fails(phone_cli(data, "pin", "submit", wrong)) == (
        "virtual-phone: activation is locked after too many wrong PINs; "
        "ask your administrator to assign the key again")
    assert "status: locked" in ok(phone_cli(data, "status"))
    assert server.key_of("dave@acme.example")["status"] == "locked"
    # Even the right PIN is refused now.
    assert "no client PIN is expected" in fails(phone_cli(data, "pin", "submit", pin))


def test_a_short_pin_is_refused_locally_without_spending_an_attempt(server, tmp_path):
    erin = server.add_user("erin@acme.example", "Erin")
    server.assign(erin, client_pin=True)
    data = tmp_path / "phone"
    ok(activate(data, server.link_for("erin@acme.example")))
    assert fails(phone_cli(data, "pin", "submit", "12")) == \
        "virtual-phone: the PIN must have 6 to 63 characters"
    ok(phone_cli(data, "pin", "submit", server.pin_for("erin@acme.example")))
