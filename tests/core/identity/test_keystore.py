"""Keystore: named accounts in Ethereum keystore v3 files, scrypt-encrypted."""

from __future__ import annotations

import json
import stat

import pytest
from eth_account import Account

from ailedger.core.identity import KeyInfo, Keystore
from ailedger.core.identity import keystore as keystore_module
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError, UnauthorizedError

PASSWORD = "correct horse battery staple"
# Example key from the web3.py documentation, with its known address.
KNOWN_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KNOWN_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


@pytest.fixture
def keystore(settings) -> Keystore:
    return Keystore(settings)


def _files(keystore: Keystore) -> list[str]:
    if not keystore.directory.exists():
        return []
    return sorted(path.name for path in keystore.directory.iterdir())


# --- create and import ------------------------------------------------------------------------


def test_create_stores_a_new_account_under_its_name(keystore):
    account = keystore.create("alice", PASSWORD)
    assert keystore.list() == [KeyInfo("alice", account.address)]
    assert keystore.address("alice") == account.address


def test_created_accounts_are_distinct(keystore):
    assert keystore.create("alice", PASSWORD).address != keystore.create("bob", PASSWORD).address


def test_keystore_file_is_v3_scrypt_with_the_configured_cost(keystore, settings):
    keystore.create("alice", PASSWORD)
    document = json.loads(keystore.path("alice").read_text())
    assert document["version"] == 3
    assert document["crypto"]["kdf"] == "scrypt"
    assert document["crypto"]["kdfparams"]["n"] == settings.keystore_scrypt_n


def test_keystore_file_decrypts_with_standard_tools(keystore):
    account = keystore.create("alice", PASSWORD)
    document = json.loads(keystore.path("alice").read_text())
    assert Account.decrypt(document, PASSWORD) == account.key


def test_keystore_file_and_directory_are_owner_only(keystore):
    keystore.create("alice", PASSWORD)
    assert stat.S_IMODE(keystore.path("alice").stat().st_mode) == 0o600
    assert stat.S_IMODE(keystore.directory.stat().st_mode) == 0o700


def test_create_leaves_no_temporary_files(keystore):
    keystore.create("alice", PASSWORD)
    assert _files(keystore) == ["alice.json"]


def test_failed_write_leaves_nothing_behind(keystore, monkeypatch):
    def _disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keystore_module.json, "dump", _disk_full)
    with pytest.raises(OSError):
        keystore.create("alice", PASSWORD)
    assert _files(keystore) == []


def test_import_key_stores_the_given_key(keystore):
    account = keystore.import_key("imported", KNOWN_KEY, PASSWORD)
    assert account.address == KNOWN_ADDRESS
    assert keystore.unlock("imported", PASSWORD).key.hex() == KNOWN_KEY[2:]


def test_import_key_accepts_hex_without_prefix_and_surrounding_whitespace(keystore):
    account = keystore.import_key("imported", f"  {KNOWN_KEY[2:].upper()}\n", PASSWORD)
    assert account.address == KNOWN_ADDRESS


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (KNOWN_KEY[:-2], "got 62 characters"),
        (KNOWN_KEY[2:-1] + "g", "not all hex digits"),
        ("0x" + "00" * 32, "out of range"),
        ("0x" + "ff" * 32, "out of range"),
        ("", "got 0 characters"),
    ],
)
def test_import_rejects_malformed_keys_without_echoing_them(keystore, key, expected):
    with pytest.raises(InvalidInputError, match=expected) as caught:
        keystore.import_key("imported", key, PASSWORD)
    if len(key) > 10:
        assert key[10:30] not in str(caught.value)
    assert caught.value.field == "private_key"
    assert _files(keystore) == []


def test_duplicate_name_is_rejected_and_keeps_the_original(keystore):
    original = keystore.create("alice", PASSWORD)
    before = keystore.path("alice").read_bytes()
    with pytest.raises(InvalidInputError, match="a key named 'alice' already exists"):
        keystore.import_key("alice", KNOWN_KEY, PASSWORD)
    assert keystore.path("alice").read_bytes() == before
    assert keystore.unlock("alice", PASSWORD).address == original.address


@pytest.mark.parametrize(
    "name",
    ["", "Alice", "-alice", "_alice", "al ice", "alice.json", "../alice", "a" * 65, "ключ"],
)
def test_invalid_names_are_rejected(keystore, name):
    with pytest.raises(InvalidInputError, match="key name") as caught:
        keystore.create(name, PASSWORD)
    assert caught.value.field == "name"
    assert _files(keystore) == []


@pytest.mark.parametrize("name", ["a", "0", "alice-2", "ops_key", "a" * 64])
def test_valid_names_are_accepted(keystore, name):
    keystore.create(name, PASSWORD)
    assert [info.name for info in keystore.list()] == [name]


def test_empty_password_is_rejected(keystore):
    with pytest.raises(InvalidInputError, match="password") as caught:
        keystore.create("alice", "")
    assert caught.value.field == "password"
    assert _files(keystore) == []


# --- list, address, unlock --------------------------------------------------------------------


def test_list_of_a_fresh_data_dir_is_empty(keystore):
    assert keystore.list() == []


def test_list_is_sorted_by_name(keystore):
    for name in ("carol", "alice", "bob"):
        keystore.create(name, PASSWORD)
    assert [info.name for info in keystore.list()] == ["alice", "bob", "carol"]


def test_unlock_returns_the_stored_account(keystore):
    created = keystore.create("alice", PASSWORD)
    unlocked = keystore.unlock("alice", PASSWORD)
    assert (unlocked.address, unlocked.key) == (created.address, created.key)


