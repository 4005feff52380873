"""End to end through the link, with real processes on loopback: python-fido2 (as the PC's
browser) -> the pairing tool's CTAPHID socket -> the reference relay -> the virtual phone.
Registration and sign-in are verified by Fido2Server; then the failure cases: a cancel, a
spent or expired pairing code, a removed or never-paired PC, and a relay that tampers with
frames."""

from __future__ import annotations

import shutil

import pytest
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2, ClientPin
from fido2.server import Fido2Server

from linklib import LinkPhone, PairingTool, phone_cli
from fido2 import cbor

from phonelib import HID_CANCEL, HID_CBOR, HID_KEEPALIVE  # noqa: E402

ORIGIN = "https://example.com"
RP = {"id": "example.com", "name": "Example"}
PIN = "135790"


class User(UserInteraction):
    def __init__(self, pin=None):
        self.pin = pin

    def prompt_up(self):
        pass

    def request_pin(self, permissions, rp_id):
        return self.pin

    def request_uv(self, permissions, rp_id):
        return True


def paired_setup(procs, tmp_path, relay, name="phone", tool_name="Desk PC", phone_flags=()):
    tool = procs(PairingTool(tmp_path / f"{name}-tool", relay, name=tool_name))
    code = tool.code()
    result = phone_cli(tmp_path / name, "pair", "--allow-insecure-loopback", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"paired with {tool_name} (")
    tool.wait_for(r"^paired with Virtual phone$")
    phone = procs(LinkPhone(tmp_path / name, *phone_flags))
    return tool, phone


def client(tool, pin=None):
    return Fido2Client(tool.device(), client_data_collector=DefaultClientDataCollector(ORIGIN),
                       user_interaction=User(pin))


def register_and_sign_in(tool, pin=None, n=1):
    srv = Fido2Server(RP, attestation="none")
    c = client(tool, pin)
    user = {"id": b"user-%d" % n, "name": f"u{n}@example.com", "displayName": f"U {n}"}
    options, state = srv.register_begin(user, resident_key_requirement="required",
                                        user_verification="required")
    made = c.make_credential(options.public_key)
    auth_data = srv.register_complete(state, made)
    creds = [auth_data.credential_data]
    options, state = srv.authenticate_begin(creds, user_verification="required")
    got = c.get_assertion(options.public_key).get_response(0)
    srv.authenticate_complete(state, creds, got)
    return auth_data


def test_register_and_sign_in_through_the_relay(procs, tmp_path, relay):
    tool, phone = paired_setup(procs, tmp_path, relay)
    listed = phone_cli(tmp_path / "phone", "paired", "list")
    assert "1 paired computer(s)" in listed.stdout and "Desk PC" in listed.stdout
    auth_data = register_and_sign_in(tool)
    assert auth_data.is_user_verified()
    phone.wait_for(r"^link: Desk PC connected over relay$")
    phone.wait_for(r"^link: Desk PC command 0x01 -> status 0x00$")
    phone.wait_for(r"^link: Desk PC command 0x02 -> status 0x00$")
    # The relay carried only ciphertext: no rp id or user name in its log.
    assert "example.com" not in relay.log()


def test_pin_protected_key_through_the_relay(procs, tmp_path, relay):
    tool, _ = paired_setup(procs, tmp_path, relay, phone_flags=("--no-builtin-uv",))
    ClientPin(Ctap2(tool.device())).set_pin(PIN)
    auth_data = register_and_sign_in(tool, pin=PIN)
    assert auth_data.is_user_verified()
    with pytest.raises(ClientError) as e:
        register_and_sign_in(tool, pin="000000", n=2)
    assert e.value.cause.code == CtapError.ERR.PIN_INVALID


def test_cancel_reaches_the_phone(procs, tmp_path, relay):
    tool, phone = paired_setup(procs, tmp_path, relay, phone_flags=("--presence", "ignore"))
    hid = tool.raw()
    cid = hid.allocate()
    request = b"\x01" + cbor.encode({
        1: b"\x11" * 32, 2: {"id": "example.com"},
        3: {"id": b"u", "name": "u"}, 4: [{"type": "public-key", "alg": -7}]})
    hid.send(cid, HID_CBOR, request)
    # Keepalives from the phone arrive through the tool, then "user presence needed".
    statuses = []
    while 2 not in statuses:
        report = hid.read_report(timeout=15)
        assert report[4] == 0x80 | HID_KEEPALIVE, report.hex()
        statuses.append(report[7])
    hid.send(cid, HID_CANCEL)
    msg = hid.read_message(timeout=15)
    assert msg.cmd == HID_CBOR and msg.payload == bytes([CtapError.ERR.KEEPALIVE_CANCEL])
    phone.wait_for(r"command 0x01 -> status 0x2d$")


