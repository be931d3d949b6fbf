"""Gas per audited decision: batch anchoring versus one anchor transaction per decision.

Both arms run on the same embedded chain with the same ``AnchorRegistry``, and log
real credit decisions (``AuditedModel`` over synthetic applications drawn from the
German Credit marginals):

* batch: 10,000 decisions per batch, one ``anchor`` transaction per batch; two
  batches, so the second shows the steady state (the first also pays for
  initialising the log's storage slots).
* per decision: ``BatchPolicy(max_records=1)``, so every decision closes its own
  batch and sends its own ``anchor`` transaction. The gas of an anchor
  transaction does not depend on how many decisions preceded it (beyond the
  first), so a sample of ``PER_DECISION_SAMPLE`` decisions gives the per-decision
  cost without sending 10,000 transactions.

Goal (issue 4): at least 1,000x less gas per decision with batches of 10,000.
Run: ``python -m benchmarks.audit_gas`` (writes ``benchmarks/results/audit_gas.json``).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ailedger import contracts
from ailedger.audit.audited import AuditedModel
from ailedger.audit.credit import train_credit_model
from ailedger.audit.german_credit import MODEL_FEATURES, load_german_credit
from ailedger.audit.synthetic import SyntheticCreditGenerator
from ailedger.config import Settings
from ailedger.core.chain import Chain, EmbeddedChain, deploy, dev_accounts
from ailedger.core.log import Anchorer, BatchPolicy, TransparencyLog, open_store

BATCH_SIZE = 10_000
BATCHES = 2
PER_DECISION_SAMPLE = 100
GOAL_RATIO = 1_000
RESULTS = Path(__file__).resolve().parent / "results" / "audit_gas.json"


def run(batch_size: int = BATCH_SIZE, per_decision_sample: int = PER_DECISION_SAMPLE) -> dict:
    """Measure both arms; return gas per decision of each and their ratio."""
    data = load_german_credit()
    trained = train_credit_model(data)
    generator = SyntheticCreditGenerator.fit(data)
    admin, batch_signer, single_signer = dev_accounts(3)

    with tempfile.TemporaryDirectory(prefix="ailedger-bench-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        chain = EmbeddedChain(Path(tmp) / "chain")
        try:
            artifact = contracts.load("AnchorRegistry")
            registry = deploy(chain, artifact.abi, artifact.bytecode, sender=admin)

            def audited_log(name: str, signer: Any, policy: BatchPolicy) -> AuditedModel:
                anchorer = Anchorer.register(registry, name, admin=admin, signer=signer)
                log = TransparencyLog(
                    open_store(settings, name=name), anchorer=anchorer, policy=policy
                )
                return AuditedModel(trained.estimator, trained.card, log, admin, threshold=0.6)

            # Batches close only when the benchmark closes them (huge age limit).
            batched = audited_log(
                "batched", batch_signer, BatchPolicy(max_records=batch_size, max_seconds=1e9)
            )
            batch_gas, decide_seconds = [], 0.0
            for batch in range(BATCHES):
                applications = generator.sample(batch_size, seed=batch).features
                started = time.perf_counter()
                batched.decide(applications[list(MODEL_FEATURES)])
                decide_seconds += time.perf_counter() - started
                # max_records reached: the last append closed and anchored the batch.
                batch_gas.append(_gas(chain, batched.log.anchors()[-1].tx_hash))
            assert len(batched.log.anchors()) == BATCHES

            single = audited_log("single", single_signer, BatchPolicy(max_records=1))
            applications = generator.sample(per_decision_sample, seed=99).features
            for _, row in applications[list(MODEL_FEATURES)].iterrows():
                single.decide(row.to_dict())  # appending closes and anchors a batch of 1
            single_gas = [_gas(chain, a.tx_hash) for a in single.log.anchors()]
            assert len(single_gas) == per_decision_sample
        finally:
            chain.close()

    steady_batch = batch_gas[-1] / batch_size
    # The first anchor of a log also initialises its storage; compare steady states.
    per_decision = statistics.mean(single_gas[1:]) if len(single_gas) > 1 else single_gas[0]
    ratio = per_decision / steady_batch
    return {
        "benchmark": "audit_gas",
        "chain": "embedded (py-evm)",
        "batch_size": batch_size,
        "batch_anchor_gas": batch_gas,
        "batch_gas_per_decision": steady_batch,
        "first_batch_gas_per_decision": batch_gas[0] / batch_size,
        "per_decision_sample": per_decision_sample,
        "per_decision_anchor_gas_first": single_gas[0],
        "per_decision_anchor_gas_mean": per_decision,
        "ratio": ratio,
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio >= GOAL_RATIO,
        "decisions_per_second_batched": BATCHES * batch_size / decide_seconds,
    }


def _gas(chain: Chain, tx_hash: bytes) -> int:
    return chain.wait_for_receipt(tx_hash).gas_used


def main() -> None:
    result = run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
