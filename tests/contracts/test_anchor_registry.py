"""AnchorRegistry: registered logs, EIP-712 signed tree heads, append-only history."""

from __future__ import annotations

import boa
import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.contracts.typed_data import TREE_HEAD_TYPES, anchor_registry_domain
from ailedger.core.identity import sign_typed
from ailedger.core.log.merkle import consistency_proof, consistency_roots, mth
from tests.core.identity.test_eip712 import malleate

ZERO = "0x0000000000000000000000000000000000000000"
LOG_NAME = b"decisions".ljust(32, b"\0")
ROOT_1 = keccak(b"root 1")
ROOT_2 = keccak(b"root 2")
T0 = 1_700_000_000_000  # ms, before the chain's clock
LEAVES = [f"record {i}".encode() for i in range(64)]


def root(size: int) -> bytes:
    """MTH of the first ``size`` LEAVES: the real tree every test log grows."""
    return mth(LEAVES[:size])


def proof(old: int, new: int) -> list[bytes]:
    """PROOF(old, D[new]) over LEAVES."""
    return consistency_proof(
        old, new, lambda start, end: root(end) if start == 0 else mth(LEAVES[start:end])
    )


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

    def _sign(
        signer: LocalAccount, log_id: bytes, size: int, root: bytes, ts: int, epoch: int = 0
    ) -> bytes:
        message = {
            "logId": log_id,
            "treeSize": size,
            "rootHash": root,
            "timestamp": ts,
            "keyEpoch": epoch,
        }
        domain = anchor_registry_domain(chain_id, registry.address)
        return sign_typed(signer, domain, "TreeHead", TREE_HEAD_TYPES, message)

    return _sign


@pytest.fixture
def anchor(registry, sign, alice):
    """Anchor a head of the LEAVES tree signed by alice, submitted by an unrelated relayer.

    The root defaults to the real tree's, the proof to the real one from the latest head.
    """
    relayer = boa.env.generate_address("relayer")

    def _anchor(
        log_id: bytes,
        size: int,
        ts: int = T0,
        *,
        signer: LocalAccount = alice,
        head_root: bytes | None = None,
        head_proof: list[bytes] | None = None,
        epoch: int | None = None,
    ):
        head_root = root(size) if head_root is None else head_root
        if head_proof is None:
            count = registry.head_count(log_id)
            latest = registry.latest_head(log_id)[1] if count else 0
            head_proof = proof(latest, size) if latest else []
        epoch = registry.key_epoch(log_id) if epoch is None else epoch
        signature = sign(signer, log_id, size, head_root, ts, epoch)
        return registry.anchor(log_id, size, head_root, ts, signature, head_proof, sender=relayer)

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


def test_each_rotation_starts_a_new_key_epoch(registry, admin, bob, alice, log_id):
    assert registry.key_epoch(log_id) == 0
    registry.set_signer(log_id, bob.address, sender=admin)
    registry.set_signer(log_id, alice.address, sender=admin)
    assert registry.key_epoch(log_id) == 2
    assert registry.log_signer(log_id) == alice.address


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
        anchor(log_id, 1)
    anchor(log_id, 1, signer=bob)
    assert registry.head_count(log_id) == 1


def test_head_signed_before_a_rotation_stays_invalid_when_its_signer_returns(
    registry, admin, alice, bob, log_id, sign
):
    # Exploit (issue 9 item 11): alice signs a head that is never submitted; the admin
    # rotates to bob and back to alice. Without key epochs that old head became valid again.
    stale = sign(alice, log_id, 1, root(1), T0, 0)
    registry.set_signer(log_id, bob.address, sender=admin)
    registry.set_signer(log_id, alice.address, sender=admin)
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 1, root(1), T0, stale, [], sender=bob.address)
    fresh = sign(alice, log_id, 1, root(1), T0, 2)
    registry.anchor(log_id, 1, root(1), T0, fresh, [], sender=bob.address)


# --- anchoring --------------------------------------------------------------------------------


def test_anchor_stores_head_and_returns_its_index(registry, log_id, anchor):
    assert anchor(log_id, 10) == 0
    index, size, head_root, timestamp, block_number = _head(registry.latest_head(log_id))
    assert (index, size, head_root, timestamp) == (0, 10, root(10), T0)
    assert block_number == boa.env.evm.patch.block_number


