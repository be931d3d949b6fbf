"""AnchorRegistry: registered logs, EIP-712 signed tree heads, append-only history."""

from __future__ import annotations

import boa
import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ailedger.contracts.typed_data import TREE_HEAD_TYPES, anchor_registry_domain
from ailedger.core.identity import sign_typed

ZERO = "0x0000000000000000000000000000000000000000"
LOG_NAME = b"decisions".ljust(32, b"\0")
ROOT_1 = keccak(b"root 1")
ROOT_2 = keccak(b"root 2")
T0 = 1_700_000_000


@pytest.fixture
def registry(deploy):
    return deploy("AnchorRegistry")


@pytest.fixture
def admin() -> str:
    return boa.env.generate_address("admin")


@pytest.fixture
def log_id(registry, admin, alice) -> bytes:
    """A log registered by ``admin`` whose heads ``alice`` signs."""
    return registry.register_log(LOG_NAME, alice.address, sender=admin)


@pytest.fixture
def sign(registry, chain_id):
    """Sign a tree head for ``registry`` as the EIP-712 TreeHead struct."""

    def _sign(signer: LocalAccount, log_id: bytes, size: int, root: bytes, ts: int) -> bytes:
        message = {"logId": log_id, "treeSize": size, "rootHash": root, "timestamp": ts}
        domain = anchor_registry_domain(chain_id, registry.address)
        return sign_typed(signer, domain, "TreeHead", TREE_HEAD_TYPES, message)

    return _sign


@pytest.fixture
def anchor(registry, sign, alice):
    """Anchor a head signed by alice, submitted by an unrelated relayer."""
    relayer = boa.env.generate_address("relayer")

    def _anchor(log_id: bytes, size: int, root: bytes, ts: int, signer: LocalAccount = alice):
        signature = sign(signer, log_id, size, root, ts)
        return registry.anchor(log_id, size, root, ts, signature, sender=relayer)

    return _anchor


def _head(head) -> tuple:
    return tuple(head)


# --- registration -----------------------------------------------------------------------------


def test_log_id_is_hash_of_admin_and_name(registry, admin, log_id):
    assert log_id == keccak(encode(["address", "bytes32"], [admin, LOG_NAME]))
    assert registry.compute_log_id(admin, LOG_NAME) == log_id


def test_register_log_records_admin_and_signer(registry, admin, alice, log_id):
    assert registry.log_admin(log_id) == admin
    assert registry.log_signer(log_id) == alice.address
    assert registry.head_count(log_id) == 0


def test_register_log_emits_log_registered(registry, admin, alice):
    log_id = registry.register_log(LOG_NAME, alice.address, sender=admin)
    (event,) = registry.get_logs()
    assert type(event).__name__ == "LogRegistered"
    assert (event.log_id, event.admin, event.signer, event.name) == (
        log_id,
        admin,
        alice.address,
        LOG_NAME,
    )


def test_same_name_by_another_admin_is_another_log(registry, log_id, bob):
    other_admin = boa.env.generate_address("other admin")
    other = registry.register_log(LOG_NAME, bob.address, sender=other_admin)
    assert other != log_id
    assert registry.log_signer(log_id) != registry.log_signer(other)


def test_registering_the_same_log_twice_reverts(registry, admin, bob, log_id, alice):
    with boa.reverts("register_log: log already registered"):
        registry.register_log(LOG_NAME, bob.address, sender=admin)
    assert registry.log_signer(log_id) == alice.address


def test_register_log_with_zero_signer_reverts(registry, admin):
    with boa.reverts("register_log: signer is the zero address"):
        registry.register_log(LOG_NAME, ZERO, sender=admin)
    assert registry.log_admin(registry.compute_log_id(admin, LOG_NAME)) == ZERO


def test_unknown_log_has_no_admin_signer_or_heads(registry):
    unknown = keccak(b"unknown")
    assert (registry.log_admin(unknown), registry.log_signer(unknown)) == (ZERO, ZERO)
    assert registry.head_count(unknown) == 0


