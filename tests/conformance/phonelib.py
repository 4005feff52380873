"""Helpers for the CTAP 2.1 conformance suite: the virtual phone process, the CTAPHID-over-TCP
connection for python-fido2, a raw CTAPHID client for malformed traffic, a strict CBOR decoder
and a CBOR encoder that can also write the non-canonical forms the authenticator must refuse.

The socket contract is proto/ctaphid-socket.md: raw 64-byte CTAPHID reports both ways, one TCP
connection per HID session, one line `ctaphid listening on HOST:PORT` on stdout when ready.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fido2.client import UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_LEN = 64
STARTUP_TIMEOUT_S = 20.0
IO_TIMEOUT_S = 10.0

ERR = CtapError.ERR


class ScriptedUser(UserInteraction):
    """The person at the PC for python-fido2's Fido2Client: gives `pin` when asked, allows
    built-in user verification, and counts both."""

    def __init__(self, pin=None):
        self.pin = pin
        self.pin_requests = 0
        self.uv_requests = 0

    def prompt_up(self):
        pass

    def request_pin(self, permissions, rp_id):
        self.pin_requests += 1
        return self.pin

    def request_uv(self, permissions, rp_id):
        self.uv_requests += 1
        return True


def phone_binary() -> Path:
    """The virtual-phone binary: $VIRTUAL_PHONE, else <repo>/target/debug/virtual-phone."""
    path = Path(os.environ.get("VIRTUAL_PHONE", REPO_ROOT / "target" / "debug" / "virtual-phone"))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"virtual-phone binary not found at {path}: build it first with "
            "`cargo build -p virtual-phone`, or point $VIRTUAL_PHONE at it"
        )
    return path


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("virtual phone closed the CTAPHID connection")
        buf += chunk
    return bytes(buf)


class TcpHidConnection(CtapHidConnection):
    """One CTAPHID session over TCP: exactly 64 bytes per report, no framing."""

    def __init__(self, addr: tuple[str, int], timeout: float = IO_TIMEOUT_S):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write_packet(self, data: bytes) -> None:
        if len(data) != REPORT_LEN:
            raise ValueError(f"a CTAPHID report is {REPORT_LEN} bytes, not {len(data)}")
        self.sock.sendall(data)

    def read_packet(self) -> bytes:
        return recv_exactly(self.sock, REPORT_LEN)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Phone:
    """A `virtual-phone serve` process on a data dir of its own. Restarting it keeps the data
    dir: that is the authenticator's power cycle."""

    def __init__(self, data_dir: Path, flags: list[str] | tuple[str, ...] = ()):
        self.binary = phone_binary()
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.flags = list(flags)
        self.log_path = self.data_dir / "virtual-phone.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.addr: tuple[str, int] | None = None
        self.started_at = 0.0
        self._devices: list[CtapHidDevice] = []
        self._sockets: list[socket.socket] = []

    # -- process ---------------------------------------------------------------------------
    def start(self) -> "Phone":
        assert self.proc is None, "already running"
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(self.binary), "--data-dir", str(self.data_dir), "serve",
                 "--ctaphid", "127.0.0.1:0", *self.flags],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            )
        finally:
            log.close()
        line = self._read_banner()
        m = re.fullmatch(r"ctaphid listening on (127\.0\.0\.1):(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"unexpected first stdout line from virtual-phone: {line!r}")
        self.addr = (m.group(1), int(m.group(2)))
        self.started_at = time.monotonic()
        return self

    def _read_banner(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError(f"virtual-phone did not report its port; stderr: {self.log()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    code = self.proc.wait(5)
                    self.proc = None
                    raise RuntimeError(
                        f"virtual-phone exited ({code}) before listening; stderr: {self.log()}")
                buf += chunk
        line, _, rest = buf.partition(b"\n")
        self._extra_stdout = rest
        return line.decode(errors="replace").strip()

    def stop(self) -> None:
        for dev in self._devices:
            try:
                dev.close()
            except Exception:
                pass
        self._devices.clear()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass
        self._sockets.clear()
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                proc.kill()  # our own child, by its pid
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
        self.addr = None

    def restart(self) -> "Phone":
        """Power cycle: kill the process and start it again on the same data dir."""
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stdout_rest(self) -> bytes:
        """Whatever the process wrote to stdout after the banner line (must stay empty)."""
        assert self.proc is not None and self.proc.stdout is not None
        out = self._extra_stdout
        fd = self.proc.stdout.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            out += chunk
        return out

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- connections -----------------------------------------------------------------------
    def connection(self) -> TcpHidConnection:
        assert self.addr is not None, "phone not running"
        return TcpHidConnection(self.addr)

    def device(self) -> CtapHidDevice:
        desc = HidDescriptor("tcp:%s:%d" % self.addr, 0, 0, REPORT_LEN, REPORT_LEN,
                             "virtual-phone", "0")
        dev = CtapHidDevice(desc, self.connection())
        self._devices.append(dev)
        return dev

    def ctap2(self) -> Ctap2:
        return Ctap2(self.device())

    def raw(self) -> "RawHid":
        assert self.addr is not None, "phone not running"
        sock = socket.create_connection(self.addr, timeout=IO_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sockets.append(sock)
        return RawHid(sock)


# ---------------------------------------------------------------------------------------------
# Raw CTAPHID
# ---------------------------------------------------------------------------------------------
BROADCAST_CID = 0xFFFFFFFF
HID_PING, HID_MSG, HID_LOCK, HID_INIT, HID_WINK = 0x01, 0x03, 0x04, 0x06, 0x08
HID_CBOR, HID_CANCEL, HID_KEEPALIVE, HID_ERROR = 0x10, 0x11, 0x3B, 0x3F
INIT_DATA = REPORT_LEN - 7
CONT_DATA = REPORT_LEN - 5
MAX_MESSAGE = INIT_DATA + 128 * CONT_DATA  # 7609

# CTAPHID error codes (CTAP 2.1 §11.2.9.1.6).
HERR_INVALID_CMD = 0x01
HERR_INVALID_PAR = 0x02
HERR_INVALID_LEN = 0x03
HERR_INVALID_SEQ = 0x04
HERR_MSG_TIMEOUT = 0x05
HERR_CHANNEL_BUSY = 0x06
HERR_INVALID_CHANNEL = 0x0B


def init_packet(cid: int, cmd: int, bcnt: int, data: bytes = b"") -> bytes:
    pkt = struct.pack(">IBH", cid, 0x80 | cmd, bcnt) + data[:INIT_DATA]
    return pkt.ljust(REPORT_LEN, b"\0")


def cont_packet(cid: int, seq: int, data: bytes = b"") -> bytes:
    pkt = struct.pack(">IB", cid, seq) + data[:CONT_DATA]
    return pkt.ljust(REPORT_LEN, b"\0")


def fragments(cid: int, cmd: int, payload: bytes) -> list[bytes]:
    pkts = [init_packet(cid, cmd, len(payload), payload[:INIT_DATA])]
    rest = payload[INIT_DATA:]
    seq = 0
    while rest:
        pkts.append(cont_packet(cid, seq, rest[:CONT_DATA]))
        rest = rest[CONT_DATA:]
        seq += 1
    return pkts


@dataclass
class HidMessage:
    cid: int
    cmd: int
    payload: bytes
    keepalives: list[int]


class RawHid:
    """A CTAPHID client that writes whatever reports it is given."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def write(self, *packets: bytes) -> None:
        for p in packets:
            assert len(p) == REPORT_LEN
        self.sock.sendall(b"".join(packets))

    def read_report(self, timeout: float = IO_TIMEOUT_S) -> bytes:
        self.sock.settimeout(timeout)
        try:
            return recv_exactly(self.sock, REPORT_LEN)
        finally:
            self.sock.settimeout(IO_TIMEOUT_S)

    def pending(self, wait: float = 0.0) -> bool:
        return bool(select.select([self.sock], [], [], wait)[0])

    def read_message(self, timeout: float = IO_TIMEOUT_S) -> HidMessage:
        """One whole message, skipping (and recording) KEEPALIVEs."""
        keepalives = []
        while True:
            r = self.read_report(timeout)
            cid, kind, bcnt = struct.unpack_from(">IBH", r)
            assert kind & 0x80, f"expected an init packet, got {r.hex()}"
            cmd = kind & 0x7F
            if cmd == HID_KEEPALIVE:
                keepalives.append(r[7])
                continue
            data = r[7:7 + min(bcnt, INIT_DATA)]
            seq = 0
            while len(data) < bcnt:
                c = self.read_report(timeout)
                ccid, cseq = struct.unpack_from(">IB", c)
                assert ccid == cid and cseq == seq, f"bad continuation {c[:5].hex()}"
                data += c[5:5 + min(bcnt - len(data), CONT_DATA)]
                seq += 1
            return HidMessage(cid, cmd, data, keepalives)

    def send(self, cid: int, cmd: int, payload: bytes = b"") -> None:
        self.write(*fragments(cid, cmd, payload))

    def call(self, cid: int, cmd: int, payload: bytes = b"") -> HidMessage:
        self.send(cid, cmd, payload)
        return self.read_message()

    def allocate(self) -> int:
        nonce = os.urandom(8)
        m = self.call(BROADCAST_CID, HID_INIT, nonce)
        assert (m.cid, m.cmd) == (BROADCAST_CID, HID_INIT), m
        assert m.payload[:8] == nonce
        return struct.unpack_from(">I", m.payload, 8)[0]

    def cbor(self, cid: int, request: bytes) -> bytes:
        m = self.call(cid, HID_CBOR, request)
        assert (m.cid, m.cmd) == (cid, HID_CBOR), f"expected a CBOR response, got {m}"
        return m.payload


# ---------------------------------------------------------------------------------------------
# Strict CBOR (CTAP 2.1 §8 canonical form)
# ---------------------------------------------------------------------------------------------
class NonCanonical(ValueError):
    pass


def _key_order(enc: bytes):
    return (enc[0] >> 5, len(enc), enc)


def strict_decode_from(data: bytes, pos: int = 0, depth: int = 0) -> tuple[Any, int]:
    """Decodes one item at `pos`, refusing anything CTAP2 canonical CBOR does not allow:
    non-minimal heads, indefinite lengths, tags, floats, simple values other than
    false/true/null, invalid UTF-8, unsorted or duplicate map keys. Returns (value, end)."""
    if depth > 16:
        raise NonCanonical("nesting too deep")
    if pos >= len(data):
        raise NonCanonical("truncated")
    ib = data[pos]
    major, info = ib >> 5, ib & 0x1F
    pos += 1

    def argument() -> int:
        nonlocal pos
        if info < 24:
            return info
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise NonCanonical(f"reserved or indefinite additional info {info}")
        n = sizes[info]
        if pos + n > len(data):
            raise NonCanonical("truncated head")
        v = int.from_bytes(data[pos:pos + n], "big")
        pos += n
        minimum = {1: 24, 2: 0x100, 4: 0x10000, 8: 0x100000000}[n]
        if v < minimum:
            raise NonCanonical(f"non-minimal head {data[pos - n - 1:pos].hex()}")
        return v

    if major == 0:
        return argument(), pos
    if major == 1:
        return -1 - argument(), pos
    if major in (2, 3):
        n = argument()
        if pos + n > len(data):
            raise NonCanonical("truncated string")
        raw = data[pos:pos + n]
        pos += n
        if major == 3:
            try:
                return raw.decode("utf-8"), pos
            except UnicodeDecodeError as e:
                raise NonCanonical("invalid UTF-8") from e
        return bytes(raw), pos
    if major == 4:
        n = argument()
        items = []
        for _ in range(n):
            v, pos = strict_decode_from(data, pos, depth + 1)
            items.append(v)
        return items, pos
    if major == 5:
        n = argument()
        out: dict = {}
        prev = None
        for _ in range(n):
            kstart = pos
            k, pos = strict_decode_from(data, pos, depth + 1)
            kenc = data[kstart:pos]
            if prev is not None and not _key_order(prev) < _key_order(kenc):
                raise NonCanonical(f"map keys out of order or duplicated: {prev.hex()} {kenc.hex()}")
            prev = kenc
            v, pos = strict_decode_from(data, pos, depth + 1)
            out[k] = v
        return out, pos
    if major == 6:
        raise NonCanonical("tags are not used by CTAP2")
    if ib == 0xF4:
        return False, pos
    if ib == 0xF5:
        return True, pos
    if ib == 0xF6:
        return None, pos
    raise NonCanonical(f"float or simple value {ib:#x}")


def strict_loads(data: bytes) -> Any:
    value, end = strict_decode_from(bytes(data))
    if end != len(data):
        raise NonCanonical(f"{len(data) - end} trailing bytes")
    return value


# ---------------------------------------------------------------------------------------------
# CBOR encoder with deliberate defects
# ---------------------------------------------------------------------------------------------
class Raw:
    """Bytes inserted verbatim."""

    def __init__(self, data: bytes):
        self.data = data


class NonMinInt:
    """An integer (or length) head written with a wider argument than needed."""

    def __init__(self, value: int, width: int):
        self.value, self.width = value, width


class OrderedMap:
    """A map written in exactly the given entry order (duplicates allowed)."""

    def __init__(self, items: list[tuple[Any, Any]], indefinite: bool = False):
        self.items, self.indefinite = items, indefinite


class IndefArray:
    def __init__(self, items: list):
        self.items = items


class IndefBytes:
    def __init__(self, chunks: list[bytes], text: bool = False):
        self.chunks, self.text = chunks, text


class Tag:
    def __init__(self, tag: int, value: Any):
        self.tag, self.value = tag, value


class Float:
    def __init__(self, value: float, width: int = 8):
        self.value, self.width = value, width


class Simple:
    def __init__(self, value: int):
        self.value = value


class LongBytes:
    """A byte/text string whose length head is written with `width` bytes."""

    def __init__(self, data: bytes, width: int, text: bool = False):
        self.data, self.width, self.text = data, width, text


def _head(major: int, arg: int, width: int | None = None) -> bytes:
    m = major << 5
    if width is None:
        if arg < 24:
            return bytes([m | arg])
        width = 1 if arg <= 0xFF else 2 if arg <= 0xFFFF else 4 if arg <= 0xFFFFFFFF else 8
    info = {0: None, 1: 24, 2: 25, 4: 26, 8: 27}[width]
    if info is None:
        return bytes([m | arg])
    return bytes([m | info]) + arg.to_bytes(width, "big")


def enc(v: Any) -> bytes:
    """CTAP2 canonical CBOR for plain values; the wrapper classes above write defects."""
    if isinstance(v, Raw):
        return v.data
    if isinstance(v, NonMinInt):
        if v.value >= 0:
            return _head(0, v.value, v.width)
        return _head(1, -1 - v.value, v.width)
    if isinstance(v, OrderedMap):
        body = b"".join(enc(k) + enc(x) for k, x in v.items)
        if v.indefinite:
            return b"\xbf" + body + b"\xff"
        return _head(5, len(v.items)) + body
    if isinstance(v, IndefArray):
        return b"\x9f" + b"".join(enc(x) for x in v.items) + b"\xff"
    if isinstance(v, IndefBytes):
        major = 3 if v.text else 2
        return bytes([(major << 5) | 31]) + b"".join(
            _head(major, len(c)) + c for c in v.chunks) + b"\xff"
    if isinstance(v, LongBytes):
        return _head(3 if v.text else 2, len(v.data), v.width) + v.data
    if isinstance(v, Tag):
        return _head(6, v.tag) + enc(v.value)
    if isinstance(v, Float):
        fmt = {2: ">e", 4: ">f", 8: ">d"}[v.width]
        return bytes([0xE0 | {2: 25, 4: 26, 8: 27}[v.width]]) + struct.pack(fmt, v.value)
    if isinstance(v, Simple):
        return bytes([0xE0 | v.value]) if v.value < 24 else bytes([0xF8, v.value])
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, (bytes, bytearray)):
        return _head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        return _head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        items = sorted(((enc(k), enc(x)) for k, x in v.items()), key=lambda e: _key_order(e[0]))
        return _head(5, len(items)) + b"".join(k + x for k, x in items)
    raise TypeError(f"cannot encode {v!r}")


# ---------------------------------------------------------------------------------------------
# Relying-party side checks
# ---------------------------------------------------------------------------------------------
def rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


def check_auth_data_encoding(auth_data: bytes) -> dict:
    """Parses authenticator data strictly (WebAuthn §6.1): the COSE key and the extension map
    must be canonical CBOR and nothing may follow them. Returns the parsed parts."""
    auth_data = bytes(auth_data)
    assert len(auth_data) >= 37, "authData shorter than 37 bytes"
    flags = auth_data[32]
    out: dict = {"flags": flags, "counter": int.from_bytes(auth_data[33:37], "big")}
    pos = 37
    if flags & 0x40:
        out["aaguid"] = auth_data[pos:pos + 16]
        (cred_len,) = struct.unpack_from(">H", auth_data, pos + 16)
        pos += 18
        out["credential_id"] = auth_data[pos:pos + cred_len]
        pos += cred_len
        out["public_key"], pos = strict_decode_from(auth_data, pos)
    if flags & 0x80:
        out["extensions"], pos = strict_decode_from(auth_data, pos)
        assert isinstance(out["extensions"], dict) and out["extensions"], \
            "ED set but the extension map is empty"
    assert pos == len(auth_data), f"{len(auth_data) - pos} bytes after authenticator data"
    # BE=0 with BS=1 is invalid (WebAuthn §6.1); this phone's passkeys are device-bound.
    assert not flags & 0x10 or flags & 0x08, "BS set without BE"
    assert flags & 0x18 == 0, f"BE/BS must be 0 for device-bound passkeys, flags={flags:#04x}"
    assert flags & 0x22 == 0, f"reserved flag bits set: {flags:#04x}"
    return out


# ---------------------------------------------------------------------------------------------
# CTAP helpers shared by the tests
# ---------------------------------------------------------------------------------------------
ES256 = [{"type": "public-key", "alg": -7}]
EDDSA = [{"type": "public-key", "alg": -8}]
RP = {"id": "example.com", "name": "Example"}


def cdh(label: str = "client data") -> bytes:
    """A clientDataHash."""
    return hashlib.sha256(label.encode()).digest()


def user(n: int = 1, name: str | None = None) -> dict:
    return {"id": b"user-%d" % n, "name": name or f"user{n}@example.com",
            "displayName": f"User {n}"}


def status_of(excinfo) -> int:
    """The CTAP status of a CtapError raised in a pytest.raises block."""
    return int(excinfo.value.code)


def call_status(ctap: Ctap2, cmd: int, params: dict | None = None, **kw) -> int:
    """Sends a request and returns its status byte (0 on success)."""
    try:
        ctap.send_cbor(cmd, params, **kw)
        return 0
    except CtapError as e:
        return int(e.code)


def raw_call(dev: CtapHidDevice, request: bytes) -> bytes:
    """Sends `command || params` as CTAPHID_CBOR and returns the response bytes."""
    from fido2.hid import CTAPHID
    return dev.call(CTAPHID.CBOR, request)


def client_pin(ctap: Ctap2, protocol: int):
    from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
    return ClientPin(ctap, {1: PinProtocolV1, 2: PinProtocolV2}[protocol]())


def pin_protocol(protocol: int):
    from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2
    return {1: PinProtocolV1, 2: PinProtocolV2}[protocol]()


def verify_assertion(public_key: dict, auth_data: bytes, client_data_hash: bytes,
                     signature: bytes) -> None:
    """Verifies an assertion signature as an RP would (raises on failure)."""
    from fido2.cose import CoseKey
    CoseKey.parse(public_key).verify(bytes(auth_data) + client_data_hash, signature)


def verify_packed_self(att, alg: int = -7) -> None:
    """Checks a makeCredential response's packed self-attestation (WebAuthn §8.2): no x5c,
    `alg` of the credential key (`alg`), signature by the credential key."""
    from fido2.attestation import PackedAttestation, AttestationType
    assert att.fmt == "packed", att.fmt
    assert set(att.att_stmt) == {"alg", "sig"}, att.att_stmt.keys()
    assert att.att_stmt["alg"] == alg
    assert att.auth_data.credential_data.public_key[3] == alg
    result = PackedAttestation().verify(att.att_stmt, att.auth_data, _last_cdh(att))
    assert result.attestation_type == AttestationType.SELF


def _last_cdh(att):
    return att._cdh  # set by make_credential() below


def make_credential(ctap: Ctap2, rp: dict = RP, usr: dict | None = None, *, rk: bool = False,
                    uv: bool | None = None, exclude=None, extensions=None, token=None,
                    protocol: int | None = None, label: str = "mc", algs=ES256, **kw):
    """makeCredential with sensible defaults; checks the response encoding. `token` (with
    `protocol`) adds a pinUvAuthParam over the clientDataHash; `algs` is pubKeyCredParams."""
    h = cdh(label)
    options = {}
    if rk:
        options["rk"] = True
    if uv is not None:
        options["uv"] = uv
    param = None
    if token is not None:
        param = pin_protocol(protocol).authenticate(token, h)
    att = ctap.make_credential(h, rp, usr or user(1), algs, exclude_list=exclude,
                               extensions=extensions, options=options or None,
                               pin_uv_param=param, pin_uv_protocol=protocol if token else None,
                               **kw)
    object.__setattr__(att, "_cdh", h)
    parts = check_auth_data_encoding(att.auth_data)
    assert att.auth_data.rp_id_hash == rp_id_hash(rp["id"])
    assert att.auth_data.is_attested() and att.auth_data.is_user_present()
    assert parts["aaguid"] == bytes(ctap.info.aaguid)
    return att


def get_assertion(ctap: Ctap2, rp_id: str = "example.com", allow=None, *, up: bool | None = None,
                  uv: bool | None = None, extensions=None, token=None, protocol=None,
                  label: str = "ga"):
    h = cdh(label)
    options = {}
    if up is not None:
        options["up"] = up
    if uv is not None:
        options["uv"] = uv
    param = pin_protocol(protocol).authenticate(token, h) if token is not None else None
    resp = ctap.get_assertion(rp_id, h, allow, extensions, options or None, param,
                              protocol if token is not None else None)
    check_auth_data_encoding(resp.auth_data)
    assert resp.auth_data.rp_id_hash == rp_id_hash(rp_id)
    object.__setattr__(resp, "_cdh", h)
    return resp


def descriptor(att) -> dict:
    return {"type": "public-key", "id": att.auth_data.credential_data.credential_id}


def check_signed_by(resp, att) -> None:
    """The assertion `resp` verifies with the public key created in `att`."""
    verify_assertion(att.auth_data.credential_data.public_key, resp.auth_data, resp._cdh,
                     resp.signature)
