"""ALTToken: ERC-20 with permit, minter role and ownership, as compiled by ailedger.contracts."""

from __future__ import annotations

import boa
import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.contracts.typed_data import PERMIT_TYPES, alt_token_domain
from ailedger.core.identity import sign_typed

ZERO = "0x0000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1
ALT = 10**18


@pytest.fixture
def token(deploy):
    return deploy("ALTToken")


@pytest.fixture
def funded(token, deployer, alice):
    """The token with 100 ALT minted to alice."""
    token.mint(alice.address, 100 * ALT, sender=deployer)
    return token


def _event_names(contract) -> list[str]:
    # get_logs() reads the most recent call, so tests read events before any view call.
    return [type(event).__name__ for event in contract.get_logs()]


def _sign_permit(token, owner: LocalAccount, spender: str, value: int, deadline: int, chain_id):
    domain = alt_token_domain(chain_id, token.address)
    message = {
        "owner": owner.address,
        "spender": spender,
        "value": value,
        "nonce": token.nonces(owner.address),
        "deadline": deadline,
    }
    signature = sign_typed(owner, domain, "Permit", PERMIT_TYPES, message)
    r, s, v = signature[:32], signature[32:64], signature[64]
    return v, r, s


def _now() -> int:
    return boa.env.evm.patch.timestamp


# --- identity ---------------------------------------------------------------------------------


def test_token_has_fixed_name_symbol_and_18_decimals(token):
    assert (token.name(), token.symbol(), token.decimals()) == ("AILedger Token", "ALT", 18)


def test_new_token_has_no_supply(token, deployer):
    assert token.totalSupply() == 0
    assert token.balanceOf(deployer) == 0


def test_deployer_is_owner_and_minter(token, deployer):
    assert token.owner() == deployer
    assert token.is_minter(deployer)


def test_domain_separator_matches_the_off_chain_domain(token, chain_id):
    assert token.DOMAIN_SEPARATOR() == alt_token_domain(chain_id, token.address).separator()


def test_eip712_domain_reports_name_version_chain_and_contract(token, chain_id):
    _, name, version, reported_chain_id, contract, _, _ = token.eip712Domain()
    assert (name, version, reported_chain_id) == ("AILedger Token", "1", chain_id)
    assert contract == token.address


# --- minting ----------------------------------------------------------------------------------


def test_minter_mints_to_an_account_and_raises_supply(token, deployer, alice):
    token.mint(alice.address, 5 * ALT, sender=deployer)
    assert token.balanceOf(alice.address) == 5 * ALT
    assert token.totalSupply() == 5 * ALT


def test_mint_emits_transfer_from_zero_address(token, deployer, alice):
    token.mint(alice.address, 7, sender=deployer)
    (event,) = token.get_logs()
    assert type(event).__name__ == "Transfer"
    assert (event.sender, event.receiver, event.value) == (ZERO, alice.address, 7)


def test_mint_by_non_minter_reverts(token, alice):
    with boa.reverts("erc20: access is denied"):
        token.mint(alice.address, 1, sender=alice.address)
    assert token.totalSupply() == 0


def test_mint_to_zero_address_reverts(token, deployer):
    with boa.reverts("erc20: mint to the zero address"):
        token.mint(ZERO, 1, sender=deployer)


def test_mint_overflowing_total_supply_reverts(funded, deployer, bob):
    with boa.reverts():
        funded.mint(bob.address, MAX_UINT256, sender=deployer)
    assert funded.balanceOf(bob.address) == 0
    assert funded.totalSupply() == 100 * ALT


# --- transfers --------------------------------------------------------------------------------


def test_transfer_moves_tokens(funded, alice, bob):
    assert funded.transfer(bob.address, 30 * ALT, sender=alice.address)
    assert funded.balanceOf(alice.address) == 70 * ALT
    assert funded.balanceOf(bob.address) == 30 * ALT
    assert funded.totalSupply() == 100 * ALT


def test_transfer_emits_transfer_event(funded, alice, bob):
    funded.transfer(bob.address, 3, sender=alice.address)
    (event,) = funded.get_logs()
    assert (event.sender, event.receiver, event.value) == (alice.address, bob.address, 3)


def test_transfer_beyond_balance_reverts_and_changes_nothing(funded, alice, bob):
    with boa.reverts("erc20: transfer amount exceeds balance"):
        funded.transfer(bob.address, 100 * ALT + 1, sender=alice.address)
    assert funded.balanceOf(alice.address) == 100 * ALT
    assert funded.balanceOf(bob.address) == 0


def test_transfer_to_zero_address_reverts(funded, alice):
    with boa.reverts("erc20: transfer to the zero address"):
        funded.transfer(ZERO, 1, sender=alice.address)


# --- allowances -------------------------------------------------------------------------------


def test_approve_sets_allowance_and_emits_approval(funded, alice, bob):
    funded.approve(bob.address, 10, sender=alice.address)
    (event,) = funded.get_logs()
    assert type(event).__name__ == "Approval"
    assert (event.owner, event.spender, event.value) == (alice.address, bob.address, 10)
    assert funded.allowance(alice.address, bob.address) == 10