def test_a_spent_code_is_refused(procs, tmp_path, relay):
    tool = procs(PairingTool(tmp_path / "tool", relay))
    code = tool.code()
    first = phone_cli(tmp_path / "a", "pair", "--allow-insecure-loopback", code)
    assert first.returncode == 0, first.stderr
    second = phone_cli(tmp_path / "b", "pair", "--allow-insecure-loopback", code)
    assert second.returncode == 1
    assert "the computer refused the pairing code: it was already used or has expired" \
        in second.stderr
    assert "0 paired computer(s)" in phone_cli(tmp_path / "b", "paired", "list").stdout


def test_an_expired_code_is_refused(procs, tmp_path, relay):
    tool = procs(PairingTool(tmp_path / "tool", relay, "--qr-lifetime-secs", "1"))
    code = tool.code()
    mark = tool.mark()
    tool.code(start=mark)  # the tool moved on to a new code: the old one is spent
    result = phone_cli(tmp_path / "p", "pair", "--allow-insecure-loopback", code)
    assert result.returncode == 1
    assert "already used or has expired" in result.stderr


def test_a_code_for_another_relay_setting_is_refused(procs, tmp_path, relay):
    tool = procs(PairingTool(tmp_path / "tool", relay))
    result = phone_cli(tmp_path / "p", "pair", tool.code())  # no insecure-loopback setting
    assert result.returncode == 1
    assert "plain http is refused" in result.stderr
    bad = phone_cli(tmp_path / "p", "pair", "PASSKEYPHONE:/123")
    assert bad.returncode == 1 and "not a usable pairing code" in bad.stderr


def test_a_removed_pc_is_not_served(procs, tmp_path, relay):
    tool, phone = paired_setup(procs, tmp_path, relay)
    ctap = Ctap2(tool.device())  # opens a session
    pairing_id = phone_cli(tmp_path / "phone", "paired", "list").stdout.splitlines()[1].split()[0]
    removed = phone_cli(tmp_path / "phone", "paired", "remove", pairing_id)
    assert removed.returncode == 0, removed.stderr
    assert "0 paired computer(s)" in phone_cli(tmp_path / "phone", "paired", "list").stdout
    mark = phone.mark()
    # The open session ends at its next request ...
    with pytest.raises(CtapError):
        ctap.get_info()
    phone.wait_for(r"^link: Desk PC session ended: the PC's pairing was removed$", start=mark)
    # ... and a new session is refused at the knock.
    with pytest.raises(CtapError):
        Ctap2(tool.device())
    phone.wait_for(r"^link: refused: knock on door [0-9a-f]{32} of no current pairing",
                   start=mark)


def test_a_never_paired_pc_is_not_served(procs, tmp_path, relay):
    """A PC that holds the pairing's secret and door but not the paired PC's static key."""
    tool, phone = paired_setup(procs, tmp_path, relay)
    impostor_dir = tmp_path / "impostor"
    shutil.copytree(tool.data_dir, impostor_dir, ignore=shutil.ignore_patterns("*.log"))
    key_files = [p for p in impostor_dir.iterdir() if "key" in p.name]
    assert key_files, list(impostor_dir.iterdir())
    for p in key_files:
        p.unlink()
    impostor = procs(PairingTool(impostor_dir, relay, name="Impostor"))
    mark = phone.mark()
    with pytest.raises(CtapError):
        Ctap2(impostor.device()).get_info()
    # The impostor cannot read the phone's first handshake message and leaves.
    phone.wait_for(r"^link: Desk PC session ended: handshake: ", start=mark)
    assert not [l for l in phone.lines[mark:] if " command " in l]
    assert "handshake" in impostor.log(), impostor.log()
    # The real PC is still served.
    assert Ctap2(tool.device()).get_info().versions


@pytest.mark.parametrize("action", ["drop", "duplicate", "replay", "reorder", "corrupt",
                                    "inject"])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_tampering_relay_ends_the_session_and_serves_nothing(procs, tmp_path, relay,
                                                                action, direction):
    tool, phone = paired_setup(procs, tmp_path, relay)
    other_tool, other_phone = paired_setup(procs, tmp_path, relay, name="other",
                                           tool_name="Other PC")
    # Keep a second session busy on the same relay while the first is attacked.
    assert Ctap2(other_tool.device()).get_info().versions
    # Frames 0 are the handshake; 1 and 2 carry the first request/response, 2 and 3 the next.
    relay.fault(session=None, dir=direction, seq=2, action=action)
    mark = phone.mark()
    ctap = Ctap2(tool.device())
    with pytest.raises(CtapError):
        ctap.get_info()
        ctap.get_info()
        ctap.get_info()
    phone.wait_for(r"^link: Desk PC session ended: ", start=mark, timeout=30)
    ended = [l for l in phone.lines[mark:] if "session ended" in l]
    if direction == "down":
        # The phone received the tampered frame: it names the cause.
        assert any("frame failed authentication" in l or "broke the protocol" in l
                   for l in ended), ended
    # Nothing was served from the tampered frame on, and both PCs are served afterwards.
    assert Ctap2(tool.device()).get_info().versions
    assert Ctap2(other_tool.device()).get_info().versions
    assert other_phone.proc.poll() is None
