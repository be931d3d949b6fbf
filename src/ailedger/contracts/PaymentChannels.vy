# pragma version ~=0.4.3
"""
@title AILedger PaymentChannels
@license Apache-2.0
@notice One-way ALT payment channels from a consumer to a model service
        (after SingularityNET's Multi-Party Escrow). The consumer locks a
        deposit until an expiry and pays each call off chain with a voucher
        it signs: the channel id, a nonce that grows with every call, and
        the cumulative amount owed so far. The service claims the latest
        voucher whenever it likes; a claim pays the difference to what was
        claimed before and leaves the channel open. After expiry the
        consumer reclaims whatever was never claimed, which closes the
        channel for good.
        Payouts are pull payments: claims and reclaims credit a balance
        here, and only `withdraw` moves tokens out, to its caller. State
        is written before any token call (checks-effects-interactions) and
        every token-moving function is `nonreentrant`.
        Signed struct, under the domain ("AILedger PaymentChannels", "1",
        chainId, this contract):
        Voucher(uint256 channelId,uint256 nonce,uint256 amount)
"""

from ethereum.ercs import IERC20

from snekmate.tokens.interfaces import IERC20Permit

from snekmate.utils.interfaces import IERC5267
implements: IERC5267

from snekmate.utils import ecdsa

from snekmate.utils import eip712_domain_separator as eip712
initializes: eip712

exports: eip712.eip712Domain


interface IModelRegistry:
    def model_owner(model_id: bytes32) -> address: view
    def is_active(model_id: bytes32) -> bool: view


struct Voucher:
    channel_id: uint256
    nonce: uint256
    amount: uint256


struct Channel:
    consumer: address
    recipient: address
    model_id: bytes32
    deposit: uint256
    claimed: uint256
    nonce: uint256
    expiry: uint64
    reclaimed: bool


# What is kept per channel: four slots instead of eight, because every
# fresh slot costs 22,100 gas when a channel opens and every rewritten one
# 2,900 per claim. Amounts fit 128 bits (3.4e20 ALT), nonces 96.
struct _StoredChannel:
    consumer_expiry_reclaimed: uint256  # consumer | expiry << 160 | reclaimed << 224
    recipient_nonce: uint256  # recipient | nonce << 160
    deposit_claimed: uint256  # deposit | claimed << 128
    model_id: bytes32


event ChannelOpened:
    channel_id: indexed(uint256)
    consumer: indexed(address)
    model_id: indexed(bytes32)
    recipient: address
    deposit: uint256
    expiry: uint64

event ChannelToppedUp:
    channel_id: indexed(uint256)
    amount: uint256
    deposit: uint256

event ChannelExtended:
    channel_id: indexed(uint256)
    expiry: uint64

event Claimed:
    channel_id: indexed(uint256)
    recipient: indexed(address)
    nonce: uint256
    amount: uint256
    paid: uint256

event Reclaimed:
    channel_id: indexed(uint256)
    consumer: indexed(address)
    refund: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256


VOUCHER_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Voucher(uint256 channelId,uint256 nonce,uint256 amount)"
)

# The largest nonce and amount a claim accepts (what the packed slots hold). Public, so
# that an off-chain check of vouchers reads the very bounds `claim` enforces.
MAX_NONCE: public(constant(uint256)) = 2**96 - 1
MAX_AMOUNT: public(constant(uint256)) = 2**128 - 1

token: public(immutable(address))
registry: public(immutable(address))

_channels: HashMap[uint256, _StoredChannel]
_channel_count: uint256
_balances: HashMap[address, uint256]

_MASK_64: constant(uint256) = 2**64 - 1
_MASK_128: constant(uint256) = 2**128 - 1
_MASK_160: constant(uint256) = 2**160 - 1


@deploy
@payable
def __init__(token_: address, registry_: address):
    """
    @dev `payable` only to omit the callvalue check.
    @param token_ The ALTToken the channels are paid in.
    @param registry_ The ModelRegistry whose models channels pay.
    """
    assert token_ != empty(address), "init: token is the zero address"
    assert registry_ != empty(address), "init: registry is the zero address"
    token = token_
    registry = registry_
    eip712.__init__("AILedger PaymentChannels", "1")


@external
@nonreentrant
def open(model_id: bytes32, deposit: uint256, expiry: uint64) -> uint256:
    """
    @dev Opens a channel from the caller to the owner of `model_id`,
         pulling `deposit` ALT with `transferFrom` (approve it first).
    @param model_id A registered, not deprecated model.
    @param deposit ALT (wei) to lock, above zero.
    @param expiry Unix time after which the caller may reclaim.
    @return uint256 The channel id (ids count up from 0).
    """
    return self._open(model_id, deposit, expiry)


