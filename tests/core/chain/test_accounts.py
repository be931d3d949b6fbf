"""The standard development accounts."""

from __future__ import annotations

import pytest

from ailedger.core.chain import dev_accounts
from ailedger.errors import InvalidInputError


def test_dev_accounts_match_anvils_well_known_addresses() -> None:
    accounts = dev_accounts(10)
    assert accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert accounts[1].address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert accounts[9].address == "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"


def test_dev_accounts_are_cached() -> None:
    assert dev_accounts(3)[2] is dev_accounts(5)[2]


@pytest.mark.parametrize("n", [0, -1, 101, 2.0, True])
def test_bad_count_is_rejected(n) -> None:
    with pytest.raises(InvalidInputError):
        dev_accounts(n)
