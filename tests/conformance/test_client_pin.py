"""authenticatorClientPIN (CTAP 2.1 §6.5) with PIN/UV auth protocols 1 and 2: set, change,
retries and blocking with power cycles, token permissions and rp binding, the UV token."""

import hashlib

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Config
from fido2.ctap2.pin import ClientPin

from phonelib import (ERR, ES256, RP, cdh, client_pin, descriptor, get_assertion,
                      make_credential, pin_protocol, user)

P = ClientPin.PERMISSION
PROTOCOLS = [1, 2]
PIN = "1234"
WRONG = "9999"


@pytest.fixture(params=PROTOCOLS, ids=["protocol1", "protocol2"])
def proto(request):
    return request.param


@pytest.fixture
def pin_phone(make_phone):
    """A phone without built-in UV, so clients must use the PIN (a PIN is set per test)."""
    return make_phone("--no-builtin-uv")


def set_pin_on(phone, protocol, pin=PIN):
    ctap = phone.ctap2()
    client_pin(ctap, protocol).set_pin(pin)
    return phone.ctap2()  # fresh Info with clientPin true


def status(fn, *a, **kw) -> int:
    try:
        fn(*a, **kw)
        return 0
    except CtapError as e:
        return e.code


def raw_set_pin(ctap, protocol, padded: bytes) -> int:
    """setPIN with an arbitrary padded PIN block (bypasses python-fido2's own checks)."""
    cp = client_pin(ctap, protocol)
    ka, shared = cp._get_shared_secret()
    enc = cp.protocol.encrypt(shared, padded)
    return status(ctap.client_pin, protocol, ClientPin.CMD.SET_PIN, key_agreement=ka,
                  new_pin_enc=enc, pin_uv_param=cp.protocol.authenticate(shared, enc))


def wrong_pin(ctap, protocol, pin=WRONG, permissions=None, rp_id=None) -> int:
    return status(client_pin(ctap, protocol).get_pin_token, pin, permissions, rp_id)


def retries(ctap, protocol=2):
    return client_pin(ctap, protocol).get_pin_retries()