@external
@nonreentrant
def open_with_permit(
    model_id: bytes32,
    deposit: uint256,
    expiry: uint64,
    deadline: uint256,
    v: uint8,
    r: bytes32,
    s: bytes32,
) -> uint256:
    """
    @dev `open` in one transaction: an EIP-2612 permit of the caller for
         this contract and `deposit` replaces the approval. A permit that
         somebody already submitted is skipped while the allowance covers
         the deposit, so front-running it cannot block the open.
    """
    if staticcall IERC20(token).allowance(msg.sender, self) < deposit:
        extcall IERC20Permit(token).permit(msg.sender, self, deposit, deadline, v, r, s)
    return self._open(model_id, deposit, expiry)


@external
@nonreentrant
def top_up(channel_id: uint256, amount: uint256):
    """
    @dev Adds `amount` ALT (approved) to the deposit; consumer only,
         while the channel is not reclaimed and its model is active.
    """
    stored: _StoredChannel = self._stored(channel_id, "top_up")
    assert msg.sender == self._consumer(stored), "top_up: caller is not the consumer"
    assert not self._reclaimed(stored), "top_up: channel reclaimed"
    assert amount > 0, "top_up: amount must be above zero"
    assert staticcall IModelRegistry(registry).is_active(stored.model_id), "top_up: model is not active"
    deposit: uint256 = (stored.deposit_claimed & _MASK_128) + amount
    assert deposit <= MAX_AMOUNT, "top_up: deposit too large"
    self._channels[channel_id].deposit_claimed = (stored.deposit_claimed & ~_MASK_128) | deposit
    log ChannelToppedUp(channel_id=channel_id, amount=amount, deposit=deposit)
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount), "top_up: transfer failed"


@external
@nonreentrant
def extend(channel_id: uint256, new_expiry: uint64):
    """
    @dev Moves the expiry later; consumer only, while not reclaimed.
    """
    stored: _StoredChannel = self._stored(channel_id, "extend")
    assert msg.sender == self._consumer(stored), "extend: caller is not the consumer"
    assert not self._reclaimed(stored), "extend: channel reclaimed"
    assert new_expiry > self._expiry(stored), "extend: expiry must grow"
    self._channels[channel_id].consumer_expiry_reclaimed = (
        stored.consumer_expiry_reclaimed & ~(_MASK_64 << 160)
    ) | (convert(new_expiry, uint256) << 160)
    log ChannelExtended(channel_id=channel_id, expiry=new_expiry)


@external
@nonreentrant
def claim(channel_id: uint256, voucher: Voucher, signature: Bytes[65]) -> uint256:
    """
    @dev Credits the recipient with the voucher's amount minus what was
         claimed before; recipient only. The channel stays open, so later
         vouchers can be claimed too. Allowed after expiry until the
         consumer reclaims.
    @param channel_id The channel to claim from.
    @param voucher The consumer's latest voucher for this channel.
    @param signature The consumer's 65-byte EIP-712 signature (r, s, v).
    @return uint256 The ALT (wei) credited by this claim.
    """
    # Slot by slot: a claim never needs the model id, and each slot read cold costs 2,100.
    first: uint256 = self._channels[channel_id].consumer_expiry_reclaimed
    assert first != 0, "claim: unknown channel"
    assert voucher.channel_id == channel_id, "claim: voucher is for another channel"
    assert (first >> 224) & 1 == 0, "claim: channel reclaimed"
    recipient_nonce: uint256 = self._channels[channel_id].recipient_nonce
    recipient: address = convert(convert(recipient_nonce & _MASK_160, uint160), address)
    assert msg.sender == recipient, "claim: caller is not the channel recipient"
    assert voucher.nonce > recipient_nonce >> 160, "claim: stale nonce"
    assert voucher.nonce <= MAX_NONCE, "claim: nonce too large"
    deposit_claimed: uint256 = self._channels[channel_id].deposit_claimed
    deposit: uint256 = deposit_claimed & _MASK_128
    claimed: uint256 = deposit_claimed >> 128
    assert voucher.amount <= deposit, "claim: amount above deposit"
    assert voucher.amount > claimed, "claim: amount not above the claimed amount"

    struct_hash: bytes32 = keccak256(
        abi_encode(VOUCHER_TYPEHASH, voucher.channel_id, voucher.nonce, voucher.amount)
    )
    signer: address = ecdsa._recover_sig(eip712._hash_typed_data_v4(struct_hash), signature)
    consumer: address = convert(convert(first & _MASK_160, uint160), address)
    assert signer == consumer, "claim: signature is not the consumer's"

    paid: uint256 = voucher.amount - claimed
    self._channels[channel_id].recipient_nonce = (
        convert(recipient, uint256) | (voucher.nonce << 160)
    )
    self._channels[channel_id].deposit_claimed = deposit | (voucher.amount << 128)
    self._balances[recipient] += paid
    log Claimed(
        channel_id=channel_id,
        recipient=recipient,
        nonce=voucher.nonce,
        amount=voucher.amount,
        paid=paid,
    )
    return paid


