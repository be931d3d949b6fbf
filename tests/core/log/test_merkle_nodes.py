"""Node layout: perfect subtrees stored with their last leaf, composed into any RFC subtree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ailedger.core.log.merkle import EMPTY_ROOT, hash_leaf, mth
from ailedger.core.log.nodes import CompactRange, fold, node_row, perfect_subtrees


def test_perfect_subtrees_of_a_tree_are_its_set_bits_largest_first():
    assert perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]


def test_perfect_subtrees_of_an_aligned_range():
    assert perfect_subtrees(8, 14) == [(2, 2), (1, 6)]


def test_range_not_shaped_like_an_rfc_subtree_is_rejected():
    with pytest.raises(ValueError, match=r"\[1, 4\) is not a subtree"):
        perfect_subtrees(1, 4)


def test_node_lives_in_the_row_of_its_last_leaf():
    assert node_row(0, 5) == 5
    assert node_row(2, 1) == 7  # leaves 4..7
    assert node_row(3, 0) == 7


def test_row_blob_holds_every_subtree_the_leaf_completes():
    tree = CompactRange()
    blobs = [tree.append(hash_leaf(bytes([i]))) for i in range(8)]
    assert [len(b) // 32 for b in blobs] == [1, 2, 1, 3, 1, 2, 1, 4]
    assert blobs[7][96:] == mth([bytes([i]) for i in range(8)])


def test_empty_compact_range_has_the_empty_root():
    assert CompactRange().root() == EMPTY_ROOT


def test_compact_range_needs_one_hash_per_peak():
    with pytest.raises(ValueError, match="has 2 peaks, got 1"):
        CompactRange(3, [b"\x00" * 32])


@given(st.lists(st.binary(max_size=4), max_size=70))
def test_compact_range_root_is_the_rfc_tree_hash(entries):
    tree = CompactRange()
    for entry in entries:
        tree.append(hash_leaf(entry))
    assert tree.root() == mth(entries)


@given(st.lists(st.binary(max_size=4), min_size=1, max_size=70), st.data())
def test_stored_nodes_fold_into_any_rfc_subtree_hash(entries, data):
    tree = CompactRange()
    blobs = [tree.append(hash_leaf(entry)) for entry in entries]
    size = data.draw(st.integers(1, len(entries)))
    level = data.draw(st.integers(0, size.bit_length() - 1))
    start = data.draw(st.integers(0, (len(entries) - size) >> level)) << level
    end = start + size
    if start % (1 << ((end - start).bit_length() - 1)):
        return  # not a subtree the RFC ever asks for
    nodes = [
        blobs[node_row(lv, i)][32 * lv : 32 * lv + 32] for lv, i in perfect_subtrees(start, end)
    ]
    assert fold(nodes) == mth(entries[start:end])
