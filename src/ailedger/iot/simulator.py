"""A device fleet in fast-forward: cold rooms and reefer trucks, with failures and faults.

Each simulated device steps through a day in ``step_minutes`` steps: a daily
temperature cycle around its setpoint, sensor noise, door openings (a jump
that decays) and, now and then, a compressor failure (a steady climb that
lasts until the device restarts its compressor or maintenance fixes it).
The device runs an :class:`~ailedger.iot.edge.EdgeDetector`; when it fires the
device signs an ``alarm`` action naming the detector's model id and the
reading's sequence number, and after ``restart_after`` consecutive firings a
``compressor-restart`` action, which ends a failure.

With ``faults`` on, the fleet also misbehaves the ways a real one does, each
message labelled with the rejection it must get: replays (``replayed``),
forged signatures (``bad_signature``), a revoked device still publishing
(``revoked_device``), a drifting clock (``clock_skew`` once past the window),
out-of-order delivery (``stale_seq`` with a strict ingester) and malformed
payloads (``malformed`` / ``missing_unit``). Everything is seeded.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ailedger.core.identity.secp256k1 import keccak256
from ailedger.iot.edge import DetectorParams, EdgeDetector
from ailedger.iot.messages import Action, Measurement, MessageCodec, Reading, SignedMessage
from ailedger.iot.topics import device_topic

__all__ = [
    "KINDS",
    "DetectorScore",
    "SimulatedDevice",
    "SimulationReport",
    "Simulator",
    "simulated_devices",
]

KINDS = ("cold-room", "reefer-truck")


@dataclass(frozen=True)
class _Profile:
    setpoint: float
    daily_amplitude: float
    noise: float
    door_probability: float
    door_jump: float
    location: str


_PROFILES = {
    "cold-room": _Profile(3.0, 0.6, 0.08, 0.03, 2.5, "warehouse-1"),
    "reefer-truck": _Profile(-18.0, 1.2, 0.12, 0.05, 4.0, ""),
}


@dataclass(frozen=True)
class SimulatedDevice:
    """A device key and kind; the key is derived from the seed, so reruns reuse it."""

    account: LocalAccount
    kind: str

    @property
    def address(self) -> str:
        return self.account.address


def simulated_devices(count: int, seed: int = 0) -> list[SimulatedDevice]:
    """``count`` devices, alternating cold rooms and reefer trucks."""
    return [
        SimulatedDevice(
            Account.from_key(keccak256(f"ailedger-iot-sim:{seed}:{index}".encode())),
            KINDS[index % len(KINDS)],
        )
        for index in range(count)
    ]


@dataclass
class DetectorScore:
    """The edge detector against the simulator's labelled compressor failures."""

    fired: int = 0
    fired_in_failure: int = 0
    episodes: int = 0
    episodes_detected: int = 0

    @property
    def precision(self) -> float:
        """Share of firings that happened during a failure."""
        return self.fired_in_failure / self.fired if self.fired else 0.0

    @property
    def recall(self) -> float:
        """Share of failure episodes during which the detector fired at least once."""
        return self.episodes_detected / self.episodes if self.episodes else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "fired": self.fired,
            "fired_in_failure": self.fired_in_failure,
            "failure_episodes": self.episodes,
            "episodes_detected": self.episodes_detected,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
        }


@dataclass
class SimulationReport:
    """What was published, what each faulty message should be rejected for, the detector."""

    published: int = 0
    readings: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    expected_rejections: Counter[str] = field(default_factory=Counter)
    detector: DetectorScore = field(default_factory=DetectorScore)

    @property
    def expected_accepted(self) -> int:
        return self.published - sum(self.expected_rejections.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "published": self.published,
            "readings": self.readings,
            "actions": dict(self.actions),
            "expected_accepted": self.expected_accepted,
            "expected_rejections": dict(self.expected_rejections),
            "detector": self.detector.to_dict(),
        }


@dataclass
class _DeviceState:
    device: SimulatedDevice
    profile: _Profile
    detector: EdgeDetector
    seq: int
    door: float = 0.0
    failing: bool = False
    failure_rise: float = 0.0
    failure_detected: bool = False
    failure_steps: int = 0
    consecutive_fired: int = 0
    cooldown: int = 0
    clock_offset_ms: int = 0
    # What the device sent, each with the rejection its timestamp alone earns (or None).
    history: list[tuple[SignedMessage, str | None]] = field(default_factory=list)
    held: tuple[SignedMessage, str | None] | None = None