def test_largest_timestamp_and_block_number_are_stored_exactly(registry, log_id, anchor):
    boa.env.evm.patch.block_number = 2**40 + 5
    latest_allowed = boa.env.evm.patch.timestamp * 1000 + registry.MAX_CLOCK_SKEW_MS()
    anchor(log_id, 2**32, latest_allowed, head_root=ROOT_1)
    _, size, _, timestamp, block_number = _head(registry.latest_head(log_id))
    assert (size, timestamp, block_number) == (2**32, latest_allowed, 2**40 + 5)


def test_anchor_emits_anchored(registry, log_id, anchor):
    anchor(log_id, 10)
    (event,) = registry.get_logs()
    assert type(event).__name__ == "Anchored"
    assert (event.log_id, event.index, event.tree_size, event.root_hash, event.timestamp) == (
        log_id,
        0,
        10,
        root(10),
        T0,
    )


def test_heads_accumulate_and_past_heads_stay_readable(registry, log_id, anchor):
    anchor(log_id, 10)
    anchor(log_id, 25, T0 + 60)
    assert registry.head_count(log_id) == 2
    assert _head(registry.head_at(log_id, 0))[:4] == (0, 10, root(10), T0)
    assert _head(registry.head_at(log_id, 1))[:4] == (1, 25, root(25), T0 + 60)
    assert _head(registry.latest_head(log_id))[:4] == (1, 25, root(25), T0 + 60)


def test_equal_timestamps_are_allowed(registry, log_id, anchor):
    anchor(log_id, 10)
    anchor(log_id, 11)
    assert registry.head_count(log_id) == 2


def test_anchor_with_shrinking_tree_size_reverts(registry, log_id, anchor):
    anchor(log_id, 10)
    with boa.reverts("anchor: tree size must grow"):
        anchor(log_id, 9, T0 + 1, head_proof=[])
    assert registry.head_count(log_id) == 1


def test_anchor_with_equal_tree_size_reverts(registry, log_id, anchor):
    anchor(log_id, 10)
    with boa.reverts("anchor: tree size must grow"):
        anchor(log_id, 10, T0 + 1, head_proof=[])
    assert registry.head_count(log_id) == 1


def test_first_anchor_of_an_empty_tree_reverts(registry, log_id, anchor):
    with boa.reverts("anchor: tree size must grow"):
        anchor(log_id, 0, head_root=ROOT_1)


def test_first_anchor_with_a_proof_reverts(registry, log_id, anchor):
    with boa.reverts("anchor: the first head takes no consistency proof"):
        anchor(log_id, 10, head_proof=[ROOT_1])


def test_anchor_with_earlier_timestamp_reverts(registry, log_id, anchor):
    anchor(log_id, 10)
    with boa.reverts("anchor: timestamp must not decrease"):
        anchor(log_id, 11, T0 - 1)
    assert registry.head_count(log_id) == 1


# --- bounds: one head must not freeze a log (issue 9 item 11) ---------------------------------


def test_head_of_size_two_to_the_256_minus_one_is_refused_and_the_log_goes_on(
    registry, log_id, anchor
):
    # Exploit: before the bounds, this head was anchored and no later head could grow past it.
    with boa.reverts("anchor: tree grows by more than 2**32"):
        anchor(log_id, 2**256 - 1, head_root=ROOT_1)
    anchor(log_id, 10)
    assert registry.head_count(log_id) == 1


def test_tree_growing_by_more_than_two_to_the_32_reverts(registry, log_id, anchor):
    anchor(log_id, 10)
    with boa.reverts("anchor: tree grows by more than 2**32"):
        anchor(log_id, 10 + 2**32 + 1, head_root=ROOT_2, head_proof=[ROOT_1])


def test_timestamp_ahead_of_the_chain_clock_reverts(registry, log_id, anchor):
    # Exploit: a head stamped 2**64 - 1 ms made every later head "decrease" in time.
    with boa.reverts("anchor: timestamp is ahead of the chain's clock"):
        anchor(log_id, 10, 2**64 - 1)
    too_late = boa.env.evm.patch.timestamp * 1000 + registry.MAX_CLOCK_SKEW_MS() + 1
    with boa.reverts("anchor: timestamp is ahead of the chain's clock"):
        anchor(log_id, 10, too_late)
    anchor(log_id, 10)