# --- set / change -----------------------------------------------------------------------------
def test_set_pin(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    assert ctap.info.options["clientPin"] is True
    assert retries(ctap, proto) == (8, False)
    assert len(client_pin(ctap, proto).get_pin_token(PIN)) == 32


def test_set_pin_twice_is_not_allowed(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    with pytest.raises(CtapError) as e:
        client_pin(ctap, proto).set_pin("5678")
    assert e.value.code == ERR.NOT_ALLOWED


@pytest.mark.parametrize("pin,ok", [
    ("123", False),                 # 3 code points < 4
    ("1234", True),
    ("\u00c4\u00d6\u00dc", False),   # 3 code points, 6 bytes
    ("\u00c4\u00d6\u00dc\u00df", True),  # 4 code points
    ("x" * 63, True),               # 63 bytes: the longest PIN
    ("x" * 64, False),              # 64 bytes: too long
])
def test_pin_policy_on_set(pin_phone, proto, pin, ok):
    ctap = pin_phone.ctap2()
    padded = pin.encode().ljust(64, b"\0")
    assert len(padded) == 64
    got = raw_set_pin(ctap, proto, padded)
    assert got == (0 if ok else ERR.PIN_POLICY_VIOLATION)
    if ok:
        assert len(client_pin(pin_phone.ctap2(), proto).get_pin_token(pin)) == 32


def test_set_pin_with_wrong_auth_is_pin_auth_invalid(pin_phone, proto):
    ctap = pin_phone.ctap2()
    cp = client_pin(ctap, proto)
    ka, shared = cp._get_shared_secret()
    enc = cp.protocol.encrypt(shared, PIN.encode().ljust(64, b"\0"))
    bad = bytes(len(cp.protocol.authenticate(shared, enc)))
    with pytest.raises(CtapError) as e:
        ctap.client_pin(proto, ClientPin.CMD.SET_PIN, key_agreement=ka, new_pin_enc=enc,
                        pin_uv_param=bad)
    assert e.value.code == ERR.PIN_AUTH_INVALID
    assert ctap.get_info().options["clientPin"] is False


def test_change_pin(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    cp = client_pin(ctap, proto)
    cp.change_pin(PIN, "87654321")
    assert wrong_pin(ctap, proto, PIN) == ERR.PIN_INVALID
    assert len(cp.get_pin_token("87654321")) == 32
    assert retries(ctap, proto) == (8, False)


def test_change_pin_with_wrong_old_pin(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    assert status(client_pin(ctap, proto).change_pin, WRONG, "5678") == ERR.PIN_INVALID
    assert retries(ctap, proto)[0] == 7
    assert len(client_pin(ctap, proto).get_pin_token(PIN)) == 32


def test_change_pin_without_pin_is_pin_not_set(pin_phone, proto):
    ctap = pin_phone.ctap2()
    cp = client_pin(ctap, proto)
    ka, shared = cp._get_shared_secret()
    new = cp.protocol.encrypt(shared, b"5678".ljust(64, b"\0"))
    old = cp.protocol.encrypt(shared, hashlib.sha256(PIN.encode()).digest()[:16])
    with pytest.raises(CtapError) as e:
        ctap.client_pin(proto, ClientPin.CMD.CHANGE_PIN, key_agreement=ka, new_pin_enc=new,
                        pin_hash_enc=old, pin_uv_param=cp.protocol.authenticate(shared, new + old))
    assert e.value.code == ERR.PIN_NOT_SET


def test_get_pin_token_without_pin_is_pin_not_set(pin_phone, proto):
    ctap = pin_phone.ctap2()
    cp = client_pin(ctap, proto)
    ka, shared = cp._get_shared_secret()
    with pytest.raises(CtapError) as e:
        ctap.client_pin(proto, ClientPin.CMD.GET_TOKEN_USING_PIN_LEGACY, key_agreement=ka,
                        pin_hash_enc=cp.protocol.encrypt(shared, bytes(16)))
    assert e.value.code == ERR.PIN_NOT_SET


# --- retries and blocking -------------------------------------------------------------------
def test_mismatch_regenerates_key_agreement(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    cp = client_pin(ctap, proto)
    before = ctap.client_pin(proto, ClientPin.CMD.GET_KEY_AGREEMENT)[1]
    assert ctap.client_pin(proto, ClientPin.CMD.GET_KEY_AGREEMENT)[1] == before
    assert wrong_pin(ctap, proto) == ERR.PIN_INVALID
    after = ctap.client_pin(proto, ClientPin.CMD.GET_KEY_AGREEMENT)[1]
    assert after[-2] != before[-2], "a PIN mismatch must regenerate the key agreement key"
    assert len(cp.get_pin_token(PIN)) == 32


def test_three_wrong_pins_block_until_power_cycle(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    assert [wrong_pin(ctap, proto) for _ in range(3)] == \
        [ERR.PIN_INVALID, ERR.PIN_INVALID, ERR.PIN_AUTH_BLOCKED]
    assert retries(ctap, proto) == (5, True), "retries 5, powerCycleState true"
    # Even the right PIN is refused now, and does not cost a retry.
    assert wrong_pin(ctap, proto, PIN) == ERR.PIN_AUTH_BLOCKED
    assert status(client_pin(ctap, proto).change_pin, PIN, "5678") == ERR.PIN_AUTH_BLOCKED
    assert retries(ctap, proto) == (5, True)
    pin_phone.restart()  # power cycle
    ctap = pin_phone.ctap2()
    assert retries(ctap, proto) == (5, False), "the retry counter survives the power cycle"
    assert len(client_pin(ctap, proto).get_pin_token(PIN)) == 32
    assert retries(ctap, proto) == (8, False), "a correct PIN restores the retries"


def test_eight_wrong_pins_block_the_pin(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    seen = []
    for cycle in range(2):
        seen += [wrong_pin(ctap, proto) for _ in range(3)]
        pin_phone.restart()
        ctap = pin_phone.ctap2()
    seen += [wrong_pin(ctap, proto) for _ in range(2)]
    assert seen == [ERR.PIN_INVALID, ERR.PIN_INVALID, ERR.PIN_AUTH_BLOCKED] * 2 + \
        [ERR.PIN_INVALID, ERR.PIN_BLOCKED]
    assert retries(ctap, proto)[0] == 0
    pin_phone.restart()
    ctap = pin_phone.ctap2()
    assert retries(ctap, proto)[0] == 0, "blocked for good, across power cycles"
    assert wrong_pin(ctap, proto, PIN) == ERR.PIN_BLOCKED
    assert wrong_pin(ctap, proto, PIN, P.GET_ASSERTION, "example.com") == ERR.PIN_BLOCKED
    assert status(client_pin(ctap, proto).change_pin, PIN, "5678") == ERR.PIN_BLOCKED


def test_retries_are_counted_for_the_permissions_variant_too(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    assert wrong_pin(ctap, proto, WRONG, P.MAKE_CREDENTIAL, "example.com") == ERR.PIN_INVALID
    assert retries(ctap, proto) == (7, False)


# --- tokens: permissions and rp binding -------------------------------------------------------
def token(ctap, proto, permissions=None, rp_id=None, pin=PIN):
    return client_pin(ctap, proto).get_pin_token(pin, permissions, rp_id)


def test_token_makes_verified_credentials(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    t = token(ctap, proto, P.MAKE_CREDENTIAL | P.GET_ASSERTION, "example.com")
    att = make_credential(ctap, rk=True, token=t, protocol=proto)
    assert bytes(att.auth_data)[32] & 0x05 == 0x05, "UP and UV"
    t = token(ctap, proto, P.GET_ASSERTION, "example.com")
    resp = get_assertion(ctap, token=t, protocol=proto)
    assert bytes(resp.auth_data)[32] & 0x05 == 0x05
    assert resp.user["name"] == "user1@example.com"


def test_legacy_get_pin_token_has_mc_and_ga(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    make_credential(ctap, rk=True, token=token(ctap, proto), protocol=proto)
    get_assertion(ctap, token=token(ctap, proto), protocol=proto)


def test_token_is_bound_to_its_rp(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    t = token(ctap, proto, P.MAKE_CREDENTIAL, "example.com")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, {"id": "other.example"}, token=t, protocol=proto)
    assert e.value.code == ERR.PIN_AUTH_INVALID
    make_credential(ctap, token=t, protocol=proto)


def test_legacy_token_binds_to_the_first_rp_used(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    t = token(ctap, proto)  # getPinToken: mc + ga, no rp
    make_credential(ctap, token=t, protocol=proto)  # binds the token to example.com
    # The mc permission is consumed; the binding stays: another rp is refused.
    with pytest.raises(CtapError) as e:
        get_assertion(ctap, "other.example", token=t, protocol=proto)
    assert e.value.code == ERR.PIN_AUTH_INVALID


@pytest.mark.parametrize("granted,use", [
    (P.GET_ASSERTION, "mc"),
    (P.MAKE_CREDENTIAL, "ga"),
    (P.CREDENTIAL_MGMT, "mc"),
    (P.AUTHENTICATOR_CFG, "ga"),
])
def test_token_without_the_permission_is_pin_auth_invalid(pin_phone, proto, granted, use):
    ctap = set_pin_on(pin_phone, proto)
    make_credential(ctap, token=token(ctap, proto, P.MAKE_CREDENTIAL, "example.com"),
                    protocol=proto)
    rp = "example.com" if granted & (P.MAKE_CREDENTIAL | P.GET_ASSERTION) else None
    t = token(ctap, proto, granted, rp)
    with pytest.raises(CtapError) as e:
        if use == "mc":
            make_credential(ctap, token=t, protocol=proto)
        else:
            get_assertion(ctap, token=t, protocol=proto)
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_silent_probe_does_not_consume_the_token(pin_phone, proto):
    """python-fido2 (and browsers) pre-flight allowList/excludeList entries with up=false and
    the token they then use for the real request."""
    ctap = set_pin_on(pin_phone, proto)
    att = make_credential(ctap, token=token(ctap, proto, P.MAKE_CREDENTIAL, "example.com"),
                          protocol=proto)
    t = token(ctap, proto, P.MAKE_CREDENTIAL | P.GET_ASSERTION, "example.com")
    probe = get_assertion(ctap, allow=[descriptor(att)], up=False, token=t, protocol=proto)
    assert bytes(probe.auth_data)[32] & 0x01 == 0
    resp = get_assertion(ctap, allow=[descriptor(att)], token=t, protocol=proto, label="real")
    assert bytes(resp.auth_data)[32] & 0x05 == 0x05, "UP and UV for the real request"


def test_token_is_consumed_by_one_operation(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    t = token(ctap, proto, P.MAKE_CREDENTIAL | P.GET_ASSERTION, "example.com")
    make_credential(ctap, token=t, protocol=proto, label="one")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, usr=user(2), token=t, protocol=proto, label="two")
    assert e.value.code == ERR.PIN_AUTH_INVALID


@pytest.mark.parametrize("permissions,expected", [
    (0, ERR.INVALID_PARAMETER),
    (P.BIO_ENROLL, ERR.UNAUTHORIZED_PERMISSION),       # no bioEnroll option
    (P.LARGE_BLOB_WRITE, ERR.UNAUTHORIZED_PERMISSION),  # no largeBlobs option
])
def test_unsupported_permissions(pin_phone, proto, permissions, expected):
    ctap = set_pin_on(pin_phone, proto)
    cp = client_pin(ctap, proto)
    ka, shared = cp._get_shared_secret()
    with pytest.raises(CtapError) as e:
        ctap.client_pin(proto, ClientPin.CMD.GET_TOKEN_USING_PIN, key_agreement=ka,
                        pin_hash_enc=cp.protocol.encrypt(shared, hashlib.sha256(b"1234").digest()[:16]),
                        permissions=permissions)
    assert e.value.code == expected
    assert retries(ctap, proto)[0] == 8, "a refused request must not cost a PIN retry"


def test_param_made_with_other_protocol_is_refused(pin_phone):
    ctap = set_pin_on(pin_phone, 2)
    t = token(ctap, 2, P.MAKE_CREDENTIAL, "example.com")
    h = cdh()
    with pytest.raises(CtapError) as e:
        ctap.make_credential(h, RP, user(1), ES256,
                             pin_uv_param=pin_protocol(1).authenticate(t, h), pin_uv_protocol=1)
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_new_token_invalidates_the_old_one(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    old = token(ctap, proto, P.MAKE_CREDENTIAL, "example.com")
    token(ctap, proto, P.MAKE_CREDENTIAL, "example.com")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, token=old, protocol=proto)
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_pin_change_invalidates_the_token(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    t = token(ctap, proto, P.MAKE_CREDENTIAL, "example.com")
    client_pin(ctap, proto).change_pin(PIN, "13579")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, token=t, protocol=proto)
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_power_cycle_invalidates_the_token(pin_phone, proto):
    ctap = set_pin_on(pin_phone, proto)
    t = token(ctap, proto, P.MAKE_CREDENTIAL, "example.com")
    pin_phone.restart()
    with pytest.raises(CtapError) as e:
        make_credential(pin_phone.ctap2(), token=t, protocol=proto)
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_pin_token_needs_presence_for_make_credential(make_phone, proto):
    phone = make_phone("--no-builtin-uv")
    set_pin_on(phone, proto)
    phone.stop()
    phone.flags = ["--no-builtin-uv", "--presence", "deny"]
    phone.start()
    ctap = phone.ctap2()
    with pytest.raises(CtapError) as e:
        make_credential(ctap, token=token(ctap, proto, P.MAKE_CREDENTIAL, "example.com"),
                        protocol=proto)
    assert e.value.code == ERR.OPERATION_DENIED


# --- UV token (built-in user verification) --------------------------------------------------
def test_uv_token_counts_as_presence(make_phone, proto):
    ctap = make_phone("--presence", "deny").ctap2()
    cp = client_pin(ctap, proto)
    t = cp.get_uv_token(P.MAKE_CREDENTIAL, "example.com")
    att = make_credential(ctap, rk=True, token=t, protocol=proto)
    assert bytes(att.auth_data)[32] & 0x05 == 0x05, "UP and UV from the UV token"
    t = cp.get_uv_token(P.GET_ASSERTION, "example.com")
    resp = get_assertion(ctap, token=t, protocol=proto)
    assert bytes(resp.auth_data)[32] & 0x05 == 0x05


def test_uv_token_denied_counts_uv_retries(make_phone, proto):
    ctap = make_phone("--uv", "deny").ctap2()
    cp = client_pin(ctap, proto)
    seen = []
    for _ in range(7):
        seen.append(status(cp.get_uv_token, P.GET_ASSERTION, "example.com"))
        assert cp.get_uv_retries() == 8 - len(seen)
    assert seen == [ERR.UV_INVALID] * 7
    last = status(cp.get_uv_token, P.GET_ASSERTION, "example.com")
    assert last in (ERR.UV_INVALID, ERR.UV_BLOCKED)
    assert cp.get_uv_retries() == 0
    assert status(cp.get_uv_token, P.GET_ASSERTION, "example.com") == ERR.UV_BLOCKED
    assert status(make_credential, ctap, rk=True, uv=True) == ERR.UV_BLOCKED


def verify_prompts(phone) -> list[str]:
    """The built-in verification prompts the phone showed, as its scripted user saw them."""
    return [line.removeprefix("verify: ").rsplit(" -> ", 1)[0]
            for line in phone.log().splitlines() if line.startswith("verify: ")]


@pytest.mark.parametrize("permissions", [P.GET_ASSERTION | P.AUTHENTICATOR_CFG,
                                         P.MAKE_CREDENTIAL | P.AUTHENTICATOR_CFG,
                                         P.GET_ASSERTION | P.CREDENTIAL_MGMT],
                         ids=["ga+acfg", "mc+acfg", "ga+cm"])
def test_a_sign_in_prompt_cannot_yield_a_settings_token(phone, proto, permissions):
    """One "Sign in to example.com?" must not let the PC set minPINLength to 63 and force a
    PIN change: a UV token for a site is never also one for managing the phone."""
    ctap = phone.ctap2()
    cp = client_pin(ctap, proto)
    assert status(cp.get_uv_token, permissions, "example.com") == ERR.UNAUTHORIZED_PERMISSION
    assert verify_prompts(phone) == [], "refused before the user is asked"
    assert cp.get_uv_retries() == 8
    # Settings still change through a token asked for them alone, under a prompt saying so.
    t = cp.get_uv_token(P.AUTHENTICATOR_CFG)
    Config(ctap, pin_protocol(proto), t).set_min_pin_length(6)
    assert phone.ctap2().get_info().min_pin_length == 6
    assert verify_prompts(phone) == ["Change this phone's security key settings?"]


def test_a_uv_token_prompt_names_everything_it_allows(phone, proto):
    ctap = phone.ctap2()
    cp = client_pin(ctap, proto)
    cp.get_uv_token(P.MAKE_CREDENTIAL | P.GET_ASSERTION, "example.com")
    cp.get_uv_token(P.GET_ASSERTION, "example.com")
    cp.get_uv_token(P.CREDENTIAL_MGMT | P.AUTHENTICATOR_CFG)
    cp.get_uv_token(P.CREDENTIAL_MGMT, "example.com")
    assert verify_prompts(phone) == [
        "Create a passkey for example.com and sign in to example.com?",
        "Sign in to example.com?",
        "Manage the passkeys on this phone and change this phone's security key settings?",
        "Manage the passkeys for example.com on this phone?",
    ]


def test_declining_uv_costs_no_attempt(make_phone, proto):
    phone = make_phone("--uv", "decline")
    ctap = phone.ctap2()
    cp = client_pin(ctap, proto)
    for _ in range(10):
        assert status(cp.get_uv_token, P.GET_ASSERTION, "example.com") == ERR.OPERATION_DENIED
        assert status(make_credential, ctap, rk=True, uv=True) == ERR.OPERATION_DENIED
    assert cp.get_uv_retries() == 8
    assert len(verify_prompts(phone)) == 20


def test_uv_token_is_rp_bound(phone, proto):
    ctap = phone.ctap2()
    t = client_pin(ctap, proto).get_uv_token(P.MAKE_CREDENTIAL, "example.com")
    with pytest.raises(CtapError) as e:
        make_credential(ctap, {"id": "other.example"}, token=t, protocol=proto)
    assert e.value.code == ERR.PIN_AUTH_INVALID


def test_uv_token_without_builtin_uv_is_refused(pin_phone, proto):
    ctap = pin_phone.ctap2()
    cp = client_pin(ctap, proto)
    ka, _ = cp._get_shared_secret()
    with pytest.raises(CtapError) as e:
        ctap.client_pin(proto, ClientPin.CMD.GET_TOKEN_USING_UV, key_agreement=ka,
                        permissions=P.GET_ASSERTION, permissions_rpid="example.com")
    # The spec text for an authenticator without built-in UV is NOT_ALLOWED in CTAP 2.1;
    # INVALID_SUBCOMMAND ("not implemented") is accepted too.
    assert e.value.code in (ERR.NOT_ALLOWED, ERR.INVALID_SUBCOMMAND)
