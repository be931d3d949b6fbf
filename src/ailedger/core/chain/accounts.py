"""The standard development accounts (the ones anvil, Hardhat and Foundry fund).

Derived from the well-known public mnemonic "test test … junk" along BIP-44
``m/44'/60'/0'/0/i``. They are for local chains only: their keys are public.
"""

from __future__ import annotations

from functools import lru_cache

from eth_account import Account
from eth_account.hdaccount import HDPath, seed_from_mnemonic
from eth_account.signers.local import LocalAccount

from ailedger.errors import InvalidInputError

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_BALANCE_WEI = 10_000 * 10**18
MAX_DEV_ACCOUNTS = 100


@lru_cache(maxsize=1)
def _dev_seed() -> bytes:
    # The PBKDF2 seed is the slow part of derivation; compute it once per process.
    return seed_from_mnemonic(DEV_MNEMONIC, "")


@lru_cache(maxsize=MAX_DEV_ACCOUNTS)
def _dev_account(index: int) -> LocalAccount:
    key = HDPath(f"m/44'/60'/0'/0/{index}").derive(_dev_seed())
    return Account.from_key(key)


def dev_accounts(n: int = 10) -> list[LocalAccount]:
    """The first ``n`` development accounts, in derivation order (cached)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_DEV_ACCOUNTS:
        raise InvalidInputError(
            f"n: expected an integer between 1 and {MAX_DEV_ACCOUNTS}, got {n!r}", field="n"
        )
    return [_dev_account(i) for i in range(n)]
