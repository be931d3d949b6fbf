# pragma version ~=0.4.3
"""
@title AILedger AnchorRegistry
@license Apache-2.0
@notice Stores signed tree heads of append-only (RFC 9162) logs.
        A log is registered by its admin, who names the key that signs
        its tree heads. Anyone may submit a head (a relayer pays the
        gas): the EIP-712 signature of the log's signer is what
        authorises it. Heads of one log form an append-only array:
        every head after the first carries an RFC 9162 consistency
        proof from the previous one, verified here with SHA-256, so a
        fork or a rewritten prefix can never be anchored; tree sizes
        strictly grow (by at most 2**32 per head, up to 2**64 - 1) and
        timestamps (ms) never decrease nor run ahead of the block's
        clock, so no single head can freeze a log.
        Each signer rotation starts a new key epoch, and a head is
        signed for one epoch: heads a former signer signed never
        become valid again, even if that signer returns.
        Signed struct, under the domain ("AILedger AnchorRegistry", "1",
        chainId, this contract):
        TreeHead(bytes32 logId,uint256 treeSize,bytes32 rootHash,uint64 timestamp,uint64 keyEpoch)
"""

from snekmate.utils.interfaces import IERC5267
implements: IERC5267

from snekmate.utils import ecdsa

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

exports: eip712.eip712Domain


struct TreeHead:
    index: uint256
    tree_size: uint256
    root_hash: bytes32
    timestamp: uint64
    block_number: uint256


# What is kept per head. Every fresh storage slot costs 22,100 gas per
# anchor, so `index` (the head's position) is not stored again, and the
# timestamp (high 64 bits) and block number (low 64 bits) share one slot.
struct _StoredHead:
    tree_size: uint256
    root_hash: bytes32
    timestamp_and_block: uint256


event LogRegistered:
    log_id: indexed(bytes32)
    admin: indexed(address)
    signer: indexed(address)
    name: bytes32

event SignerChanged:
    log_id: indexed(bytes32)
    previous_signer: indexed(address)
    new_signer: indexed(address)

event Anchored:
    log_id: indexed(bytes32)
    index: uint256
    tree_size: uint256
    root_hash: bytes32
    timestamp: uint64


TREE_HEAD_TYPEHASH: public(constant(bytes32)) = keccak256(
    "TreeHead(bytes32 logId,uint256 treeSize,bytes32 rootHash,uint64 timestamp,uint64 keyEpoch)"
)

# Bounds that keep one signed head from freezing a log: reaching MAX_TREE_SIZE takes
# 2**32 anchors, and a timestamp cannot be pushed past the chain's own clock.
MAX_TREE_SIZE: public(constant(uint256)) = 2**64 - 1
MAX_TREE_GROWTH: public(constant(uint256)) = 2**32
MAX_CLOCK_SKEW_MS: public(constant(uint256)) = 600_000
# RFC 9162 consistency proofs between trees of at most 2**64 - 1 leaves have <= 65 hashes.
MAX_PROOF_LENGTH: constant(uint256) = 65

_admin: HashMap[bytes32, address]
# The signer (low 160 bits) and its key epoch (high bits) share one slot: one read per anchor.
_signer_and_epoch: HashMap[bytes32, uint256]
_heads: HashMap[bytes32, HashMap[uint256, _StoredHead]]
_head_count: HashMap[bytes32, uint256]


@deploy
@payable
def __init__():
    """
    @dev `payable` only to omit the callvalue check.
    """
    eip712.__init__("AILedger AnchorRegistry", "1")


@external
@pure
def compute_log_id(admin: address, name: bytes32) -> bytes32:
    """
    @dev The id `register_log(name, ...)` gives when called by `admin`.
    """
    return self._log_id(admin, name)


@external
def register_log(name: bytes32, signer: address) -> bytes32:
    """
    @dev Registers the log `name` of the caller, who becomes its admin.
         The id mixes in the caller, so nobody can take another's id.
    @param name The 32-byte name of the log, unique per admin.
    @param signer The 20-byte address whose signatures authorise heads.
    @return bytes32 The log id, keccak256(abi_encode(msg.sender, name)).
    """
    assert signer != empty(address), "register_log: signer is the zero address"
    log_id: bytes32 = self._log_id(msg.sender, name)
    assert self._admin[log_id] == empty(address), "register_log: log already registered"
    self._admin[log_id] = msg.sender
    self._signer_and_epoch[log_id] = convert(signer, uint256)
    log LogRegistered(log_id=log_id, admin=msg.sender, signer=signer, name=name)
    return log_id


