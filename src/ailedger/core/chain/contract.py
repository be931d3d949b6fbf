"""A deployed contract as a Python object (titanoboa style).

    token = deploy(chain, abi, bytecode, 10**24, sender=alice)
    token.balanceOf(alice.address)              # view: calls and decodes
    receipt = token.transfer(bob.address, 5, sender=alice)   # state-changing: transacts
    token.decode_logs(receipt)                  # -> [Event(name="Transfer", args={...}, log=...)]

Arguments are checked against the ABI before anything is encoded: a wrong type
raises ``InvalidInputError`` naming the function and the argument. This module
is the one place that builds calldata and decodes logs; nobody else does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode, is_encodable
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger.core.chain.base import Chain, LogEntry, Receipt
from ailedger.core.chain.validation import check_amount, to_checksum
from ailedger.errors import InvalidInputError, NotFoundError

ABIEntry = Mapping[str, Any]


@dataclass(frozen=True)
class Event:
    """One decoded contract event."""

    name: str
    args: dict[str, Any]
    log: LogEntry


def _canonical_type(param: ABIEntry) -> str:
    """The ABI type with tuples spelled out, as used in signatures and by eth_abi."""
    typ = param["type"]
    if typ.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param.get("components", []))
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def _signature(entry: ABIEntry) -> str:
    return f"{entry['name']}({','.join(_canonical_type(p) for p in entry.get('inputs', []))})"


def _normalise(param: ABIEntry, value: Any, field: str) -> Any:
    """Check addresses (EIP-55) and reshape structs before eth_abi sees the value."""
    typ = param["type"]
    if typ.endswith("]"):
        if not isinstance(value, list | tuple):
            raise InvalidInputError(
                f"{field}: expected a list for {typ}, got {type(value).__name__}", field=field
            )
        element = dict(param, type=typ[: typ.rindex("[")])
        return [_normalise(element, v, f"{field}[{i}]") for i, v in enumerate(value)]
    if typ == "tuple":
        components = param.get("components", [])
        if isinstance(value, Mapping):
            missing = [c["name"] for c in components if c["name"] not in value]
            if missing:
                raise InvalidInputError(f"{field}: missing struct fields {missing}", field=field)
            value = [value[c["name"]] for c in components]
        if not isinstance(value, list | tuple) or len(value) != len(components):
            raise InvalidInputError(
                f"{field}: expected a struct of {len(components)} fields, got {value!r}",
                field=field,
            )
        return tuple(
            _normalise(c, v, f"{field}.{c.get('name') or i}")
            for i, (c, v) in enumerate(zip(components, value, strict=True))
        )
    if typ == "address":
        return to_checksum(value, field)
    if typ.startswith("bytes") and isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError as exc:
            raise InvalidInputError(
                f"{field}: invalid hex for {typ}: {value!r}", field=field
            ) from exc
    return value


def _checksum_outputs(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        try:
            return to_checksum(value)
        except InvalidInputError:
            return value
    if isinstance(value, tuple | list):
        return type(value)(_checksum_outputs(v) for v in value)
    return value


def encode_arguments(entry: ABIEntry, args: Sequence[Any], where: str) -> bytes:
    """ABI-encode ``args`` for ``entry``'s inputs, with errors naming ``where`` and the argument."""
    inputs = entry.get("inputs", [])
    if len(args) != len(inputs):
        raise InvalidInputError(
            f"{where}: expected {len(inputs)} arguments ({_signature(entry)}), got {len(args)}",
            field=where,
        )
    types, values = [], []
    for position, (param, value) in enumerate(zip(inputs, args, strict=True)):
        name = param.get("name") or f"arg{position}"
        field = f"{where}.{name}"
        normalised = _normalise(param, value, field)
        typ = _canonical_type(param)
        if isinstance(normalised, bool) and not typ.startswith("bool"):
            ok = False
        else:
            ok = is_encodable(typ, normalised)
        if not ok:
            raise InvalidInputError(
                f"{field}: expected {typ}, got {type(value).__name__} {value!r}", field=field
            )
        types.append(typ)
        values.append(normalised)
    return encode(types, values)


