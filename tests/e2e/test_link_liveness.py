"""Issue 18, "a dead phone is known at once" (proto/link.md §5.8 "Liveness"), with real
processes on loopback: python-fido2 -> the pairing tool's CTAPHID socket -> the reference relay
-> the virtual phone. A phone killed while idle is reported "phone unreachable"
(CTAP1_ERR_TIMEOUT, 0x05) within 3 s, on its open session and on a new one; a phone behind a
relay that serves every frame 1 s late is never reported dead; a knock the PC withdrew by
deleting its session is never served to a phone that starts later."""

from __future__ import annotations

import time

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2

from linklib import LinkPhone, PairingTool, phone_cli
from test_link import paired_setup, register_and_sign_in

UNREACHABLE = CtapError.ERR.TIMEOUT  # 0x05, tests/pairing-tool/README.md
LIMIT_S = 3.0


def timed_unreachable(tool) -> float:
    t0 = time.monotonic()
    with pytest.raises(CtapError) as e:
        Ctap2(tool.device()).get_info()
    elapsed = time.monotonic() - t0
    assert e.value.code == UNREACHABLE, e.value
    return elapsed


def test_a_phone_killed_while_idle_is_reported_unreachable_within_3_s(procs, tmp_path, relay):
    tool, phone = paired_setup(procs, tmp_path, relay)
    assert Ctap2(tool.device()).get_info().versions  # the session is open, then idle
    time.sleep(0.5)
    phone.proc.kill()  # SIGKILL, our own child by its pid
    phone.proc.wait(10)
    # On the still-open session: the phone never acknowledges the request.
    on_open_session = timed_unreachable(tool)
    assert on_open_session < LIMIT_S, on_open_session
    assert "did not acknowledge the request within 2500 ms" in tool.log()
    # No session left: the knock is not answered.
    on_new_session = timed_unreachable(tool)
    assert on_new_session < LIMIT_S, on_new_session


def test_a_knock_the_pc_withdrew_is_never_served(procs, tmp_path, relay):
    tool = procs(PairingTool(tmp_path / "tool", relay, name="Desk PC"))
    result = phone_cli(tmp_path / "phone", "pair", "--allow-insecure-loopback", tool.code())
    assert result.returncode == 0, result.stderr
    tool.wait_for(r"^paired with Virtual phone$")
    # The phone is not running: the knock stays queued at the relay until the PC gives up and
    # deletes its session, which withdraws the knock.
    before = relay.stats()
    assert timed_unreachable(tool) < LIMIT_S
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        # The PC deletes its session as it answers; the relay drops the knock with it (at
        # once, or at its next sweep).
        s = relay.stats()
        if s["sessions"] == before["sessions"] and s["knocks"] == 0:
            break
        time.sleep(0.05)
    after = relay.stats()
    assert after["knocks_received"] == before["knocks_received"] + 1
    assert after["knocks"] == 0 and after["sessions"] == before["sessions"], after
    assert after["knocks_delivered"] == before["knocks_delivered"]
    # A phone that starts now finds no stale knock (it would try a handshake on a deleted
    # session and log its end), and serves the next request.
    phone = procs(LinkPhone(tmp_path / "phone"))
    time.sleep(1.0)
    assert not [l for l in phone.lines if "session" in l], phone.lines
    assert Ctap2(tool.device()).get_info().versions
    assert relay.stats()["knocks_delivered"] == before["knocks_delivered"] + 1


def test_a_phone_behind_a_slow_relay_is_never_reported_dead(procs, tmp_path, relay):
    relay.delay(1000)
    tool, phone = paired_setup(procs, tmp_path, relay)
    # A new session (knock, handshake, request) and requests on it after idle pauses: every
    # frame is 1 s late, so each request takes at least two of them, and none is refused.
    for pause in (0, 1.5, 3.0, 1.5):
        time.sleep(pause)
        t0 = time.monotonic()
        assert Ctap2(tool.device()).get_info().versions
        assert time.monotonic() - t0 >= 2.0
    register_and_sign_in(tool)
    assert "phone unreachable" not in tool.log()
    assert not [l for l in phone.lines if "session ended" in l], phone.lines
