"""Signed inclusion promises (issue 11 item 3): kept, pending, broken, and the evidence."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ailedger.core.identity import document_signer
from ailedger.core.log import Anchorer, BatchPolicy, SqliteStore, TransparencyLog
from ailedger.core.log.heads import registry_domain
from ailedger.core.log.promises import (
    SignedPromise,
    check_promise,
    evidence,
    promise_inclusion,
)
from ailedger.errors import IntegrityError, InvalidInputError
from tests.core.identity.test_eip712 import malleate


@pytest.fixture
def anchorer(registry):
    return registry.anchorer()


@pytest.fixture
def log(tmp_path, anchorer):
    log = TransparencyLog(
        SqliteStore(tmp_path / "log.sqlite3"), anchorer=anchorer, policy=BatchPolicy(1000)
    )
    yield log
    log.close()


def _chain_ms(anchorer) -> int:
    chain = anchorer.chain
    return chain.get_block(chain.block_number()).timestamp * 1000


def test_promise_covered_by_a_head_anchored_in_time_is_kept(log, anchorer):
    ref = log.append(b"decision 0")
    signed = promise_inclusion(anchorer, ref, 3_600_000)
    log.close_batch()
    result = check_promise(SignedPromise.from_dict(signed.to_dict()), anchorer)
    assert result.status == "kept", result.reason
    assert result.signer == anchorer.signer.address


def test_promise_not_yet_due_is_pending(log, anchorer):
    signed = promise_inclusion(anchorer, log.append(b"decision 0"), 3_600_000)
    assert check_promise(signed, anchorer).status == "pending"


def test_expired_promise_with_no_anchored_head_is_signed_evidence(log, anchorer, registry):
    log.append_many([b"decision 0", b"decision 1"])
    log.close_batch()  # covers leaves 0 and 1 only
    ref = log.append(b"decision 2")
    signed = promise_inclusion(anchorer, ref, 60_000, now_ms=_chain_ms(anchorer) - 120_000)
    result = check_promise(signed, anchorer)
    assert result.status == "broken"
    assert "no anchored head covers leaf 2" in result.reason
    document = evidence(signed, result, registry.other)
    body = {k: v for k, v in document.items() if k != "signature"}
    domain = registry_domain(anchorer.chain.chain_id, anchorer.registry.address)
    signature = bytes.fromhex(document["signature"][2:])
    assert document_signer(domain, body, signature) == registry.other.address
    assert document["promise_signer"] == anchorer.signer.address


def test_promise_covered_only_after_its_deadline_is_broken(log, anchorer):
    ref = log.append(b"decision 0")
    signed = promise_inclusion(anchorer, ref, 1_000, now_ms=_chain_ms(anchorer) - 120_000)
    log.close_batch()
    result = check_promise(signed, anchorer)
    assert result.status == "broken" and "after the promised deadline" in result.reason


def test_covering_head_without_the_promised_leaf_is_broken(log, anchorer):
    ref = log.append(b"decision 0")
    log.append(b"decision 1")
    signed = promise_inclusion(anchorer, ref, 3_600_000)
    log.close_batch()
    wrong = log.inclusion_proof(1, 2)  # proves leaf 1, not the promised leaf 0
    result = check_promise(signed, anchorer, inclusion_proof=wrong)
    assert result.status == "broken" and "does not contain the leaf" in result.reason
    assert (
        check_promise(signed, anchorer, inclusion_proof=log.inclusion_proof(0, 2)).status == "kept"
    )


def test_evidence_only_for_a_broken_promise(log, anchorer, registry):
    signed = promise_inclusion(anchorer, log.append(b"decision 0"), 3_600_000)
    with pytest.raises(InvalidInputError, match="only for a broken promise"):
        evidence(signed, check_promise(signed, anchorer), registry.other)


def test_promise_signed_by_a_key_that_never_signed_the_log_is_no_evidence(log, anchorer, registry):
    impostor = Anchorer(anchorer.registry, anchorer.log_id, signer=registry.other)
    forged = promise_inclusion(impostor, log.append(b"decision 0"), 1, now_ms=0)
    with pytest.raises(IntegrityError, match="never a signer of log"):
        check_promise(forged, anchorer)


def test_high_s_promise_signature_is_refused(log, anchorer):
    signed = promise_inclusion(anchorer, log.append(b"decision 0"), 1, now_ms=0)
    with pytest.raises(InvalidInputError, match="s is above n/2"):
        check_promise(SignedPromise(signed.promise, malleate(signed.signature)), anchorer)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(anchored=st.integers(1, 5), extra=st.integers(1, 5), late_by=st.integers(1, 10**9))
def test_every_expired_promise_beyond_the_anchored_size_is_broken(
    log, anchorer, anchored, extra, late_by
):
    # Property: whatever was anchored before, a promise for a later leaf whose deadline
    # passed is broken; one for an anchored leaf with a deadline ahead is kept.
    start = log.size
    refs = log.append_many([b"x"] * anchored)
    log.close_batch()
    later = log.append_many([b"y"] * extra)
    deadline_passed = _chain_ms(anchorer) - late_by - 1
    for ref in later:
        expired = promise_inclusion(anchorer, ref, 0, now_ms=max(0, deadline_passed))
        assert check_promise(expired, anchorer).status == "broken"
    kept = promise_inclusion(anchorer, refs[-1], 3_600_000)
    assert check_promise(kept, anchorer).status == "kept"
    assert log.size == start + anchored + extra