class ContractFunction:
    """One ABI function bound to a contract; call it like a Python function."""

    def __init__(self, contract: Contract, entries: Sequence[ABIEntry]) -> None:
        self._contract = contract
        self._entries = list(entries)
        self.name: str = entries[0]["name"]

    def _entry_for(self, args: Sequence[Any]) -> ABIEntry:
        # Vyper emits one ABI entry per arity for default arguments: resolve by count.
        matching = [e for e in self._entries if len(e.get("inputs", [])) == len(args)]
        if len(matching) == 1:
            return matching[0]
        signatures = ", ".join(_signature(e) for e in self._entries)
        if not matching:
            raise InvalidInputError(
                f"{self.name}: no overload takes {len(args)} arguments (have {signatures})",
                field=self.name,
            )
        raise InvalidInputError(
            f"{self.name}: overloads with the same number of arguments are not supported "
            f"({signatures})",
            field=self.name,
        )

    def calldata(self, *args: Any) -> bytes:
        """Selector plus encoded arguments."""
        entry = self._entry_for(args)
        selector = keccak(text=_signature(entry))[:4]
        return selector + encode_arguments(entry, args, self.name)

    def __call__(
        self,
        *args: Any,
        sender: LocalAccount | None = None,
        value: int = 0,
        gas: int | None = None,
    ) -> Any:
        """View/pure: call and return the decoded output. Otherwise: transact, return Receipt."""
        entry = self._entry_for(args)
        data = self.calldata(*args)
        chain, address = self._contract.chain, self._contract.address
        check_amount(value)
        if value and entry.get("stateMutability") != "payable":
            raise InvalidInputError(
                f"{self.name}: function is not payable, got value {value}", field="value"
            )
        if entry.get("stateMutability") in ("view", "pure"):
            caller = None if sender is None else _account(sender, self.name).address
            output = chain.call(address, data, sender=caller, value=value)
            return self._decode_output(entry, output)
        if sender is None:
            raise InvalidInputError(
                f"{self.name}: state-changing function needs sender=<LocalAccount>",
                field="sender",
            )
        return chain.transact(_account(sender, self.name), address, data, value=value, gas=gas)

    def _decode_output(self, entry: ABIEntry, output: bytes) -> Any:
        outputs = entry.get("outputs", [])
        if not outputs:
            return None
        types = [_canonical_type(o) for o in outputs]
        try:
            decoded = _checksum_outputs(decode(types, output))
        except DecodingError as exc:
            raise NotFoundError(
                f"{self.name}: could not decode the output ({len(output)} bytes) as "
                f"({','.join(types)}); is there a contract at {self._contract.address}?",
                field="address",
            ) from exc
        return decoded[0] if len(decoded) == 1 else tuple(decoded)


def _account(sender: object, where: str) -> LocalAccount:
    if not isinstance(sender, LocalAccount):
        raise InvalidInputError(
            f"{where}: sender must be a LocalAccount (eth_account), got {type(sender).__name__}",
            field="sender",
        )
    return sender


class _EventABI:
    def __init__(self, entry: ABIEntry) -> None:
        self.name: str = entry["name"]
        self.inputs = list(entry.get("inputs", []))
        self.topic = keccak(text=_signature(entry))
        self.indexed = [p for p in self.inputs if p.get("indexed")]
        self.plain = [p for p in self.inputs if not p.get("indexed")]

    def decode(self, log: LogEntry) -> Event | None:
        if not log.topics or log.topics[0] != self.topic:
            return None
        if len(log.topics) - 1 != len(self.indexed):
            return None  # same signature, different indexing: not this event
        args: dict[str, Any] = {}
        for param, topic in zip(self.indexed, log.topics[1:], strict=True):
            typ = _canonical_type(param)
            dynamic = typ in ("string", "bytes") or typ.endswith("]") or typ.startswith("(")
            # Indexed dynamic values are stored as their keccak hash: return the hash.
            args[param["name"]] = topic if dynamic else _checksum_outputs(decode([typ], topic)[0])
        try:
            values = decode([_canonical_type(p) for p in self.plain], log.data)
        except DecodingError:
            return None
        for param, value in zip(self.plain, values, strict=True):
            args[param["name"]] = _checksum_outputs(value)
        ordered = {p["name"]: args[p["name"]] for p in self.inputs}
        return Event(name=self.name, args=ordered, log=log)


