"""The emulated workspace server as a real process, and the virtual phone's CLI, for the
end-to-end scenarios. Every process started here is stopped by its fixture."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "conformance"))

from phonelib import Phone, phone_binary  # noqa: E402  (shared with the conformance suite)


def server_binary() -> Path:
    path = Path(os.environ.get("WORKSPACE_SERVER", REPO / "target" / "debug" / "workspace-server"))
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `cargo build --workspace` first")
    return path


class WorkspaceServer:
    """`workspace-server serve` on a loopback port chosen at run time."""

    def __init__(self, log_dir: Path, *flags: str):
        self.log_path = log_dir / "workspace-server.log"
        self.proc = subprocess.Popen(
            [str(server_binary()), "serve", "--listen", "127.0.0.1:0", *flags],
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "wb"),
        )
        line = self.proc.stdout.readline().decode().strip()
        m = re.fullmatch(r"workspace listening on (http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"unexpected banner {line!r}; log: {self.log_path.read_text()}")
        self.url = m.group(1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    # --- admin API -------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, content_type="application/json"):
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def admin(self, method: str, path: str, body=None):
        status, answer = self.request(method, path, body)
        assert 200 <= status < 300, f"{method} {path} -> {status} {answer}"
        return answer

    def add_user(self, email: str, name: str) -> dict:
        return self.admin("POST", "/admin/users", {"email": email, "display_name": name})

    def assign(self, user: dict, client_pin: bool, force_change: bool = False) -> None:
        self.admin("POST", f"/admin/users/{user['id']}/security-key",
                   {"type": "smartphone", "client_pin": client_pin, "force_change": force_change})

    def outbox(self, email: str) -> list[dict]:
        return self.admin("GET", f"/admin/outbox?to={urllib.request.quote(email)}")

    def link_for(self, email: str) -> str:
        links = [m["link"] for m in self.outbox(email) if m.get("link")]
        assert links, f"no activation email for {email}"
        return links[-1]

    def pin_for(self, email: str) -> str:
        pins = [m["pin"] for m in self.outbox(email) if m.get("pin")]
        assert pins, f"no PIN email for {email}"
        return pins[-1]

    def key_of(self, email: str) -> dict | None:
        for u in self.admin("GET", "/admin/users"):
            if u["email"] == email:
                return u["key"]
        raise KeyError(email)

    def fault(self, path_prefix: str, count: int, kind: str, delay_ms: int | None = None):
        body = {"path_prefix": path_prefix, "count": count, "kind": kind}
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        self.admin("POST", "/admin/faults", body)


def phone_cli(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs `virtual-phone --data-dir DIR ARGS...` to completion."""
    return subprocess.run([str(phone_binary()), "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=timeout)


__all__ = ["Phone", "WorkspaceServer", "phone_cli", "REPO"]
