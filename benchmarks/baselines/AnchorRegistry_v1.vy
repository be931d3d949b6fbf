# pragma version ~=0.4.3
"""
@title AILedger AnchorRegistry, as of session 1 (baseline for benchmarks/anchor_gas.py only)
@license Apache-2.0
@notice Stores signed tree heads of append-only (RFC 9162) logs.
        A log is registered by its admin, who names the key that signs
        its tree heads. Anyone may submit a head (a relayer pays the
        gas): the EIP-712 signature of the log's signer is what
        authorises it. Heads of one log form an append-only array whose
        tree sizes strictly grow and whose timestamps never decrease, so
        a verifier can read any past head and check consistency proofs
        between them.
        Signed struct, under the domain ("AILedger AnchorRegistry", "1",
        chainId, this contract):
        TreeHead(bytes32 logId,uint256 treeSize,bytes32 rootHash,uint64 timestamp)
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
    "TreeHead(bytes32 logId,uint256 treeSize,bytes32 rootHash,uint64 timestamp)"
)

_admin: HashMap[bytes32, address]
_signer: HashMap[bytes32, address]
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
    self._signer[log_id] = signer
    log LogRegistered(log_id=log_id, admin=msg.sender, signer=signer, name=name)
    return log_id


@external
def set_signer(log_id: bytes32, new_signer: address):
    """
    @dev Replaces the signer of `log_id` (key rotation); admin only.
         Heads already anchored stay valid.
    @param log_id The 32-byte log id.
    @param new_signer The 20-byte address of the new signer.
    """
    admin: address = self._admin[log_id]
    assert admin != empty(address), "set_signer: unknown log"
    assert msg.sender == admin, "set_signer: caller is not the log admin"
    assert new_signer != empty(address), "set_signer: signer is the zero address"
    previous: address = self._signer[log_id]
    self._signer[log_id] = new_signer
    log SignerChanged(log_id=log_id, previous_signer=previous, new_signer=new_signer)


@external
def anchor(
    log_id: bytes32,
    tree_size: uint256,
    root_hash: bytes32,
    timestamp: uint64,
    signature: Bytes[65],
) -> uint256:
    """
    @dev Appends a tree head signed by the log's signer.
    @param log_id The 32-byte log id.
    @param tree_size The number of leaves; must exceed the latest head's.
    @param root_hash The 32-byte RFC 9162 root hash of the tree.
    @param timestamp The head's time (ms or s, as the log defines it);
           must not be below the latest head's.
    @param signature The signer's 65-byte EIP-712 signature (r, s, v).
    @return uint256 The index of the new head.
    """
    signer: address = self._signer[log_id]
    assert signer != empty(address), "anchor: unknown log"
    count: uint256 = self._head_count[log_id]
    if count == 0:
        # An empty tree commits to nothing, so the first head needs a leaf.
        assert tree_size > 0, "anchor: tree size must grow"
    else:
        # Field by field: loading the whole struct would also read its root hash.
        latest_size: uint256 = self._heads[log_id][count - 1].tree_size
        assert tree_size > latest_size, "anchor: tree size must grow"
        latest_time: uint64 = self._timestamp(self._heads[log_id][count - 1].timestamp_and_block)
        assert timestamp >= latest_time, "anchor: timestamp must not decrease"

    struct_hash: bytes32 = keccak256(
        abi_encode(TREE_HEAD_TYPEHASH, log_id, tree_size, root_hash, timestamp)
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
    return self._signer[log_id]


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
