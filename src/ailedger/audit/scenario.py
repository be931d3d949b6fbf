"""The credit-lending scenario of the demo: train, publish a card, decide, anchor, verify.

:func:`run_credit_scenario` trains the credit model (about a second), decides a
few hundred synthetic applications through :class:`AuditedModel`, closes the
log's batch (one anchor transaction for all of them) and verifies one decision's
proof bundle the way a stranger would. The demo and the API call it; it prints
nothing itself (``progress`` receives one line per step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ailedger.audit.audited import AuditedModel
from ailedger.audit.credit import DEFAULT_THRESHOLD, train_credit_model
from ailedger.audit.german_credit import MODEL_FEATURES, load_german_credit
from ailedger.audit.index import DecisionIndex
from ailedger.audit.model_card import GroupFairness
from ailedger.audit.model_store import served_credit_model
from ailedger.audit.proofs import build_proof_bundle
from ailedger.audit.synthetic import SyntheticCreditGenerator
from ailedger.audit.verify import verify_bundle
from ailedger.config import Settings
from ailedger.core.storage import open_blob_store
from ailedger.errors import InvalidInputError

if TYPE_CHECKING:
    from ailedger.core.chain import Chain
    from ailedger.core.log import TransparencyLog

CHUNK = 100


def decision_index_path(settings: Settings) -> Path:
    """Where the operator's decision table lives in the data dir."""
    return settings.home / "audit" / "decisions.sqlite3"


def open_decision_index(settings: Settings) -> DecisionIndex:
    """The operator's decision table of this data dir."""
    settings.ensure_home()
    return DecisionIndex(decision_index_path(settings))


@dataclass(frozen=True)
class ScenarioSummary:
    """What the credit scenario did, for the demo's printout and the dashboard."""

    model_name: str
    model_id: str
    model_card_hash: str
    cv_auc_mean: float
    cv_auc_std: float
    fairness: tuple[GroupFairness, ...]
    threshold: float
    decisions: int
    approved: int
    first_leaf: int
    tree_size: int
    root_hash: str
    chain_id: int
    registry: str
    anchor_tx: str
    anchor_block: int
    anchor_gas: int
    example_decision_id: str
    example_top_features: tuple[str, ...]
    example_verified: bool
    raw_inputs_kept: bool

    @property
    def gas_per_decision(self) -> float:
        return self.anchor_gas / self.decisions


def run_credit_scenario(
    settings: Settings,
    chain: Chain,
    log: TransparencyLog,
    n_applications: int = 300,
    progress: Callable[[str], None] | None = None,
    *,
    operator: Any = None,
    auditor_public_key: bytes | None = None,
    seed: int = 0,
) -> ScenarioSummary:
    """Train, decide ``n_applications`` synthetic applications, anchor the batch, verify one.

    ``log`` must have an anchorer. ``operator`` (address or account) defaults to
    the account that pays for the log's anchors. With ``auditor_public_key`` the
    raw applications are kept encrypted in the blob store, readable by the
    auditor only.
    """
    if isinstance(n_applications, bool) or not isinstance(n_applications, int):
        raise InvalidInputError("n_applications must be an integer", field="n_applications")
    if n_applications < 1:
        raise InvalidInputError(
            f"n_applications must be at least 1, got {n_applications}", field="n_applications"
        )
    if log.anchorer is None:
        raise InvalidInputError("the log needs an anchorer to anchor decisions", field="log")
    say = progress or (lambda _message: None)
    operator = operator if operator is not None else log.anchorer.sender

    say("loading the served credit model (or training it: 10-fold CV, fairness metrics)")
    data = load_german_credit()
    # The API serves the same stored model, so demo and API decisions share one model id.
    trained = served_credit_model(settings, train=lambda: train_credit_model(data))

    say(f"deciding {n_applications} credit applications")
    applications = (
        SyntheticCreditGenerator.fit(data)
        .sample(n_applications, seed=seed)
        .features[list(MODEL_FEATURES)]
    )
    with open_decision_index(settings) as index:
        audited = AuditedModel(
            trained.estimator,
            trained.card,
            log,
            operator=operator,
            threshold=DEFAULT_THRESHOLD,
            storage=open_blob_store(settings) if auditor_public_key else None,
            auditor_public_key=auditor_public_key,
            index=index,
        )
        decisions = []
        for start in range(0, n_applications, CHUNK):
            decisions += audited.decide(applications.iloc[start : start + CHUNK])
            say(f"decided {len(decisions)} of {n_applications}")

        say("closing the batch: signing the tree head and anchoring it on chain")
        log.close_batch()
        anchor = log.anchors()[-1]
        receipt = chain.wait_for_receipt(anchor.tx_hash)

        example = decisions[0]
        say(f"verifying decision {example.record.decision_id[:12]}... as a stranger would")
        verdict = verify_bundle(build_proof_bundle(example.record.decision_id, log, index), chain)

    head = log.head()
    assert head is not None
    return ScenarioSummary(
        model_name=trained.card.name,
        model_id=trained.card.model_id,
        model_card_hash=audited.card_hash,
        cv_auc_mean=trained.card.cv_auc_mean,
        cv_auc_std=trained.card.cv_auc_std,
        fairness=trained.card.fairness,
        threshold=DEFAULT_THRESHOLD,
        decisions=len(decisions),
        approved=sum(d.record.output == audited.policy.positive for d in decisions),
        first_leaf=decisions[0].leaf_index,
        tree_size=head.head.tree_size,
        root_hash="0x" + head.head.root_hash.hex(),
        chain_id=anchor.chain_id,
        registry=anchor.registry,
        anchor_tx="0x" + anchor.tx_hash.hex(),
        anchor_block=anchor.block_number,
        anchor_gas=receipt.gas_used,
        example_decision_id=example.record.decision_id,
        example_top_features=example.record.explanation.top_features,
        example_verified=verdict.ok,
        raw_inputs_kept=auditor_public_key is not None,
    )