class Simulator:
    """Steps ``devices`` through ``steps`` readings each and publishes what they send.

    ``revoked`` devices publish like the others (the registry refuses them);
    ``drifting`` devices' clocks run ``drift_ms_per_step`` fast. ``clock`` gives
    Unix seconds for timestamps; ``strict_order`` says whether the ingester has
    no reorder window (then an out-of-order message is expected as ``stale_seq``).
    """

    def __init__(
        self,
        codec: MessageCodec,
        devices: list[SimulatedDevice],
        *,
        steps: int = 288,
        step_minutes: int = 5,
        seed: int = 0,
        faults: bool = True,
        revoked: tuple[str, ...] = (),
        drifting: tuple[str, ...] = (),
        drift_ms_per_step: int = 23_000,
        max_skew_ms: int = 300_000,
        strict_order: bool = True,
        restart_after: int = 3,
        failure_probability: float = 0.006,
        detector: DetectorParams | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self.steps = steps
        self.step_minutes = step_minutes
        self.faults = faults
        self.revoked = set(revoked)
        self.drifting = set(drifting)
        self.drift_ms_per_step = drift_ms_per_step
        self.max_skew_ms = max_skew_ms
        self.strict_order = strict_order
        self.restart_after = restart_after
        self.failure_probability = failure_probability
        self._random = random.Random(seed)
        self._clock = clock
        # Sequence numbers start at the run's start in microseconds: they keep growing
        # across reruns of the simulator with the same device keys.
        first_seq = int(clock() * 1_000_000)
        self._states = [
            _DeviceState(d, _PROFILES[d.kind], EdgeDetector(detector), first_seq) for d in devices
        ]
        self._forger = Account.from_key(keccak256(f"forger:{seed}".encode()))

    def run(self, publish: Callable[[str, bytes], None]) -> SimulationReport:
        """Simulate every step of every device; ``publish(topic, payload)`` sends."""
        report = SimulationReport()
        for step in range(self.steps):
            for state in self._states:
                self._step(state, step, report, publish)
        for state in self._states:
            if state.held is not None:  # nothing newer came: it arrives in order after all
                late, late_skewed = state.held
                self._send(state, late.to_bytes(), report, publish, late_skewed)
            if state.failing:
                self._end_failure(state, report)
        return report

    def _send(
        self,
        state: _DeviceState,
        payload: bytes,
        report: SimulationReport,
        publish: Callable[[str, bytes], None],
        expected: str | None,
    ) -> None:
        if expected is None and state.device.address in self.revoked:
            expected = "revoked_device"
        publish(device_topic(self.codec.domain.verifying_contract, state.device.address), payload)
        report.published += 1
        if expected is not None:
            report.expected_rejections[expected] += 1

    def _next_message(self, state: _DeviceState) -> tuple[int, int, str | None]:
        """The device's next sequence number and timestamp, and the rejection that earns."""
        state.seq += 1
        timestamp, skewed = self._timestamp(state)
        return state.seq, timestamp, skewed

    def _timestamp(self, state: _DeviceState) -> tuple[int, str | None]:
        if state.device.address in self.drifting:
            state.clock_offset_ms += self.drift_ms_per_step
        now = int(self._clock() * 1000) + state.clock_offset_ms
        skewed = "clock_skew" if abs(state.clock_offset_ms) > self.max_skew_ms else None
        return now, skewed

    def _temperature(self, state: _DeviceState, step: int) -> float:
        profile, rng = state.profile, self._random
        hour = (step * self.step_minutes / 60) % 24
        cycle = profile.daily_amplitude * _sin_day(hour)
        if rng.random() < profile.door_probability:
            state.door = profile.door_jump
        else:
            state.door *= 0.5
        if not state.failing and rng.random() < self.failure_probability:
            state.failing, state.failure_rise, state.failure_steps = True, 0.0, 0
            state.failure_detected = False
        if state.failing:
            state.failure_rise += 0.35
            state.failure_steps += 1
        return (
            profile.setpoint + cycle + state.door + state.failure_rise + rng.gauss(0, profile.noise)
        )

    def _step(
        self,
        state: _DeviceState,
        step: int,
        report: SimulationReport,
        publish: Callable[[str, bytes], None],
    ) -> None:
        celsius = self._temperature(state, step)
        seq, timestamp, skewed = self._next_message(state)
        reading = Reading(
            state.device.address,
            seq,
            timestamp,
            (Measurement("temperature", round(celsius * 1000), "Cel"),),
            state.profile.location,
        )
        signed = self.codec.sign(state.device.account, reading)
        report.readings += 1
        faulty = self.faults and state.device.address not in self.revoked
        # Not for a drifting clock: whether the late one is also too late would depend on the step.
        steady = state.device.address not in self.drifting
        if (
            faulty
            and steady
            and state.held is None
            and state.history
            and self._random.random() < 0.01
        ):
            state.held = (signed, skewed)  # delivered after the next message: out of order
        else:
            self._send(state, signed.to_bytes(), report, publish, skewed)
            if state.held is not None:
                late, late_skewed = state.held
                expected = late_skewed or ("stale_seq" if self.strict_order else None)
                self._send(state, late.to_bytes(), report, publish, expected)
                state.held = None
        state.history.append((signed, skewed))
        self._detect(state, celsius, signed, report, publish)
        if faulty:
            self._inject_faults(state, report, publish)
        if state.failing and state.failure_steps >= 36:  # maintenance arrives
            self._end_failure(state, report)

    def _detect(
        self,
        state: _DeviceState,
        celsius: float,
        reading: SignedMessage,
        report: SimulationReport,
        publish: Callable[[str, bytes], None],
    ) -> None:
        fired = state.detector.update(celsius)
        if not fired:
            state.consecutive_fired = 0
            state.cooldown = max(0, state.cooldown - 1)
            return
        report.detector.fired += 1
        if state.failing:
            report.detector.fired_in_failure += 1
            state.failure_detected = True
        state.consecutive_fired += 1
        kind = None
        if state.consecutive_fired >= self.restart_after:
            kind = "compressor-restart"
        elif state.cooldown == 0:
            kind = "alarm"
        if kind is None:
            return
        state.cooldown = 12
        seq, timestamp, skewed = self._next_message(state)
        action = Action(
            state.device.address,
            seq,
            timestamp,
            kind,
            state.detector.model_id,
            reading.message.seq,
        )
        signed = self.codec.sign(state.device.account, action)
        self._send(state, signed.to_bytes(), report, publish, skewed)
        report.actions[kind] += 1
        if kind == "compressor-restart":
            state.consecutive_fired = 0
            if state.failing:
                self._end_failure(state, report)

    def _end_failure(self, state: _DeviceState, report: SimulationReport) -> None:
        report.detector.episodes += 1
        report.detector.episodes_detected += int(state.failure_detected)
        state.failing, state.failure_rise = False, 0.0

    def _inject_faults(
        self, state: _DeviceState, report: SimulationReport, publish: Callable[[str, bytes], None]
    ) -> None:
        rng = self._random
        roll = rng.random()
        if roll < 0.01:  # a replay of an earlier message
            old, old_skewed = rng.choice(state.history)
            self._send(state, old.to_bytes(), report, publish, old_skewed or "replayed")
        elif roll < 0.02:  # someone else's key signs in this device's name
            seq, timestamp, skewed = self._next_message(state)
            reading = Reading(
                state.device.address,
                seq,
                timestamp,
                (Measurement("temperature", 2000, "Cel"),),
            )
            forged = self.codec.sign(self._forger, reading)
            self._send(state, forged.to_bytes(), report, publish, skewed or "bad_signature")
        elif roll < 0.025:
            self._send(state, b'{"type": "reading", "device": ', report, publish, "malformed")
        elif roll < 0.03:
            wire = state.history[-1][0].to_wire()
            wire["values"][0]["unit"] = ""
            payload = json.dumps(wire).encode()
            self._send(state, payload, report, publish, "missing_unit")


def _sin_day(hour: float) -> float:
    """A daily cycle peaking mid-afternoon (15:00)."""
    return math.sin((hour - 9) / 24 * 2 * math.pi)
