"""authenticatorMakeCredential / GetAssertion / GetNextAssertion (CTAP 2.1 §6.1-§6.3), checked
as a relying party would: flags, counters, signatures, attestation, canonical authData."""

import pytest
from fido2.ctap import CtapError

from phonelib import (EDDSA, ERR, ES256, RP, cdh, check_signed_by, client_pin, descriptor,
                      get_assertion, make_credential, raw_call, user, verify_packed_self)

OTHER_RP = {"id": "other.example", "name": "Other"}
FLAG_UP, FLAG_UV = 0x01, 0x04


def flags(resp) -> int:
    return bytes(resp.auth_data)[32]


# --- makeCredential -------------------------------------------------------------------------
def test_non_discoverable_without_uv_is_allowed_and_packed_self_attested(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap)  # makeCredUvNotRqd
    assert flags(att) & (FLAG_UP | FLAG_UV) == FLAG_UP, "UP=1, UV=0 without UV"
    assert att.auth_data.counter == 0
    verify_packed_self(att)
    assert att.auth_data.credential_data.public_key[3] == -7


def test_attestation_none_has_an_empty_statement(make_phone):
    ctap = make_phone("--attestation", "none").ctap2()
    att = make_credential(ctap)
    assert att.fmt == "none" and att.att_stmt == {}


def test_discoverable_needs_uv_when_protected(phone):
    ctap = phone.ctap2()
    with pytest.raises(CtapError) as e:
        make_credential(ctap, rk=True)
    assert e.value.code == ERR.PUAT_REQUIRED


def test_builtin_uv_sets_uv_flag(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True)
    assert flags(att) & (FLAG_UP | FLAG_UV) == FLAG_UP | FLAG_UV
    verify_packed_self(att)


def test_unprotected_authenticator_makes_discoverable_without_uv(make_phone):
    ctap = make_phone("--no-builtin-uv").ctap2()
    att = make_credential(ctap, rk=True)
    assert flags(att) & FLAG_UV == 0


def test_uv_option_without_builtin_uv_is_invalid_option(make_phone):
    ctap = make_phone("--no-builtin-uv").ctap2()
    with pytest.raises(CtapError) as e:
        make_credential(ctap, uv=True)
    assert e.value.code == ERR.INVALID_OPTION


def test_up_false_in_make_credential_is_invalid_option(phone):
    ctap = phone.ctap2()
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, user(1), ES256, options={"up": False})
    assert e.value.code == ERR.INVALID_OPTION


def pk(alg, kind="public-key"):
    return {"type": kind, "alg": alg}


# The first entry of pubKeyCredParams that is a public key of a supported alg wins (CTAP 2.1
# §6.1.2 step 3); `expected` is its alg, or the error when there is none.
@pytest.mark.parametrize("algs,expected", [
    ([pk(-257)], ERR.UNSUPPORTED_ALGORITHM),
    ([pk(-35), pk(-36)], ERR.UNSUPPORTED_ALGORITHM),
    ([pk(-7, "not-a-key")], ERR.UNSUPPORTED_ALGORITHM),
    ([pk(-8, "not-a-key")], ERR.UNSUPPORTED_ALGORITHM),
    ([pk(-257), pk(-7)], -7),
    ([pk(-8), pk(-7)], -8),
    ([pk(-7), pk(-8)], -7),
    ([pk(-8), pk(-35)], -8),
    ([pk(-8, "not-a-key"), pk(-7)], -7),
])
def test_algorithm_selection(phone, algs, expected):
    ctap = phone.ctap2()
    try:
        att = ctap.make_credential(cdh(), RP, user(1), algs)
        status = att.auth_data.credential_data.public_key[3]
    except CtapError as e:
        status = e.code
    assert status == expected


def test_an_eddsa_passkey_is_okp_ed25519_self_attested_and_signs(phone):
    """python-fido2's own EdDSA verifier checks the attestation and two assertions."""
    from fido2.cose import CoseKey, EdDSA
    ctap = phone.ctap2()
    att = make_credential(ctap, algs=EDDSA)
    key = att.auth_data.credential_data.public_key
    assert dict(key) == {1: 1, 3: -8, -1: 6, -2: key[-2]} and len(key[-2]) == 32
    assert isinstance(CoseKey.parse(key), EdDSA)
    verify_packed_self(att, alg=-8)
    cred = descriptor(att)
    for label in ("ga1", "ga2"):
        resp = get_assertion(ctap, allow=[cred], label=label)
        assert len(resp.signature) == 64
        check_signed_by(resp, att)
    with pytest.raises(Exception):
        EdDSA(key).verify(bytes(resp.auth_data) + b"\0" * 32, resp.signature)


