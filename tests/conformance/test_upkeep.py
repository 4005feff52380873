"""The phone's idle upkeep while serving (tests/virtual-phone/src/upkeep.rs): after a burst of
registrations and a quiet spell, the core's idle maintenance runs once, copies the WAL the
burst wrote into the vault file and checks the file; it never runs while requests keep coming
nor on a phone nobody talks to."""

import re
import time

from phonelib import make_credential, user

IDLE_AFTER_S = 2.0
RUN = re.compile(r"idle upkeep: (\d+) pages checkpointed, vault file (checked|not checked)")


def runs(phone):
    return [(int(m.group(1)), m.group(2)) for m in RUN.finditer(phone.log())]


def wait_for_runs(phone, n, timeout=IDLE_AFTER_S + 5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(runs(phone)) >= n:
            break
        time.sleep(0.1)
    return runs(phone)


def test_a_quiet_spell_after_registrations_checkpoints_and_checks_the_vault(phone):
    time.sleep(IDLE_AFTER_S + 0.5)
    assert runs(phone) == [], "no upkeep before any request"

    ctap = phone.ctap2()
    for n in range(6):
        make_credential(ctap, usr=user(n + 1), rk=True, uv=True, label=f"burst{n}")
    assert runs(phone) == [], "no upkeep while requests come"

    done = wait_for_runs(phone, 1)
    assert len(done) == 1, phone.log()
    pages, checked = done[0]
    assert pages > 0 and checked == "checked"

    time.sleep(IDLE_AFTER_S + 0.5)
    assert len(runs(phone)) == 1, "nothing new since: no second run"
    assert "idle upkeep failed" not in phone.log()
    assert phone.stdout_rest() == b""
