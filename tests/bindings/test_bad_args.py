"""Bad arguments for every exported function and constructor: empty, huge (1 MB) and odd
strings, empty, huge and random requests for handle_ctap, out-of-range numbers. Each call
returns a value or raises a typed AuthenticatorError other than Internal (never uniffi's
InternalError, i.e. a panic), and the authenticator still works afterwards.

The table below must name every public function of the generated module: a new export
without bad-argument cases fails `test_the_table_covers_every_export`."""

from __future__ import annotations

import inspect
import random

import pytest

import bindkit
from bindkit import ScriptedUI, SoftKeyProtector, ac, options

MB = 1 << 20
HUGE = "x" * MB
ODD = "\u202e\ufeffe\u0301\U0001f600\U0010ffff\u0000?"  # RTL override, BOM, combining, astral
SURROGATE = "\ud800"  # not encodable as UTF-8: the generated code refuses it before the call
STRINGS = ["", " ", HUGE, "\x00", "\n", ODD, SURROGATE, "é" * 200]
BYTES = [b"", b"\x00", b"\x00" * 16, b"\xff" * 64, b"\xff" * MB]

# Inputs the generated Python code itself refuses before crossing the boundary (a lone
# surrogate is not UTF-8; numbers outside the Rust type's range).
NOT_REPRESENTABLE = (UnicodeEncodeError, ValueError, OverflowError)


class RaisingObserver(ac.LinkObserver):
    def on_link_event(self, event):
        raise RuntimeError("observer broken")


class RaisingApprovalObserver(ac.ApprovalObserver):
    def on_approval_event(self, event):
        raise RuntimeError("observer broken")


class RaisingAdvertiser(ac.HybridAdvertiser):
    def start_advertising(self, service_uuid16, service_data):
        raise RuntimeError("advertiser broken")

    def stop_advertising(self):
        raise RuntimeError("advertiser broken")


PIN = "135790"
PASSKEY = object()  # stands for the id of a passkey PREPARE made


def with_pin(phone):
    phone.set_pin(PIN)


def with_passkey(phone):
    bindkit.register(phone.device())


# Runs before a method's cases (on a fresh, unactivated phone otherwise).
PREPARE = {"change_pin": with_pin, "rename_passkey": with_passkey,
           "delete_passkey": with_passkey}

# name -> list of argument tuples, for the methods of Authenticator. `open` and
# `default_options` are exercised by their own tests below.
TABLE: dict[str, list[tuple]] = {
    "activate": [(s,) for s in STRINGS] + [
        ("https://" + "a" * MB,), ("https://acme.example/activate?code=" + "0" * MB,),
        ("http://127.0.0.1:1/activate?code=" + "0" * 26,)],
    "audit_log": [()],
    "change_pin": [(a, b) for a in STRINGS for b in ("", "246802", HUGE, ODD)]
    + [(PIN, s) for s in STRINGS + [PIN]],
    "check_workspace": [(0,), (1,), (2**32 - 1,), (2**32,), (-1,)],
    "decide_approval": [(s, b) for s in STRINGS + ["00" * 16, "0" * 4096] for b in (True, False)],
    "delete_passkey": [(s,) for s in STRINGS + ["AAAA", "A" * 2000, "A", "====", "+/+/"]]
    + [(PASSKEY,)],
    "enrollment": [()],
    "handle_ctap": [(b,) for b in (b"", b"\x00" * MB, b"\x01" * MB, b"\x04" + b"\xff" * MB,
                                   b"\x01" + b"\x81" * MB + b"\x00",
                                   b"\x01\xa1\x01\x5a\xff\xff\xff\xff")],
    "key_protection": [()],
    "link_service_running": [()],
    "open_ctap_channel": [()],
    "pair": [(s,) for s in STRINGS + ["PASSKEYPHONE:/" + "1" * 4000,
                                      "PASSKEYPHONE:/" + "9" * MB, "PASSKEYPHONE:/"]],
    "paired_computers": [()],
    "parse_activation_link": [(s,) for s in STRINGS + ["https://" + "a" * MB]],
    "passkeys": [()],
    "pending_approvals": [()],
    "pin_status": [()],
    "refresh_enrollment": [()],
    "remove_paired_computer": [(s,) for s in STRINGS + ["00" * 16, "00" * 64, "00" * 65, "0"]],
    "rename_passkey": [(i, n) for i in ("", "AAAA", HUGE, ODD, PASSKEY) for n in STRINGS],
    "serve_hybrid": [(s, RaisingAdvertiser()) for s in STRINGS + [
        "FIDO:/", "fido:/" + "1" * 4000, "FIDO:/" + "9" * MB, "FIDO:/" + "0" * 17 * 5,
        "FIDO:/" + "\u0661" * 17]],
    "serve_hybrid_and_link": [(q, n, RaisingAdvertiser())
                              for q in ("", "FIDO:/", "FIDO:/" + "9" * MB, HUGE)
                              for n in STRINGS + ["My computer", "x" * 65]],
    "serve_linked_browser": [(b, RaisingAdvertiser()) for b in BYTES],
    "linked_browsers": [()],
    "unlink_browser": [(b,) for b in BYTES],
    "cancel_hybrid": [()],
    "run_idle_maintenance": [()],
    "set_approval_observer": [(None,), (RaisingApprovalObserver(),)],
    "set_pin": [(s,) for s in STRINGS + ["1" * 63, "1" * 64, "\U0001f600" * 4]],
    "start_link_service": [(True, None), (False, RaisingObserver()), (False, None)],
    "stop_link_service": [()],
    "submit_activation_pin": [(s,) for s in STRINGS + ["123456"]],
}
OTHER_EXPORTS = {"open", "default_options"}