def test_pin_set_and_no_param_discoverable_is_puat_required(make_phone):
    ctap = make_phone("--no-builtin-uv").ctap2()
    client_pin(ctap, 2).set_pin("1234")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, rk=True)
    assert e.value.code == ERR.PUAT_REQUIRED
    make_credential(ctap)  # non-discoverable: makeCredUvNotRqd


@pytest.mark.parametrize("pin_set,expected", [(False, ERR.PIN_NOT_SET), (True, ERR.PIN_INVALID)])
def test_zero_length_pin_uv_auth_param(phone, pin_set, expected):
    ctap = phone.ctap2()
    if pin_set:
        client_pin(ctap, 2).set_pin("1234")
    for call in (lambda: ctap.make_credential(cdh(), RP, user(1), ES256, pin_uv_param=b"",
                                              pin_uv_protocol=2),
                 lambda: ctap.get_assertion("example.com", cdh(), pin_uv_param=b"",
                                            pin_uv_protocol=2)):
        with pytest.raises(CtapError) as e:
            call()
        assert e.value.code == expected
    assert "prompt:" in phone.log(), "a zero-length pinUvAuthParam waits for a touch first"


def test_zero_length_pin_uv_auth_param_refused_touch(make_phone):
    ctap = make_phone("--presence", "deny").ctap2()
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, user(1), ES256, pin_uv_param=b"", pin_uv_protocol=1)
    assert e.value.code == ERR.OPERATION_DENIED


def test_pin_uv_auth_param_without_protocol_and_unknown_protocol(phone):
    ctap = phone.ctap2()
    for proto, expected in [(None, ERR.MISSING_PARAMETER), (3, ERR.INVALID_PARAMETER)]:
        with pytest.raises(CtapError) as e:
            ctap.make_credential(cdh(), RP, user(1), ES256, pin_uv_param=b"\x01" * 32,
                                 pin_uv_protocol=proto)
        assert e.value.code == expected


def test_presence_refused_is_operation_denied(make_phone):
    ctap = make_phone("--presence", "deny").ctap2()
    with pytest.raises(CtapError) as e:
        make_credential(ctap)
    assert e.value.code == ERR.OPERATION_DENIED


def test_presence_not_answered_times_out_with_up_needed_keepalives(make_phone):
    ctap = make_phone("--presence", "ignore", "--user-timeout-ms", "300").ctap2()
    seen = []
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, user(1), ES256, on_keepalive=seen.append)
    assert e.value.code == ERR.USER_ACTION_TIMEOUT
    assert 2 in seen, "keepalive status 2 (UPNEEDED) while waiting for the user"
    assert ctap.get_info().versions


def test_new_discoverable_credential_replaces_same_user(phone):
    ctap = phone.ctap2()
    first = make_credential(ctap, rk=True, uv=True, label="a")
    second = make_credential(ctap, rk=True, uv=True, label="b")
    resp = get_assertion(ctap, uv=True)
    assert resp.number_of_credentials is None
    assert resp.credential["id"] == second.auth_data.credential_data.credential_id
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, allow=[descriptor(first)])
    assert e.value.code == ERR.NO_CREDENTIALS


# --- excludeList ----------------------------------------------------------------------------
def test_exclude_list_asks_presence_then_credential_excluded(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap)
    prompts = phone.log().count("prompt:")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, usr=user(2), exclude=[descriptor(att)])
    assert e.value.code == ERR.CREDENTIAL_EXCLUDED
    assert phone.log().count("prompt:") == prompts + 1, \
        "presence must be asked before CREDENTIAL_EXCLUDED (scripted user's stderr log)"


def test_exclude_list_with_refused_presence_is_operation_denied(make_phone):
    phone = make_phone()
    att = make_credential(phone.ctap2())
    phone.stop()
    phone.flags = ["--presence", "deny"]
    phone.start()
    with pytest.raises(CtapError) as e:
        make_credential(phone.ctap2(), usr=user(2), exclude=[descriptor(att)])
    assert e.value.code == ERR.OPERATION_DENIED


