"""A consumer's own memory of what it paid and whom: one SQLite file per account.

Principle 7 for paid calls: what a consumer owes on a channel comes from its own
records and the chain, never from the host's word. :class:`ConsumerRecords` keeps,
per channel (chain id, ``PaymentChannels`` address, channel id):

* ``signed`` -- the highest nonce and cumulative amount the consumer ever signed,
  written *before* the voucher leaves the process, so nothing the host holds can
  be above it unless this file was lost;
* ``accepted`` -- the latest voucher the host is known to have accepted (its
  receipt verified, or the host showed back a voucher of ours within ``signed``).

The next voucher pays ``calls x price`` on top of ``accepted`` (a call whose answer
was lost is not paid twice) with a nonce above ``signed``.

It also pins, per model name, the owner and model id the account first used
(names are not owned: see :meth:`ModelRegistryClient.find`), so that a registry
that later resolves the name to someone else is noticed.

Writes commit in ``BEGIN IMMEDIATE`` transactions, so several clients (threads or
processes) of one account share a file safely, and with ``synchronous=FULL``: the
``signed`` record is on disk (fsynced) before the voucher is sent, so not even a
power loss leaves the host holding a voucher the records do not know. If the file
is lost anyway, :meth:`rebuild` restores a channel from evidence that needs nobody's
word: the chain's claimed amount and nonce, and vouchers carrying this account's own
signature (a host's copy of one, or a saved call whose receipt the owner signed).

A call on a channel, from signing its voucher to recording its acceptance, is one
turn (:meth:`channel_turn`): an exclusive lock on a file per channel, so clients in
other processes paying on the same channel wait instead of racing (a voucher signed
later but sent first would make the earlier one stale).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ailedger.core.storage.locks import exclusive_lock
from ailedger.errors import InvalidInputError
from ailedger.services._sqlite import immediate, open_sqlite
from ailedger.services.errors import PaymentRequiredError
from ailedger.services.vouchers import Voucher

__all__ = ["ChannelRecord", "ChannelRef", "ConsumerRecords", "ModelPin"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    channel_key TEXT PRIMARY KEY,
    signed_nonce TEXT NOT NULL,
    signed_amount TEXT NOT NULL,
    accepted_nonce TEXT NOT NULL,
    accepted_amount TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pins (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    model_id BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class ChannelRef:
    """A channel as the records key it: channel ids are unique per contract and chain."""

    chain_id: int
    contract: str
    channel_id: int

    @property
    def key(self) -> str:
        return f"{self.chain_id}:{self.contract}:{self.channel_id}"


@dataclass(frozen=True)
class ChannelRecord:
    """What the consumer signed and what the host accepted on one channel."""

    signed_nonce: int
    signed_amount: int
    accepted_nonce: int
    accepted_amount: int


@dataclass(frozen=True)
class ModelPin:
    """The owner and model id an account first used under a model name."""

    name: str
    owner: str
    model_id: bytes


class ConsumerRecords:
    """Vouchers signed and models used by one consumer account, in one SQLite file."""

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self._db = open_sqlite(
            self.path,
            _SCHEMA,
            synchronous=synchronous,
            what="consumer records",
            remedy="restore it from a backup: vouchers signed since then are unknown",
        )
        self._lock = threading.Lock()
        self._turns = self.path.with_name(self.path.name + ".turns")

    @contextmanager
    def channel_turn(self, ref: ChannelRef) -> Iterator[None]:
        """Hold channel ``ref`` exclusively (across threads and processes) until the block
        ends: sign, send and record one voucher at a time per channel."""
        self._turns.mkdir(mode=0o700, exist_ok=True)
        name = hashlib.sha256(ref.key.encode()).hexdigest()[:32] + ".lock"
        with exclusive_lock(self._turns / name):
            yield

    # -- channels ------------------------------------------------------------------------------

    def channel(self, ref: ChannelRef) -> ChannelRecord | None:
        """The record of the channel ``ref``, if any."""
        with self._lock:
            return self._channel(ref.key)

    def sign_next(
        self,
        ref: ChannelRef,
        *,
        chain_nonce: int,
        chain_claimed: int,
        cost: int,
        cost_text: str,
        deposit: int,
        sign: Callable[[int, int], Voucher],
    ) -> Voucher:
        """Sign, record and return the voucher paying ``cost`` more on channel ``ref``.

        Its nonce is above everything signed and claimed (``chain_nonce``); its amount
        is ``cost`` above the larger of what the host accepted and what was claimed on
        chain. Raises :class:`PaymentRequiredError` (``cost_text`` saying what the cost
        is) if that exceeds ``deposit``. The record is committed before the voucher is
        returned, i.e. before it can be sent.
        """
        key = ref.key
        with self._lock, immediate(self._db):
            record = self._channel(key) or ChannelRecord(0, 0, 0, 0)
            nonce = max(record.signed_nonce, chain_nonce) + 1
            base = max(record.accepted_amount, chain_claimed)
            amount = base + cost
            if amount > deposit:
                raise PaymentRequiredError(
                    f"channel {ref.channel_id}: {deposit - base} ALT wei left, below "
                    f"{cost_text}; top it up or open a new channel",
                    field="deposit",
                )
            voucher = sign(nonce, amount)
            self._write(
                key,
                ChannelRecord(
                    nonce,
                    max(record.signed_amount, amount),
                    record.accepted_nonce,
                    record.accepted_amount,
                ),
            )
        return voucher

    def mark_accepted(self, ref: ChannelRef, nonce: int, amount: int) -> None:
        """Record that the host accepted our voucher ``(nonce, amount)`` on channel ``ref``.

        Raises :class:`InvalidInputError` for a voucher above what was signed (nothing
        the records do not know of can be accepted)."""
        key = ref.key
        with self._lock, immediate(self._db):
            record = self._channel(key) or ChannelRecord(0, 0, 0, 0)
            if nonce > record.signed_nonce or amount > record.signed_amount:
                raise InvalidInputError(
                    f"voucher: nonce {nonce} for {amount} on channel {ref.channel_id} is above "
                    f"the last signed (nonce {record.signed_nonce} for {record.signed_amount})",
                    field="voucher",
                )
            if nonce > record.accepted_nonce:
                self._write(
                    key,
                    ChannelRecord(
                        record.signed_nonce,
                        record.signed_amount,
                        nonce,
                        max(amount, record.accepted_amount),
                    ),
                )

    def rebuild(self, ref: ChannelRef, *, nonce: int, amount: int) -> ChannelRecord:
        """Raise channel ``ref``'s record to at least ``(nonce, amount)``, signed and
        accepted; never lowers it. Only for evidence that needs nobody's word: the
        chain's claimed nonce and amount, or a voucher carrying this account's signature
        (which it signed, so it was paid for)."""
        with self._lock, immediate(self._db):
            record = self._channel(ref.key) or ChannelRecord(0, 0, 0, 0)
            rebuilt = ChannelRecord(
                max(record.signed_nonce, nonce),
                max(record.signed_amount, amount),
                max(record.accepted_nonce, nonce),
                max(record.accepted_amount, amount),
            )
            self._write(ref.key, rebuilt)
        return rebuilt

    # -- model pins ----------------------------------------------------------------------------

    def pin(self, name: str, owner: str, model_id: bytes) -> ModelPin:
        """Pin ``name`` to ``owner``'s ``model_id`` unless it is pinned; returns the pin."""
        with self._lock, immediate(self._db):
            self._db.execute(
                "INSERT INTO pins (name, owner, model_id) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, owner, model_id),
            )
            pinned = self._pinned(name)
        assert pinned is not None
        return pinned

    def pinned(self, name: str) -> ModelPin | None:
        """The owner and model id this account first used as ``name``, if any."""
        with self._lock:
            return self._pinned(name)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConsumerRecords:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _channel(self, key: str) -> ChannelRecord | None:
        row = self._db.execute(
            "SELECT signed_nonce, signed_amount, accepted_nonce, accepted_amount FROM channels "
            "WHERE channel_key = ?",
            (key,),
        ).fetchone()
        return None if row is None else ChannelRecord(*map(int, row))

    def _write(self, key: str, record: ChannelRecord) -> None:
        self._db.execute(
            "INSERT INTO channels (channel_key, signed_nonce, signed_amount, accepted_nonce, "
            "accepted_amount) VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel_key) DO UPDATE SET "
            "signed_nonce = excluded.signed_nonce, signed_amount = excluded.signed_amount, "
            "accepted_nonce = excluded.accepted_nonce, "
            "accepted_amount = excluded.accepted_amount",
            (
                key,
                str(record.signed_nonce),
                str(record.signed_amount),
                str(record.accepted_nonce),
                str(record.accepted_amount),
            ),
        )

    def _pinned(self, name: str) -> ModelPin | None:
        row = self._db.execute(
            "SELECT name, owner, model_id FROM pins WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else ModelPin(row[0], row[1], bytes(row[2]))
