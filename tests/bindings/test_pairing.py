"""Pairing with a PC through the bindings: real relay and pairing-tool processes; the phone
pairs from the tool's QR text, serves the tool's CTAPHID socket from its link service (python-
fido2 registers and signs in through tool -> relay -> this process), the observer sees the
session, and a removed computer is no longer listed."""

from __future__ import annotations

import time

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from linklib import PairingTool

from bindkit import RecordingObserver, ac, register, sign_in, variant

kind = variant


def wait_served(tool, timeout: float = 30.0) -> None:
    """Until the phone's link service answers the tool (it picks a new pairing up at its next
    poll; meanwhile the tool's requests time out)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            Ctap2(tool.device()).get_info()
            return
        except CtapError:
            assert time.monotonic() < deadline, "the phone never answered its PC"


def test_pair_serve_sign_in_remove(procs, relay, tmp_path, phone):
    tool = procs(PairingTool(tmp_path / "tool", relay, name="Desk PC"))
    paired = phone.pair(tool.code())
    assert paired.name == "Desk PC" and paired.relay_url.rstrip("/") == relay.url
    assert len(paired.id) == 32 and int(paired.id, 16) >= 0
    tool.wait_for(r"^paired with Pixel of Alice$")
    assert [c.id for c in phone.paired_computers()] == [paired.id]

    observer = RecordingObserver()
    assert not phone.link_service_running()
    phone.start_link_service(False, observer)
    assert phone.link_service_running()
    wait_served(tool)
    srv, cred = register(tool.device())
    sign_in(tool.device(), srv, [cred])
    [pk] = phone.passkeys()
    assert pk.rp_id == "example.com"
    # The PC's requests were answered with this process's prompts.
    assert [p.rp_id for p in phone.ui.prompts_of("verify_user")] == ["example.com"] * 2

    connected = observer.wait_for(lambda e: kind(e) == "CONNECTED")
    assert connected.computer == "Desk PC" and connected.transport == "relay"
    for command in (0x01, 0x02):
        served = observer.wait_for(lambda e: kind(e) == "SERVED" and e.command == command)
        assert served.computer == "Desk PC" and served.status == 0

    phone.remove_paired_computer(paired.id)
    assert phone.paired_computers() == []
    # The open session ends at its next request; nothing more is served.
    try:
        Ctap2(tool.device()).get_info()
        raise AssertionError("a removed computer was served")
    except CtapError:
        pass
    ended = observer.wait_for(lambda e: kind(e) == "ENDED")
    assert (ended.computer, ended.reason) == ("Desk PC", "the PC's pairing was removed")
    after = observer.events[observer.events.index(ended):]
    assert not [e for e in after if kind(e) == "SERVED"], after
    phone.stop_link_service()
    assert not phone.link_service_running()
    phone.stop_link_service()  # stopping twice is harmless


def test_a_spent_code_and_an_insecure_relay_are_refused(procs, relay, tmp_path, make_phone):
    tool = procs(PairingTool(tmp_path / "tool", relay, name="Desk PC"))
    code = tool.code()
    strict = make_phone("strict", allow_insecure_loopback=False)
    with pytest.raises(ac.AuthenticatorError) as e:
        strict.pair(code)
    assert variant(e.value) == "InvalidInput", repr(e.value)
    # (the middle clause blames the peer for what is a local setting)
    assert e.value.reason == (
        "the pairing code's relay is not usable: the link's peer broke the protocol: relay "
        "URL: plain http is refused (only a loopback test relay may use it)")
    first = make_phone("first")
    first.pair(code)
    second = make_phone("second")
    with pytest.raises(ac.AuthenticatorError) as e:
        second.pair(code)
    assert variant(e.value) == "Refused", repr(e.value)
    assert e.value.reason == ("the computer refused the pairing code: it was already used or "
                              "has expired; show a new code")
    assert second.paired_computers() == [] and strict.paired_computers() == []
