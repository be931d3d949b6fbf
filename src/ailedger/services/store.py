"""The host's memory of payment: the latest accepted voucher per channel, and claims.

:meth:`VoucherStore.accept` is a compare-and-set inside one ``BEGIN IMMEDIATE``
transaction: a voucher is stored only if its nonce is above, and its amount at
least the call's price above, the stored one, so two requests (or two processes)
racing on one channel cannot both be accepted for the same payment.

Durability. A host checks a voucher against the stored one, appends the call record
(which carries the voucher: channel, nonce, amount and signature) to its
transparency log, then stores the voucher, then answers: a voucher is never here
without its logged call, so the host never claims a call it did not record. The
log commits with ``fsync``, so the record is the durable copy; the
store may run with ``synchronous=NORMAL`` (its commit then survives a killed
process but not a power loss) and :meth:`recover` replays the log records past
its :meth:`checkpoint` when a host opens it. One fsync per call instead of two.
``synchronous=FULL`` (the default here) makes the store durable on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ailedger.errors import InvalidInputError
from ailedger.services._sqlite import immediate, open_sqlite
from ailedger.services.vouchers import Voucher

__all__ = ["AcceptedVoucher", "ClaimRecord", "StaleVoucherError", "VoucherStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vouchers (
    channel_id TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    amount TEXT NOT NULL,
    signature BLOB NOT NULL,
    calls INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    amount TEXT NOT NULL,
    paid TEXT NOT NULL,
    tx_hash BLOB NOT NULL,
    block_number INTEGER NOT NULL,
    gas_used INTEGER NOT NULL,
    claimed_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_by_channel ON claims (channel_id, id);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_CHECKPOINT = "log_checkpoint"


class StaleVoucherError(InvalidInputError):
    """A voucher lost the compare-and-set: a newer one was accepted meanwhile."""


@dataclass(frozen=True)
class AcceptedVoucher:
    """The latest voucher accepted on a channel, and how many calls it paid so far."""

    voucher: Voucher
    calls: int
    updated_ms: int


@dataclass(frozen=True)
class ClaimRecord:
    """One claim transaction the host sent."""

    channel_id: int
    nonce: int
    amount: int
    paid: int
    tx_hash: bytes
    block_number: int
    gas_used: int
    claimed_ms: int


class VoucherStore:
    """Vouchers and claims of one service host in one SQLite file (WAL)."""

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self._db = open_sqlite(
            self.path,
            _SCHEMA,
            synchronous=synchronous,
            what="voucher store",
            remedy="move it away: the host rebuilds it from its call log when it opens",
        )
        self._lock = threading.Lock()

    def accept(self, voucher: Voucher, *, price: int, calls: int = 1) -> AcceptedVoucher:
        """Store ``voucher`` as the channel's latest or raise ``StaleVoucherError``.

        ``voucher`` pays for ``calls`` calls costing ``price`` in all (one batch).
        """
        now = int(time.time() * 1000)
        key = str(voucher.channel_id)
        with self._lock, immediate(self._db):
            row = self._db.execute(
                "SELECT nonce, amount, calls FROM vouchers WHERE channel_id = ?", (key,)
            ).fetchone()
            total = calls
            if row is not None:
                nonce, amount, total = int(row[0]), int(row[1]), row[2] + calls
                if voucher.nonce <= nonce or voucher.amount < amount + price:
                    raise StaleVoucherError(
                        f"voucher: channel {voucher.channel_id} already accepted nonce "
                        f"{nonce} for {amount}; got nonce {voucher.nonce} for "
                        f"{voucher.amount}",
                        field="voucher.nonce",
                    )
            self._db.execute(
                "INSERT INTO vouchers (channel_id, nonce, amount, signature, calls, "
                "updated_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO UPDATE "
                "SET nonce = excluded.nonce, amount = excluded.amount, "
                "signature = excluded.signature, calls = excluded.calls, "
                "updated_ms = excluded.updated_ms",
                (key, str(voucher.nonce), str(voucher.amount), voucher.signature, total, now),
            )
        return AcceptedVoucher(voucher, total, now)

    def checkpoint(self) -> int:
        """How many log records this store is known to reflect (see :meth:`recover`)."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM store_meta WHERE key = ?", (_CHECKPOINT,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def set_checkpoint(self, log_size: int) -> None:
        """Record that every log record below ``log_size`` is reflected here.

        Only call it when the voucher of every record below ``log_size`` is accepted
        here (the host holds all its channel locks): SQLite keeps commits in order, so a
        checkpoint that survives a crash implies the vouchers before it survived.
        """
        with self._lock:
            self._db.execute(
                "INSERT INTO store_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_CHECKPOINT, str(log_size)),
            )

    def recover(self, paid: Iterable[Voucher], log_size: int) -> list[AcceptedVoucher]:
        """Replay the vouchers of log records past the checkpoint, in log order.

        Each item of ``paid`` is the voucher of one logged call. A voucher newer than
        the stored one (a commit lost with the machine's power) becomes the latest,
        counting one call per record; older ones are already here. Then the
        checkpoint moves to ``log_size``. Returns the vouchers restored.
        """
        restored: dict[int, AcceptedVoucher] = {}
        now = int(time.time() * 1000)
        with self._lock, immediate(self._db):
            for voucher in paid:
                current = restored.get(voucher.channel_id) or self._latest(voucher.channel_id)
                if current is not None and voucher.nonce < current.voucher.nonce:
                    continue
                if current is not None and voucher.nonce == current.voucher.nonce:
                    if voucher.channel_id not in restored:
                        continue  # stored already: its calls are counted
                    calls = current.calls + 1  # another record of the same batch
                else:
                    calls = (current.calls if current else 0) + 1
                restored[voucher.channel_id] = AcceptedVoucher(voucher, calls, now)
            for accepted in restored.values():
                voucher = accepted.voucher
                self._db.execute(
                    "INSERT INTO vouchers (channel_id, nonce, amount, signature, calls, "
                    "updated_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO "
                    "UPDATE SET nonce = excluded.nonce, amount = excluded.amount, "
                    "signature = excluded.signature, calls = excluded.calls, "
                    "updated_ms = excluded.updated_ms",
                    (
                        str(voucher.channel_id),
                        str(voucher.nonce),
                        str(voucher.amount),
                        voucher.signature,
                        accepted.calls,
                        now,
                    ),
                )
            self._db.execute(
                "INSERT INTO store_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_CHECKPOINT, str(log_size)),
            )
        return sorted(restored.values(), key=lambda a: a.voucher.channel_id)

    def latest(self, channel_id: int) -> AcceptedVoucher | None:
        """The latest accepted voucher of ``channel_id``, if any."""
        with self._lock:
            return self._latest(channel_id)

    def _latest(self, channel_id: int) -> AcceptedVoucher | None:
        row = self._db.execute(
            "SELECT channel_id, nonce, amount, signature, calls, updated_ms FROM vouchers "
            "WHERE channel_id = ?",
            (str(channel_id),),
        ).fetchone()
        return None if row is None else _accepted(row)

    def all(self) -> list[AcceptedVoucher]:
        """Every channel's latest voucher, by channel id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, nonce, amount, signature, calls, updated_ms FROM vouchers"
            ).fetchall()
        return sorted((_accepted(r) for r in rows), key=lambda a: a.voucher.channel_id)

    def record_claim(self, claim: ClaimRecord) -> None:
        """Remember a mined claim (the chain is the truth; this is for reports)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO claims (channel_id, nonce, amount, paid, tx_hash, block_number, "
                "gas_used, claimed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(claim.channel_id),
                    str(claim.nonce),
                    str(claim.amount),
                    str(claim.paid),
                    claim.tx_hash,
                    claim.block_number,
                    claim.gas_used,
                    claim.claimed_ms,
                ),
            )

    def claims(self, channel_id: int | None = None) -> list[ClaimRecord]:
        """Claims sent, oldest first (of one channel, or all)."""
        sql = (
            "SELECT channel_id, nonce, amount, paid, tx_hash, block_number, gas_used, "
            "claimed_ms FROM claims"
        )
        params: tuple[str, ...] = ()
        if channel_id is not None:
            sql += " WHERE channel_id = ?"
            params = (str(channel_id),)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", params).fetchall()
        return [
            ClaimRecord(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], r[5], r[6], r[7])
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> VoucherStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _accepted(row: tuple) -> AcceptedVoucher:
    channel_id, nonce, amount, signature, calls, updated_ms = row
    return AcceptedVoucher(
        Voucher(int(channel_id), int(nonce), int(amount), signature), calls, updated_ms
    )
