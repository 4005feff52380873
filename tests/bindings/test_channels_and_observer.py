"""What the virtual phone needed of the API, through the bindings: the options' new fields
and their defaults (a record built with the old fields only still opens), CTAP channels (one
conversation each, closed for good), and the approval observer, which sees an on-behalf
registration session's progress in order before `decide_approval` returns."""

from __future__ import annotations

import threading
import time

import pytest
from fido2 import cbor

from bindkit import ALICE, ac, register
from linklib import AdminTool
from test_obr_approval import CRM, active_phone, approval_arrives


def test_default_options_and_old_records_keep_working(make_phone):
    got = ac.default_options("phone")
    assert got.builtin_user_verification and got.self_attestation
    assert (got.workspace_request_timeout_ms, got.approval_answer_timeout_ms,
            got.relay_poll_wait_ms) == (20_000, 60_000, 25_000)
    old = ac.AuthenticatorOptions(device_name="p", allow_insecure_loopback=False,
                                  user_action_timeout_ms=1000, choose_account_on_phone=False)
    assert old.workspace_request_timeout_ms == 20_000 and old.self_attestation


def test_bad_new_options_are_refused(make_phone):
    with pytest.raises(ac.AuthenticatorError.InvalidInput) as e:
        make_phone(relay_poll_wait_ms=0)
    assert "relay poll wait" in e.value.reason


def test_without_built_in_verification_get_info_has_no_uv(make_phone):
    phone = make_phone(builtin_user_verification=False)
    channel = phone.auth.open_ctap_channel()
    answer = bytes(phone.loop.run(channel.handle(b"\x04")))
    assert answer[0] == 0
    assert "uv" not in cbor.decode(answer[1:])[4]
    assert "uv" in cbor.decode(make_phone("other").ctap(b"\x04")[1:])[4], "the default has it"


def test_a_channel_answers_and_is_closed_for_good(make_phone):
    phone = make_phone()
    channel = phone.auth.open_ctap_channel()
    assert channel.request_state() == ac.CtapRequestState.IDLE
    assert bytes(phone.loop.run(channel.handle(b"\x04")))[0] == 0
    assert bytes(phone.loop.run(channel.handle(b"\x08"))) == b"\x30", \
        "nothing to continue on a fresh channel"
    phone.loop.run(channel.end())
    with pytest.raises(ac.AuthenticatorError.InvalidState):
        phone.loop.run(channel.handle(b"\x04"))
    channel.cancel()  # nothing runs: no effect, no error


class Recorder(ac.ApprovalObserver):
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def on_approval_event(self, event):
        with self.lock:
            self.events.append(event)


class Raising(ac.ApprovalObserver):
    def on_approval_event(self, event):
        raise RuntimeError("observer broken")


@pytest.mark.parametrize("broken", [False, True])
def test_the_observer_sees_the_session(server, relay, tmp_path, make_phone, procs, broken):
    phone = active_phone(server, make_phone)
    observer = Raising() if broken else Recorder()
    phone.set_approval_observer(observer)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "1"))
    approval_arrives(phone, tool.grant_id)
    decision = phone.spawn("decide_approval", tool.grant_id, True)
    tool.wait_for(r"^obr accepted$", timeout=30)
    register(tool.device(), CRM, user_name=ALICE)
    outcome = decision.result(60)
    assert outcome.registered_rp_ids == ["crm.example"], "a failing observer changes nothing"
    if broken:
        return
    names = [type(e).__name__.split(".")[-1] for e in observer.events]
    assert names == ["CONNECTING", "ACCEPTED", "REGISTERED", "RECEIPT_POSTED", "ENDED"], names
    accepted = observer.events[1]
    assert (accepted.approval_id, accepted.admin_name) == (tool.grant_id, "Bob Admin")
    registered = observer.events[2]
    assert (registered.rp_id, registered.index, registered.max) == ("crm.example", 1, 1)


def test_a_request_refused_on_arrival_says_how_its_report_went(server, relay, tmp_path,
                                                                make_phone, procs):
    phone = active_phone(server, make_phone)
    procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example",
                    "--test-grant-fault", "forge_signature"))
    deadline = time.monotonic() + 40
    refused = []
    while not refused and time.monotonic() < deadline:
        refused = phone.check_workspace(5).refused_approvals
    [r] = refused
    assert r.code == "bad_signature"
    assert r.report == ac.RefusalReportState.RECORDED()
    old = ac.RefusedApproval(approval_id="a", code="expired")
    assert old.report is None, "records built without the report keep working"
