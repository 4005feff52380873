"""authenticatorConfig (CTAP 2.1 §6.11) and authenticatorReset (§6.6)."""

import time

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Config
from fido2.ctap2.pin import ClientPin

from phonelib import (ERR, client_pin, descriptor, get_assertion, make_credential,
                      pin_protocol, user)

P = ClientPin.PERMISSION
PIN = "1234"


@pytest.fixture(params=[1, 2], ids=["protocol1", "protocol2"])
def proto(request):
    return request.param


@pytest.fixture
def pin_phone(make_phone, proto):
    phone = make_phone("--no-builtin-uv")
    client_pin(phone.ctap2(), proto).set_pin(PIN)
    return phone


def config(ctap, proto, permissions=P.AUTHENTICATOR_CFG, pin=PIN):
    t = client_pin(ctap, proto).get_pin_token(pin, permissions)
    return Config(ctap, pin_protocol(proto), t)


# --- toggleAlwaysUv -------------------------------------------------------------------------
def test_toggle_always_uv(pin_phone, proto):
    ctap = pin_phone.ctap2()
    att = make_credential(ctap)
    config(ctap, proto).toggle_always_uv()
    info = ctap.get_info()
    assert info.options["alwaysUv"] is True and info.options["makeCredUvNotRqd"] is False
    for call in (lambda: make_credential(ctap, usr=user(2)),
                 lambda: get_assertion(ctap, allow=[descriptor(att)])):
        with pytest.raises(CtapError) as e:
            call()
        assert e.value.code == ERR.PUAT_REQUIRED
    t = client_pin(ctap, proto).get_pin_token(PIN, P.GET_ASSERTION, "example.com")
    get_assertion(ctap, allow=[descriptor(att)], token=t, protocol=proto)
    pin_phone.restart()
    ctap = pin_phone.ctap2()
    assert ctap.info.options["alwaysUv"] is True, "alwaysUv is persistent"
    config(ctap, proto).toggle_always_uv()
    assert ctap.get_info().options["alwaysUv"] is False
    make_credential(ctap, usr=user(3))


def test_config_needs_a_token_when_protected(pin_phone, proto):
    ctap = pin_phone.ctap2()
    with pytest.raises(CtapError) as e:
        Config(ctap).toggle_always_uv()
    assert e.value.code == ERR.PUAT_REQUIRED


def test_config_token_needs_acfg(pin_phone, proto):
    ctap = pin_phone.ctap2()
    with pytest.raises(CtapError) as e:
        config(ctap, proto, P.CREDENTIAL_MGMT).toggle_always_uv()
    assert e.value.code == ERR.PIN_AUTH_INVALID
    with pytest.raises(CtapError) as e:
        ctap.config(Config.CMD.TOGGLE_ALWAYS_UV, None, proto, bytes(32))
    assert e.value.code == ERR.PIN_AUTH_INVALID
    assert ctap.get_info().options["alwaysUv"] is False


def test_builtin_uv_phone_needs_a_token_for_config(phone):
    ctap = phone.ctap2()
    with pytest.raises(CtapError) as e:
        Config(ctap).toggle_always_uv()
    assert e.value.code == ERR.PUAT_REQUIRED
    t = client_pin(ctap, 2).get_uv_token(P.AUTHENTICATOR_CFG)
    Config(ctap, pin_protocol(2), t).toggle_always_uv()
    assert ctap.get_info().options["alwaysUv"] is True


def test_unknown_config_subcommand(pin_phone, proto):
    ctap = pin_phone.ctap2()
    t = client_pin(ctap, proto).get_pin_token(PIN, P.AUTHENTICATOR_CFG)
    msg = b"\xff" * 32 + b"\x0d\x07"
    with pytest.raises(CtapError) as e:
        ctap.config(0x07, None, proto, pin_protocol(proto).authenticate(t, msg))
    assert e.value.code == ERR.INVALID_SUBCOMMAND


# --- setMinPINLength ------------------------------------------------------------------------
def test_set_min_pin_length_forces_a_change(pin_phone, proto):
    ctap = pin_phone.ctap2()
    config(ctap, proto).set_min_pin_length(6)
    info = ctap.get_info()
    assert info.min_pin_length == 6
    assert info.force_pin_change is True, "the 4-digit PIN is now too short"
    cp = client_pin(ctap, proto)
    # forcePINChange: getPinToken -> PIN_INVALID, the permissions variant -> PIN_POLICY_VIOLATION
    with pytest.raises(CtapError) as e:
        cp.get_pin_token(PIN)
    assert e.value.code == ERR.PIN_INVALID
    with pytest.raises(CtapError) as e:
        cp.get_pin_token(PIN, P.GET_ASSERTION, "example.com")
    assert e.value.code == ERR.PIN_POLICY_VIOLATION
    with pytest.raises(CtapError) as e:
        cp.change_pin(PIN, "12345")
    assert e.value.code == ERR.PIN_POLICY_VIOLATION
    cp.change_pin(PIN, "123456")
    assert ctap.get_info().force_pin_change is False
    assert len(cp.get_pin_token("123456", P.GET_ASSERTION, "example.com")) == 32
    assert cp.get_pin_retries()[0] == 8


