"""Edge AI: a streaming anomaly detector that runs on the device, refit in windows.

river's HalfSpaceTrees would need scipy >= 1.14.1 while the platform pins
scipy 1.13.1 (tested with the audit stack), so the device runs scikit-learn's
IsolationForest refit every ``refit_every`` readings on the last ``window``
readings it did not flag. Features per reading: the temperature's deviation
from the window's median and the smallest of its last ``slope_span`` step
changes, so a door opening (one jump that decays) scores differently from a
failing compressor (a climb at every step).

A detector is identified on the log by :attr:`EdgeDetector.model_id`, the
Keccak-256 of its name and parameters.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest

from ailedger.core.identity import canonical_json
from ailedger.core.identity.secp256k1 import keccak256

__all__ = ["DetectorParams", "EdgeDetector"]


@dataclass(frozen=True)
class DetectorParams:
    """What the detector is; part of its model id."""

    window: int = 96
    refit_every: int = 48
    warmup: int = 48
    slope_span: int = 3
    trees: int = 16
    threshold: float = -0.1  # decision_function below this fires (sklearn: < 0 is outlier)
    # ... and only when physically plausible: this many degrees above the median, having
    # climbed at least min_climb at each of the last slope_span steps.
    min_rise: float = 1.0
    min_climb: float = 0.1
    seed: int = 7

    def model_id(self) -> bytes:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return keccak256(canonical_json({"model": "iforest-window-v1", **fields}))


class EdgeDetector:
    """Scores one device's temperature stream; :meth:`update` says whether it fires."""

    def __init__(self, params: DetectorParams | None = None) -> None:
        self.params = params or DetectorParams()
        self.model_id = self.params.model_id()
        self._recent: deque[float] = deque(maxlen=self.params.slope_span + 1)
        self._normal: deque[tuple[float, float]] = deque(maxlen=self.params.window)
        self._temperatures: deque[float] = deque(maxlen=self.params.window)
        self._model: IsolationForest | None = None
        self._since_fit = 0

    def update(self, celsius: float) -> bool:
        """Feed one reading; True when it looks anomalous."""
        self._recent.append(celsius)
        median = float(np.median(self._temperatures)) if self._temperatures else celsius
        steps = [b - a for a, b in zip(self._recent, list(self._recent)[1:], strict=False)]
        # A failing compressor climbs at every step; a door opening jumps once, then decays.
        climb = min(steps) if len(steps) == self.params.slope_span else 0.0
        features = (celsius - median, climb)
        fired = False
        if self._model is not None:
            score = float(self._model.decision_function(np.array([features]))[0])
            fired = (
                score < self.params.threshold
                and features[0] >= self.params.min_rise
                and climb >= self.params.min_climb
            )
        if not fired:
            self._normal.append(features)
            self._temperatures.append(celsius)
        self._since_fit += 1
        if len(self._normal) >= self.params.warmup and (
            self._model is None or self._since_fit >= self.params.refit_every
        ):
            self._refit()
        return fired

    def _refit(self) -> None:
        self._model = IsolationForest(
            n_estimators=self.params.trees, random_state=self.params.seed
        ).fit(np.array(self._normal))
        self._since_fit = 0
