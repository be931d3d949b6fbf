"""Whom a verifier trusts: trust roots, pins, and the identity a log is bound to.

Like sigstore's trusted root, a :class:`TrustRoot` is a small JSON document the operator
publishes (``ailedger trust export``): the chain id, the ``AnchorRegistry`` address, the
operator (every log's admin) and, per log, its id and the signers with the blocks they
were in force. The operator's key signs it, but a verifier's trust comes from where the
file came from (the organisation's website, a regulator's records), never from the data
dir or the bundle being checked. A verifier turns it, or ``--operator/--registry/--log-id``
flags, into :class:`Pins` and every verify command checks the :class:`LogIdentity` it
verified against them and prints it.

Inside a data dir a log's identity is fixed when the log is created: the operator signs
it (:func:`bind_identity`) and it is kept in the log's store, so editing the keystore's
plain-text address, or pointing the log at another registry, fails ``log verify``.

Signatures are :func:`~ailedger.core.identity.sign_document` (EIP-712 over the keccak256
of the canonical JSON) under the domain ("AILedger TrustRoot", "1", chainId).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, keccak, to_checksum_address

from ailedger.core.chain import Contract
from ailedger.core.identity import Domain, canonical_json, document_signer, sign_document
from ailedger.core.log.anchor import Anchorer
from ailedger.core.log.store import LogStore
from ailedger.errors import IntegrityError, InvalidInputError

TRUST_ROOT_TYPE = "ailedger.trust-root/v1"
LOG_IDENTITY_TYPE = "ailedger.log-identity/v1"
_IDENTITY_META_KEY = "identity"
NOT_PINNED = (
    "identity NOT pinned: checked against the chain, registry, log and operator that the "
    "data dir or bundle itself names; pass --trust FILE (from the operator's published "
    "trust root) or --operator/--registry/--log-id to pin them"
)


class IdentityMismatchError(IntegrityError):
    """What was verified belongs to another chain, registry, log, operator or signer."""


def _domain(chain_id: int) -> Domain:
    return Domain("AILedger TrustRoot", "1", chain_id)


def _address(value: object, name: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise InvalidInputError(f"{name}: expected a 0x address, got {value!r}", field=name)
    return to_checksum_address(value)


def _bytes32(value: object, name: str) -> bytes:
    try:
        raw = bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        raw = b""
    if not isinstance(value, str) or len(raw) != 32:
        raise InvalidInputError(f"{name}: expected 32 bytes as 0x hex, got {value!r}", field=name)
    return raw


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(
            f"{name}: expected a non-negative integer, got {value!r}", field=name
        )
    return value


def _get(data: object, key: str, where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise InvalidInputError(f"{where}: missing {key!r}", field=key)
    return data[key]


def _sign_document(document: dict[str, Any], chain_id: int, account: LocalAccount) -> bytes:
    return sign_document(account, _domain(chain_id), document)


def _document_signer(document: dict[str, Any], chain_id: int, signature: bytes) -> str:
    return document_signer(_domain(chain_id), document, signature)


@dataclass(frozen=True)
class KeyWindow:
    """An address in force from block ``from_block`` to ``until_block`` (None: still is)."""

    address: str
    from_block: int = 0
    until_block: int | None = None

    def covers(self, block: int) -> bool:
        """Whether the key was in force at ``block``."""
        return self.from_block <= block and (self.until_block is None or block <= self.until_block)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "from_block": self.from_block,
            "until_block": self.until_block,
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> KeyWindow:
        until = _get(data, "until_block", where)
        return cls(
            _address(_get(data, "address", where), f"{where}.address"),
            _int(_get(data, "from_block", where), f"{where}.from_block"),
            None if until is None else _int(until, f"{where}.until_block"),
        )


@dataclass(frozen=True)
class TrustedLog:
    """One log of a trust root: its name, id and signer history."""

    name: str
    log_id: bytes
    signers: tuple[KeyWindow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "log_id": "0x" + self.log_id.hex(),
            "signers": [s.to_dict() for s in self.signers],
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> TrustedLog:
        signers = _get(data, "signers", where)
        if not isinstance(signers, list):
            raise InvalidInputError(f"{where}.signers: expected a list", field="signers")
        return cls(
            str(_get(data, "name", where)),
            _bytes32(_get(data, "log_id", where), f"{where}.log_id"),
            tuple(KeyWindow.from_dict(s, f"{where}.signers[{i}]") for i, s in enumerate(signers)),
        )


@dataclass(frozen=True)
class TrustRoot:
    """The operator's published statement of its identity (see the module docstring)."""

    chain_id: int
    registry: str
    operator: KeyWindow
    logs: tuple[TrustedLog, ...]
    signature: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry", _address(self.registry, "registry"))

    def document(self) -> dict[str, Any]:
        """Everything but the signature: what the signature covers."""
        return {
            "type": TRUST_ROOT_TYPE,
            "chain_id": self.chain_id,
            "registry": self.registry,
            "operator": self.operator.to_dict(),
            "logs": [log.to_dict() for log in self.logs],
        }

    def signed(self, account: LocalAccount) -> TrustRoot:
        """This root signed by the operator's key (which must be the root's operator)."""
        if account.address != self.operator.address:
            raise InvalidInputError(
                f"signer: the trust root names operator {self.operator.address}, got "
                f"{account.address}",
                field="signer",
            )
        signature = _sign_document(self.document(), self.chain_id, account)
        return TrustRoot(self.chain_id, self.registry, self.operator, self.logs, signature)

    def to_dict(self) -> dict[str, Any]:
        return {**self.document(), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_dict(cls, data: object) -> TrustRoot:
        """Parse and check a trust root; raises unless the operator signed exactly it."""
        where = "trust root"
        if _get(data, "type", where) != TRUST_ROOT_TYPE:
            raise InvalidInputError(
                f"trust root: type must be {TRUST_ROOT_TYPE!r}, got {data['type']!r}",
                field="type",
            )
        logs = _get(data, "logs", where)
        if not isinstance(logs, list):
            raise InvalidInputError("trust root: logs must be a list", field="logs")
        signature_hex = _get(data, "signature", where)
        try:
            signature = bytes.fromhex(str(signature_hex).removeprefix("0x"))
        except ValueError:
            raise InvalidInputError(
                f"trust root: signature is not hex: {signature_hex!r}", field="signature"
            ) from None
        root = cls(
            _int(_get(data, "chain_id", where), "chain_id"),
            _address(_get(data, "registry", where), "registry"),
            KeyWindow.from_dict(_get(data, "operator", where), "operator"),
            tuple(TrustedLog.from_dict(log, f"logs[{i}]") for i, log in enumerate(logs)),
            signature,
        )
        signer = _document_signer(root.document(), root.chain_id, root.signature)
        if signer != root.operator.address:
            raise IntegrityError(
                f"trust root: signed by {signer}, not by its operator {root.operator.address}",
                field="signature",
            )
        return root


@dataclass(frozen=True)
class LogIdentity:
    """Who a verified log or record belongs to, as read from the chain."""

    chain_id: int
    registry: str
    log_id: bytes
    operator: str
    signers: tuple[tuple[int, str], ...] = ()  # (anchor block, signer in force then)

    def describe(self) -> str:
        signers = sorted({s for _, s in self.signers})
        return (
            f"chain {self.chain_id}, AnchorRegistry {self.registry}, log 0x{self.log_id.hex()}, "
            f"operator {self.operator}"
            + (f", signer{'s' if len(signers) > 1 else ''} {', '.join(signers)}" if signers else "")
        )


@dataclass(frozen=True)
class Pins:
    """What a verifier expects; ``None``/empty fields are not pinned."""

    chain_id: int | None = None
    registry: str | None = None
    operator: KeyWindow | None = None
    log_ids: frozenset[bytes] = frozenset()
    signers: dict[bytes, tuple[KeyWindow, ...]] = field(default_factory=dict)
    source: str = "command-line pins"

    @classmethod
    def from_trust_root(cls, root: TrustRoot, source: str) -> Pins:
        return cls(
            root.chain_id,
            root.registry,
            root.operator,
            frozenset(log.log_id for log in root.logs),
            {log.log_id: log.signers for log in root.logs},
            source,
        )

    @classmethod
    def from_flags(
        cls, *, operator: str | None, registry: str | None, log_ids: Sequence[str] = ()
    ) -> Pins | None:
        """Pins from ``--operator/--registry/--log-id``, or None when none is given."""
        if operator is None and registry is None and not log_ids:
            return None
        return cls(
            registry=None if registry is None else _address(registry, "registry"),
            operator=None if operator is None else KeyWindow(_address(operator, "operator")),
            log_ids=frozenset(_bytes32(v, "log_id") for v in log_ids),
        )

    def check(self, identity: LogIdentity) -> None:
        """Raise :class:`IdentityMismatchError` naming the first field that differs."""
        mismatches = []
        if self.chain_id is not None and identity.chain_id != self.chain_id:
            mismatches.append(f"chain {identity.chain_id}, pinned {self.chain_id}")
        if self.registry is not None and identity.registry != self.registry:
            mismatches.append(f"registry {identity.registry}, pinned {self.registry}")
        if self.log_ids and identity.log_id not in self.log_ids:
            pinned = ", ".join(f"0x{x.hex()}" for x in sorted(self.log_ids))
            mismatches.append(f"log 0x{identity.log_id.hex()}, pinned {pinned}")
        if self.operator is not None:
            blocks = [block for block, _ in identity.signers] or [self.operator.from_block]
            if identity.operator != self.operator.address or not all(
                self.operator.covers(b) for b in blocks
            ):
                mismatches.append(f"operator {identity.operator}, pinned {self.operator.address}")
        windows = self.signers.get(identity.log_id)
        if windows is not None:
            for block, signer in identity.signers:
                if not any(w.address == signer and w.covers(block) for w in windows):
                    mismatches.append(
                        f"signer {signer} at block {block} is not a pinned signer then"
                    )
                    break
        if mismatches:
            raise IdentityMismatchError(
                f"identity differs from {self.source}: {'; '.join(mismatches)}", field="identity"
            )

    def describe(self, identity: LogIdentity) -> str:
        return f"identity pinned by {self.source}: {identity.describe()}"


def load_pins(
    trust_file: Path | None,
    *,
    operator: str | None = None,
    registry: str | None = None,
    log_ids: Sequence[str] = (),
) -> Pins | None:
    """The pins of a verify command: a trust root file, or flags (not both); None if neither."""
    flags = Pins.from_flags(operator=operator, registry=registry, log_ids=log_ids)
    if trust_file is None:
        return flags
    if flags is not None:
        raise InvalidInputError(
            "--trust and --operator/--registry/--log-id are exclusive: the trust root pins all",
            field="trust",
        )
    try:
        data = json.loads(trust_file.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"no such file: {trust_file}", field="trust") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"{trust_file} is not JSON: {error}", field="trust") from None
    return Pins.from_trust_root(TrustRoot.from_dict(data), f"trust root {trust_file}")