def test_force_change_pin_refuses_the_same_pin(pin_phone, proto):
    ctap = pin_phone.ctap2()
    config(ctap, proto).set_min_pin_length(force_change_pin=True)
    assert ctap.get_info().force_pin_change is True
    cp = client_pin(ctap, proto)
    with pytest.raises(CtapError) as e:
        cp.change_pin(PIN, PIN)
    assert e.value.code == ERR.PIN_POLICY_VIOLATION
    cp.change_pin(PIN, "4321")
    assert ctap.get_info().force_pin_change is False


def test_min_pin_length_cannot_shrink(pin_phone, proto):
    ctap = pin_phone.ctap2()
    config(ctap, proto).set_min_pin_length(5)
    with pytest.raises(CtapError) as e:
        config(ctap, proto, pin="1234").set_min_pin_length(4)
    # The 4-digit PIN is refused first (force change); either way no shrinking.
    assert e.value.code in (ERR.PIN_POLICY_VIOLATION, ERR.PIN_INVALID)
    assert ctap.get_info().min_pin_length == 5


def test_min_pin_length_extension_for_listed_rps(pin_phone, proto):
    ctap = pin_phone.ctap2()
    config(ctap, proto).set_min_pin_length(4, rp_ids=["example.com"])
    ext = make_credential(ctap, extensions={"minPinLength": True}).auth_data.extensions
    assert ext == {"minPinLength": 4}
    other = make_credential(ctap, {"id": "other.example"},
                            extensions={"minPinLength": True}).auth_data.extensions
    assert not other or "minPinLength" not in other


# --- reset ----------------------------------------------------------------------------------
def test_reset_erases_credentials_and_pin(make_phone):
    phone = make_phone("--no-builtin-uv")
    ctap = phone.ctap2()
    client_pin(ctap, 2).set_pin(PIN)
    t = client_pin(phone.ctap2(), 2).get_pin_token(PIN, P.MAKE_CREDENTIAL, "example.com")
    att = make_credential(ctap, rk=True, token=t, protocol=2)
    config(ctap, 2).toggle_always_uv()
    phone.restart()
    ctap = phone.ctap2()
    remaining = ctap.info.remaining_disc_creds
    ctap.reset()
    info = ctap.get_info()
    assert info.options["clientPin"] is False and info.options["alwaysUv"] is False
    assert info.remaining_disc_creds == remaining + 1
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, allow=[descriptor(att)])
    assert e.value.code == ERR.NO_CREDENTIALS
    assert client_pin(ctap, 2).get_pin_retries()[0] == 8


def test_reset_restores_pin_retries_after_block(make_phone):
    phone = make_phone("--no-builtin-uv")
    client_pin(phone.ctap2(), 1).set_pin(PIN)
    ctap = phone.ctap2()
    for _ in range(3):
        with pytest.raises(CtapError):
            client_pin(ctap, 1).get_pin_token("0000")
    phone.restart()
    ctap = phone.ctap2()
    ctap.reset()
    assert client_pin(ctap, 1).get_pin_retries() == (8, False)


@pytest.mark.parametrize("flags,expected", [
    (("--presence", "deny"), ERR.OPERATION_DENIED),
    (("--presence", "ignore", "--user-timeout-ms", "300"), ERR.USER_ACTION_TIMEOUT),
])
def test_reset_needs_the_users_confirmation(make_phone, flags, expected):
    phone = make_phone(*flags)
    ctap = phone.ctap2()
    with pytest.raises(CtapError) as e:
        ctap.reset()
    assert e.value.code == expected


def test_reset_with_parameters_is_invalid_length(phone):
    from phonelib import raw_call
    assert raw_call(phone.device(), b"\x07\xa0") == bytes([ERR.INVALID_LENGTH])


def test_reset_is_refused_after_ten_seconds(phone):
    ctap = phone.ctap2()
    make_credential(ctap, rk=True, uv=True)
    time.sleep(max(0.0, 10.5 - (time.monotonic() - phone.started_at)))
    with pytest.raises(CtapError) as e:
        ctap.reset()
    assert e.value.code == ERR.NOT_ALLOWED
    assert get_assertion(ctap, uv=True).user["id"] == b"user-1"