def test_exclude_list_with_unanswered_presence_times_out(make_phone):
    phone = make_phone()
    att = make_credential(phone.ctap2())
    phone.stop()
    phone.flags = ["--presence", "ignore", "--user-timeout-ms", "300"]
    phone.start()
    with pytest.raises(CtapError) as e:
        make_credential(phone.ctap2(), usr=user(2), exclude=[descriptor(att)])
    assert e.value.code == ERR.USER_ACTION_TIMEOUT


def test_exclude_list_of_other_rp_or_unknown_ids_does_not_exclude(phone):
    ctap = phone.ctap2()
    other = make_credential(ctap, OTHER_RP)
    make_credential(ctap, usr=user(2), exclude=[
        descriptor(other), {"type": "public-key", "id": b"\x00" * 16},
        {"type": "public-key", "id": b"\x01" * 64}])


# --- getAssertion ---------------------------------------------------------------------------
def test_assertion_with_allow_list_verifies_and_counts_up(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap)
    counters = []
    for i in range(3):
        resp = get_assertion(ctap, allow=[descriptor(att)], label=f"ga{i}")
        check_signed_by(resp, att)
        assert flags(resp) & (FLAG_UP | FLAG_UV) == FLAG_UP
        assert resp.credential["id"] == att.auth_data.credential_data.credential_id
        assert resp.number_of_credentials is None
        assert resp.user is None, "a non-discoverable credential has no user handle"
        counters.append(resp.auth_data.counter)
    assert counters[0] > 0 and counters == sorted(set(counters)), counters
    phone.restart()
    resp = get_assertion(phone.ctap2(), allow=[descriptor(att)])
    assert resp.auth_data.counter > counters[-1], "counters never go back over a power cycle"


def test_allow_list_returns_exactly_one_credential(phone):
    ctap = phone.ctap2()
    a = make_credential(ctap, rk=True, uv=True, usr=user(1))
    b = make_credential(ctap, rk=True, uv=True, usr=user(2))
    unknown = {"type": "public-key", "id": b"\x42" * 16}
    resp = get_assertion(ctap, allow=[unknown, descriptor(b), descriptor(a)])
    assert resp.credential["id"] == b.auth_data.credential_data.credential_id
    assert resp.number_of_credentials is None
    check_signed_by(resp, b)
    with pytest.raises(CtapError) as e:
        ctap.get_next_assertion()
    assert e.value.code == ERR.NOT_ALLOWED


def test_allow_list_without_match_is_no_credentials(phone):
    ctap = phone.ctap2()
    other = make_credential(ctap, OTHER_RP)
    for allow in ([descriptor(other)], [{"type": "public-key", "id": b"\x00" * 16}]):
        with pytest.raises(CtapError) as e:
            get_assertion(ctap, allow=allow)
        assert e.value.code == ERR.NO_CREDENTIALS


def test_no_discoverable_credentials_is_no_credentials(phone):
    ctap = phone.ctap2()
    make_credential(ctap)  # non-discoverable only
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, uv=True)
    assert e.value.code == ERR.NO_CREDENTIALS


def test_up_false_gives_up_zero_without_a_prompt(make_phone):
    phone = make_phone()
    att = make_credential(phone.ctap2())
    phone.stop()
    phone.flags = ["--presence", "deny"]
    phone.start()
    ctap = phone.ctap2()
    resp = get_assertion(ctap, allow=[descriptor(att)], up=False)
    assert flags(resp) & (FLAG_UP | FLAG_UV) == 0
    check_signed_by(resp, att)
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, allow=[descriptor(att)])
    assert e.value.code == ERR.OPERATION_DENIED


def test_uv_flag_only_when_uv_happened(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True)
    with_uv = get_assertion(ctap, allow=[descriptor(att)], uv=True)
    without = get_assertion(ctap, allow=[descriptor(att)])
    assert flags(with_uv) & FLAG_UV and not flags(without) & FLAG_UV
    check_signed_by(with_uv, att)
    check_signed_by(without, att)


def test_user_names_only_after_uv(phone):
    ctap = phone.ctap2()
    att = make_credential(ctap, rk=True, uv=True)
    verified = get_assertion(ctap, uv=True)
    assert verified.user == {"id": b"user-1", "name": "user1@example.com",
                             "displayName": "User 1"}
    plain = get_assertion(ctap, allow=[descriptor(att)])
    assert plain.user in (None, {"id": b"user-1"}), \
        "no personally identifying data without user verification"


