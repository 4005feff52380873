"""The client PIN through the bindings: set, status, change with a wrong current PIN (typed
PinInvalid with the attempts left), a PIN outside the policy (InvalidInput), and a PIN set
here is the one python-fido2's ClientPin and Fido2Client use."""

from __future__ import annotations

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, Ctap2

from bindkit import ERR, ac, variant

PIN = "135790"


def test_set_status_change(phone):
    status = phone.pin_status()
    assert (status.is_set, status.retries_left, status.must_change) == (False, 8, False)
    assert status.min_length == 4
    phone.set_pin(PIN)
    assert phone.pin_status().is_set
    with pytest.raises(ac.AuthenticatorError.InvalidState) as e:
        phone.set_pin("246802")
    assert e.value.reason == "a PIN is already set; change it instead"

    for left in (7, 6):
        with pytest.raises(ac.AuthenticatorError.PinInvalid) as e:
            phone.change_pin("000000", "246802")
        assert e.value.attempts_left == left
    assert phone.pin_status().retries_left == 6
    phone.change_pin(PIN, "246802")
    status = phone.pin_status()
    assert status.is_set and status.retries_left == 8
    assert any(variant(ev) == "PIN_CHANGED" for ev in phone.ui.events)


def test_a_pin_outside_the_policy(phone):
    for short in ("", "1", "123"):
        with pytest.raises(ac.AuthenticatorError.InvalidInput) as e:
            phone.set_pin(short)
        assert e.value.reason == "the PIN must have 4 to 63 characters"
    with pytest.raises(ac.AuthenticatorError.InvalidInput):
        phone.set_pin("1" * 64)
    assert not phone.pin_status().is_set
    phone.set_pin(PIN)
    with pytest.raises(ac.AuthenticatorError.InvalidInput) as e:
        phone.change_pin(PIN, "12")
    assert e.value.reason == "the PIN must have 4 to 63 characters"
    assert phone.pin_status().retries_left == 8, "a refused new PIN spends no attempt"


def test_a_pin_set_here_is_the_pin_of_python_fido2(phone):
    phone.set_pin(PIN)
    ctap = Ctap2(phone.device())
    assert ctap.get_info().options.get("clientPin") is True
    token = ClientPin(ctap).get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, "example.com")
    assert token
    with pytest.raises(CtapError) as e:
        ClientPin(ctap).get_pin_token("000000")
    assert e.value.code == ERR.PIN_INVALID
    assert phone.pin_status().retries_left == 7
    # And the PIN changed through ClientPin is the one the bindings check.
    ClientPin(ctap).change_pin(PIN, "864200")
    with pytest.raises(ac.AuthenticatorError.PinInvalid):
        phone.change_pin(PIN, "975310")
    phone.change_pin("864200", PIN)

