# pragma version ~=0.4.3
"""
@title AILedger RewardPool
@license Apache-2.0
@notice ALT rewards for the clients of federated training jobs. A funder
        locks a job's whole budget here and names the job's server. After
        each round the server posts ONE Merkle root of the round's
        (client, amount) pairs and their total: constant gas whatever the
        number of clients. Each client claims its own amount with a proof
        (O(log n) hashes); the leaf is bound to the caller, so nobody can
        claim for another client. A round's claims never exceed its posted
        total and the posted totals never exceed the job's budget. The
        funder takes back what was never posted by closing the job.
        Leaf = keccak256(keccak256(abi_encode(job_id, round, client, amount)))
        (double-hashed, as OpenZeppelin's merkle-tree, so an inner node is
        never a valid leaf); pairs are hashed sorted (snekmate's verifier).
        State is written before any token call (checks-effects-interactions)
        and every token-moving function is `nonreentrant`.
"""

from ethereum.ercs import IERC20

from snekmate.utils import merkle_proof_verification as merkle

# Proofs of trees with up to 2**32 leaves.
MAX_PROOF: constant(uint256) = 32


struct Job:
    funder: address
    server: address
    budget: uint256
    posted: uint256
    closed: bool


event JobCreated:
    job_id: indexed(uint256)
    funder: indexed(address)
    server: indexed(address)
    budget: uint256

event RoundPosted:
    job_id: indexed(uint256)
    round: indexed(uint256)
    root: bytes32
    total: uint256

event RewardClaimed:
    job_id: indexed(uint256)
    round: indexed(uint256)
    client: indexed(address)
    amount: uint256

event JobClosed:
    job_id: indexed(uint256)
    refund: uint256


token: public(immutable(IERC20))
job_count: public(uint256)
jobs: public(HashMap[uint256, Job])
round_root: public(HashMap[uint256, HashMap[uint256, bytes32]])
round_total: public(HashMap[uint256, HashMap[uint256, uint256]])
round_claimed: public(HashMap[uint256, HashMap[uint256, uint256]])
has_claimed: public(HashMap[uint256, HashMap[uint256, HashMap[address, bool]]])


@deploy
def __init__(token_: IERC20):
    token = token_


@external
@nonreentrant
def create_job(server: address, budget: uint256) -> uint256:
    """
    @notice Lock `budget` ALT (approved beforehand) for a new job posted by `server`.
    @return The new job's id (from 1).
    """
    assert server != empty(address), "RewardPool: zero server"
    assert budget > 0, "RewardPool: zero budget"
    job_id: uint256 = self.job_count + 1
    self.job_count = job_id
    self.jobs[job_id] = Job(funder=msg.sender, server=server, budget=budget, posted=0, closed=False)
    log JobCreated(job_id=job_id, funder=msg.sender, server=server, budget=budget)
    assert extcall token.transferFrom(msg.sender, self, budget, default_return_value=True), "RewardPool: transfer failed"
    return job_id


@external
def post_round(job_id: uint256, round: uint256, root: bytes32, total: uint256):
    """
    @notice Post the Merkle root of round `round`'s (client, amount) pairs summing to `total`.
    """
    job: Job = self.jobs[job_id]
    assert job.server != empty(address), "RewardPool: unknown job"
    assert msg.sender == job.server, "RewardPool: not the job's server"
    assert not job.closed, "RewardPool: job closed"
    assert root != empty(bytes32), "RewardPool: empty root"
    assert self.round_root[job_id][round] == empty(bytes32), "RewardPool: round already posted"
    assert job.posted + total <= job.budget, "RewardPool: above job budget"
    self.jobs[job_id].posted = job.posted + total
    self.round_root[job_id][round] = root
    self.round_total[job_id][round] = total
    log RoundPosted(job_id=job_id, round=round, root=root, total=total)


@external
@nonreentrant
def claim(job_id: uint256, round: uint256, amount: uint256, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Pay the caller its `amount` for round `round`, proven by `proof`.
    """
    root: bytes32 = self.round_root[job_id][round]
    assert root != empty(bytes32), "RewardPool: round not posted"
    assert not self.has_claimed[job_id][round][msg.sender], "RewardPool: already claimed"
    leaf: bytes32 = keccak256(keccak256(abi_encode(job_id, round, msg.sender, amount)))
    assert merkle._verify(proof, root, leaf), "RewardPool: invalid proof"
    claimed: uint256 = self.round_claimed[job_id][round] + amount
    assert claimed <= self.round_total[job_id][round], "RewardPool: above round budget"
    self.has_claimed[job_id][round][msg.sender] = True
    self.round_claimed[job_id][round] = claimed
    log RewardClaimed(job_id=job_id, round=round, client=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount, default_return_value=True), "RewardPool: transfer failed"


@external
@nonreentrant
def close_job(job_id: uint256) -> uint256:
    """
    @notice Close the job and refund its funder what was never posted; posted rounds stay claimable.
    @return The refund.
    """
    job: Job = self.jobs[job_id]
    assert job.server != empty(address), "RewardPool: unknown job"
    assert msg.sender == job.funder, "RewardPool: not the job's funder"
    assert not job.closed, "RewardPool: job closed"
    refund: uint256 = job.budget - job.posted
    self.jobs[job_id].closed = True
    log JobClosed(job_id=job_id, refund=refund)
    if refund > 0:
        assert extcall token.transfer(msg.sender, refund, default_return_value=True), "RewardPool: transfer failed"
    return refund
