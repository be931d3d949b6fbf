# pragma version ~=0.4.3
"""
@title AILedger Token (ALT)
@license Apache-2.0
@notice The platform's ERC-20 token: 18 decimals, EIP-2612 `permit`,
        minting restricted to minters, ownership and minter changes
        logged. Everything except the allowance helpers below comes
        from snekmate's audited `erc20` module; this file only fixes
        the token's identity and wires the modules together.
        The deployer becomes `owner` and the first minter; the owner
        grants and revokes further minters with `set_minter`. Once
        ownership is renounced nobody can revoke a minter, so minting
        ends for every minter (snekmate only drops the owner's role).
"""

from ethereum.ercs import IERC20
implements: IERC20

from ethereum.ercs import IERC20Detailed
implements: IERC20Detailed

from snekmate.tokens.interfaces import IERC20Permit
implements: IERC20Permit

from snekmate.utils.interfaces import IERC5267
implements: IERC5267

from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]

# Every external function of the module (ERC-20, permit, burning, minter
# role, ownership and EIP-5267 `eip712Domain`) except `mint`, which is
# wrapped below so that minting ends when ownership is renounced.
exports: (
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.balanceOf,
    erc20.allowance,
    erc20.totalSupply,
    erc20.is_minter,
    erc20.nonces,
    erc20.owner,
    erc20.eip712Domain,
    erc20.transfer,
    erc20.approve,
    erc20.transferFrom,
    erc20.burn,
    erc20.burn_from,
    erc20.set_minter,
    erc20.permit,
    erc20.DOMAIN_SEPARATOR,
    erc20.transfer_ownership,
    erc20.renounce_ownership,
)


# The token's identity is fixed so that deployment needs no arguments
# and every deployment signs permits under the same EIP-712 domain
# (chain id and contract address still separate deployments).
_NAME: constant(String[25]) = "AILedger Token"
_SYMBOL: constant(String[5]) = "ALT"
_DECIMALS: constant(uint8) = 18
_EIP712_NAME: constant(String[50]) = "AILedger Token"
_EIP712_VERSION: constant(String[20]) = "1"


@deploy
@payable
def __init__():
    """
    @dev Makes `msg.sender` the owner and the first minter. The
         constructor is `payable` only to omit the callvalue check.
    """
    ownable.__init__()
    erc20.__init__(_NAME, _SYMBOL, _DECIMALS, _EIP712_NAME, _EIP712_VERSION)


@external
def increase_allowance(spender: address, added_amount: uint256) -> bool:
    """
    @dev Raises the caller's allowance for `spender` by `added_amount`
         without the approve-race of setting an absolute value.
         Reverts instead of wrapping when the sum exceeds `uint256`.
    @param spender The 20-byte spender address (not zero).
    @param added_amount The 32-byte amount to add.
    @return bool Always True; failures revert.
    """
    current: uint256 = erc20.allowance[msg.sender][spender]
    assert added_amount <= max_value(uint256) - current, "ALT: allowance overflow"
    erc20._approve(msg.sender, spender, current + added_amount)
    return True


@external
def decrease_allowance(spender: address, subtracted_amount: uint256) -> bool:
    """
    @dev Lowers the caller's allowance for `spender` by
         `subtracted_amount`; reverts rather than going below zero.
    @param spender The 20-byte spender address (not zero).
    @param subtracted_amount The 32-byte amount to subtract.
    @return bool Always True; failures revert.
    """
    current: uint256 = erc20.allowance[msg.sender][spender]
    assert subtracted_amount <= current, "ALT: decreased allowance below zero"
    erc20._approve(msg.sender, spender, current - subtracted_amount)
    return True


@external
def mint(owner: address, amount: uint256):
    """
    @dev Creates `amount` tokens for `owner`; minters only, and only while
         the token has an owner who can still revoke minters.
    @param owner The 20-byte recipient address (not zero).
    @param amount The 32-byte token amount to create.
    """
    assert ownable.owner != empty(address), "ALT: minting ended when ownership was renounced"
    assert erc20.is_minter[msg.sender], "erc20: access is denied"
    erc20._mint(owner, amount)