def test_approve_to_zero_address_reverts(funded, alice):
    with boa.reverts("erc20: approve to the zero address"):
        funded.approve(ZERO, 1, sender=alice.address)


def test_transfer_from_spends_allowance(funded, alice, bob, mallory):
    funded.approve(bob.address, 10, sender=alice.address)
    funded.transferFrom(alice.address, mallory.address, 4, sender=bob.address)
    assert _event_names(funded) == ["Approval", "Transfer"]
    assert funded.balanceOf(mallory.address) == 4
    assert funded.allowance(alice.address, bob.address) == 6


def test_transfer_from_beyond_allowance_reverts_and_changes_nothing(funded, alice, bob):
    funded.approve(bob.address, 10, sender=alice.address)
    with boa.reverts("erc20: insufficient allowance"):
        funded.transferFrom(alice.address, bob.address, 11, sender=bob.address)
    assert funded.allowance(alice.address, bob.address) == 10
    assert funded.balanceOf(bob.address) == 0


def test_transfer_from_without_allowance_reverts(funded, alice, mallory):
    with boa.reverts("erc20: insufficient allowance"):
        funded.transferFrom(alice.address, mallory.address, 1, sender=mallory.address)


def test_infinite_allowance_is_not_spent(funded, alice, bob):
    funded.approve(bob.address, MAX_UINT256, sender=alice.address)
    funded.transferFrom(alice.address, bob.address, 5, sender=bob.address)
    assert funded.allowance(alice.address, bob.address) == MAX_UINT256


def test_increase_allowance_adds_and_emits_approval(funded, alice, bob):
    funded.approve(bob.address, 10, sender=alice.address)
    funded.increase_allowance(bob.address, 5, sender=alice.address)
    assert _event_names(funded) == ["Approval"]
    assert funded.allowance(alice.address, bob.address) == 15


def test_increase_allowance_overflow_reverts_and_keeps_allowance(funded, alice, bob):
    funded.approve(bob.address, 2, sender=alice.address)
    with boa.reverts("ALT: allowance overflow"):
        funded.increase_allowance(bob.address, MAX_UINT256 - 1, sender=alice.address)
    assert funded.allowance(alice.address, bob.address) == 2


def test_decrease_allowance_subtracts(funded, alice, bob):
    funded.approve(bob.address, 10, sender=alice.address)
    funded.decrease_allowance(bob.address, 4, sender=alice.address)
    assert funded.allowance(alice.address, bob.address) == 6


def test_decrease_allowance_below_zero_reverts(funded, alice, bob):
    funded.approve(bob.address, 3, sender=alice.address)
    with boa.reverts("ALT: decreased allowance below zero"):
        funded.decrease_allowance(bob.address, 4, sender=alice.address)
    assert funded.allowance(alice.address, bob.address) == 3


# --- burning ----------------------------------------------------------------------------------


def test_burn_destroys_own_tokens(funded, alice):
    funded.burn(40 * ALT, sender=alice.address)
    (event,) = funded.get_logs()
    assert (event.sender, event.receiver) == (alice.address, ZERO)
    assert funded.balanceOf(alice.address) == 60 * ALT
    assert funded.totalSupply() == 60 * ALT


def test_burn_beyond_balance_reverts(funded, alice):
    with boa.reverts("erc20: burn amount exceeds balance"):
        funded.burn(100 * ALT + 1, sender=alice.address)


def test_burn_from_spends_allowance(funded, alice, bob):
    funded.approve(bob.address, 10, sender=alice.address)
    funded.burn_from(alice.address, 10, sender=bob.address)
    assert funded.totalSupply() == 100 * ALT - 10
    assert funded.allowance(alice.address, bob.address) == 0


def test_burn_from_without_allowance_reverts(funded, alice, bob):
    with boa.reverts("erc20: insufficient allowance"):
        funded.burn_from(alice.address, 1, sender=bob.address)


# --- minter role and ownership ----------------------------------------------------------------


def test_owner_grants_minter_role_with_event(token, deployer, alice, bob):
    token.set_minter(alice.address, True, sender=deployer)
    (event,) = token.get_logs()
    assert type(event).__name__ == "RoleMinterChanged"
    assert (event.minter, event.status) == (alice.address, True)
    token.mint(bob.address, 1, sender=alice.address)
    assert token.balanceOf(bob.address) == 1


def test_revoked_minter_can_no_longer_mint(token, deployer, alice):
    token.set_minter(alice.address, True, sender=deployer)
    token.set_minter(alice.address, False, sender=deployer)
    with boa.reverts("erc20: access is denied"):
        token.mint(alice.address, 1, sender=alice.address)


def test_set_minter_by_non_owner_reverts(token, alice):
    with boa.reverts("ownable: caller is not the owner"):
        token.set_minter(alice.address, True, sender=alice.address)
    assert not token.is_minter(alice.address)


