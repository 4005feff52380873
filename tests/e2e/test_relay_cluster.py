"""The relay scaled out (issue 19): Redis, three relay instances and nginx round-robin in
front, all on loopback. The phone pairs and serves through nginx, python-fido2 registers and
signs in; the PC's and the phone's requests land on different instances. Then one instance
is SIGKILLed mid-session and the next sign-in is served by the others, each command reaching
the phone once; then Redis is restarted: `503` with the documented body while it is away,
and service resumes without restarting any relay."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from collections import defaultdict

import pytest

from clusterlib import ClusterRelay, Nginx, Redis
from test_link import paired_setup, register_and_sign_in

pytestmark = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("nginx")),
    reason="needs Debian's redis-server and nginx (tests/setup.sh installs them)")

UNAVAILABLE = b"the relay's store is unavailable\n"


@pytest.fixture
def cluster(procs, tmp_path):
    logs = tmp_path / "cluster"
    logs.mkdir()
    redis = procs(Redis(logs))
    relays = [procs(ClusterRelay(logs, i, redis)) for i in range(3)]
    nginx = procs(Nginx(logs, relays))
    return redis, relays, nginx


def put_status(url: str, session: str) -> tuple[int, bytes]:
    req = urllib.request.Request(f"{url}/v1/sessions/{session}", method="PUT")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def commands_served(phone, command: str) -> int:
    return sum(1 for line in phone.lines if line.startswith("link: Desk PC command "
                                                            f"{command} -> status 0x00"))


def test_pair_serve_survive_an_instance_and_a_redis_restart(procs, tmp_path, cluster):
    redis, relays, nginx = cluster
    tool, phone = paired_setup(procs, tmp_path, nginx)
    register_and_sign_in(tool, n=1)
    phone.wait_for(r"^link: Desk PC command 0x02 -> status 0x00$")

    # Round-robin: every instance served, and the two ends of one session (up: the phone's
    # POSTs, down: the PC's) went through different instances.
    access = nginx.access()
    upstreams = {u for _, _, _, u in access}
    assert {f"127.0.0.1:{r.port}" for r in relays} <= upstreams, upstreams
    by_session = defaultdict(lambda: {"up": set(), "down": set()})
    for method, path, status, upstream in access:
        parts = path.split("/")
        if method == "POST" and len(parts) == 6 and parts[2] == "sessions" and status == 204:
            by_session[parts[3]][parts[4]].add(upstream)
    assert any(s["up"] and s["down"] and s["up"] != s["down"] for s in by_session.values()), \
        dict(by_session)
    assert "example.com" not in "".join(r.log() for r in relays)

    # One instance dies mid-session (the PC's session stays open between commands).
    # python-fido2 sends one makeCredential and, for a sign-in, a silent probe and the real
    # getAssertion: count what one round took.
    time.sleep(0.5)
    made, signed = commands_served(phone, "0x01"), commands_served(phone, "0x02")
    assert made >= 1 and signed >= 1
    victim = relays[0]
    victim.proc.kill()
    victim.proc.wait(10)
    register_and_sign_in(tool, n=2)
    phone.wait_for(r"^link: Desk PC command 0x02 -> status 0x00$", start=0)
    time.sleep(0.5)
    # Each command reached the phone exactly once: nothing lost, nothing twice.
    assert commands_served(phone, "0x01") == 2 * made
    assert commands_served(phone, "0x02") == 2 * signed
    # It was the same session, carried on by the surviving instances.
    after = nginx.access()[len(access):]
    carried = {p.split("/")[3] for m, p, st, u in after if p.startswith("/v1/sessions/")}
    assert carried & set(by_session), (carried, set(by_session))
    assert all(u != f"127.0.0.1:{victim.port}" for m, p, st, u in after if st < 500)

    # Redis goes away: clients get the documented 503 through nginx.
    redis.kill()
    status, body = put_status(nginx.url, "ab" * 16)
    assert (status, body) == (503, UNAVAILABLE)
    # It comes back (empty): service resumes with the same relay processes.
    redis.start()
    deadline = time.monotonic() + 15
    while put_status(nginx.url, "cd" * 16)[0] != 201:
        assert time.monotonic() < deadline, "the relays did not recover"
        time.sleep(0.2)
    register_and_sign_in(tool, n=3)
    time.sleep(0.5)
    assert commands_served(phone, "0x02") == 3 * signed
    for r in relays[1:]:
        assert r.proc.poll() is None, "no relay was restarted"
