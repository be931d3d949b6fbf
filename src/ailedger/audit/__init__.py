"""Auditable AI: decision records for any scikit-learn-style classifier, verifiable by anyone.

Public API (everything else in this package may change)::

    AuditedModel(estimator, model_card, log, operator, threshold, storage=None,
                 auditor_public_key=None, *, index=None, clock=None)
        .decide(applications) -> list[Decision]      # record, leaf_index, leaf_hash, salt
        .predict(applications) / .predict_proba(applications)   # each row logged
    DecisionRecord (immutable; .to_bytes() is what the log stores), DecisionPolicy
    prove_commitment(input, salt, record) -> bool    # the data subject's check
    read_stored_input(index, storage, decision_id, auditor_private_key) -> dict
    DecisionIndex(path) / open_decision_index(settings)   # the operator's private table
    build_proof_bundle(decision_id, log, index) -> dict
    verify_bundle(bundle, chain) -> Verdict          # bundle + chain read access only
    export_decisions(since, until, log, index) -> Iterator[dict]   # EU AI Act Art. 12
    logged_record(decision_id, log, index) -> DecisionRecord
    ModelCard, model_id_of(estimator), FeatureSchema, FeatureSpec, Explainer
    load_german_credit(), train_credit_model(...) -> TrainedCreditModel(estimator, card)
    SyntheticCreditGenerator.fit(data).sample(n, seed=0)
    run_credit_scenario(settings, chain, log, n_applications=300, progress=None, ...)
        -> ScenarioSummary
    ModelStore(directory).save(trained) / .load(model_id) / .serve(model_id) / .served_id()
    open_model_store(settings); served_credit_model(settings) -> TrainedCreditModel
    open_decision_reader(settings) -> (log, index)   # read-only, sees every writer
    recent_decisions(log, index, limit=20) -> list[LoggedDecision]
    head_history(log) -> list[HeadStatus]            # signed heads and anchors, newest first
"""

from __future__ import annotations

from ailedger.audit.audited import AuditedModel, Decision, read_stored_input
from ailedger.audit.credit import TrainedCreditModel, credit_schema, train_credit_model
from ailedger.audit.explain import Explainer, Explanation
from ailedger.audit.export import export_decisions
from ailedger.audit.german_credit import CreditData, load_german_credit
from ailedger.audit.index import DecisionEntry, DecisionIndex
from ailedger.audit.listing import (
    HeadStatus,
    LoggedDecision,
    head_history,
    open_decision_reader,
    recent_decisions,
)
from ailedger.audit.model_card import GroupFairness, ModelCard, TrainingData, model_id_of
from ailedger.audit.model_store import ModelStore, open_model_store, served_credit_model
from ailedger.audit.proofs import build_proof_bundle, logged_record
from ailedger.audit.record import DecisionPolicy, DecisionRecord, commit_input, prove_commitment
from ailedger.audit.scenario import ScenarioSummary, open_decision_index, run_credit_scenario
from ailedger.audit.schema import FeatureSchema, FeatureSpec
from ailedger.audit.synthetic import SyntheticCreditGenerator
from ailedger.audit.verify import Check, Verdict, verify_bundle

__all__ = [
    "AuditedModel",
    "Check",
    "CreditData",
    "Decision",
    "DecisionEntry",
    "DecisionIndex",
    "DecisionPolicy",
    "DecisionRecord",
    "Explainer",
    "Explanation",
    "FeatureSchema",
    "FeatureSpec",
    "GroupFairness",
    "HeadStatus",
    "LoggedDecision",
    "ModelCard",
    "ModelStore",
    "ScenarioSummary",
    "SyntheticCreditGenerator",
    "TrainedCreditModel",
    "TrainingData",
    "Verdict",
    "build_proof_bundle",
    "commit_input",
    "credit_schema",
    "export_decisions",
    "head_history",
    "load_german_credit",
    "logged_record",
    "model_id_of",
    "open_decision_index",
    "open_decision_reader",
    "open_model_store",
    "prove_commitment",
    "read_stored_input",
    "recent_decisions",
    "run_credit_scenario",
    "served_credit_model",
    "train_credit_model",
    "verify_bundle",
]