def exported_names() -> set[str]:
    """Every public function of the generated module and public method/constructor of its
    Authenticator class (uniffi's own helpers left out)."""
    methods = {n for n, _ in inspect.getmembers(ac.Authenticator)
               if not n.startswith("_") and callable(getattr(ac.Authenticator, n))}
    functions = {n for n, f in vars(ac).items()
                 if inspect.isfunction(f) and not n.startswith("_")
                 and f.__module__ == ac.__name__ and n != "uniffi_set_event_loop"}
    return methods | functions


def test_the_table_covers_every_export():
    assert exported_names() == set(TABLE) | OTHER_EXPORTS


def call(phone: bindkit.Phone, name: str, args: tuple):
    fn = getattr(phone.auth, name)
    if inspect.iscoroutinefunction(fn):
        return phone.loop.run(fn(*args), timeout=90)
    return fn(*args)


def representable(args) -> bool:
    for a in args:
        if isinstance(a, str) and SURROGATE in a:
            return False
        if isinstance(a, int) and not isinstance(a, bool) and not 0 <= a < 2**32:
            return False
    return True


def check(outcome: BaseException | None, args, what: str) -> None:
    if outcome is None:
        return
    if isinstance(outcome, NOT_REPRESENTABLE) and not representable(args):
        return
    assert isinstance(outcome, ac.AuthenticatorError), f"{what}: untyped {outcome!r}"
    assert not isinstance(outcome, ac.AuthenticatorError.Internal), f"{what}: {outcome!r}"
    assert outcome.reason and len(outcome.reason) < 1000, f"{what}: reason {outcome.reason!r}"


def still_works(phone: bindkit.Phone) -> None:
    phone.pin_status()
    assert phone.ctap(b"\x04")[0] == 0


def short(args) -> str:
    return repr(tuple(f"{a[:20]!r}...({len(a)})" if isinstance(a, (str, bytes)) and len(a) > 40
                      else a for a in args))


@pytest.mark.parametrize("name", sorted(TABLE))
def test_bad_arguments(make_phone, name):
    phone = make_phone()
    if name in PREPARE:
        PREPARE[name](phone)
    for args in TABLE[name]:
        ids = [p.id for p in phone.passkeys()] or ["AAAA"]
        args = tuple(ids[0] if a is PASSKEY else a for a in args)
        what = f"{name}{short(args)}"
        try:
            result = call(phone, name, args)
            outcome = None
        except BaseException as e:  # noqa: BLE001 - judged by check()
            outcome = e
            result = None
        check(outcome, args, what)
        if name == "handle_ctap":
            assert isinstance(result, bytes) and len(result) >= 1, what
            assert result[0] != 0, f"{what} answered success"
        still_works(phone)
    phone.stop_link_service()


