"""Python callbacks that raise: a prompt that raises is answered with a CTAP error status and
the authenticator keeps working; a raising notify or CoreLogger never breaks the call that
triggered it."""

from __future__ import annotations

import hashlib
import time

import pytest
from fido2 import cbor

from bindkit import ERR, HANG, RecordingLogger, ac, kinds, register, sign_in

SELECTION = b"\x0b"


def make_credential_request(uv: bool = True) -> bytes:
    return b"\x01" + cbor.encode({
        1: hashlib.sha256(b"cdh").digest(), 2: {"id": "example.com", "name": "Example"},
        3: {"id": b"u1", "name": "u1"}, 4: [{"type": "public-key", "alg": -7}],
        7: {"rk": True, "uv": uv}})


def works(phone) -> None:
    """The authenticator still answers: getInfo and a full registration + sign-in."""
    assert phone.ctap(b"\x04")[0] == 0
    srv, cred = register(phone.device(), n=7)
    sign_in(phone.device(), srv, [cred])


@pytest.mark.parametrize("error", [
    RuntimeError("the app crashed"),
    ValueError("bad"),
    ac.UserInterfaceError.Unavailable("app in background"),
    ac.UserInterfaceError.Failed("dialog failed"),
], ids=["RuntimeError", "ValueError", "Unavailable", "Failed"])
def test_raising_prompts_answer_operation_denied(phone, error):
    phone.ui.presence = error
    assert phone.ctap(SELECTION) == bytes([ERR.OPERATION_DENIED])
    phone.ui.presence = True
    phone.ui.verification = error
    assert phone.ctap(make_credential_request()) == bytes([ERR.OPERATION_DENIED])
    assert phone.passkeys() == []
    phone.ui.verification = ac.VerificationOutcome.VERIFIED
    assert phone.ctap(SELECTION) == b"\x00"
    works(phone)


def test_declined_prompts(phone):
    phone.ui.presence = False
    assert phone.ctap(SELECTION) == bytes([ERR.OPERATION_DENIED])
    phone.ui.verification = ac.VerificationOutcome.DECLINED
    assert phone.ctap(make_credential_request()) == bytes([ERR.OPERATION_DENIED])
    phone.ui.verification = ac.VerificationOutcome.FAILED
    assert phone.ctap(make_credential_request()) == bytes([ERR.UV_INVALID])
    assert [(k, p.operation) for k, p in phone.ui.prompts] == [
        ("confirm_presence", ac.UserOperation.SELECT),
        ("verify_user", ac.UserOperation.REGISTER),
        ("verify_user", ac.UserOperation.REGISTER)]
    assert phone.passkeys() == []


def test_a_raising_notify_does_not_break_the_operation(phone):
    phone.ui.raise_on_notify = RuntimeError("notification channel gone")
    srv, cred = register(phone.device())
    sign_in(phone.device(), srv, [cred])
    assert len(phone.passkeys()) == 1
    assert kinds(phone.ui.events)[:2] == ["PASSKEY_CREATED", "SIGNED_IN"]
    phone.ui.raise_on_notify = ac.UserInterfaceError.Failed("typed")
    phone.delete_passkey(phone.passkeys()[0].id)
    assert phone.passkeys() == []
    phone.set_pin("135790")  # notifies PIN_CHANGED
    assert kinds(phone.ui.events)[-1] == "PIN_CHANGED"
    phone.ui.raise_on_notify = None
    works(phone)


def test_a_raising_logger_does_not_break_anything(make_phone):
    logger = RecordingLogger()
    logger.fail = RuntimeError("log sink full")
    phone = make_phone(logger=logger)
    works(phone)
    phone.set_pin("135790")
    assert phone.pin_status().is_set
    assert logger.lines, "the core logs through the CoreLogger"
    logger.fail = ac.LoggerError.Failed("typed")
    works(phone)


