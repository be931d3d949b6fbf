"""The log is the durable copy of every answered call's voucher: a store that lost its last
commits (power loss under ``synchronous=NORMAL``) is restored from it when a host opens."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from eth_account import Account

from ailedger.services import VoucherSigner, VoucherStore
from tests.services.conftest import PRICE

consumer = Account.from_key(b"\x05" * 32)
SIGNER = VoucherSigner(31337, "0x" + "11" * 20)


def _store_path(services):
    return services.platform.settings.home / "services" / "diagnosis" / "vouchers.sqlite3"


def _snapshot(path, to):
    """A consistent copy of the store as it was on disk (what a power loss may leave)."""
    source = sqlite3.connect(path)
    target = sqlite3.connect(to)
    with target:
        source.backup(target)
    source.close()
    target.close()


def _restore(snapshot, path):
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    shutil.copy(snapshot, path)


# --- through a host ---------------------------------------------------------------------------


def test_vouchers_lost_from_the_store_are_restored_from_the_log(services, tmp_path):
    host = services.host(synchronous="NORMAL")
    client = services.client(host)
    listing = client.discover("diagnosis")
    client.call(listing, services.model.examples[0])
    path = _store_path(services)
    _snapshot(path, tmp_path / "old.sqlite3")
    last = [client.call(listing, services.model.examples[i]) for i in range(1, 4)][-1]
    host.close()
    _restore(tmp_path / "old.sqlite3", path)  # the last three commits are gone

    reopened = services.host(synchronous="NORMAL")
    try:
        latest = reopened.store.latest(last.voucher.channel_id)
        assert (latest.voucher, latest.calls) == (last.voucher, 4)
    finally:
        reopened.close()


def test_a_lost_batch_is_restored_counting_each_of_its_calls(services, tmp_path):
    host = services.host(synchronous="NORMAL")
    client = services.client(host)
    listing = client.discover("diagnosis")
    client.call(listing, services.model.examples[0])
    path = _store_path(services)
    _snapshot(path, tmp_path / "old.sqlite3")
    batch = client.call_batch(listing, services.model.examples[1:6])
    host.close()
    _restore(tmp_path / "old.sqlite3", path)

    reopened = services.host()
    try:
        latest = reopened.store.latest(batch.voucher.channel_id)
        assert (latest.voucher, latest.calls) == (batch.voucher, 6)
    finally:
        reopened.close()


def test_a_restored_voucher_cannot_be_replayed(services, tmp_path):
    host = services.host(synchronous="NORMAL")
    client = services.client(host)
    listing = client.discover("diagnosis")
    path = _store_path(services)
    _snapshot(path, tmp_path / "empty.sqlite3")
    paid = client.call(listing, services.model.examples[0])
    host.close()
    _restore(tmp_path / "empty.sqlite3", path)

    reopened = services.host()
    try:
        again = services.client(reopened).call(listing, services.model.examples[1])
        assert (again.voucher.nonce, again.voucher.amount) == (2, 2 * PRICE)
        assert paid.voucher.channel_id == again.voucher.channel_id
    finally:
        reopened.close()


def test_opening_an_up_to_date_store_restores_nothing(services):
    host = services.host()
    client = services.client(host)
    client.call(client.discover("diagnosis"), services.model.examples[0])
    assert host.recover() == []
    host.close()


def test_closing_a_host_checkpoints_the_whole_log(services):
    host = services.host()
    client = services.client(host)
    client.call_batch(client.discover("diagnosis"), services.model.examples[:3])
    size = host.log.size
    host.close()
    with VoucherStore(_store_path(services)) as store:
        assert store.checkpoint() == size


# --- the store's side -------------------------------------------------------------------------


def test_recover_keeps_the_newest_voucher_per_channel(tmp_path):
    with VoucherStore(tmp_path / "v.sqlite3") as store:
        store.accept(SIGNER.sign(consumer, 1, 1, PRICE), price=PRICE)
        logged = [SIGNER.sign(consumer, 1, n, n * PRICE) for n in (1, 2, 3)]
        restored = store.recover(logged, log_size=3)
        assert [a.voucher.nonce for a in restored] == [3]
        latest = store.latest(1)
        assert (latest.voucher.nonce, latest.calls) == (3, 3)
        assert store.checkpoint() == 3


def test_recover_skips_vouchers_older_than_the_stored_one(tmp_path):
    with VoucherStore(tmp_path / "v.sqlite3") as store:
        store.accept(SIGNER.sign(consumer, 1, 5, 5 * PRICE), price=PRICE)
        assert store.recover([SIGNER.sign(consumer, 1, 4, 4 * PRICE)], log_size=1) == []
        assert store.latest(1).voucher.nonce == 5


def test_accept_counts_the_calls_a_voucher_pays(tmp_path):
    with VoucherStore(tmp_path / "v.sqlite3") as store:
        store.accept(SIGNER.sign(consumer, 1, 1, 3 * PRICE), price=3 * PRICE, calls=3)
        accepted = store.accept(SIGNER.sign(consumer, 1, 2, 4 * PRICE), price=PRICE)
        assert accepted.calls == 4


def test_a_fresh_store_has_checkpoint_zero(tmp_path):
    with VoucherStore(tmp_path / "v.sqlite3") as store:
        assert store.checkpoint() == 0


@pytest.mark.parametrize("size", [0, 7])
def test_set_checkpoint_is_read_back(tmp_path, size):
    with VoucherStore(tmp_path / "v.sqlite3") as store:
        store.set_checkpoint(size)
        assert store.checkpoint() == size
