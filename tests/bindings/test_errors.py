"""Errors cross the boundary as typed AuthenticatorError variants with their exact messages:
malformed links and QR texts, unknown ids, a failing KeyProtector, a foreign vault file."""

from __future__ import annotations

import pytest

from bindkit import SoftKeyProtector, ac, variant


def raises(variant_name: str, fn, *args) -> "ac.AuthenticatorError":
    with pytest.raises(ac.AuthenticatorError) as e:
        fn(*args)
    assert variant(e.value) == variant_name, repr(e.value)
    return e.value


@pytest.mark.parametrize("link,reason", [
    ("", "the activation link is empty"),
    ("not a link",
     "this activation link contains spaces or line breaks; copy it again in one piece"),
    ("ftp://acme.example/activate?code=" + "0" * 26,
     "activation links start with https://, not ftp:"),
    ("https://acme.example/activate", "this activation link has no activation code"),
])
def test_malformed_activation_links(phone, link, reason):
    assert raises("InvalidInput", phone.parse_activation_link, link).reason == reason
    assert raises("InvalidInput", phone.activate, link).reason == reason
    assert phone.enrollment() is None


@pytest.mark.parametrize("qr,why", [
    ("", "not a pairing code (wrong scheme)"),
    ("hello", "not a pairing code (wrong scheme)"),
    ("FIDO:/" + "1" * 40, "not a pairing code (wrong scheme)"),
    ("PASSKEYPHONE:/123", "pairing code content is malformed"),
    ("PASSKEYPHONE:/" + "9" * 5000, "it is far too long"),
])
def test_malformed_qr_text(phone, qr, why):
    assert raises("InvalidInput", phone.pair, qr).reason == \
        f"this is not a usable pairing code: {why}"
    assert phone.paired_computers() == []


def test_unknown_and_malformed_ids(phone):
    assert raises("NotFound", phone.delete_passkey, "AAAA").reason == "no passkey has this id"
    assert raises("NotFound", phone.rename_passkey, "AAAA", "x").reason == \
        "no passkey has this id"
    assert raises("InvalidInput", phone.delete_passkey, "!!").reason == \
        "this is not a passkey id (base64url)"
    assert raises("NotFound", phone.remove_paired_computer, "00" * 16).reason == \
        "no paired computer has this id"
    assert raises("InvalidInput", phone.remove_paired_computer, "zz").reason == \
        "this is not a paired computer's id"
    assert raises("NotFound", phone.decide_approval, "00" * 16, True).reason == \
        "no pending approval has this id"
    for malformed in ("zz", "00" * 8, "00" * 17):
        assert raises("InvalidInput", phone.decide_approval, malformed, False).reason == \
            "this is not an approval's id"


def reopen_fails(make_phone, variant_name: str, **kw) -> "ac.AuthenticatorError":
    with pytest.raises(ac.AuthenticatorError) as e:
        make_phone("p", **kw)
    assert variant(e.value) == variant_name, repr(e.value)
    return e.value


def test_key_protector_raising_a_python_exception(make_phone):
    kp = SoftKeyProtector()
    make_phone("p", key_protector=kp).close()
    kp.fail_unwrap = RuntimeError("keystore exploded")
    err = reopen_fails(make_phone, "KeyStoreFailed", key_protector=kp)
    assert err.reason == "the key protector failed: RuntimeError('keystore exploded')"
    kp.fail_unwrap = None
    assert not make_phone("p", key_protector=kp).pin_status().is_set


def test_key_unavailable_and_lost(make_phone):
    kp = SoftKeyProtector()
    make_phone("p", key_protector=kp).set_pin("135790")
    kp.fail_unwrap = ac.KeyProtectorError.TemporarilyUnavailable("before first unlock")
    err = reopen_fails(make_phone, "KeyTemporarilyUnavailable", key_protector=kp)
    assert err.reason == ("the vault key is temporarily unavailable (before first unlock); "
                          "try again after unlocking")
    kp.fail_unwrap = ac.KeyProtectorError.PermanentlyLost("key invalidated")
    err = reopen_fails(make_phone, "KeyPermanentlyLost", key_protector=kp)
    assert err.reason == ("the device key protecting the vault is permanently lost (key "
                          "invalidated); the vault file was left untouched for recovery")
    kp.fail_unwrap = None
    assert make_phone("p", key_protector=kp).pin_status().is_set, "nothing was lost"


def test_a_wrong_key(make_phone):
    make_phone("p").set_pin("135790")
    err = reopen_fails(make_phone, "VaultUnreadable", key_protector=SoftKeyProtector())
    assert err.reason == "the vault was sealed with a different key; nothing was changed"


def test_a_foreign_vault_file_is_moved_aside(make_phone, tmp_path):
    """Open refuses once (VaultUnreadable, naming where the file went), keeps the file as
    vault.db.unreadable-TIME, and the next open makes a new vault."""
    data = tmp_path / "p"
    data.mkdir()
    garbage = b"this is not a database, just some bytes " * 200
    (data / "vault.db").write_bytes(garbage)
    err = reopen_fails(make_phone, "VaultUnreadable")
    [aside] = [p for p in data.iterdir() if p.name.startswith("vault.db.unreadable-")]
    assert err.reason == ("the vault file is corrupt (not a SQLite database); it was moved "
                          f"aside to {aside}")
    assert aside.read_bytes() == garbage
    phone = make_phone("p")
    assert phone.passkeys() == [] and not phone.pin_status().is_set
    assert aside.read_bytes() == garbage
