"""Named accounts in an encrypted keystore directory.

Each account is one Ethereum keystore v3 file, ``<keystore_dir>/<name>.json``,
encrypted with scrypt under a password; the same files geth, Foundry's ``cast``
and MetaMask read. Private keys exist in memory only after :meth:`Keystore.unlock`
and never appear in reprs, logs or error messages.

Example::

    >>> keystore = Keystore(Settings(home="/tmp/ailedger-demo"))  # doctest: +SKIP
    >>> alice = keystore.create("alice", "correct horse")  # doctest: +SKIP
    >>> keystore.unlock("alice", "correct horse").address == alice.address  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address

from ailedger.config import Settings
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError, UnauthorizedError

__all__ = ["KeyInfo", "Keystore", "validate_key_name"]

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_PRIVATE_KEY_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Unlocked accounts, shared by every Keystore in this process, so that scrypt
# (deliberately slow) runs once per key rather than once per request. An entry
# is used only for the same file content and a password that tags the same
# under a per-process secret; the password itself is never stored.
_PROCESS_SECRET = secrets.token_bytes(32)
_unlocked: dict[tuple[str, bytes], tuple[bytes, LocalAccount]] = {}
_unlocked_lock = threading.Lock()


@dataclass(frozen=True)
class KeyInfo:
    """A keystore entry as listed: its name and checksum address (no key material)."""

    name: str
    address: str


def validate_key_name(name: object) -> str:
    """Return ``name`` if it is a valid key name, else raise :class:`InvalidInputError`.

    Names are 1-64 characters of lowercase letters, digits, ``_`` and ``-``,
    starting with a letter or digit; they become file names, so nothing else.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"key name: expected 1-64 characters matching {NAME_PATTERN.pattern}, got {name!r}",
            field="name",
        )
    return name