def describe_identity(pins: Pins | None, identity: LogIdentity) -> str:
    """The line every verify command prints: what it verified against, pinned or not."""
    if pins is None:
        return f"{NOT_PINNED}. Verified against: {identity.describe()}"
    return pins.describe(identity)


def log_identity(anchorer: Anchorer, blocks: Iterable[int] = ()) -> LogIdentity:
    """The identity of ``anchorer``'s log read from the chain, with the signers in force at
    ``blocks`` (the anchor blocks of the heads that were verified)."""
    changes = anchorer.signer_changes()
    signers = []
    for block in sorted(set(blocks)):
        in_force = [c for c in changes if c[0] <= block]
        if in_force:
            signers.append((block, in_force[-1][2]))
    return LogIdentity(
        anchorer.chain.chain_id,
        anchorer.registry.address,
        anchorer.log_id,
        anchorer.registry.log_admin(anchorer.log_id),
        tuple(signers),
    )


def export_trust_root(operator: LocalAccount, anchorers: dict[str, Anchorer]) -> TrustRoot:
    """The signed trust root of the operator's logs ``{name: anchorer}`` (one registry)."""
    registries = {a.registry.address for a in anchorers.values()}
    if len(registries) != 1:
        raise InvalidInputError(
            f"logs: expected logs of one registry, got {sorted(registries)}", field="logs"
        )
    first = next(iter(anchorers.values()))
    logs = []
    for name, anchorer in sorted(anchorers.items()):
        changes = anchorer.signer_changes()
        windows = tuple(
            KeyWindow(signer, block, changes[i + 1][0] - 1 if i + 1 < len(changes) else None)
            for i, (block, _, signer) in enumerate(changes)
        )
        logs.append(TrustedLog(name, anchorer.log_id, windows))
    root = TrustRoot(
        first.chain.chain_id, first.registry.address, KeyWindow(operator.address), tuple(logs)
    )
    return root.signed(operator)


