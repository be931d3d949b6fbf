"""RFC 9162 section 2.1: hashes, proofs and their verification.

Test vectors: Certificate Transparency's, as kept by transparency-dev/merkle (the
Go library behind Trillian and Tessera), file ``proof/verify_test.go`` at commit
02194e9afb6c1d95b5381350007963aa70fff472 (``leaves``, ``roots``, ``inclusionProofs``,
``consistencyProofs``; their leaf numbers are 1-based, ours 0-based) and
``rfc6962/rfc6962_test.go`` at commit 78493b07ef9b552e3379abf9e23d4da26fbe797c
(empty tree, empty leaf, leaf and node hashes).
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ailedger.core.log.merkle import (
    EMPTY_ROOT,
    ConsistencyProofError,
    InclusionProofError,
    consistency_proof,
    hash_children,
    hash_leaf,
    inclusion_proof,
    mth,
    verify_consistency,
    verify_inclusion,
)
from ailedger.errors import IntegrityError, InvalidInputError

h = bytes.fromhex

LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [  # ROOTS[n - 1] = MTH(LEAVES[:n])
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
INCLUSION_PROOFS = [  # (0-based leaf index, tree size, PATH)
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY_PROOFS = [  # (first size, second size, PROOF)
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def _subtree_hash(entries):
    """``MTH(D[start:end])`` computed directly, memoised per tree."""
    return functools.cache(lambda start, end: mth(entries[start:end]))


def _flip(value: bytes, bit: int) -> bytes:
    return bytes([value[0] ^ (1 << bit)]) + value[1:]


# Hashes (rfc6962_test.go).


def test_empty_tree_hash_is_sha256_of_nothing():
    assert (
        mth([])
        == EMPTY_ROOT
        == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )


def test_leaf_hash_prefixes_0x00():
    assert hash_leaf(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert hash_leaf(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )


def test_node_hash_prefixes_0x01():
    assert hash_children(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_tree_hash_matches_ct_root(size):
    assert mth(LEAVES[:size]) == ROOTS[size - 1]


# Inclusion proofs.


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_PROOFS)
def test_inclusion_proof_matches_ct_vector(index, size, expected):
    assert inclusion_proof(index, size, _subtree_hash(LEAVES)) == expected


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_PROOFS)
def test_ct_inclusion_proof_verifies(index, size, proof):
    verify_inclusion(index, size, hash_leaf(LEAVES[index]), proof, ROOTS[size - 1])


def test_inclusion_proof_with_missing_hash_reports_expected_size():
    index, size, proof = INCLUSION_PROOFS[1]
    with pytest.raises(InclusionProofError, match="wrong size: expected 3, got 2"):
        verify_inclusion(index, size, hash_leaf(LEAVES[index]), proof[:-1], ROOTS[size - 1])


def test_inclusion_proof_with_extra_hash_fails():
    index, size, proof = INCLUSION_PROOFS[2]
    root = ROOTS[size - 1]
    with pytest.raises(InclusionProofError, match="expected 3, got 4"):
        verify_inclusion(index, size, hash_leaf(LEAVES[index]), [*proof, root], root)


def test_inclusion_proof_for_wrong_index_fails():
    index, size, proof = INCLUSION_PROOFS[2]
    with pytest.raises(InclusionProofError, match="another root"):
        verify_inclusion(index - 1, size, hash_leaf(LEAVES[index]), proof, ROOTS[size - 1])


def test_inclusion_proof_against_another_tree_fails():
    index, size, proof = INCLUSION_PROOFS[2]
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size * 2, hash_leaf(LEAVES[index]), proof, ROOTS[size - 1])


def test_inclusion_proof_with_index_outside_tree_fails():
    with pytest.raises(InclusionProofError, match="expected < 1, got 1"):
        verify_inclusion(1, 1, ROOTS[0], [], ROOTS[0])


def test_inclusion_proof_rejects_root_of_wrong_length():
    with pytest.raises(InclusionProofError, match="root hash has wrong length: expected 32"):
        verify_inclusion(0, 1, ROOTS[0], [], ROOTS[0][:31])


def test_inclusion_proof_rejects_non_bytes_hash():
    with pytest.raises(InvalidInputError, match="leaf hash must be bytes, got str"):
        verify_inclusion(0, 1, ROOTS[0].hex(), [], ROOTS[0])


def test_inclusion_proof_generation_rejects_index_outside_tree():
    with pytest.raises(InvalidInputError, match="expected 0 <= index < 8, got 8"):
        inclusion_proof(8, 8, _subtree_hash(LEAVES))


def test_proof_errors_are_integrity_errors():
    assert issubclass(InclusionProofError, IntegrityError)
    assert issubclass(ConsistencyProofError, IntegrityError)


# Consistency proofs.


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY_PROOFS)
def test_consistency_proof_matches_ct_vector(first, second, expected):
    assert consistency_proof(first, second, _subtree_hash(LEAVES)) == expected


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY_PROOFS)
def test_ct_consistency_proof_verifies(first, second, proof):
    verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], proof)


def test_consistency_proof_rejects_shrinking_tree():
    with pytest.raises(ConsistencyProofError, match="expected second size >= 8, got 6"):
        verify_consistency(8, 6, ROOTS[7], ROOTS[5], [])


def test_consistency_proof_with_swapped_roots_fails():
    first, second, proof = CONSISTENCY_PROOFS[2]
    with pytest.raises(ConsistencyProofError, match="another first root"):
        verify_consistency(first, second, ROOTS[second - 1], ROOTS[first - 1], proof)


def test_consistency_proof_with_missing_hash_reports_expected_size():
    first, second, proof = CONSISTENCY_PROOFS[2]
    with pytest.raises(ConsistencyProofError, match="wrong size: expected 3, got 2"):
        verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], proof[:-1])


def test_empty_consistency_proof_between_different_sizes_fails():
    with pytest.raises(ConsistencyProofError, match="wrong size: expected 1, got 0"):
        verify_consistency(1, 2, ROOTS[0], ROOTS[1], [])


def test_equal_sizes_need_equal_roots():
    with pytest.raises(ConsistencyProofError, match="first root differs"):
        verify_consistency(3, 3, ROOTS[2], ROOTS[1], [])


def test_equal_sizes_need_an_empty_proof():
    with pytest.raises(ConsistencyProofError, match="expected 0, got 1"):
        verify_consistency(3, 3, ROOTS[2], ROOTS[2], [ROOTS[0]])


def test_consistency_proof_from_size_zero_is_rejected():
    # RFC 9162 2.1.4 defines PROOF(m, D[n]) for 0 < m < n only: from the empty tree
    # every "proof" would accept every new root, so it binds nothing.
    with pytest.raises(ConsistencyProofError, match="from size 0 binds nothing"):
        verify_consistency(0, 8, EMPTY_ROOT, ROOTS[7], [])


@given(st.integers(0, 2**64), st.binary(min_size=32, max_size=32))
def test_no_consistency_proof_from_size_zero_verifies(second, any_root):
    with pytest.raises(ConsistencyProofError):
        verify_consistency(0, second, EMPTY_ROOT, any_root, [])


def test_consistency_proof_generation_rejects_old_size_above_new():
    with pytest.raises(InvalidInputError, match="expected 0 <= old <= 5, got 6"):
        consistency_proof(6, 5, _subtree_hash(LEAVES))


# Properties.

_entries = st.lists(st.binary(max_size=8), min_size=1, max_size=40)


@given(_entries)
def test_every_leaf_proof_verifies_at_every_tree_size(entries):
    for size in range(1, len(entries) + 1):
        subtree_hash = _subtree_hash(entries)
        root = subtree_hash(0, size)
        for index in range(size):
            proof = inclusion_proof(index, size, subtree_hash)
            verify_inclusion(index, size, hash_leaf(entries[index]), proof, root)


@given(_entries)
def test_every_pair_of_sizes_has_a_verifying_consistency_proof(entries):
    subtree_hash = _subtree_hash(entries)
    roots = [subtree_hash(0, n) if n else EMPTY_ROOT for n in range(len(entries) + 1)]
    for second in range(len(entries) + 1):
        for first in range(1, second + 1):
            proof = consistency_proof(first, second, subtree_hash)
            verify_consistency(first, second, roots[first], roots[second], proof)


@given(_entries, st.data())
def test_any_flipped_bit_fails_inclusion(entries, data):
    size = data.draw(st.integers(1, len(entries)))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, _subtree_hash(entries))
    leaf, root = hash_leaf(entries[index]), mth(entries[:size])
    target = data.draw(st.sampled_from(["leaf", "root", *(["proof"] if proof else [])]))
    bit = data.draw(st.integers(0, 7))
    if target == "leaf":
        leaf = _flip(leaf, bit)
    elif target == "root":
        root = _flip(root, bit)
    else:
        i = data.draw(st.integers(0, len(proof) - 1))
        proof[i] = _flip(proof[i], bit)
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size, leaf, proof, root)


@given(_entries, st.data())
def test_any_flipped_bit_fails_consistency(entries, data):
    second = data.draw(st.integers(2, len(entries))) if len(entries) > 1 else 1
    first = data.draw(st.integers(1, second))
    proof = consistency_proof(first, second, _subtree_hash(entries))
    roots = [mth(entries[:first]), mth(entries[:second])]
    targets = ["first", "second", *(["proof"] if proof else [])]
    target = data.draw(st.sampled_from(targets))
    bit = data.draw(st.integers(0, 7))
    if target == "proof":
        i = data.draw(st.integers(0, len(proof) - 1))
        proof[i] = _flip(proof[i], bit)
    else:
        which = targets.index(target)
        roots[which] = _flip(roots[which], bit)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(first, second, roots[0], roots[1], proof)