@external
def set_signer(log_id: bytes32, new_signer: address):
    """
    @dev Replaces the signer of `log_id` (key rotation) and starts a new
         key epoch; admin only. Heads already anchored stay valid; heads
         signed for an earlier epoch and not yet anchored never become valid.
    @param log_id The 32-byte log id.
    @param new_signer The 20-byte address of the new signer.
    """
    admin: address = self._admin[log_id]
    assert admin != empty(address), "set_signer: unknown log"
    assert msg.sender == admin, "set_signer: caller is not the log admin"
    assert new_signer != empty(address), "set_signer: signer is the zero address"
    packed: uint256 = self._signer_and_epoch[log_id]
    previous: address = self._unpack_signer(packed)
    epoch: uint256 = (packed >> 160) + 1
    self._signer_and_epoch[log_id] = (epoch << 160) | convert(new_signer, uint256)
    log SignerChanged(log_id=log_id, previous_signer=previous, new_signer=new_signer)


@external
def anchor(
    log_id: bytes32,
    tree_size: uint256,
    root_hash: bytes32,
    timestamp: uint64,
    signature: Bytes[65],
    consistency_proof: DynArray[bytes32, MAX_PROOF_LENGTH],
) -> uint256:
    """
    @dev Appends a tree head signed by the log's signer for the current key epoch.
    @param log_id The 32-byte log id.
    @param tree_size The number of leaves; must exceed the latest head's, by at
           most MAX_TREE_GROWTH, and stay within MAX_TREE_SIZE.
    @param root_hash The 32-byte RFC 9162 root hash of the tree.
    @param timestamp The head's time in ms since the epoch; must not be below the
           latest head's nor more than MAX_CLOCK_SKEW_MS ahead of the block.
    @param signature The signer's 65-byte EIP-712 signature (r, s, v).
    @param consistency_proof RFC 9162 PROOF(latest size, D[tree_size]) from the
           latest head; empty for a log's first head.
    @return uint256 The index of the new head.
    """
    packed: uint256 = self._signer_and_epoch[log_id]
    signer: address = self._unpack_signer(packed)
    assert signer != empty(address), "anchor: unknown log"
    count: uint256 = self._head_count[log_id]
    latest_size: uint256 = 0
    if count > 0:
        # Field by field: a struct load would read every slot.
        latest_size = self._heads[log_id][count - 1].tree_size
    assert tree_size > latest_size, "anchor: tree size must grow"
    assert tree_size - latest_size <= MAX_TREE_GROWTH, "anchor: tree grows by more than 2**32"
    assert tree_size <= MAX_TREE_SIZE, "anchor: tree size above 2**64 - 1"
    assert (
        convert(timestamp, uint256) <= block.timestamp * 1000 + MAX_CLOCK_SKEW_MS
    ), "anchor: timestamp is ahead of the chain's clock"
    if count == 0:
        # Nothing anchored yet: nothing to be consistent with (also how existing logs
        # start over in a new registry).
        assert len(consistency_proof) == 0, "anchor: the first head takes no consistency proof"
    else:
        latest_time: uint64 = self._timestamp(self._heads[log_id][count - 1].timestamp_and_block)
        assert timestamp >= latest_time, "anchor: timestamp must not decrease"
        latest_root: bytes32 = self._heads[log_id][count - 1].root_hash
        self._verify_consistency(latest_size, tree_size, latest_root, root_hash, consistency_proof)

    struct_hash: bytes32 = keccak256(
        abi_encode(TREE_HEAD_TYPEHASH, log_id, tree_size, root_hash, timestamp, packed >> 160)
    )
    digest: bytes32 = eip712._hash_typed_data_v4(struct_hash)
    recovered: address = ecdsa._recover_sig(digest, signature)
    assert recovered == signer, "anchor: signature is not the log signer's"

    # convert() to uint64 reverts rather than truncates, should blocks ever exceed 2**64.
    block_number: uint256 = convert(convert(block.number, uint64), uint256)
    self._heads[log_id][count] = _StoredHead(
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp_and_block=(convert(timestamp, uint256) << 64) | block_number,
    )
    self._head_count[log_id] = count + 1
    log Anchored(
        log_id=log_id, index=count, tree_size=tree_size, root_hash=root_hash, timestamp=timestamp
    )
    return count


