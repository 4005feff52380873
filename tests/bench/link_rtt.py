#!/usr/bin/env python3
"""Link round-trip benchmark: what the link (pairing tool + relay) adds to a CTAP round trip.

One virtual-phone process serves both paths at once (`serve --link --ctaphid 127.0.0.1:0`):

    direct: client -> the phone's own CTAPHID socket -> engine
    link:   client -> the pairing tool's CTAPHID socket -> relay -> the phone's link service
            -> the same engine -> relay -> tool -> client

The client speaks raw 64-byte CTAPHID reports (tests/conformance/phonelib.py `RawHid`) and
times each CTAPHID CBOR request from its first report written to its last report read. Per
round: getInfo and a getAssertion (allowList of one registered credential, up by default) on
each path, the path order alternating from round to round, N rounds. Reported: median, p90, p99
per command and path, the added latency (difference of the medians, and the median of the
per-round differences), the CPU time each process spent per round, and the check "link adds
<= 3 ms median on loopback" for every command. Last line: `N passed, N failed`.

Run with the repo's .venv (tests/python-env.sh makes it):

    source tests/python-env.sh && "$venv/bin/python" tests/bench/link_rtt.py [--profile release]

Every process started here is stopped by its own pid, also on error or SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "tests" / "conformance"))

TARGET_MS = 3.0
# Issue 18: the first request after idle (a new session) at most this much over a request on a
# session that is still open, sent after the same pause.
IDLE_TARGET_MS = 5.0
# Longer than the reopen tool's 1 s idle limit, so its session has ended.
PAUSE_S = 1.6
PHASES = ("create", "knock", "handshake")
BINARIES = {"relay": "RELAY", "pairing-tool": "PAIRING_TOOL", "virtual-phone": "VIRTUAL_PHONE"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="release", help="cargo profile of the binaries "
                   "(release or debug; default release). Built when missing.")
    p.add_argument("--build", action="store_true",
                   help="run `cargo build` for the profile even if the binaries exist")
    p.add_argument("-n", "--rounds", type=int, default=300,
                   help="measured round trips per command and path (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured rounds first (default 20)")
    p.add_argument("--no-assertion", action="store_true", help="measure getInfo only")
    p.add_argument("--reopen", type=int, default=15, metavar="K",
                   help="K rounds of the first-request-after-idle check: after the same pause, "
                   "a getAssertion through a second pairing tool whose sessions end after 1 s "
                   "idle (so it opens one) against one on the first tool's still-open session "
                   "(default 15; 0: skip)")
    p.add_argument("--keep", metavar="DIR", help="use DIR for data and logs and keep it")
    return p.parse_args()


def binaries(profile: str, force_build: bool) -> dict[str, Path]:
    out_dir = REPO / "target" / profile
    paths = {name: out_dir / name for name in BINARIES}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing or force_build:
        cmd = ["cargo", "build", "-p", "relay", "-p", "pairing-tool", "-p", "virtual-phone"]
        if profile == "release":
            cmd.insert(2, "--release")
        elif profile != "debug":
            cmd[2:2] = ["--profile", profile]
        print(f"building ({'missing: ' + ', '.join(missing) if missing else 'asked'}): "
              f"{' '.join(cmd)}", flush=True)
        subprocess.run(cmd, cwd=REPO, check=True)
    for name, env in BINARIES.items():
        os.environ[env] = str(paths[name])
    return paths


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def cpu_seconds(pid: int) -> float:
    """CPU time of all threads of a process, in seconds: the sum of their
    /proc/PID/task/TID/schedstat run times (nanoseconds; Linux)."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return float("nan")
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended in between
    return total / 1e9


def connections_to(port: int) -> set[int]:
    """Client ports of the established TCP connections to local `port` (/proc/net/tcp)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if len(f) > 3 and f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == port:
                out.add(int(f[2].rsplit(":", 1)[1], 16))
    return out


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def busy_others(own: set[int]) -> str:
    """The processes (not ours) that used the most CPU over a short window: the machine's noise."""
    def snapshot() -> dict[int, tuple[str, float]]:
        out = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) in own:
                continue
            try:
                raw = (d / "stat").read_text()
                name = raw[raw.index("(") + 1:raw.rindex(")")]
                f = raw.rsplit(")", 1)[1].split()
                out[int(d.name)] = (name, int(f[11]) + int(f[12]))
            except (OSError, ValueError, IndexError):
                pass
        return out
    tick = os.sysconf("SC_CLK_TCK")
    a = snapshot()
    time.sleep(1.0)
    b = snapshot()
    used = sorted(((b[p][1] - a[p][1]) / tick, b[p][0]) for p in b if p in a)
    top = [f"{name} {100 * s:.0f}%" for s, name in reversed(used[-4:]) if s >= 0.05]
    return ", ".join(top) or "nothing above 5% of a core"