def test_unlock_with_wrong_password_is_unauthorized(keystore):
    keystore.create("alice", PASSWORD)
    with pytest.raises(UnauthorizedError, match=r"^wrong password for key 'alice'$") as caught:
        keystore.unlock("alice", "wrong")
    assert caught.value.field == "password"


def test_unlock_of_unknown_name_is_not_found(keystore):
    with pytest.raises(NotFoundError, match="no key named 'nobody'"):
        keystore.unlock("nobody", PASSWORD)


def test_address_of_unknown_name_is_not_found(keystore):
    with pytest.raises(NotFoundError, match="no key named 'nobody'"):
        keystore.address("nobody")


def test_second_unlock_does_not_rerun_scrypt(keystore, settings, monkeypatch):
    account = keystore.create("alice", PASSWORD)
    keystore.unlock("alice", PASSWORD)

    def _no_decrypt(*args, **kwargs):
        raise AssertionError("decrypted again")

    monkeypatch.setattr(keystore_module.Account, "decrypt", _no_decrypt)
    # Another Keystore on the same data dir (as the API opens per request) shares the cache.
    assert Keystore(settings).unlock("alice", PASSWORD).address == account.address


def test_unlock_right_after_create_does_not_run_scrypt(keystore, monkeypatch):
    account = keystore.create("alice", PASSWORD)

    def _no_decrypt(*args, **kwargs):
        raise AssertionError("decrypted although the password was just used to encrypt")

    monkeypatch.setattr(keystore_module.Account, "decrypt", _no_decrypt)
    assert keystore.unlock("alice", PASSWORD).address == account.address


def test_wrong_password_fails_right_after_create(keystore):
    keystore.create("alice", PASSWORD)
    with pytest.raises(UnauthorizedError):
        keystore.unlock("alice", PASSWORD + "!")


def test_wrong_password_fails_even_after_a_successful_unlock(keystore):
    keystore.create("alice", PASSWORD)
    keystore.unlock("alice", PASSWORD)
    with pytest.raises(UnauthorizedError):
        keystore.unlock("alice", PASSWORD + "!")


def test_unlock_reads_a_replaced_file_instead_of_the_cache(keystore):
    keystore.create("alice", PASSWORD)
    keystore.unlock("alice", PASSWORD)
    keystore.path("alice").unlink()
    replacement = keystore.import_key("alice", KNOWN_KEY, PASSWORD)
    assert keystore.unlock("alice", PASSWORD).address == replacement.address


def test_pbkdf2_keystore_files_from_other_tools_unlock(keystore):
    keystore.directory.mkdir(parents=True)
    document = Account.encrypt(KNOWN_KEY, PASSWORD, kdf="pbkdf2", iterations=2)
    keystore.path("external").write_text(json.dumps(document))
    assert keystore.unlock("external", PASSWORD).address == KNOWN_ADDRESS


# --- damaged files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"address": "2c7536e3605d9c16a7a3d7b1898e529396a65c23", "cry', "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"address": "2c7536e3605d9c16a7a3d7b1898e529396a65c23"}', "not an Ethereum keystore"),
        ('{"version": 3, "crypto": {}}', "no valid address"),
    ],
)
def test_damaged_file_is_an_integrity_error_naming_the_file(keystore, content, reason):
    keystore.directory.mkdir(parents=True)
    keystore.path("alice").write_text(content)
    for operation in (
        lambda: keystore.unlock("alice", PASSWORD),
        lambda: keystore.address("alice"),
        keystore.list,
    ):
        with pytest.raises(IntegrityError, match=reason) as caught:
            operation()
        assert str(keystore.path("alice")) in caught.value.message


def test_truncated_file_is_an_integrity_error(keystore):
    keystore.create("alice", PASSWORD)
    path = keystore.path("alice")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IntegrityError, match=r"alice\.json is corrupted"):
        keystore.unlock("alice", PASSWORD)


def test_file_whose_address_does_not_match_its_key_is_an_integrity_error(keystore):
    keystore.create("alice", PASSWORD)
    path = keystore.path("alice")
    document = json.loads(path.read_text())
    document["address"] = KNOWN_ADDRESS[2:].lower()
    path.write_text(json.dumps(document))
    with pytest.raises(IntegrityError, match="not of " + KNOWN_ADDRESS):
        keystore.unlock("alice", PASSWORD)


def test_file_with_unsupported_kdf_is_an_integrity_error(keystore):
    keystore.create("alice", PASSWORD)
    path = keystore.path("alice")
    document = json.loads(path.read_text())
    document["crypto"]["kdf"] = "argon2"
    path.write_text(json.dumps(document))
    with pytest.raises(IntegrityError, match=r"alice\.json is corrupted"):
        keystore.unlock("alice", PASSWORD)


# --- no key material in messages or reprs ---------------------------------------------------


def test_failed_unlock_message_and_repr_hold_no_key_material(keystore):
    account = keystore.import_key("alice", KNOWN_KEY, PASSWORD)
    with pytest.raises(UnauthorizedError) as caught:
        keystore.unlock("alice", "hunter2-typo")
    key_hex = KNOWN_KEY[2:]
    for text in (str(caught.value), repr(caught.value), str(caught.value.to_dict())):
        assert key_hex not in text.lower()
        assert "hunter2-typo" not in text
    for obj in (keystore, keystore.list(), account, keystore.unlock("alice", PASSWORD)):
        assert key_hex not in repr(obj).lower()
        assert PASSWORD not in repr(obj)