class Contract:
    """A contract at ``address`` on ``chain`` described by ``abi``.

    Functions are attributes (``contract.transfer(...)``); use :meth:`fn` when a
    function's name clashes with an attribute of this class.
    """

    def __init__(
        self,
        chain: Chain,
        address: str,
        abi: Sequence[ABIEntry],
        *,
        deploy_receipt: Receipt | None = None,
    ) -> None:
        self.chain = chain
        self.deploy_receipt = deploy_receipt  # set when this object came from deploy()
        self.address = to_checksum(address, "address")
        self.abi = list(abi)
        functions: dict[str, list[ABIEntry]] = {}
        for entry in self.abi:
            if entry.get("type") == "function":
                functions.setdefault(entry["name"], []).append(entry)
        self._functions = {name: ContractFunction(self, e) for name, e in functions.items()}
        self._events = {
            e["name"]: _EventABI(e)
            for e in self.abi
            if e.get("type") == "event" and not e.get("anonymous")
        }

    def __repr__(self) -> str:
        return f"Contract({self.address} on {self.chain.description})"

    def __getattr__(self, name: str) -> ContractFunction:
        functions = self.__dict__.get("_functions", {})
        if name in functions:
            return functions[name]
        raise AttributeError(f"contract {self.__dict__.get('address')} has no function {name!r}")

    def fn(self, name: str) -> ContractFunction:
        """The function called ``name`` (raises ``InvalidInputError`` if the ABI has none)."""
        if name not in self._functions:
            raise InvalidInputError(
                f"function: {name!r} is not in this contract's ABI "
                f"(have {sorted(self._functions)})",
                field="function",
            )
        return self._functions[name]

    @property
    def event_names(self) -> list[str]:
        return sorted(self._events)

    def _event(self, name: str) -> _EventABI:
        if name not in self._events:
            raise InvalidInputError(
                f"event: {name!r} is not in this contract's ABI (have {self.event_names})",
                field="event",
            )
        return self._events[name]

    def decode_logs(
        self, receipt_or_logs: Receipt | Iterable[LogEntry], event: str | None = None
    ) -> list[Event]:
        """Decode the logs this contract emitted (others' logs are skipped), in order."""
        logs = receipt_or_logs.logs if isinstance(receipt_or_logs, Receipt) else receipt_or_logs
        candidates = [self._event(event)] if event is not None else list(self._events.values())
        decoded = []
        for log in logs:
            if log.address != self.address:
                continue
            for candidate in candidates:
                found = candidate.decode(log)
                if found is not None:
                    decoded.append(found)
                    break
        return decoded

    def get_events(
        self, event_name: str, from_block: int = 0, to_block: int | None = None
    ) -> list[Event]:
        """All ``event_name`` events this contract emitted in the block range."""
        abi = self._event(event_name)
        logs = self.chain.get_logs(
            address=self.address, topics=[abi.topic], from_block=from_block, to_block=to_block
        )
        return self.decode_logs(logs, event=event_name)


def deploy(
    chain: Chain,
    abi: Sequence[ABIEntry],
    bytecode: bytes | str,
    *ctor_args: Any,
    sender: LocalAccount,
    value: int = 0,
) -> Contract:
    """Deploy ``bytecode`` with constructor arguments; return the bound :class:`Contract`."""
    if isinstance(bytecode, str):
        try:
            bytecode = bytes.fromhex(bytecode.removeprefix("0x"))
        except ValueError as exc:
            raise InvalidInputError("bytecode: expected hex", field="bytecode") from exc
    if not bytecode:
        raise InvalidInputError("bytecode: expected non-empty init code", field="bytecode")
    constructor = next((e for e in abi if e.get("type") == "constructor"), {"inputs": []})
    data = bytes(bytecode) + encode_arguments(
        {"name": "constructor", **constructor}, ctor_args, "constructor"
    )
    receipt = chain.transact(_account(sender, "constructor"), None, data, value=value)
    if receipt.contract_address is None:
        raise NotFoundError("deployment receipt has no contract address", field="bytecode")
    return Contract(chain, receipt.contract_address, abi, deploy_receipt=receipt)