# --- signer rotation --------------------------------------------------------------------------


def test_admin_changes_signer_with_event(registry, admin, alice, bob, log_id):
    registry.set_signer(log_id, bob.address, sender=admin)
    (event,) = registry.get_logs()
    assert type(event).__name__ == "SignerChanged"
    assert (event.log_id, event.previous_signer, event.new_signer) == (
        log_id,
        alice.address,
        bob.address,
    )
    assert registry.log_signer(log_id) == bob.address


def test_set_signer_by_non_admin_reverts(registry, alice, bob, log_id):
    with boa.reverts("set_signer: caller is not the log admin"):
        registry.set_signer(log_id, bob.address, sender=alice.address)
    assert registry.log_signer(log_id) == alice.address


def test_set_signer_to_zero_address_reverts(registry, admin, log_id):
    with boa.reverts("set_signer: signer is the zero address"):
        registry.set_signer(log_id, ZERO, sender=admin)


def test_set_signer_of_unknown_log_reverts(registry, admin, bob):
    with boa.reverts("set_signer: unknown log"):
        registry.set_signer(keccak(b"unknown"), bob.address, sender=admin)


def test_old_signer_cannot_anchor_after_rotation(registry, admin, bob, log_id, anchor):
    registry.set_signer(log_id, bob.address, sender=admin)
    with boa.reverts("anchor: signature is not the log signer's"):
        anchor(log_id, 1, ROOT_1, T0)
    anchor(log_id, 1, ROOT_1, T0, signer=bob)
    assert registry.head_count(log_id) == 1


# --- anchoring --------------------------------------------------------------------------------


def test_anchor_stores_head_and_returns_its_index(registry, log_id, anchor):
    assert anchor(log_id, 10, ROOT_1, T0) == 0
    index, size, root, timestamp, block_number = _head(registry.latest_head(log_id))
    assert (index, size, root, timestamp) == (0, 10, ROOT_1, T0)
    assert block_number == boa.env.evm.patch.block_number


def test_extreme_timestamp_and_block_number_are_stored_exactly(registry, log_id, anchor):
    boa.env.evm.patch.block_number = 2**40 + 5
    anchor(log_id, 2**255, ROOT_1, 2**64 - 1)
    _, size, _, timestamp, block_number = _head(registry.latest_head(log_id))
    assert (size, timestamp, block_number) == (2**255, 2**64 - 1, 2**40 + 5)


def test_anchor_emits_anchored(registry, log_id, anchor):
    anchor(log_id, 10, ROOT_1, T0)
    (event,) = registry.get_logs()
    assert type(event).__name__ == "Anchored"
    assert (event.log_id, event.index, event.tree_size, event.root_hash, event.timestamp) == (
        log_id,
        0,
        10,
        ROOT_1,
        T0,
    )


def test_heads_accumulate_and_past_heads_stay_readable(registry, log_id, anchor):
    anchor(log_id, 10, ROOT_1, T0)
    anchor(log_id, 25, ROOT_2, T0 + 60)
    assert registry.head_count(log_id) == 2
    assert _head(registry.head_at(log_id, 0))[:4] == (0, 10, ROOT_1, T0)
    assert _head(registry.head_at(log_id, 1))[:4] == (1, 25, ROOT_2, T0 + 60)
    assert _head(registry.latest_head(log_id))[:4] == (1, 25, ROOT_2, T0 + 60)


def test_equal_timestamps_are_allowed(registry, log_id, anchor):
    anchor(log_id, 10, ROOT_1, T0)
    anchor(log_id, 11, ROOT_2, T0)
    assert registry.head_count(log_id) == 2


