# pragma version ~=0.4.3
"""
@title A look-alike AnchorRegistry, for tests only
@notice Answers `head_at` and `log_admin` and emits the registry's events exactly
        as the real AnchorRegistry would, but stores whatever anyone tells it:
        no signature check, no append-only rule, no admin check. A verifier
        that only asks the contract questions cannot tell it apart.
"""

struct TreeHead:
    index: uint256
    tree_size: uint256
    root_hash: bytes32
    timestamp: uint64
    block_number: uint256

event LogRegistered:
    log_id: indexed(bytes32)
    admin: indexed(address)
    signer: indexed(address)
    name: bytes32

event Anchored:
    log_id: indexed(bytes32)
    index: uint256
    tree_size: uint256
    root_hash: bytes32
    timestamp: uint64

_admin: HashMap[bytes32, address]
_heads: HashMap[bytes32, HashMap[uint256, TreeHead]]


@external
def forge(
    log_id: bytes32,
    admin: address,
    signer: address,
    index: uint256,
    tree_size: uint256,
    root_hash: bytes32,
    timestamp: uint64,
):
    self._admin[log_id] = admin
    self._heads[log_id][index] = TreeHead(
        index=index,
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp=timestamp,
        block_number=block.number,
    )
    log LogRegistered(log_id=log_id, admin=admin, signer=signer, name=empty(bytes32))
    log Anchored(
        log_id=log_id, index=index, tree_size=tree_size, root_hash=root_hash, timestamp=timestamp
    )


@external
@view
def head_at(log_id: bytes32, index: uint256) -> TreeHead:
    return self._heads[log_id][index]


@external
@view
def log_admin(log_id: bytes32) -> address:
    return self._admin[log_id]
