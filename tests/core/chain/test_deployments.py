"""The deployment address book and ensure_deployed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailedger.core.chain import AddressBook, Chain, Deployment, EmbeddedChain, ensure_deployed
from ailedger.errors import IntegrityError


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    with EmbeddedChain(tmp_path / "chain") as instance:
        yield instance


@pytest.fixture
def book(tmp_path: Path) -> AddressBook:
    return AddressBook(tmp_path / "deployments.json")


def _ensure(chain, book, token_code, accounts, source_hash="hash-1"):
    return ensure_deployed(
        chain, book, "Token", token_code.abi, token_code.bytecode, source_hash, [100], accounts[0]
    )


def test_first_call_deploys_and_records(chain, book, token_code, accounts) -> None:
    token, reused = _ensure(chain, book, token_code, accounts)
    assert not reused
    assert book.get(chain.chain_id, "Token") == Deployment(token.address, "hash-1", 1)


def test_second_call_reuses_the_deployment(chain, book, token_code, accounts) -> None:
    first, _ = _ensure(chain, book, token_code, accounts)
    second, reused = _ensure(chain, book, token_code, accounts)
    assert reused
    assert second.address == first.address
    assert chain.block_number() == 1


def test_changed_source_hash_redeploys(chain, book, token_code, accounts) -> None:
    first, _ = _ensure(chain, book, token_code, accounts)
    second, reused = _ensure(chain, book, token_code, accounts, source_hash="hash-2")
    assert not reused
    assert second.address != first.address
    assert book.get(chain.chain_id, "Token").source_hash == "hash-2"


def test_missing_code_redeploys(chain, book, token_code, accounts, tmp_path) -> None:
    _ensure(chain, book, token_code, accounts)
    with EmbeddedChain(tmp_path / "fresh-chain") as fresh:  # same chain id, no contracts yet
        fresh.transact(accounts[0], accounts[1].address, value=1)  # move the nonce on
        token, reused = _ensure(fresh, book, token_code, accounts)
        assert not reused
        assert fresh.code(token.address) != b""


def test_entries_are_kept_per_chain_id(book, tmp_path) -> None:
    book.record(1, "Token", Deployment("0x" + "11" * 20, "h", 5))
    book.record(2, "Token", Deployment("0x" + "22" * 20, "h", 6))
    assert book.get(1, "Token").block == 5
    assert book.get(2, "Token").block == 6
    assert json.loads(book.path.read_text()).keys() == {"1", "2"}


def test_all_lists_a_chains_deployments(book) -> None:
    book.record(7, "B", Deployment("0x" + "11" * 20, "h", 1))
    book.record(7, "A", Deployment("0x" + "22" * 20, "h", 2))
    assert list(book.all(7)) == ["A", "B"]
    assert book.all(8) == {}


def test_write_leaves_no_temporary_files(book) -> None:
    book.record(1, "Token", Deployment("0x" + "11" * 20, "h", 5))
    assert [p.name for p in book.path.parent.iterdir()] == [book.path.name]


def test_unparseable_book_is_an_integrity_error_naming_it(book) -> None:
    book.path.write_text("{not json")
    with pytest.raises(IntegrityError, match=re.escape(str(book.path))):
        book.get(1, "Token")


def test_malformed_entry_is_an_integrity_error(book) -> None:
    book.path.write_text(json.dumps({"1": {"Token": {"address": "0x12"}}}))
    with pytest.raises(IntegrityError, match="Token"):
        book.get(1, "Token")


def test_failed_write_keeps_the_old_book(book, monkeypatch) -> None:
    book.record(1, "Token", Deployment("0x" + "11" * 20, "h", 5))
    before = book.path.read_text()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ailedger.core.chain.deployments.os.replace", explode)
    with pytest.raises(OSError, match="disk full"):
        book.record(1, "Other", Deployment("0x" + "22" * 20, "h", 6))
    assert book.path.read_text() == before
    assert [p.name for p in book.path.parent.iterdir()] == [book.path.name]