def test_random_requests_to_handle_ctap(phone):
    """Seeded random requests: every answer is an error status, nothing is stored."""
    rng = random.Random(20261124)
    commands = [0x01, 0x02, 0x04, 0x06, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x40, 0x41]
    for _ in range(400):
        command = rng.choice(commands + [rng.randrange(256)])
        request = bytes([command]) + rng.randbytes(rng.randrange(1, 700))
        answer = phone.ctap(request)
        assert answer and answer[0] != 0, (request[:16].hex(), answer[:8].hex())
    for command in range(256):
        answer = phone.ctap(bytes([command]))
        assert answer, command
        if command not in (0x04, 0x07, 0x0B):  # getInfo, reset, selection take no parameters
            assert answer[0] != 0, hex(command)
    assert phone.passkeys() == []
    still_works(phone)


def test_open_with_bad_arguments(loop, tmp_path):
    folder = str(tmp_path / "phone")
    key = SoftKeyProtector()
    (tmp_path / "plain-file").write_text("x")
    cases = [(d, "Pixel", 10_000) for d in (
        "", " ", "\x00", str(tmp_path / ("a" * MB)), "/proc/no-such-place",
        str(tmp_path / "plain-file"), str(tmp_path / ODD.replace("\x00", "")),
        str(tmp_path / SURROGATE))]
    cases += [(folder, n, 10_000) for n in STRINGS + ["x" * 64, "x" * 65]]
    cases += [(folder, "Pixel", t) for t in (0, 1, 600_000, 600_001, 2**64 - 1, 2**64, -1)]
    for data_dir, name, timeout in cases:
        what = f"open{short((data_dir, name, timeout))}"
        try:
            opts = options(device_name=name, user_action_timeout_ms=timeout)
            ac.Authenticator.open(data_dir, key, ScriptedUI(), None, opts)  # dropped at once
            outcome = None
        except BaseException as e:  # noqa: BLE001 - judged below
            outcome = e
        if isinstance(outcome, NOT_REPRESENTABLE) and (
                SURROGATE in data_dir + name or not 0 <= timeout < 2**64):
            continue
        check(outcome, (), what)
    # The vault in `folder` still opens with its key and works.
    phone = bindkit.Phone(loop, folder, key_protector=key)
    still_works(phone)
    phone.close()


@pytest.mark.parametrize("name", STRINGS, ids=["empty", "space", "huge", "nul", "newline",
                                                "odd", "surrogate", "accents"])
def test_default_options(name):
    try:
        got = ac.default_options(name)
    except UnicodeEncodeError:
        assert name == SURROGATE
        return
    assert got.device_name == name and not got.allow_insecure_loopback
    assert got.user_action_timeout_ms == 30_000


def test_misbehaving_key_protectors(make_phone):
    """A KeyProtector that returns nonsense is a typed error at open, never a panic."""
    class ReturnsNone(SoftKeyProtector):
        def wrap(self, secret):
            return None

    class ReturnsGarbage(SoftKeyProtector):
        def unwrap(self, blob):
            return b"\x07" * 32

    class ReturnsEmpty(SoftKeyProtector):
        def unwrap(self, blob):
            return b""

    class ReturnsHuge(SoftKeyProtector):
        def wrap(self, secret):
            return b"\x01" * MB

    for i, kp in enumerate([ReturnsNone(), ReturnsGarbage(), ReturnsEmpty(), ReturnsHuge()]):
        with pytest.raises(ac.AuthenticatorError) as e:
            make_phone(f"p{i}", key_protector=kp)
        check(e.value, (), type(kp).__name__)
        # Nothing half-made is left behind: the same folder opens with a sound protector.
        assert not make_phone(f"p{i}").pin_status().is_set


def test_a_raising_key_protector_info(make_phone):
    class NoInfo(SoftKeyProtector):
        def info(self):
            raise RuntimeError("no info")

    phone = make_phone(key_protector=NoInfo())
    with pytest.raises(ac.AuthenticatorError.KeyStoreFailed) as e:
        phone.key_protection()
    assert e.value.reason == "the key protector failed: RuntimeError('no info')"
    still_works(phone)