# --- consistency proofs on chain --------------------------------------------------------------


def test_fork_of_the_anchored_prefix_reverts(registry, log_id, anchor):
    anchor(log_id, 6)
    forked = [*LEAVES[:3], b"rewritten record 3", *LEAVES[4:13]]
    fork_proof = consistency_proof(6, 13, lambda start, end: mth(forked[start:end]))
    with boa.reverts("anchor: consistency proof does not lead to the anchored root"):
        anchor(log_id, 13, head_root=mth(forked), head_proof=fork_proof)
    assert registry.head_count(log_id) == 1


def test_root_that_does_not_extend_the_anchored_tree_reverts(registry, log_id, anchor):
    anchor(log_id, 8)
    with boa.reverts("anchor: consistency proof does not lead to the new root"):
        anchor(log_id, 13, head_root=ROOT_2)


def test_empty_proof_after_the_first_head_reverts(registry, log_id, anchor):
    anchor(log_id, 6)
    with boa.reverts("anchor: consistency proof is empty"):
        anchor(log_id, 13, head_proof=[])


def test_truncated_proof_reverts(registry, log_id, anchor):
    anchor(log_id, 6)
    with boa.reverts("anchor: consistency proof is shorter than the path to the root"):
        anchor(log_id, 13, head_proof=proof(6, 13)[:-1])


def test_overlong_proof_reverts(registry, log_id, anchor):
    anchor(log_id, 6)
    with boa.reverts("anchor: consistency proof is longer than the path to the root"):
        anchor(log_id, 13, head_proof=[*proof(6, 13), ROOT_1])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_contract_accepts_exactly_the_proofs_the_rfc_verifier_accepts(
    registry, log_id, anchor, data
):
    # Property: real proofs between any two sizes anchor; a proof with one flipped bit
    # never does (as with merkle.verify_consistency off chain).
    with boa.env.anchor():
        old = data.draw(st.integers(1, 62))
        new = data.draw(st.integers(old + 1, 64))
        anchor(log_id, old)
        good = proof(old, new)
        i = data.draw(st.integers(0, len(good) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = list(good)
        bad[i] = (int.from_bytes(bad[i], "big") ^ (1 << bit)).to_bytes(32, "big")
        with boa.reverts():
            anchor(log_id, new, head_proof=bad)
        anchor(log_id, new, head_proof=good)
        assert registry.latest_head(log_id)[2] == root(new)


def test_proof_from_made_up_subtrees_anchors_a_valid_extension(registry, log_id, anchor):
    # The registry checks the proof, not the records: made-up subtree hashes that lead to
    # the anchored root extend it (how the gas benchmark grows huge trees).
    made_up = [keccak(bytes([i])) for i in range(8)]
    old_root, new_root = consistency_roots(6, 13, b"\0" * 32, made_up[:4])
    anchor(log_id, 6, head_root=old_root)
    anchor(log_id, 13, head_root=new_root, head_proof=made_up[:4])


# --- signatures -------------------------------------------------------------------------------


def test_anchor_signed_by_another_key_reverts(registry, log_id, anchor, mallory):
    with boa.reverts("anchor: signature is not the log signer's"):
        anchor(log_id, 10, signer=mallory)
    assert registry.head_count(log_id) == 0


def test_signature_for_another_key_epoch_reverts(registry, log_id, anchor):
    with boa.reverts("anchor: signature is not the log signer's"):
        anchor(log_id, 10, epoch=1)


def test_signature_over_other_values_does_not_authorise_a_head(registry, log_id, sign, alice):
    signature = sign(alice, log_id, 10, ROOT_1, T0)
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 10, ROOT_2, T0, signature, [], sender=alice.address)
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 11, ROOT_1, T0, signature, [], sender=alice.address)


def test_signature_for_another_registry_is_rejected(registry, log_id, deploy, chain_id, alice):
    other = deploy("AnchorRegistry")
    domain = anchor_registry_domain(chain_id, other.address)
    message = {"logId": log_id, "treeSize": 10, "rootHash": ROOT_1, "timestamp": T0, "keyEpoch": 0}
    signature = sign_typed(alice, domain, "TreeHead", TREE_HEAD_TYPES, message)
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 10, ROOT_1, T0, signature, [], sender=alice.address)


