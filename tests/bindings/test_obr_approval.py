"""An administrator's on-behalf registration approved (and denied) through the bindings: real
workspace-server, relay and the admin's pairing tool in OBR mode; the in-process phone learns
of the request from `check_workspace`, lists it, and `decide_approval` serves the admin's
python-fido2 client through the tool and the relay."""

from __future__ import annotations

import time

import pytest

from bindkit import ALICE, ac, kinds, register
from linklib import AdminTool

CRM = {"id": "crm.example", "name": "CRM"}


def active_phone(server, make_phone):
    user = server.add_user(ALICE, "Alice")
    server.assign(user, client_pin=False)
    phone = make_phone()
    assert phone.activate(server.link_for(ALICE)).status == ac.KeyState.ACTIVE
    return phone


def approval_arrives(phone, grant_id: str, timeout: float = 40.0):
    """Polls `check_workspace` until the request for `grant_id` arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        update = phone.check_workspace(5)
        for request in update.new_approvals:
            if request.id == grant_id:
                return request
    raise AssertionError(f"no approval request for grant {grant_id}")


def test_approve_then_the_admin_registers(server, relay, tmp_path, make_phone, procs):
    phone = active_phone(server, make_phone)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "1"))
    request = approval_arrives(phone, tool.grant_id)
    assert request.admin_name == "Bob Admin" and request.rp_ids == ["crm.example"]
    assert request.max_registrations == 1 and request.expires_at > time.time()
    assert [p.id for p in phone.pending_approvals()] == [tool.grant_id]

    decision = phone.spawn("decide_approval", tool.grant_id, True)
    tool.wait_for(r"^obr accepted$", timeout=30)
    _, cred = register(tool.device(), CRM, user_name=ALICE)
    tool.wait_for(rf"^receipt 1 crm\.example {cred.credential_id.hex()}$")
    outcome = decision.result(60)
    assert outcome.registered_rp_ids == ["crm.example"] and outcome.refused is None
    assert outcome.receipts_posted == 1
    assert outcome.ended == "every allowed registration was made"

    [prompt] = phone.ui.prompts_of("verify_user")
    assert prompt.operation == ac.UserOperation.ON_BEHALF_REGISTRATION
    assert (prompt.rp_id, prompt.user_name) == ("crm.example", "Bob Admin")
    assert prompt.message == (
        "Bob Admin (Emulated Workspace) asks to register up to 1 passkey(s) for you at "
        "crm.example within the next 10 minute(s). Verify to allow."), prompt.message
    assert phone.ui.prompts_of("confirm_presence") == []
    assert kinds(phone.ui.events) == ["REGISTERED_ON_YOUR_BEHALF"]
    [event] = phone.ui.events
    assert (event.admin_name, event.rp_id) == ("Bob Admin", "crm.example")

    [pk] = phone.passkeys()
    assert pk.rp_id == "crm.example" and pk.user_name == ALICE
    audit = phone.audit_log()
    assert [r.kind for r in audit] == ["enroll.activated", "obr.grant.pending",
                                       "obr.grant.accepted", "obr.registration",
                                       "obr.session.ended"]
    assert [r.seq for r in audit] == [1, 2, 3, 4, 5]
    registration = audit[3].details
    assert registration["credential_id"] == cred.credential_id.hex()
    assert (registration["rp_id"], registration["admin"], registration["grant_id"]) == \
        ("crm.example", "Bob Admin", tool.grant_id)
    assert phone.pending_approvals() == []


@pytest.mark.parametrize("how", ["deny", "verification-fails"])
def test_deny(server, relay, tmp_path, make_phone, procs, how):
    """The user denies, or approves but fails the phone's verification: the admin's tool is
    told `denied`, nothing is registered, and the request is gone."""
    phone = active_phone(server, make_phone)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example"))
    approval_arrives(phone, tool.grant_id)
    if how == "deny":
        outcome = phone.decide_approval(tool.grant_id, False)
        assert phone.ui.prompts == []
    else:
        phone.ui.verification = ac.VerificationOutcome.FAILED
        outcome = phone.decide_approval(tool.grant_id, True)
        [prompt] = phone.ui.prompts_of("verify_user")
        assert prompt.operation == ac.UserOperation.ON_BEHALF_REGISTRATION
    assert (outcome.registered_rp_ids, outcome.receipts_posted, outcome.refused,
            outcome.ended) == ([], 0, "denied", "refused: denied")
    tool.wait_for(r"^obr refused: denied$", timeout=30)
    assert phone.passkeys() == [] and phone.pending_approvals() == []
    assert phone.ui.events == []
    audit = phone.audit_log()
    assert [r.kind for r in audit][-2:] == ["obr.grant.declined", "obr.session.ended"]
    assert audit[-2].details["reason"] == "the user declined the on-behalf registration"
    err = pytest.raises(ac.AuthenticatorError.NotFound, phone.decide_approval, tool.grant_id,
                        True)
    assert err.value.reason == "no pending approval has this id"