def floor(paths: dict[str, Path], work: Path) -> dict[str, float] | None:
    """The opening's floor, measured now: `pairing-tool floor` (P-256 ECDH, key generation and a
    whole KKpsk0 handshake, in the tool's process and profile) and `relay-load --sessions 1`
    (a relay round trip on loopback: a POST that wakes the other side's long-poll, and back).
    None when a binary lacks them."""
    out = {}
    tool = subprocess.run([str(paths["pairing-tool"]), "--data-dir", str(work / "floor"),
                           "floor", "--rounds", "300"], capture_output=True, text=True,
                          timeout=120)
    m = re.search(r"^floor: p256 ecdh (\S+) ms, key generation (\S+) ms, kkpsk0 both sides "
                  r"(\S+) ms", tool.stdout, re.M)
    load = subprocess.run([str(paths["relay"].parent / "relay-load"), "--relay",
                           str(paths["relay"]), "--sessions", "1", "--round-trips", "300"],
                          capture_output=True, text=True, timeout=120)
    r = re.search(r"^round-trip latency ms: p50 (\S+)", load.stdout, re.M)
    if not m or not r:
        print(f"  floor: not measured (pairing-tool floor: {tool.stderr.strip()[:120]!r}; "
              f"relay-load: {load.stderr.strip()[:120]!r})")
        return None
    out = {"ecdh": float(m[1]), "keygen": float(m[2]), "handshake": float(m[3]),
           "relay_rt": float(r[1])}
    # What an opening adds that no implementation of the protocol can avoid: the ECC on its
    # critical path (the tool precomputes e, se and ss while the phone answers the knock: the
    # phone's key derivation, e, es, ss; the tool's es, ee; the phone's ee, se) and the relay
    # hops (create, knock -> the phone's wait, message 1 -> the tool, message 2 -> the phone:
    # four one-way hops, two relay round trips).
    out["floor"] = 6 * out["ecdh"] + 2 * out["keygen"] + 2 * out["relay_rt"]
    print(f"  floor (same run): P-256 ECDH {out['ecdh']:.3f} ms, key generation "
          f"{out['keygen']:.3f} ms, KKpsk0 both sides {out['handshake']:.3f} ms; relay round "
          f"trip p50 {out['relay_rt']:.3f} ms; opening floor 6 ECDH + 2 key generations + 2 "
          f"relay round trips = {out['floor']:.3f} ms")
    return out


def idle_rounds(args, phone, tool, reopen_tool, link, lcid, raw, call, request,
                paths, work) -> bool:
    """First request after idle, interleaved: per round, after the same pause on each path, one
    request through the reopen tool (its session ended while idle: create, knock, KKpsk0, then
    the request) and one on the first tool's still-open session, the order alternating. Prints
    the overhead against IDLE_TARGET_MS and the opening's phases from the tool's log."""
    hid2 = raw(reopen_tool.addr)
    cid2 = hid2.allocate()
    call(hid2, cid2, request)  # its first session: not counted
    ended_from = phone.mark()  # the reopen tool's session ends after this
    times = {"open": [], "new": []}
    phase_rx = re.compile(r"connected to the phone \(relay session \w+\) in "
                          + ", ".join(rf"{p} (\d+\.\d+) ms" for p in PHASES))
    phases = {p: [] for p in (*PHASES, "request")}
    for i in range(args.reopen):
        order = ("open", "new") if i % 2 == 0 else ("new", "open")
        for path in order:
            time.sleep(PAUSE_S)
            if path == "new":
                phone.wait_for(r"^link: Reopen PC session ended: the PC ended the session$",
                               start=ended_from, timeout=10)
                log_mark = len(reopen_tool.log())
                ms, answer = call(hid2, cid2, request)
                ended_from = phone.mark()
            else:
                ms, answer = call(link, lcid, request)
            if answer[:1] != b"\x00":
                raise RuntimeError(f"{path} session answered {answer[:1].hex()}")
            times[path].append(ms)
            if path == "new":
                m = phase_rx.search(reopen_tool.log()[log_mark:])
                if m:
                    for p, v in zip(PHASES, m.groups()):
                        phases[p].append(float(v))
                    # The rest: CTAPHID in the tool, the request's trip to the phone (which
                    # first reads message 2), the engine and the answer's trip back.
                    phases["request"].append(ms - sum(float(v) for v in m.groups()))
    o, n = times["open"], times["new"]
    added = median(n) - median(o)
    paired_diff = median([b - a for a, b in zip(o, n)])
    print(f"first request after idle ({len(n)} rounds, {PAUSE_S:g} s pause before each request,"
          f" interleaved):")
    for path, label in (("open", "still-open session"), ("new", "new session (first after idle)")):
        s = sorted(times[path])
        print(f"  {label:<31} median {median(s):8.3f}  min {s[0]:8.3f}  max {s[-1]:8.3f} ms")
    if phases["create"]:
        print("  phases of the opening (tool's log, median ms): " + ", ".join(
            f"{p} {median(v):.3f}" for p, v in phases.items()))
    ok = paired_diff <= IDLE_TARGET_MS
    measured = floor(paths, work)
    if measured:
        print(f"  overhead / opening floor: {paired_diff / measured['floor']:.2f}x")
    print(f"check: first request after idle adds <= {IDLE_TARGET_MS:g} ms median (median of the "
          f"per-round differences {paired_diff:.3f} ms; difference of medians {added:.3f} ms): "
          f"{'PASS' if ok else 'MISS'}")
    return ok