def test_malformed_signature_reverts(registry, log_id, sign, alice):
    signature = bytearray(sign(alice, log_id, 10, ROOT_1, T0))
    signature[64] = 5  # v must be 27 or 28
    with boa.reverts("ecdsa: invalid signature"):
        registry.anchor(log_id, 10, ROOT_1, T0, bytes(signature), [], sender=alice.address)


def test_high_s_signature_reverts_as_off_chain(registry, log_id, sign, alice):
    high_s = malleate(sign(alice, log_id, 10, ROOT_1, T0))
    with boa.reverts("ecdsa: invalid signature `s` value"):
        registry.anchor(log_id, 10, ROOT_1, T0, high_s, [], sender=alice.address)


def test_truncated_signature_reverts(registry, log_id, sign, alice):
    signature = sign(alice, log_id, 10, ROOT_1, T0)[:40]
    with boa.reverts("anchor: signature is not the log signer's"):
        registry.anchor(log_id, 10, ROOT_1, T0, signature, [], sender=alice.address)


def test_anchor_to_unknown_log_reverts(registry, sign, alice):
    unknown = keccak(b"unknown")
    signature = sign(alice, unknown, 10, ROOT_1, T0)
    with boa.reverts("anchor: unknown log"):
        registry.anchor(unknown, 10, ROOT_1, T0, signature, [], sender=alice.address)


def test_latest_head_of_log_without_heads_reverts(registry, log_id):
    with boa.reverts("latest_head: no head anchored"):
        registry.latest_head(log_id)


def test_head_at_past_the_end_reverts(registry, log_id, anchor):
    anchor(log_id, 10)
    with boa.reverts("head_at: index out of range"):
        registry.head_at(log_id, 1)


def test_domain_separator_matches_the_off_chain_domain(registry, chain_id):
    expected = anchor_registry_domain(chain_id, registry.address).separator()
    assert registry.DOMAIN_SEPARATOR() == expected


def test_tree_head_typehash_matches_the_off_chain_type(registry):
    fields = ",".join(f"{f['type']} {f['name']}" for f in TREE_HEAD_TYPES["TreeHead"])
    assert registry.TREE_HEAD_TYPEHASH() == keccak(text=f"TreeHead({fields})")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    growth=st.integers(2**32 + 1, 2**256 - 11),
    ahead_ms=st.integers(1, 2**64 - 1),
)
def test_no_head_beyond_the_bounds_is_ever_anchored(registry, log_id, anchor, growth, ahead_ms):
    # Property: whatever the signer signs, growth beyond 2**32 or a timestamp past the
    # chain's clock reverts, and the log still takes the next honest head.
    with boa.env.anchor():
        anchor(log_id, 10)
        with boa.reverts("anchor: tree grows by more than 2**32"):
            anchor(log_id, 10 + growth, head_root=ROOT_2, head_proof=[ROOT_1])
        latest_allowed = boa.env.evm.patch.timestamp * 1000 + registry.MAX_CLOCK_SKEW_MS()
        if latest_allowed + ahead_ms < 2**64:
            with boa.reverts("anchor: timestamp is ahead of the chain's clock"):
                anchor(log_id, 13, latest_allowed + ahead_ms)
        anchor(log_id, 13)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rotations=st.lists(st.sampled_from(["alice", "bob"]), min_size=1, max_size=5))
def test_heads_signed_for_an_earlier_key_epoch_never_anchor(
    registry, admin, alice, bob, log_id, sign, rotations
):
    # Property: after any sequence of rotations, a head signed in any earlier epoch by the
    # signer of that epoch reverts; one signed for the current epoch anchors.
    keys = {"alice": alice, "bob": bob}
    with boa.env.anchor():
        stale = [sign(alice, log_id, 1, root(1), T0, 0)]
        for epoch, name in enumerate(rotations, start=1):
            registry.set_signer(log_id, keys[name].address, sender=admin)
            if epoch < len(rotations):
                stale.append(sign(keys[name], log_id, 1, root(1), T0, epoch))
        for signature in stale:
            with boa.reverts("anchor: signature is not the log signer's"):
                registry.anchor(log_id, 1, root(1), T0, signature, [], sender=admin)
        current = sign(keys[rotations[-1]], log_id, 1, root(1), T0, len(rotations))
        registry.anchor(log_id, 1, root(1), T0, current, [], sender=admin)