def test_several_accounts_are_listed_to_the_pc_not_chosen_on_the_phone(phone):
    """Two passkeys for one site and no allow list, with the default options: `choose_account`
    is never asked; the PC gets numberOfCredentials and walks them with getNextAssertion.
    A raising presence prompt still answers OPERATION_DENIED."""
    register(phone.device(), n=1, user_name="first@example.com")
    register(phone.device(), n=2, user_name="second@example.com")
    phone.ui.prompts.clear()
    phone.ui.account = RuntimeError("never asked")
    get = b"\x02" + cbor.encode({1: "example.com", 2: hashlib.sha256(b"ga").digest()})
    first = phone.ctap(get)
    assert first[0] == 0
    assert cbor.decode(first[1:])[5] == 2  # numberOfCredentials
    following = phone.ctap(b"\x08")
    assert following[0] == 0
    ids = {cbor.decode(first[1:])[4]["id"], cbor.decode(following[1:])[4]["id"]}
    assert ids == {b"user-1", b"user-2"}
    assert [k for k, _ in phone.ui.prompts] == ["confirm_presence"]
    phone.ui.presence = RuntimeError("dialog crashed")
    assert phone.ctap(get) == bytes([ERR.OPERATION_DENIED])
    phone.ui.presence = True
    works(phone)


def test_a_prompt_that_never_answers_times_out_and_is_cancelled(make_phone):
    phone = make_phone(user_action_timeout_ms=300)
    phone.ui.presence = HANG
    started = time.monotonic()
    assert phone.ctap(SELECTION) == bytes([ERR.USER_ACTION_TIMEOUT])
    assert 0.25 < time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while not phone.ui.cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert phone.ui.cancelled == ["confirm_presence"], "the Python prompt was cancelled"
    phone.ui.presence = True
    works(phone)


def test_cancelling_handle_ctap_withdraws_the_prompt(make_phone):
    """The app cancels its call (the PC sent CANCEL): the core cancels the request as a
    CTAPHID CANCEL would, so the prompt on screen is withdrawn long before its timeout."""
    phone = make_phone(user_action_timeout_ms=30_000)
    phone.ui.presence = HANG
    call = phone.spawn("handle_ctap", SELECTION)
    deadline = time.monotonic() + 5
    while not phone.ui.prompts_of("confirm_presence") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert phone.ui.prompts_of("confirm_presence"), "the prompt was shown"
    cancelled_at = time.monotonic()
    call.cancel()
    # The cancelled request lets go of the authenticator at once: the next request (which
    # waits for the engine) is answered well within the first prompt's 30 s.
    phone.ui.presence = True
    assert bytes(phone.loop.run(phone.auth.handle_ctap(SELECTION), 5)) == b"\x00"
    assert time.monotonic() - cancelled_at < 3
    # (The bindings deliver the withdrawal to the Python task once its loop wakes up.)
    assert phone.ui.cancelled == ["confirm_presence"], "the Python prompt was withdrawn"
    works(phone)


def test_with_choose_account_on_phone_the_user_picks_the_account(make_phone):
    """`choose_account_on_phone`: the phone asks `choose_account` with both accounts and
    answers one assertion for the picked one (userSelected, no numberOfCredentials); a
    raising chooser answers OPERATION_DENIED and the phone keeps working."""
    phone = make_phone(choose_account_on_phone=True)
    register(phone.device(), n=1, user_name="first@example.com")
    register(phone.device(), n=2, user_name="second@example.com")
    phone.ui.prompts.clear()
    get = b"\x02" + cbor.encode({1: "example.com", 2: hashlib.sha256(b"ga").digest()})
    offered = None
    for pick in (0, 1):
        phone.ui.account = pick
        answer = phone.ctap(get)
        assert answer[0] == 0
        body = cbor.decode(answer[1:])
        assert 5 not in body and body[6] is True
        (rp_id, offered) = next(v for k, v in phone.ui.prompts if k == "choose_account")
        assert rp_id == "example.com"
        ids = {"first@example.com": b"user-1", "second@example.com": b"user-2"}
        assert body[4]["id"] == ids[offered[pick].user_name]
        phone.ui.prompts.clear()
    assert sorted(a.user_name for a in offered) == ["first@example.com", "second@example.com"]
    phone.ui.account = RuntimeError("chooser crashed")
    assert phone.ctap(get) == bytes([ERR.OPERATION_DENIED])
    phone.ui.account = 0
    works(phone)
