"""RpcChain only: reaching (or not reaching) a node."""

from __future__ import annotations

import socket

import pytest

from ailedger.core.chain import RpcChain
from ailedger.errors import ChainError, InvalidInputError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released on exit: nothing listens there


def test_unreachable_url_is_a_chain_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ChainError, match=url) as excinfo:
        RpcChain(url, timeout=2)
    assert excinfo.value.field == "chain_url"


@pytest.mark.parametrize("url", ["", "localhost:8545", "ftp://127.0.0.1", None])
def test_malformed_url_is_invalid_input(url) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        RpcChain(url)
    assert excinfo.value.field == "chain_url"


@pytest.mark.slow
def test_description_names_the_url(anvil_url: str) -> None:
    chain = RpcChain(anvil_url)
    try:
        assert anvil_url in chain.description
    finally:
        chain.close()
