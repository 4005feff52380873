"""The link's processes for end-to-end scenarios: the reference relay, the emulated pairing
tool and the virtual phone's link service, each a real process on loopback whose stdout lines
are collected by a reader thread. Every process started here is stopped by its fixture, by
its own pid."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from wslib import REPO
from fido2.hid import CtapHidDevice
from fido2.hid.base import HidDescriptor
from phonelib import REPORT_LEN, RawHid, TcpHidConnection, phone_binary


def binary(name: str, env: str) -> Path:
    path = Path(os.environ.get(env, REPO / "target" / "debug" / name))
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `cargo build --workspace` first")
    return path


class Process:
    """A child process whose stdout lines are kept, in order, for `wait_for`."""

    def __init__(self, argv: list[str], log_path: Path):
        self.log_path = log_path
        self.lines: list[str] = []
        self._new = threading.Condition()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(log_path, "ab"))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._new:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._new.notify_all()
        with self._new:
            self._new.notify_all()

    def wait_for(self, pattern: str, timeout: float = 20.0, start: int = 0) -> re.Match:
        """The first line from index `start` on that matches `pattern` (re.search)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._new:
            while True:
                for line in self.lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line matching {pattern!r}; stdout: {self.lines}; "
                        f"stderr: {self.log()[-3000:]}")
                self._new.wait(min(left, 0.2))

    def mark(self) -> int:
        with self._new:
            return len(self.lines)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its pid
        self.proc.wait(10)
        self._reader.join(5)


class Relay(Process):
    """`relay serve` on a loopback port chosen at run time."""

    def __init__(self, log_dir: Path, *flags: str):
        super().__init__([str(binary("relay", "RELAY")), "serve", "--listen", "127.0.0.1:0",
                          *flags], log_dir / "relay.log")
        self.url = self.wait_for(r"^relay listening on (http://127\.0\.0\.1:\d+)$").group(1)

    def fault(self, **fault) -> None:
        req = urllib.request.Request(self.url + "/v1/test/faults", method="POST",
                                     data=json.dumps(fault).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert 200 <= r.status < 300, r.status

    def delay(self, ms: int) -> None:
        """Serve every frame stored from now on `ms` after it was stored (a slow network)."""
        req = urllib.request.Request(self.url + "/v1/test/delay", method="POST",
                                     data=str(ms).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 204, r.status

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/v1/test/stats", timeout=10) as r:
            return json.loads(r.read())


class PairingTool(Process):
    """`pairing-tool serve`: shows pairing codes, exposes the paired phone on CTAPHID."""

    def __init__(self, data_dir: Path, relay: Relay, *flags: str, name: str = "Test PC"):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        super().__init__([str(binary("pairing-tool", "PAIRING_TOOL")), "--data-dir",
                          str(data_dir), "--relay", relay.url, "--allow-insecure-loopback",
                          "--name", name, "serve", "--ctaphid", "127.0.0.1:0", *flags],
                         data_dir / "pairing-tool.log")
        m = self.wait_for(r"^ctaphid listening on (127\.0\.0\.1):(\d+)$")
        self.addr = (m.group(1), int(m.group(2)))

    def code(self, start: int = 0) -> str:
        """The newest pairing code shown from line `start` on."""
        self.wait_for(r"^qr (PASSKEYPHONE:/\d+)$", start=start)
        codes = [l[3:] for l in self.lines[start:] if l.startswith("qr ")]
        return codes[-1]

    def device(self) -> CtapHidDevice:
        desc = HidDescriptor("tcp:%s:%d" % self.addr, 0, 0, REPORT_LEN, REPORT_LEN,
                             "pairing-tool", "0")
        return CtapHidDevice(desc, TcpHidConnection(self.addr))

    def raw(self) -> RawHid:
        sock = socket.create_connection(self.addr, timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return RawHid(sock)


class AdminTool(Process):
    """`pairing-tool obr`: the administrator's tool for one on-behalf registration grant to
    `user`'s phone; its FIDO2 client reaches the phone through the tool's CTAPHID socket."""

    def __init__(self, tmp_path: Path, relay: Relay, server, *flags: str,
                 user: str = "alice@acme.example"):
        data = tmp_path / "admin-tool"
        data.mkdir(exist_ok=True)
        super().__init__([str(binary("pairing-tool", "PAIRING_TOOL")), "--data-dir", str(data),
                          "--relay", relay.url, "--allow-insecure-loopback", "--name", "Admin PC",
                          "obr", "--workspace", server.url, "--user", user,
                          "--admin-name", "Bob Admin", "--ctaphid", "127.0.0.1:0", *flags],
                         data / "tool.log")
        m = self.wait_for(r"^ctaphid listening on (127\.0\.0\.1):(\d+)$")
        self.addr = (m.group(1), int(m.group(2)))
        self.grant_id = self.wait_for(r"^grant ([0-9a-f]{32})$").group(1)

    def device(self) -> CtapHidDevice:
        desc = HidDescriptor("tcp:%s:%d" % self.addr, 0, 0, REPORT_LEN, REPORT_LEN,
                             "admin-tool", "0")
        return CtapHidDevice(desc, TcpHidConnection(self.addr))


def phone_cli(data_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(phone_binary()), "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=timeout)


class LinkPhone(Process):
    """`virtual-phone serve --link`: the phone listening for its paired computers."""

    def __init__(self, data_dir: Path, *flags: str):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        super().__init__([str(phone_binary()), "--data-dir", str(data_dir), "serve", "--link",
                          "--allow-insecure-loopback", *flags],
                         data_dir / "virtual-phone.link.log")
        self.wait_for(r"^link service running$")

    def pair(self, code: str) -> subprocess.CompletedProcess:
        return phone_cli(self.data_dir, "pair", "--allow-insecure-loopback", code)