def main() -> int:
    args = parse_args()
    paths = binaries(args.profile, args.build)

    from fido2 import cbor  # noqa: E402  (needs the .venv)
    from linklib import PairingTool, Process, Relay, phone_cli  # noqa: E402
    from phonelib import HID_CBOR, RawHid  # noqa: E402
    import socket  # noqa: E402

    # SIGTERM runs the cleanup below like an error does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started: list = []
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="link-rtt-"))
    work.mkdir(parents=True, exist_ok=True)
    passed = failed = 0
    try:
        print(f"link_rtt: {args.profile} binaries ({paths['virtual-phone'].parent}), "
              f"N={args.rounds} per command and path, interleaved; logs in {work}", flush=True)
        print(f"machine: {os.cpu_count()} cores, load average {loadavg()}; busiest other "
              f"processes over 1 s: {busy_others({os.getpid()})}", flush=True)

        relay = Relay(work)
        started.append(relay)
        tool = PairingTool(work / "pc", relay, name="Bench PC")
        started.append(tool)
        phone_dir = work / "phone"
        paired = phone_cli(phone_dir, "pair", "--allow-insecure-loopback", tool.code())
        if paired.returncode != 0:
            raise RuntimeError(f"pairing failed: {paired.stderr.strip()}")
        tool.wait_for(r"^paired with ")
        reopen_tool = None
        if args.reopen:
            # A second PC, paired before the phone serves (so its door is in the first wait),
            # whose sessions end after 1 s idle: its first request after a pause opens one.
            reopen_tool = PairingTool(work / "pc2", relay, "--session-idle-secs", "1",
                                      name="Reopen PC")
            started.append(reopen_tool)
            paired = phone_cli(phone_dir, "pair", "--allow-insecure-loopback",
                               reopen_tool.code())
            if paired.returncode != 0:
                raise RuntimeError(f"pairing failed: {paired.stderr.strip()}")
            reopen_tool.wait_for(r"^paired with ")
        phone = Process([str(paths["virtual-phone"]), "--data-dir", str(phone_dir), "serve",
                         "--link", "--ctaphid", "127.0.0.1:0", "--allow-insecure-loopback"],
                        phone_dir / "virtual-phone.log")
        started.append(phone)
        m = phone.wait_for(r"^ctaphid listening on (127\.0\.0\.1):(\d+)$")
        phone_addr = (m.group(1), int(m.group(2)))

        def raw(addr) -> RawHid:
            sock = socket.create_connection(addr, timeout=30)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return RawHid(sock)

        direct, link = raw(phone_addr), raw(tool.addr)
        dcid, lcid = direct.allocate(), link.allocate()

        def call(hid: RawHid, cid: int, request: bytes) -> tuple[float, bytes]:
            t0 = time.perf_counter_ns()
            answer = hid.cbor(cid, request)
            return (time.perf_counter_ns() - t0) / 1e6, answer

        get_info = b"\x04"
        # The first request through the tool opens the session: relay session, knock on the
        # phone's door, KKpsk0. Timed on its own, not part of the statistics.
        first_ms, answer = call(link, lcid, get_info)
        if answer[:1] != b"\x00":
            raise RuntimeError(f"getInfo through the link answered {answer[:1].hex()}: "
                               f"{tool.log()[-2000:]}")
        phone.wait_for(r"^link: Bench PC connected over relay$")
        print(f"first request through the link (opens the session): {first_ms:.1f} ms")
        direct_info = call(direct, dcid, get_info)[1]
        if direct_info != answer:
            raise RuntimeError("getInfo differs between the two paths")

        commands = {"getInfo": get_info}
        if not args.no_assertion:
            cdh = hashlib.sha256(b"link rtt bench").digest()
            mc = b"\x01" + cbor.encode({
                1: cdh, 2: {"id": "bench.example", "name": "Bench"},
                3: {"id": b"bench-user", "name": "bench@example.com", "displayName": "Bench"},
                4: [{"type": "public-key", "alg": -7}]})
            made = call(direct, dcid, mc)[1]
            if made[:1] != b"\x00":
                raise RuntimeError(f"makeCredential answered {made[:1].hex()}")
            auth_data = cbor.decode(made[1:])[2]
            (cred_len,) = struct.unpack_from(">H", auth_data, 53)
            cred_id = auth_data[55:55 + cred_len]
            commands["getAssertion"] = b"\x02" + cbor.encode({
                1: "bench.example", 2: cdh,
                3: [{"type": "public-key", "id": cred_id}]})

        times = {(c, p): [] for c in commands for p in ("direct", "link")}
        paths_of = {"direct": (direct, dcid), "link": (link, lcid)}
        relay_port = int(relay.url.rsplit(":", 1)[1])
        procs = {"relay": relay.proc.pid, "pairing-tool": tool.proc.pid,
                 "virtual-phone": phone.proc.pid}
        for i in range(args.warmup + args.rounds):
            if i == args.warmup:
                cpu0 = {n: cpu_seconds(p) for n, p in procs.items()}
                conns0 = connections_to(relay_port)
                own0 = time.process_time()
                wall0 = time.monotonic()
            order = ("direct", "link") if i % 2 == 0 else ("link", "direct")
            for name, request in commands.items():
                for path in order:
                    hid, cid = paths_of[path]
                    ms, answer = call(hid, cid, request)
                    if answer[:1] != b"\x00":
                        raise RuntimeError(f"{name} via {path} answered status "
                                           f"{answer[:1].hex()}")
                    if i >= args.warmup:
                        times[(name, path)].append(ms)
        wall = time.monotonic() - wall0
        conns1 = connections_to(relay_port)
        cpu = {n: cpu_seconds(p) - cpu0[n] for n, p in procs.items()}
        cpu["this client"] = time.process_time() - own0

        print()
        print(f"{'command':<13} {'path':<7} {'median':>9} {'p90':>9} {'p99':>9} {'min':>9}"
              f" {'max':>9}  (ms, N={args.rounds})")
        verdicts = []
        for name in commands:
            for path in ("direct", "link"):
                s = sorted(times[(name, path)])
                print(f"{name:<13} {path:<7} {median(s):9.3f} {percentile(s, 90):9.3f} "
                      f"{percentile(s, 99):9.3f} {s[0]:9.3f} {s[-1]:9.3f}")
            d, l = times[(name, "direct")], times[(name, "link")]
            added = median(l) - median(d)
            paired_diff = median([b - a for a, b in zip(d, l)])
            print(f"{name:<13} added   {added:9.3f} ms (difference of medians; median of the "
                  f"per-round differences {paired_diff:.3f} ms; link/direct "
                  f"{median(l) / median(d):.1f}x)")
            verdicts.append((name, added))
        per_round = 1000 * wall / args.rounds
        print()
        print(f"CPU per round ({len(commands)} command(s) on each path; wall {per_round:.2f} ms "
              f"per round, {os.cpu_count()} cores; the phone serves both paths):")
        for n, s in cpu.items():
            print(f"  {n:<14} {1000 * s / args.rounds:7.3f} ms")
        print(f"relay connections: {len(conns0)} open after the warm-up, {len(conns1)} at the "
              f"end, {len(conns1 - conns0)} opened during the measured rounds")
        print(f"machine after: load average {loadavg()}; busiest other processes over 1 s: "
              f"{busy_others({os.getpid(), *procs.values(), *[p.proc.pid for p in started]})}")
        print()
        idle_ok = True
        if reopen_tool is not None:
            idle_ok = idle_rounds(args, phone, tool, reopen_tool, link, lcid, raw, call,
                                  commands.get("getAssertion", get_info), paths, work)
        worst = max(a for _, a in verdicts)
        ok = worst <= TARGET_MS and idle_ok
        detail = ", ".join(f"{n} {a:.3f} ms" for n, a in verdicts)
        print(f"check: link adds <= {TARGET_MS:g} ms median on loopback ({detail}): "
              f"{'PASS' if ok else 'MISS'}")
        passed, failed = (1, 0) if ok else (0, 1)
    except BaseException as e:  # noqa: BLE001  (report, clean up, count as failed)
        if not isinstance(e, SystemExit):
            print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        failed = 1
    finally:
        for p in reversed(started):
            try:
                p.stop()  # kills our own child by its pid
            except Exception as e:  # noqa: BLE001
                print(f"warning: could not stop {p.proc.args[0]}: {e}", file=sys.stderr)
        if failed:
            print(f"logs kept in {work}", file=sys.stderr)
        elif not args.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