def test_set_minter_to_zero_address_reverts(token, deployer):
    with boa.reverts("erc20: minter is the zero address"):
        token.set_minter(ZERO, True, sender=deployer)


def test_owner_cannot_change_own_minter_role(token, deployer):
    with boa.reverts("erc20: minter is owner address"):
        token.set_minter(deployer, False, sender=deployer)


def test_transfer_ownership_moves_owner_and_minter_role(token, deployer, alice):
    token.transfer_ownership(alice.address, sender=deployer)
    assert "OwnershipTransferred" in _event_names(token)
    assert token.owner() == alice.address
    assert token.is_minter(alice.address)
    assert not token.is_minter(deployer)


def test_transfer_ownership_by_non_owner_reverts(token, alice):
    with boa.reverts("ownable: caller is not the owner"):
        token.transfer_ownership(alice.address, sender=alice.address)


def test_transfer_ownership_to_zero_address_reverts(token, deployer):
    with boa.reverts("erc20: new owner is the zero address"):
        token.transfer_ownership(ZERO, sender=deployer)


def test_renounce_ownership_leaves_no_owner_and_removes_minter(token, deployer):
    token.renounce_ownership(sender=deployer)
    assert token.owner() == ZERO
    assert not token.is_minter(deployer)


def test_minter_cannot_mint_after_the_owner_renounces_ownership(token, deployer, alice, bob):
    # Exploit (issue 9 item 11): snekmate's renounce_ownership removes only the owner's
    # minter role; other minters kept minting with nobody left to revoke them.
    token.set_minter(alice.address, True, sender=deployer)
    token.renounce_ownership(sender=deployer)
    with boa.reverts("ALT: minting ended when ownership was renounced"):
        token.mint(bob.address, 1, sender=alice.address)
    assert token.totalSupply() == 0


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(minters=st.lists(st.integers(1, 2**64), min_size=1, max_size=4, unique=True))
def test_no_minter_mints_once_nobody_owns_the_token(token, deployer, minters):
    with boa.env.anchor():
        accounts = [boa.env.generate_address(f"minter {m}") for m in minters]
        for account in accounts:
            token.set_minter(account, True, sender=deployer)
        token.renounce_ownership(sender=deployer)
        for account in accounts:
            with boa.reverts("ALT: minting ended when ownership was renounced"):
                token.mint(account, 1, sender=account)


# --- permit (EIP-2612) ------------------------------------------------------------------------


def test_permit_sets_allowance_from_signature(funded, alice, bob, mallory, chain_id):
    deadline = _now() + 3600
    v, r, s = _sign_permit(funded, alice, bob.address, 50, deadline, chain_id)
    # Anyone may submit the permit: the signature is the authorisation.
    funded.permit(alice.address, bob.address, 50, deadline, v, r, s, sender=mallory.address)
    assert _event_names(funded) == ["Approval"]
    assert funded.allowance(alice.address, bob.address) == 50
    assert funded.nonces(alice.address) == 1


def test_permit_with_expired_deadline_reverts(funded, alice, bob, chain_id):
    deadline = _now() - 1
    v, r, s = _sign_permit(funded, alice, bob.address, 50, deadline, chain_id)
    with boa.reverts("erc20: expired deadline"):
        funded.permit(alice.address, bob.address, 50, deadline, v, r, s, sender=bob.address)
    assert funded.allowance(alice.address, bob.address) == 0


def test_permit_signed_by_someone_else_reverts(funded, alice, bob, mallory, chain_id):
    deadline = _now() + 3600
    # mallory signs a permit claiming alice as the owner
    domain = alt_token_domain(chain_id, funded.address)
    message = {
        "owner": alice.address,
        "spender": mallory.address,
        "value": 50,
        "nonce": 0,
        "deadline": deadline,
    }
    signature = sign_typed(mallory, domain, "Permit", PERMIT_TYPES, message)
    with boa.reverts("erc20: invalid signature"):
        funded.permit(
            alice.address,
            mallory.address,
            50,
            deadline,
            signature[64],
            signature[:32],
            signature[32:64],
            sender=mallory.address,
        )
    assert funded.allowance(alice.address, mallory.address) == 0


def test_permit_cannot_be_replayed(funded, alice, bob, chain_id):
    deadline = _now() + 3600
    v, r, s = _sign_permit(funded, alice, bob.address, 50, deadline, chain_id)
    funded.permit(alice.address, bob.address, 50, deadline, v, r, s, sender=bob.address)
    funded.transferFrom(alice.address, bob.address, 50, sender=bob.address)
    with boa.reverts("erc20: invalid signature"):
        funded.permit(alice.address, bob.address, 50, deadline, v, r, s, sender=bob.address)
    assert funded.allowance(alice.address, bob.address) == 0


def test_permit_for_another_spender_amount_reverts(funded, alice, bob, chain_id):
    deadline = _now() + 3600
    v, r, s = _sign_permit(funded, alice, bob.address, 50, deadline, chain_id)
    with boa.reverts("erc20: invalid signature"):
        funded.permit(alice.address, bob.address, 51, deadline, v, r, s, sender=bob.address)
