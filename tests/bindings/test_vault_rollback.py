"""The vault's state anchor through the bindings: the app's KeyProtector keeps it (a platform
keeps it where backups and file copies do not reach; here, in the protector object), so a vault
file put back from an older copy is refused with VaultUnreadable and nothing changes; with the
newer file back it opens as it was. A protector that keeps no anchor, or whose anchor store
fails, still opens and writes (it only loses the whole-file rollback check)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from bindkit import SoftKeyProtector, ac

PIN = "135790"
FILES = ("vault.db", "vault.db-wal")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in FILES if (folder / n).exists()}


def put_back(folder: Path, files: dict[str, bytes]) -> None:
    for n in FILES + ("vault.db-shm",):
        (folder / n).unlink(missing_ok=True)
    for n, data in files.items():
        (folder / n).write_bytes(data)


def closed(phone) -> None:
    phone.close()
    gc.collect()


def test_a_vault_file_put_back_from_an_older_copy_is_refused(make_phone, tmp_path):
    kp = SoftKeyProtector()
    folder = tmp_path / "p"
    phone = make_phone("p", key_protector=kp)
    phone.set_pin(PIN)
    closed(phone)
    assert kp.anchor, "the core gave the protector its anchor"
    older = snapshot(folder)

    phone = make_phone("p", key_protector=kp)
    with pytest.raises(ac.AuthenticatorError.PinInvalid):
        phone.change_pin("000000", "246802")
    closed(phone)
    newer = snapshot(folder)

    put_back(folder, older)
    with pytest.raises(ac.AuthenticatorError.VaultUnreadable) as e:
        make_phone("p", key_protector=kp)
    assert "rolled back to an older copy" in e.value.reason
    assert snapshot(folder) == older, "a refused open changed the file"

    put_back(folder, newer)
    phone = make_phone("p", key_protector=kp)
    assert phone.pin_status().retries_left == 7


def test_a_protector_without_an_anchor_still_opens_and_writes(make_phone):
    class NoAnchor(SoftKeyProtector):
        def load_anchor(self):
            return None

        def store_anchor(self, anchor):
            return False

    class BrokenAnchorStore(SoftKeyProtector):
        def store_anchor(self, anchor):
            raise RuntimeError("disk full")

    for i, kp in enumerate([NoAnchor(), BrokenAnchorStore()]):
        phone = make_phone(f"p{i}", key_protector=kp)
        phone.set_pin(PIN)
        assert phone.pin_status().is_set, type(kp).__name__
