"""The phone's built-in user verification through the bindings, as the app answers it: a
user who declines (VerificationOutcome.DECLINED) is refused with OPERATION_DENIED and loses no
attempt, however often; a failed verification (FAILED) spends one of the 8 attempts; a right
PIN gives them all back (CTAP 2.1 getPinUvAuthToken using a PIN: uvRetries to maximum)."""

from __future__ import annotations

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin

from bindkit import ERR, ac, register

P = ClientPin.PERMISSION
PIN = "135790"


def uv_token_status(ctap) -> int:
    try:
        ClientPin(ctap).get_uv_token(P.GET_ASSERTION, "example.com")
        return 0
    except CtapError as e:
        return e.code


def test_declining_ten_times_costs_nothing(phone):
    ctap = Ctap2(phone.device())
    phone.ui.verification = ac.VerificationOutcome.DECLINED
    for _ in range(10):
        assert uv_token_status(ctap) == ERR.OPERATION_DENIED
    assert ClientPin(ctap).get_uv_retries() == 8
    assert len(phone.ui.prompts_of("verify_user")) == 10
    # Built-in verification still works: a registration and a sign-in with uv required.
    phone.ui.verification = ac.VerificationOutcome.VERIFIED
    assert uv_token_status(ctap) == 0
    register(phone.device())
    assert len(phone.passkeys()) == 1


def test_failed_verifications_count_down_and_block(phone):
    ctap = Ctap2(phone.device())
    phone.ui.verification = ac.VerificationOutcome.FAILED
    for left in range(7, 0, -1):
        assert uv_token_status(ctap) == ERR.UV_INVALID
        assert ClientPin(ctap).get_uv_retries() == left
    assert uv_token_status(ctap) == ERR.UV_BLOCKED
    assert ClientPin(ctap).get_uv_retries() == 0
    # Blocked: not even asked any more, and a decline now changes nothing.
    asked = len(phone.ui.prompts_of("verify_user"))
    phone.ui.verification = ac.VerificationOutcome.VERIFIED
    assert uv_token_status(ctap) == ERR.UV_BLOCKED
    assert len(phone.ui.prompts_of("verify_user")) == asked


def test_a_right_pin_restores_the_attempts(phone):
    ctap = Ctap2(phone.device())
    phone.ui.verification = ac.VerificationOutcome.FAILED
    for _ in range(8):
        uv_token_status(ctap)
    assert ClientPin(ctap).get_uv_retries() == 0
    phone.set_pin(PIN)
    ctap = Ctap2(phone.device())  # fresh getInfo: clientPin is set
    with pytest.raises(CtapError) as e:
        ClientPin(ctap).get_pin_token("000000", P.GET_ASSERTION, "example.com")
    assert e.value.code == ERR.PIN_INVALID
    assert ClientPin(ctap).get_uv_retries() == 0, "a wrong PIN restores nothing"
    ClientPin(ctap).get_pin_token(PIN, P.GET_ASSERTION, "example.com")
    assert ClientPin(ctap).get_uv_retries() == 8
    phone.ui.verification = ac.VerificationOutcome.VERIFIED
    assert uv_token_status(ctap) == 0