def test_anchor_with_shrinking_tree_size_reverts(registry, log_id, anchor):
    anchor(log_id, 10, ROOT_1, T0)
    with boa.reverts("anchor: tree size must grow"):
        anchor(log_id, 9, ROOT_2, T0 + 1)
    assert registry.head_count(log_id) == 1


def test_anchor_with_equal_tree_size_reverts(registry, log_id, anchor):
    anchor(log_id, 10, ROOT_1, T0)
    with boa.reverts("anchor: tree size must grow"):
        anchor(log_id, 10, ROOT_2, T0 + 1)
    assert registry.head_count(log_id) == 1


def test_first_anchor_of_an_empty_tree_reverts(registry, log_id, anchor):
    with boa.reverts("anchor: tree size must grow"):
        anchor(log_id, 0, ROOT_1, T0)


def test_anchor_with_earlier_timestamp_reverts(registry, log_id, anchor):
    anchor(log_id, 10, ROOT_1, T0)
    with boa.reverts("anchor: timestamp must not decrease"):
        anchor(log_id, 11, ROOT_2, T0 - 1)
    assert registry.head_count(log_id) == 1


def test_anchor_signed_by_another_key_reverts(registry, log_id, anchor, mallory):
    with boa.reverts("anchor: signature is not the log signer's"):
        anchor(log_id, 10, ROOT_1, T0, signer=mallory)
    assert registry.head_count(log_id) == 0


def test_signature_over_other_values_does_not_authorise_a_head(registry, log_id, sign, alice):
    signature = sign(alice, log_id, 10, ROOT_1, T0)
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 10, ROOT_2, T0, signature, sender=alice.address)
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 11, ROOT_1, T0, signature, sender=alice.address)


def test_signature_for_another_registry_is_rejected(registry, log_id, deploy, chain_id, alice):
    other = deploy("AnchorRegistry")
    domain = anchor_registry_domain(chain_id, other.address)
    message = {"logId": log_id, "treeSize": 10, "rootHash": ROOT_1, "timestamp": T0}
    signature = sign_typed(alice, domain, "TreeHead", TREE_HEAD_TYPES, message)
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 10, ROOT_1, T0, signature, sender=alice.address)


def test_malformed_signature_reverts(registry, log_id, sign, alice):
    signature = bytearray(sign(alice, log_id, 10, ROOT_1, T0))
    signature[64] = 5  # v must be 27 or 28
    with boa.reverts("ecdsa: invalid signature"):
        registry.anchor(log_id, 10, ROOT_1, T0, bytes(signature), sender=alice.address)


def test_truncated_signature_reverts(registry, log_id, sign, alice):
    signature = sign(alice, log_id, 10, ROOT_1, T0)[:40]
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 10, ROOT_1, T0, signature, sender=alice.address)


def test_anchor_to_unknown_log_reverts(registry, sign, alice):
    unknown = keccak(b"unknown")
    signature = sign(alice, unknown, 10, ROOT_1, T0)
    with boa.reverts("anchor: unknown log"):
        registry.anchor(unknown, 10, ROOT_1, T0, signature, sender=alice.address)


def test_latest_head_of_log_without_heads_reverts(registry, log_id):
    with boa.reverts("latest_head: no head anchored"):
        registry.latest_head(log_id)


def test_head_at_past_the_end_reverts(registry, log_id, anchor):
    anchor(log_id, 10, ROOT_1, T0)
    with boa.reverts("head_at: index out of range"):
        registry.head_at(log_id, 1)


def test_domain_separator_matches_the_off_chain_domain(registry, chain_id):
    expected = anchor_registry_domain(chain_id, registry.address).separator()
    assert registry.DOMAIN_SEPARATOR() == expected


def test_tree_head_typehash_matches_the_off_chain_type(registry):
    fields = ",".join(f"{f['type']} {f['name']}" for f in TREE_HEAD_TYPES["TreeHead"])
    assert registry.TREE_HEAD_TYPEHASH() == keccak(text=f"TreeHead({fields})")
