"""Synthetic patients for the marketplace scenario, built from bundled data only.

The clinical measurements and diagnoses are scikit-learn's bundled Wisconsin
breast-cancer data (569 biopsies, no download). Each synthetic patient gets one
to four of those biopsies as their records, plus generated demographics: the
direct identifiers a hospital export would carry (name, email, patient id) and
the quasi-identifiers that make re-identification possible (age, ZIP code).
Everything is drawn from a seeded generator, so a seed always gives the same
patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from ailedger.errors import InvalidInputError
from ailedger.market.anonymize import Bands, Policy, Prefix

__all__ = [
    "DIAGNOSIS",
    "FEATURES",
    "PATIENT_POLICY",
    "Patient",
    "synthetic_patients",
]

DIAGNOSIS = "diagnosis"
# Ten of the thirty measurements (the "mean" ones) keep released files small.
FEATURES: tuple[str, ...] = (
    "mean radius",
    "mean texture",
    "mean perimeter",
    "mean area",
    "mean smoothness",
    "mean compactness",
    "mean concavity",
    "mean concave points",
    "mean symmetry",
    "mean fractal dimension",
)
MAX_PATIENTS = 500
_FIRST = ("Ada", "Grace", "Mary", "Rosa", "Lin", "Amara", "Sofia", "Ines", "Yara", "Noor")
_LAST = ("Lovelace", "Hopper", "Curie", "Parks", "Chen", "Okafor", "Rossi", "Silva", "Haddad")
# Three regions: ZIP codes share their first three digits within a region.
_ZIP_PREFIXES = ("021", "100", "941")

PATIENT_POLICY = Policy(
    direct_identifiers=("name", "email", "patient_id"),
    quasi_identifiers={"age": Bands((5, 10, 20), low=40, high=79), "zip": Prefix((4, 3, 1, 0))},
    sensitive=DIAGNOSIS,
    k=5,
    l=2,
    subject="patient_id",
)
"""How patient records are released: identifiers dropped, age and ZIP generalized,
5-anonymous and 2-diverse in the diagnosis, counted in patients rather than rows."""


@dataclass(frozen=True)
class Patient:
    """One synthetic patient and the records they contribute."""

    patient_id: str
    name: str
    records: pd.DataFrame = field(repr=False)  # identifiers included, as a hospital has them
    quality_bps: int  # data-quality weight of their records, 10,000 = full

    @property
    def record_count(self) -> int:
        return len(self.records)


def synthetic_patients(n: int = 48, *, seed: int = 0) -> list[Patient]:
    """``n`` patients with 1-4 biopsy records each, demographics and a quality weight.

    Quality: records whose measurements were taken with the lab's reference protocol
    (drawn at random here, 70%) weigh 10,000; the others 7,500.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_PATIENTS:
        raise InvalidInputError(f"n: expected 1..{MAX_PATIENTS} patients, got {n!r}", field="n")
    data = load_breast_cancer(as_frame=True)
    biopsies = data.frame[list(FEATURES)].copy()
    biopsies[DIAGNOSIS] = data.target.map(dict(enumerate(data.target_names)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(biopsies))
    counts = rng.integers(1, 5, size=n)
    patients = []
    taken = 0
    for i, count in enumerate(counts):
        rows = biopsies.iloc[order[taken : taken + count]].reset_index(drop=True)
        taken += int(count)
        patient_id = f"P{seed:02d}-{i:04d}"
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        region = _ZIP_PREFIXES[int(rng.integers(len(_ZIP_PREFIXES)))]
        records = rows.assign(
            name=f"{first} {last}",
            email=f"{first.lower()}.{last.lower()}{i}@example.org",
            patient_id=patient_id,
            age=int(np.clip(rng.normal(58, 9), 30, 89)),
            zip=f"{region}{int(rng.integers(0, 100)):02d}",
        )
        quality = 10_000 if rng.random() < 0.7 else 7_500
        patients.append(Patient(patient_id, f"{first} {last}", records, quality))
    return patients


def pooled_records(patients: list[Patient]) -> pd.DataFrame:
    """Every patient's records in one frame (identifiers still included)."""
    if not patients:
        raise InvalidInputError("patients: expected at least one patient", field="patients")
    return pd.concat([p.records for p in patients], ignore_index=True)