@pytest.mark.parametrize("rk", [True, False])
def test_rk_option_in_get_assertion_is_refused(phone, rk):
    ctap = phone.ctap2()
    make_credential(ctap, rk=True, uv=True)
    with pytest.raises(CtapError) as e:
        ctap.get_assertion("example.com", cdh(), options={"rk": rk})
    assert e.value.code == ERR.UNSUPPORTED_OPTION


def test_uv_option_without_builtin_uv_in_get_assertion(make_phone):
    ctap = make_phone("--no-builtin-uv").ctap2()
    make_credential(ctap, rk=True)
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, uv=True)
    assert e.value.code == ERR.INVALID_OPTION


def test_builtin_uv_refused_is_uv_invalid_and_counts(make_phone):
    ctap = make_phone("--uv", "deny").ctap2()
    pin = client_pin(ctap, 2)
    assert pin.get_uv_retries() == 8
    with pytest.raises(CtapError) as e:
        make_credential(ctap, rk=True, uv=True)
    assert e.value.code == ERR.UV_INVALID
    assert pin.get_uv_retries() == 7


# --- getNextAssertion -----------------------------------------------------------------------
def _three_accounts(ctap):
    made = []
    for n in (1, 2, 3):
        att = make_credential(ctap, rk=True, uv=True, usr=user(n), label=f"u{n}")
        object.__setattr__(att, "_user_id", user(n)["id"])
        made.append(att)
    return made


def _all_assertions(ctap):
    first = get_assertion(ctap, uv=True)
    rest = [ctap.get_next_assertion() for _ in range((first.number_of_credentials or 1) - 1)]
    for r in rest:
        assert r.number_of_credentials is None, "numberOfCredentials only in the first response"
        object.__setattr__(r, "_cdh", first._cdh)
    with pytest.raises(CtapError) as e:
        ctap.get_next_assertion()
    assert e.value.code == ERR.NOT_ALLOWED
    return [first, *rest]


def test_get_next_assertion_returns_each_account_once(phone):
    ctap = phone.ctap2()
    made = _three_accounts(ctap)
    make_credential(ctap, OTHER_RP, rk=True, uv=True, usr=user(9))
    got = _all_assertions(ctap)
    assert got[0].number_of_credentials == 3
    by_id = {m.auth_data.credential_data.credential_id: m for m in made}
    assert sorted(r.credential["id"] for r in got) == sorted(by_id)
    for r in got:
        att = by_id[r.credential["id"]]
        check_signed_by(r, att)
        assert r.user["id"] == att._user_id
        assert flags(r) & FLAG_UV and flags(r) & FLAG_UP


def test_get_next_assertion_returns_newest_first(phone):
    """CTAP 2.1 §6.2.2 step 11 (no allowList): order the applicable credentials by creation
    time, most recent first. Eight accounts made back to back (well within one second)."""
    ctap = phone.ctap2()
    for n in range(1, 9):
        make_credential(ctap, rk=True, uv=True, usr=user(n), label=f"u{n}")
    order = [r.user["id"] for r in _all_assertions(ctap)]
    assert order == [b"user-%d" % n for n in range(8, 0, -1)], order


def test_get_next_assertion_without_state_is_not_allowed(phone):
    ctap = phone.ctap2()
    with pytest.raises(CtapError) as e:
        ctap.get_next_assertion()
    assert e.value.code == ERR.NOT_ALLOWED
    _three_accounts(ctap)
    get_assertion(ctap, uv=True)
    ctap.get_info()  # any other command ends the state
    with pytest.raises(CtapError) as e:
        ctap.get_next_assertion()
    assert e.value.code == ERR.NOT_ALLOWED


def test_get_next_assertion_with_parameters_is_invalid_length(phone):
    ctap = phone.ctap2()
    assert raw_call(ctap.device, b"\x08\xa0") == bytes([ERR.INVALID_LENGTH])


def test_select_on_device_returns_one_user_selected_assertion(make_phone):
    ctap = make_phone("--select-on-device").ctap2()
    _three_accounts(ctap)
    resp = get_assertion(ctap, uv=True)
    assert resp.number_of_credentials is None
    assert resp.user_selected is True
    with pytest.raises(CtapError) as e:
        ctap.get_next_assertion()
    assert e.value.code == ERR.NOT_ALLOWED
