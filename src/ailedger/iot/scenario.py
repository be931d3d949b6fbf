"""The IoT scenario end to end: register a fleet, simulate it over a transport, ingest, log.

Used by ``ailedger iot simulate`` and the demo. The fleet's devices are
registered on chain by their owner (once; reruns reuse them), one of them is
revoked and one has a drifting clock, so every kind of refusal shows up.
Ingestion runs in a thread while the simulator publishes, as a separate
ingester would, and the outcomes are compared with the simulator's labels.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from ailedger.iot.ingest import Outcome
from ailedger.iot.node import IotNode
from ailedger.iot.pipeline import IngestTotals, run_ingester
from ailedger.iot.registry import DeviceStatus
from ailedger.iot.simulator import SimulatedDevice, SimulationReport, Simulator, simulated_devices
from ailedger.iot.transport import Transport

__all__ = ["ScenarioResult", "register_fleet", "run_scenario"]

FIRMWARE_HASH = bytes.fromhex("5a" * 32)


@dataclass
class ScenarioResult:
    """The simulator's report next to what the ingester decided."""

    transport: str
    devices: list[SimulatedDevice]
    report: SimulationReport
    totals: IngestTotals
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def accounted(self) -> bool:
        """Every published message was accepted or rejected for the reason it was labelled with."""
        expected = Counter(self.report.expected_rejections)
        expected["accepted"] = self.report.expected_accepted
        return +expected == +self.outcomes

    def to_dict(self) -> dict[str, Any]:
        return {
            "transport": self.transport,
            "devices": len(self.devices),
            "simulation": self.report.to_dict(),
            "ingested": dict(self.outcomes),
            "accounted": self.accounted,
            "seconds": round(self.totals.seconds, 3),
        }


def register_fleet(node: IotNode, owner: LocalAccount, devices: list[SimulatedDevice]) -> int:
    """Register the devices the registry does not know yet; returns how many were new."""
    node.cache.sync()
    new = 0
    for device in devices:
        if node.cache.get(device.address) is None:
            node.registry.register(owner, device.address, owner.address, device.kind, FIRMWARE_HASH)
            new += 1
    node.cache.sync()
    return new


def run_scenario(
    node: IotNode,
    transport: Transport,
    owner: LocalAccount,
    *,
    devices: int = 6,
    steps: int = 288,
    seed: int = 0,
    faults: bool = True,
    group: str | None = None,
    log: bool = True,
) -> ScenarioResult:
    """Simulate ``devices`` (+1 revoked when ``faults``) for ``steps`` and ingest everything."""
    fleet = simulated_devices(devices + (1 if faults else 0), seed)
    register_fleet(node, owner, fleet)
    revoked: tuple[str, ...] = ()
    drifting: tuple[str, ...] = ()
    if faults:
        revoked = (fleet[-1].address,)
        drifting = (fleet[0].address,)
        if node.cache.get(revoked[0]).status is not DeviceStatus.REVOKED:
            node.registry.revoke(owner, revoked[0])
    ingester = node.ingester()
    ingester.refresh()
    writer = node.log_writer() if log else None
    # A group of its own: the outcomes are counted here, so no other ingester may take a share.
    subscriber = transport.subscriber(
        group or f"simulation-{uuid.uuid4().hex[:12]}", node.registry.address
    )
    publisher = transport.publisher()
    counts: Counter[str] = Counter()
    target: list[int | None] = [None]
    lock, stop = threading.Lock(), threading.Event()

    def on_batch(outcomes: list[Outcome]) -> None:
        with lock:
            counts.update("accepted" if o.accepted else str(o.reason) for o in outcomes)
            if target[0] is not None and counts.total() >= target[0]:
                stop.set()

    totals_box: list[IngestTotals] = []
    failures: list[BaseException] = []

    def ingest() -> None:
        try:
            # idle_seconds: a broker that lost messages must not hang the run; the
            # result then says the accounting does not add up.
            totals_box.append(
                run_ingester(
                    subscriber, ingester, writer, stop=stop, on_batch=on_batch, idle_seconds=30
                )
            )
        except BaseException as error:
            failures.append(error)

    worker = threading.Thread(target=ingest, name="iot-ingester")
    worker.start()
    try:
        simulator = Simulator(
            node.codec,
            fleet,
            steps=steps,
            seed=seed,
            faults=faults,
            revoked=revoked,
            drifting=drifting,
            max_skew_ms=ingester.max_skew_ms,
            strict_order=ingester.reorder_window == 0,
        )
        report = simulator.run(publisher.publish)
        publisher.flush()
        with lock:
            target[0] = report.published
            if counts.total() >= report.published:
                stop.set()
    except BaseException:
        stop.set()
        raise
    finally:
        worker.join()
        publisher.close()
        subscriber.close()
    if failures:
        raise failures[0]
    if writer is not None:
        writer.log.close_batch()
    return ScenarioResult(transport.description, fleet, report, totals_box[0], counts)
