"""Typed access to the ``ModelRegistry`` contract: listings of models offered as services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.core.chain import Contract, to_checksum
from ailedger.errors import InvalidInputError, NotFoundError
from ailedger.services.errors import AmbiguousModelError, ModelDeprecatedError

__all__ = ["ModelListing", "ModelRegistryClient", "model_name_bytes"]

_ZERO = "0x" + "00" * 20


def model_name_bytes(name: str) -> bytes:
    """A model name as the registry's ``bytes32`` (UTF-8, zero-padded on the right)."""
    raw = name.encode() if isinstance(name, str) else b""
    if not 0 < len(raw) <= 32 or b"\x00" in raw:
        raise InvalidInputError(
            f"model name: expected 1 to 32 bytes of UTF-8 text, got {name!r}", field="name"
        )
    return raw.ljust(32, b"\x00")


@dataclass(frozen=True)
class ModelListing:
    """One registry entry. ``price`` is in ALT wei per call."""

    model_id: bytes
    owner: str
    name: str
    model_hash: bytes
    card_hash: bytes
    price: int
    endpoint: str
    log_id: bytes  # the AnchorRegistry log every call of the service is recorded in
    deprecated: bool
    registered_at: int

    @property
    def active(self) -> bool:
        return not self.deprecated

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": "0x" + self.model_id.hex(),
            "owner": self.owner,
            "name": self.name,
            "model_hash": "0x" + self.model_hash.hex(),
            "card_hash": "0x" + self.card_hash.hex(),
            "price": self.price,
            "endpoint": self.endpoint,
            "log_id": "0x" + self.log_id.hex(),
            "deprecated": self.deprecated,
            "registered_at": self.registered_at,
        }


class ModelRegistryClient:
    """The deployed ``ModelRegistry`` as Python methods; reverts raise ``RevertError``."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.chain = contract.chain
        self.address = contract.address

    def model_id(self, owner: str, name: str) -> bytes:
        """The id ``owner``'s model ``name`` has (or will have once registered)."""
        return self.contract.compute_model_id(owner, model_name_bytes(name))

    def register(
        self,
        owner: LocalAccount,
        name: str,
        *,
        model_hash: bytes,
        card_hash: bytes,
        price: int,
        endpoint: str,
        log_id: bytes,
    ) -> ModelListing:
        """Register ``owner``'s model ``name``, its calls recorded in the log ``log_id``
        (for good); returns the new listing."""
        self.contract.register(
            model_name_bytes(name), model_hash, card_hash, price, endpoint, log_id, sender=owner
        )
        return self.get(self.model_id(owner.address, name))

    def update_price(self, owner: LocalAccount, model_id: bytes, price: int) -> None:
        self.contract.update_price(model_id, price, sender=owner)

    def update_endpoint(self, owner: LocalAccount, model_id: bytes, endpoint: str) -> None:
        self.contract.update_endpoint(model_id, endpoint, sender=owner)

    def deprecate(self, owner: LocalAccount, model_id: bytes) -> None:
        self.contract.deprecate(model_id, sender=owner)

    def get(self, model_id: bytes) -> ModelListing:
        """The listing of ``model_id``; ``NotFoundError`` for an unknown id."""
        if self.contract.model_owner(model_id) == _ZERO:
            raise NotFoundError(
                f"model 0x{model_id.hex()} is not in the registry at {self.address}",
                field="model_id",
            )
        fields = self.contract.get_model(model_id)
        model_id, owner, name, model_hash, card_hash, price, endpoint, log_id, deprecated, at = (
            fields
        )
        return ModelListing(
            model_id=model_id,
            owner=owner,
            name=name.rstrip(b"\x00").decode("utf-8", "replace"),
            model_hash=model_hash,
            card_hash=card_hash,
            price=price,
            endpoint=endpoint,
            log_id=log_id,
            deprecated=deprecated,
            registered_at=at,
        )

    def all(self) -> list[ModelListing]:
        """Every listing ever registered, oldest first (deprecated ones included)."""
        count = self.contract.model_count()
        return [self.get(self.contract.model_id_at(i)) for i in range(count)]

    def find(self, name: str, owner: str | None = None) -> ModelListing:
        """The active listing ``name`` of ``owner``, or without ``owner`` of the one
        owner who registered ``name``.

        Names are not owned (anyone may register any name; ids mix in the owner), so
        a bare name that several owners registered raises :class:`AmbiguousModelError`
        listing them: address the model by owner or id. ``NotFoundError`` when there
        is none; ``ModelDeprecatedError`` when it is deprecated.
        """
        if owner is not None:
            owner = to_checksum(owner, "owner")
            try:
                candidates = [self.get(self.model_id(owner, name))]
            except NotFoundError:
                candidates = []
        else:
            candidates = [entry for entry in self.all() if entry.name == name]
        if len(candidates) > 1:
            owners = ", ".join(entry.owner for entry in candidates)
            raise AmbiguousModelError(
                f"model name {name!r} is ambiguous: {len(candidates)} owners registered it "
                f"({owners}); name the owner (--owner) or the model id",
                field="name",
            )
        if not candidates:
            of_owner = f" of owner {owner}" if owner is not None else ""
            raise NotFoundError(f"no model named {name!r}{of_owner} in the registry", field="name")
        (listing,) = candidates
        if listing.deprecated:
            raise ModelDeprecatedError(
                f"model {name!r} is deprecated by its owner; it takes no new calls", field="name"
            )
        return listing