class Keystore:
    """The keystore directory of one data dir (``settings.keystore_dir``)."""

    def __init__(self, settings: Settings) -> None:
        self.directory = settings.keystore_dir
        self._scrypt_n = settings.keystore_scrypt_n

    def __repr__(self) -> str:
        return f"Keystore({str(self.directory)!r})"

    def create(self, name: str, password: str) -> LocalAccount:
        """Generate a new random account stored as ``name``.

        Raises :class:`InvalidInputError` if the name is invalid or taken, or
        the password is empty.
        """
        self._check_new(name, password)
        account = Account.create()
        self._store(name, account, password)
        return account

    def import_key(self, name: str, private_key_hex: str, password: str) -> LocalAccount:
        """Store an existing private key (64 hex digits, ``0x`` optional) as ``name``."""
        self._check_new(name, password)
        account = Account.from_key(_parse_private_key(private_key_hex))
        self._store(name, account, password)
        return account

    def list(self) -> list[KeyInfo]:
        """Every stored account, sorted by name. Needs no password."""
        if not self.directory.is_dir():
            return []
        infos = []
        for path in sorted(self.directory.glob("*.json")):
            if NAME_PATTERN.fullmatch(path.stem):
                infos.append(KeyInfo(path.stem, _address_of(path, _read_keyfile(path))))
        return infos

    def address(self, name: str) -> str:
        """The checksum address of ``name`` (no password needed)."""
        path = self._existing_path(name)
        return _address_of(path, _read_keyfile(path))

    def unlock(self, name: str, password: str) -> LocalAccount:
        """Decrypt ``name`` with ``password``.

        Raises :class:`UnauthorizedError` for a wrong password,
        :class:`NotFoundError` for an unknown name and :class:`IntegrityError`
        for a damaged file.
        """
        path = self._existing_path(name)
        if not isinstance(password, str):
            raise InvalidInputError(
                f"password: expected a string, got {type(password).__name__}", field="password"
            )
        raw = _read_bytes(path)
        cached = _cached_account(path, raw, password)
        if cached is not None:
            return cached

        keyfile = _parse_keyfile(path, raw)
        address = _address_of(path, keyfile)
        try:
            private_key = Account.decrypt(keyfile, password)
        except ValueError as error:
            # eth_account reports a wrong password as a MAC mismatch. (A tampered
            # ciphertext fails the same MAC; keystore v3 cannot tell the two apart.)
            if "MAC mismatch" in str(error):
                raise UnauthorizedError(
                    f"wrong password for key {name!r}", field="password"
                ) from None
            raise _corrupted(path, "cannot be decrypted") from None
        except (KeyError, TypeError, AttributeError, NotImplementedError):
            raise _corrupted(path, "has missing or unsupported keystore v3 fields") from None
        account = Account.from_key(private_key)
        if account.address != address:
            raise _corrupted(path, f"holds the key of {account.address}, not of {address}")
        _remember(path, raw, password, account)
        return account

    def path(self, name: str) -> Path:
        """Where the keystore file of ``name`` lives (whether or not it exists)."""
        return self.directory / f"{validate_key_name(name)}.json"

    def _existing_path(self, name: str) -> Path:
        path = self.path(name)
        if not path.is_file():
            raise NotFoundError(
                f"no key named {name!r} in {self.directory}; "
                "create one with `ailedger keys new` or import one",
                field="name",
            )
        return path

    def check_available(self, name: str) -> None:
        """Raise :class:`InvalidInputError` unless ``name`` is valid and not yet taken."""
        if self.path(name).exists():
            raise InvalidInputError(f"a key named {name!r} already exists", field="name")

    def _check_new(self, name: str, password: str) -> None:
        self.check_available(name)
        if not isinstance(password, str) or not password:
            raise InvalidInputError("password: must not be empty", field="password")

    def _store(self, name: str, account: LocalAccount, password: str) -> None:
        keyfile = Account.encrypt(account.key, password, kdf="scrypt", iterations=self._scrypt_n)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(name)
        # Write to a private temp file, then hard-link it into place: the link
        # is atomic and fails if the name was taken meanwhile, so a concurrent
        # create can neither be overwritten nor observed half-written.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                os.fchmod(handle.fileno(), 0o600)
                json.dump(keyfile, handle)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise InvalidInputError(
                    f"a key named {name!r} already exists", field="name"
                ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_directory(self.directory)
        # The caller just proved the password: spare the next unlock its scrypt run.
        _remember(target, target.read_bytes(), password, account)


def _cache_entry(path: Path, raw: bytes, password: str) -> tuple[tuple[str, bytes], bytes]:
    key = (str(path), hashlib.sha256(raw).digest())
    tag = hmac.new(_PROCESS_SECRET, password.encode(), hashlib.sha256).digest()
    return key, tag


def _cached_account(path: Path, raw: bytes, password: str) -> LocalAccount | None:
    key, tag = _cache_entry(path, raw, password)
    with _unlocked_lock:
        cached = _unlocked.get(key)
    if cached is not None and hmac.compare_digest(cached[0], tag):
        return cached[1]
    return None


def _remember(path: Path, raw: bytes, password: str, account: LocalAccount) -> None:
    key, tag = _cache_entry(path, raw, password)
    with _unlocked_lock:
        _unlocked[key] = (tag, account)


def _parse_private_key(private_key_hex: object) -> bytes:
    # Messages describe the input's shape only: echoing it would leak the key.
    if not isinstance(private_key_hex, str):
        raise InvalidInputError(
            f"private key: expected a hex string, got {type(private_key_hex).__name__}",
            field="private_key",
        )
    text = private_key_hex.strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    if not _PRIVATE_KEY_HEX.fullmatch(text):
        problem = (
            f"{len(text)} characters"
            if len(text) != 64
            else "64 characters that are not all hex digits"
        )
        raise InvalidInputError(
            f"private key: expected 64 hex digits (0x optional), got {problem}",
            field="private_key",
        )
    key = bytes.fromhex(text)
    if not 0 < int.from_bytes(key, "big") < _SECP256K1_ORDER:
        raise InvalidInputError(
            "private key: out of range for secp256k1 (must be 1 .. n-1)", field="private_key"
        )
    return key


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise IntegrityError(
            f"keystore file {path} cannot be read: {error.strerror}", field="name"
        ) from None


def _read_keyfile(path: Path) -> dict[str, Any]:
    return _parse_keyfile(path, _read_bytes(path))


def _parse_keyfile(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        keyfile = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _corrupted(path, "is not valid JSON") from None
    if not isinstance(keyfile, dict):
        raise _corrupted(path, "is not a JSON object")
    if keyfile.get("version") != 3 or not isinstance(keyfile.get("crypto"), dict):
        raise _corrupted(path, "is not an Ethereum keystore v3 file")
    return keyfile


def _address_of(path: Path, keyfile: dict[str, Any]) -> str:
    address = keyfile.get("address")
    if isinstance(address, str) and not address.startswith("0x"):
        address = "0x" + address
    if not isinstance(address, str) or not is_hex_address(address):
        raise _corrupted(path, "has no valid address field")
    return to_checksum_address(address)


def _corrupted(path: Path, reason: str) -> IntegrityError:
    return IntegrityError(f"keystore file {path} is corrupted: it {reason}", field="name")


def _fsync_directory(directory: Path) -> None:
    # Makes the new directory entry itself durable, not just the file's bytes.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
