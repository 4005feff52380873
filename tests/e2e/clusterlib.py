"""The relay as a cluster (issue 19): Debian's redis-server, several `relay serve --redis`
instances and Debian's nginx round-robin in front, all on loopback with ports picked at run
time. Every process is started by the test and stopped by its own pid; nothing is run as a
system service."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

from linklib import Process, binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on {port}")
            time.sleep(0.02)


class Redis:
    """`redis-server` without persistence: a restart forgets everything, as a crash would."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: Process | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.proc = Process(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            self.log_dir / "redis.log")
        wait_listening(self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.stop()  # SIGKILL by pid
            self.proc = None

    def stop(self) -> None:
        self.kill()


class ClusterRelay(Process):
    """One `relay serve --redis` instance, with a log of its own."""

    def __init__(self, log_dir: Path, index: int, redis: Redis, *flags: str):
        self.index = index
        super().__init__([str(binary("relay", "RELAY")), "serve", "--listen", "127.0.0.1:0",
                          "--redis", redis.url, "--redis-prefix", "e2e", *flags],
                         log_dir / f"relay{index}.log")
        m = self.wait_for(r"^relay listening on (http://127\.0\.0\.1:(\d+))$")
        self.url, self.port = m.group(1), int(m.group(2))


NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    log_format relay '$request_method $uri $status $upstream_addr';
    upstream relays {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        access_log {dir}/access.log relay;
        client_max_body_size 64k;
        location / {{
            proxy_pass http://relays;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Long-polls last up to 30 s (link.md §5.4).
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_connect_timeout 2s;
            # A dead instance: the request goes to the next one (a POST only while it
            # was not yet sent, which nginx guarantees by default).
            proxy_next_upstream error timeout;
            proxy_buffering off;
        }}
    }}
}}
"""


class Nginx(Process):
    """Debian's nginx round-robin over the relays, as the README's sample (without TLS)."""

    def __init__(self, log_dir: Path, relays: list[ClusterRelay]):
        d = log_dir / "nginx"
        d.mkdir(exist_ok=True)
        self.dir = d
        self.port = free_port()
        servers = "\n".join(f"        server 127.0.0.1:{r.port} max_fails=1 fail_timeout=5s;"
                            for r in relays)
        conf = d / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=d, servers=servers, port=self.port))
        super().__init__(["nginx", "-c", str(conf), "-p", str(d)], d / "stderr.log")
        wait_listening(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def access(self) -> list[tuple[str, str, int, str]]:
        """(method, path, status, upstream addresses) of every request so far."""
        try:
            text = (self.dir / "access.log").read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            m = re.match(r"^(\S+) (\S+) (\d+) (.*)$", line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
        return out

    def stop(self) -> None:
        # nginx's master is our child; SIGKILL leaves its worker, so ask it to quit first.
        if self.proc.poll() is None:
            self.proc.send_signal(15)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        super().stop()