def operator_log_names(registry: Contract, operator: str) -> list[str]:
    """The names of every log ``operator`` registered in ``registry``, from its events."""
    topic = keccak(text="LogRegistered(bytes32,address,address,bytes32)")
    admin = bytes(12) + bytes.fromhex(_address(operator, "operator")[2:])
    logs = registry.chain.get_logs(address=registry.address, topics=[topic, None, admin])
    return [
        event.args["name"].rstrip(b"\x00").decode()
        for event in registry.decode_logs(logs, "LogRegistered")
    ]


# --- the identity a log is bound to inside a data dir --------------------------------------


def bind_identity(store: LogStore, anchorer: Anchorer, name: str, operator: LocalAccount) -> None:
    """Fix the log's identity at creation: the operator signs (chain, registry, log id, name,
    operator) into the store. Raises :class:`IdentityMismatchError` if the store is already
    bound to another identity."""
    document = _identity_document(anchorer, name, operator.address)
    stored = store.get_meta(_IDENTITY_META_KEY)
    if stored is None:
        signature = _sign_document(document, anchorer.chain.chain_id, operator)
        store.set_meta(
            _IDENTITY_META_KEY,
            canonical_json({**document, "signature": "0x" + signature.hex()}).decode(),
        )
        return
    check_bound_identity(store, anchorer, name, operator.address)


