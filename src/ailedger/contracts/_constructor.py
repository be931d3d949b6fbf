"""The code a constructor leaves at an address: run it in a throwaway EVM.

Vyper 0.4 constructors return the runtime code followed by the immutables they
computed (snekmate's EIP-712 module caches the chain id, the contract's own
address and its domain separator there). Running the init code at the address
on the chain id gives exactly the bytes a genuine deployment left there, with
no need to decode the immutables.

What the throwaway EVM cannot reproduce is the deployment's block and sender
(here block 0 and the zero address). None of our constructors puts either into
an immutable; one that did would make every comparison fail, never pass.
"""

from __future__ import annotations

from eth import constants
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks import PragueVM
from eth.vm.message import Message

_GAS = 30_000_000
_ZERO_ADDRESS = b"\0" * 20


def run_constructor(init_code: bytes, *, chain_id: int, address: bytes) -> bytes | None:
    """The code deploying ``init_code`` (with its arguments) leaves at ``address``.

    ``None`` when the constructor fails: then no deployment can have left code.
    """
    chain_class = MiningChain.configure(vm_configuration=((0, PragueVM),), chain_id=chain_id)
    chain = chain_class.from_genesis(
        AtomicDB(),
        {
            "difficulty": 0,
            "gas_limit": _GAS,
            "timestamp": 0,
            "coinbase": _ZERO_ADDRESS,
            "parent_beacon_block_root": constants.ZERO_HASH32,
        },
    )
    state = chain.get_vm().state
    message = Message(
        gas=_GAS,
        to=constants.CREATE_CONTRACT_ADDRESS,
        sender=_ZERO_ADDRESS,
        value=0,
        data=b"",
        code=init_code,
        create_address=address,
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=_ZERO_ADDRESS)
    computation = state.computation_class.apply_create_message(state, message, context)
    if computation.is_error:
        return None
    return state.get_code(address)