@external
@nonreentrant
def reclaim(channel_id: uint256) -> uint256:
    """
    @dev After expiry, credits the consumer with the unclaimed deposit and
         closes the channel for good; consumer only.
    @return uint256 The ALT (wei) credited back.
    """
    stored: _StoredChannel = self._stored(channel_id, "reclaim")
    consumer: address = self._consumer(stored)
    assert msg.sender == consumer, "reclaim: caller is not the consumer"
    assert not self._reclaimed(stored), "reclaim: channel already reclaimed"
    assert block.timestamp >= convert(self._expiry(stored), uint256), "reclaim: channel not expired"
    refund: uint256 = (stored.deposit_claimed & _MASK_128) - (stored.deposit_claimed >> 128)
    self._channels[channel_id].consumer_expiry_reclaimed = (
        stored.consumer_expiry_reclaimed | (1 << 224)
    )
    self._balances[consumer] += refund
    log Reclaimed(channel_id=channel_id, consumer=consumer, refund=refund)
    return refund


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @dev Sends `amount` of the caller's credited ALT to the caller.
    """
    assert amount > 0, "withdraw: amount must be above zero"
    balance: uint256 = self._balances[msg.sender]
    assert amount <= balance, "withdraw: amount above balance"
    self._balances[msg.sender] = balance - amount
    log Withdrawn(account=msg.sender, amount=amount)
    assert extcall IERC20(token).transfer(msg.sender, amount), "withdraw: transfer failed"


@external
@view
def balance_of(account: address) -> uint256:
    """
    @dev ALT (wei) credited to `account` and not yet withdrawn.
    """
    return self._balances[account]


@external
@view
def get_channel(channel_id: uint256) -> Channel:
    """
    @dev The state of `channel_id`; reverts for an unknown id.
    """
    stored: _StoredChannel = self._stored(channel_id, "get_channel")
    return Channel(
        consumer=self._consumer(stored),
        recipient=self._recipient(stored),
        model_id=stored.model_id,
        deposit=stored.deposit_claimed & _MASK_128,
        claimed=stored.deposit_claimed >> 128,
        nonce=stored.recipient_nonce >> 160,
        expiry=self._expiry(stored),
        reclaimed=self._reclaimed(stored),
    )


@external
@view
def channel_count() -> uint256:
    """
    @dev How many channels were ever opened; ids are 0 .. count - 1.
    """
    return self._channel_count


@external
@view
def voucher_digest(voucher: Voucher) -> bytes32:
    """
    @dev The EIP-712 digest a consumer signs for `voucher`.
    """
    return eip712._hash_typed_data_v4(
        keccak256(abi_encode(VOUCHER_TYPEHASH, voucher.channel_id, voucher.nonce, voucher.amount))
    )


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @dev The EIP-712 domain separator for the current chain.
    """
    return eip712._domain_separator_v4()


@internal
def _open(model_id: bytes32, deposit: uint256, expiry: uint64) -> uint256:
    assert staticcall IModelRegistry(registry).is_active(model_id), "open: model is not active"
    recipient: address = staticcall IModelRegistry(registry).model_owner(model_id)
    assert recipient != msg.sender, "open: consumer is the model owner"
    assert deposit > 0, "open: deposit must be above zero"
    assert deposit <= MAX_AMOUNT, "open: deposit too large"
    assert convert(expiry, uint256) > block.timestamp, "open: expiry is not in the future"
    channel_id: uint256 = self._channel_count
    self._channel_count = channel_id + 1
    self._channels[channel_id] = _StoredChannel(
        consumer_expiry_reclaimed=convert(msg.sender, uint256) | (convert(expiry, uint256) << 160),
        recipient_nonce=convert(recipient, uint256),
        deposit_claimed=deposit,
        model_id=model_id,
    )
    log ChannelOpened(
        channel_id=channel_id,
        consumer=msg.sender,
        model_id=model_id,
        recipient=recipient,
        deposit=deposit,
        expiry=expiry,
    )
    assert extcall IERC20(token).transferFrom(msg.sender, self, deposit), "open: transfer failed"
    return channel_id


@internal
@view
def _stored(channel_id: uint256, action: String[16]) -> _StoredChannel:
    stored: _StoredChannel = self._channels[channel_id]
    # Every opened channel has a consumer, so an empty first slot means no channel.
    assert stored.consumer_expiry_reclaimed != 0, concat(action, ": unknown channel")
    return stored


@internal
@pure
def _consumer(stored: _StoredChannel) -> address:
    return convert(convert(stored.consumer_expiry_reclaimed & _MASK_160, uint160), address)


@internal
@pure
def _recipient(stored: _StoredChannel) -> address:
    return convert(convert(stored.recipient_nonce & _MASK_160, uint160), address)


@internal
@pure
def _expiry(stored: _StoredChannel) -> uint64:
    return convert((stored.consumer_expiry_reclaimed >> 160) & _MASK_64, uint64)


@internal
@pure
def _reclaimed(stored: _StoredChannel) -> bool:
    return (stored.consumer_expiry_reclaimed >> 224) & 1 == 1