def check_bound_identity(store: LogStore, anchorer: Anchorer, name: str, operator: str) -> None:
    """Raise :class:`IdentityMismatchError` unless the store's signed identity is exactly
    this chain, registry, log id, name and operator (the keystore's address)."""
    raw = store.get_meta(_IDENTITY_META_KEY)
    if raw is None:
        raise IdentityMismatchError(
            f"log '{name}' has no identity signed by its operator: the store was replaced "
            "or predates identity binding (opening the log with the operator key binds it)",
            field="identity",
        )
    try:
        data = json.loads(raw)
        signature = bytes.fromhex(data.pop("signature").removeprefix("0x"))
        signer = _document_signer(data, _int(data["chain_id"], "chain_id"), signature)
    except (ValueError, KeyError, TypeError, AttributeError, InvalidInputError) as error:
        raise IdentityMismatchError(
            f"log '{name}': its stored identity is unreadable ({error})", field="identity"
        ) from None
    if signer != data.get("operator"):
        raise IdentityMismatchError(
            f"log '{name}': its identity is signed by {signer}, not by the operator it names "
            f"({data.get('operator')})",
            field="identity",
        )
    expected = _identity_document(anchorer, name, operator)
    changed = [k for k in expected if data.get(k) != expected[k]]
    if changed:
        detail = "; ".join(f"{k} was {data.get(k)}, now {expected[k]}" for k in changed)
        raise IdentityMismatchError(
            f"log '{name}' changed identity since its operator created it: {detail}",
            field="identity",
        )


def _identity_document(anchorer: Anchorer, name: str, operator: str) -> dict[str, Any]:
    return {
        "type": LOG_IDENTITY_TYPE,
        "chain_id": anchorer.chain.chain_id,
        "registry": anchorer.registry.address,
        "log_id": "0x" + anchorer.log_id.hex(),
        "name": name,
        "operator": to_checksum_address(operator),
    }