@external
@view
def latest_head(log_id: bytes32) -> TreeHead:
    """
    @dev The most recently anchored head; reverts if there is none.
    """
    count: uint256 = self._head_count[log_id]
    assert count > 0, "latest_head: no head anchored"
    return self._head(log_id, count - 1)


@external
@view
def head_at(log_id: bytes32, index: uint256) -> TreeHead:
    """
    @dev The head at position `index` (0 = first anchored).
    """
    assert index < self._head_count[log_id], "head_at: index out of range"
    return self._head(log_id, index)


@external
@view
def head_count(log_id: bytes32) -> uint256:
    """
    @dev How many heads `log_id` has (0 for an unknown log).
    """
    return self._head_count[log_id]


@external
@view
def log_signer(log_id: bytes32) -> address:
    """
    @dev The current signer of `log_id` (zero address if unknown).
    """
    return self._unpack_signer(self._signer_and_epoch[log_id])


@external
@view
def key_epoch(log_id: bytes32) -> uint64:
    """
    @dev The key epoch heads of `log_id` must be signed for: 0 at
         registration, one more at every signer rotation.
    """
    return convert(self._signer_and_epoch[log_id] >> 160, uint64)


@external
@view
def log_admin(log_id: bytes32) -> address:
    """
    @dev The admin of `log_id` (zero address if unknown).
    """
    return self._admin[log_id]


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @dev The EIP-712 domain separator for the current chain.
    """
    return eip712._domain_separator_v4()


@internal
@pure
def _log_id(admin: address, name: bytes32) -> bytes32:
    return keccak256(abi_encode(admin, name))


@internal
@view
def _head(log_id: bytes32, index: uint256) -> TreeHead:
    stored: _StoredHead = self._heads[log_id][index]
    return TreeHead(
        index=index,
        tree_size=stored.tree_size,
        root_hash=stored.root_hash,
        timestamp=self._timestamp(stored.timestamp_and_block),
        block_number=stored.timestamp_and_block & convert(max_value(uint64), uint256),
    )


@internal
@pure
def _timestamp(timestamp_and_block: uint256) -> uint64:
    return convert(timestamp_and_block >> 64, uint64)


@internal
@pure
def _unpack_signer(packed: uint256) -> address:
    return convert(convert(packed & convert(max_value(uint160), uint256), uint160), address)


@internal
@pure
def _hash_children(left: bytes32, right: bytes32) -> bytes32:
    # RFC 9162 2.1.1: HASH(0x01 || left || right), through the SHA-256 precompile.
    return sha256(concat(b"\x01", left, right))


@internal
@pure
def _verify_consistency(
    first: uint256,
    second: uint256,
    first_hash: bytes32,
    second_hash: bytes32,
    proof: DynArray[bytes32, MAX_PROOF_LENGTH],
):
    """
    @dev RFC 9162 2.1.4.2 for 0 < first < second (the caller checked the sizes):
         reverts unless `proof` shows the tree `first_hash` is a prefix of `second_hash`.
    """
    assert len(proof) > 0, "anchor: consistency proof is empty"
    fn: uint256 = first - 1
    sn: uint256 = second - 1
    # Step 2: a power-of-two first tree is itself the first node of the path.
    start: uint256 = 0
    fr: bytes32 = first_hash
    if first & (first - 1) != 0:
        fr = proof[0]
        start = 1
    sr: bytes32 = fr
    # Step 4: drop the levels where the first tree's last leaf is a right child.
    for _: uint256 in range(64):
        if fn & 1 == 0:
            break
        fn >>= 1
        sn >>= 1
    # Steps 5-6.
    for i: uint256 in range(start, len(proof), bound=MAX_PROOF_LENGTH):
        c: bytes32 = proof[i]
        assert sn != 0, "anchor: consistency proof is longer than the path to the root"
        if fn & 1 == 1 or fn == sn:
            fr = self._hash_children(c, fr)
            sr = self._hash_children(c, sr)
            for _: uint256 in range(64):
                if fn & 1 == 1 or fn == 0:
                    break
                fn >>= 1
                sn >>= 1
        else:
            sr = self._hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    assert sn == 0, "anchor: consistency proof is shorter than the path to the root"
    assert fr == first_hash, "anchor: consistency proof does not lead to the anchored root"
    assert sr == second_hash, "anchor: consistency proof does not lead to the new root"
