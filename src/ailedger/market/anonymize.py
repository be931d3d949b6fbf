"""The anonymization gate: no dataset is listed unless it passes.

A :class:`Policy` names the dataset's direct identifiers (dropped), its
quasi-identifiers with a generalization hierarchy each (coarsened), and its
sensitive attribute. :func:`anonymize` drops and generalizes, raising the
generalization level of the most identifying quasi-identifier until every
group of rows sharing the same quasi-identifier values has at least ``k`` rows
(k-anonymity) and at least ``l`` distinct sensitive values (distinct
l-diversity), or until every hierarchy is at its coarsest. A dataset that
still fails, or that carries a column looking like an undeclared identifier,
is refused with an :class:`AnonymizationError` whose :class:`GateReport` names
the offending columns and groups.

Example::

    >>> policy = Policy(
    ...     direct_identifiers=("name",),
    ...     quasi_identifiers={"age": Bands((10, 20)), "zip": Prefix((3, 1))},
    ...     sensitive="diagnosis",
    ... )  # doctest: +SKIP
    >>> released = anonymize(frame, policy)  # doctest: +SKIP
    >>> released.report.k_achieved >= 5  # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from ailedger.errors import InvalidInputError

__all__ = [
    "DEFAULT_K",
    "DEFAULT_L",
    "AnonymizationError",
    "AnonymizedDataset",
    "Bands",
    "GateReport",
    "Generalization",
    "GroupViolation",
    "Keep",
    "Policy",
    "Prefix",
    "anonymize",
    "policy_from_dict",
]

DEFAULT_K = 5
DEFAULT_L = 2
MISSING = "(missing)"
MAX_REPORTED_GROUPS = 20
# Column names that are identifiers whatever their content; a dataset carrying one that the
# policy does not declare (and so would not drop) is refused.
_IDENTIFIER_NAME = re.compile(
    r"(^|_)(name|first_?name|last_?name|surname|e_?mail|phone|ssn|social_security|mrn|"
    r"medical_record|patient_?id|address|street|passport|license_?number|ip_?address)($|_)",
    re.IGNORECASE,
)


class Generalization(Protocol):
    """A hierarchy for one quasi-identifier: level 1 is the finest generalization."""

    @property
    def levels(self) -> int:
        """How many levels there are (the last is the coarsest)."""
        ...

    def apply(self, column: pd.Series, level: int) -> pd.Series:
        """The column generalized to ``level`` (1 .. levels), as strings."""
        ...


@dataclass(frozen=True)
class Bands:
    """Numbers into bands of increasing width, e.g. ages ``(5, 10, 20)`` -> ``"40-59"``.

    ``low`` and ``high`` bottom- and top-code: values beyond them join the edge band,
    labelled open-ended (``"<60"``, ``"60+"``), so a few outliers do not form groups
    of their own.
    """

    widths: tuple[int, ...]
    low: int | None = None
    high: int | None = None

    def __post_init__(self) -> None:
        if not self.widths or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.widths
        ):
            raise InvalidInputError(
                f"Bands.widths: expected positive integers, got {self.widths!r}", field="widths"
            )
        for name, bound in (("low", self.low), ("high", self.high)):
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, int | float)
            ):
                raise InvalidInputError(
                    f"Bands.{name}: expected a number or null, got {bound!r}", field=name
                )
        if self.low is not None and self.high is not None and self.low > self.high:
            raise InvalidInputError(
                f"Bands.low: expected <= high ({self.high}), got {self.low}", field="low"
            )

    @property
    def levels(self) -> int:
        return len(self.widths)

    def apply(self, column: pd.Series, level: int) -> pd.Series:
        width = self.widths[level - 1]
        numbers = pd.to_numeric(column, errors="coerce")
        low, high = self.low, self.high

        def band(value: float) -> str:
            if math.isnan(value):
                return MISSING
            if low is not None:
                value = max(value, low)
            if high is not None:
                value = min(value, high)
            start = int(value // width * width)
            end = start + width - 1
            if low is not None and start <= low:
                return f"<{end + 1}"
            if high is not None and end >= high:
                return f"{start}+"
            return f"{start}-{end}"

        return numbers.map(band)


@dataclass(frozen=True)
class Prefix:
    """Codes cut to their first characters, e.g. ZIP codes ``(3, 1)`` -> ``"021**"``."""

    lengths: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.lengths or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in self.lengths
        ):
            raise InvalidInputError(
                f"Prefix.lengths: expected non-negative integers, got {self.lengths!r}",
                field="lengths",
            )

    @property
    def levels(self) -> int:
        return len(self.lengths)

    def apply(self, column: pd.Series, level: int) -> pd.Series:
        keep = self.lengths[level - 1]

        def cut(value: Any) -> str:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return MISSING
            text = str(value)
            return text[:keep] + "*" * max(len(text) - keep, 0)

        return column.map(cut)


@dataclass(frozen=True)
class Keep:
    """A quasi-identifier released as it is (e.g. sex), still counted in the groups."""

    @property
    def levels(self) -> int:
        return 1

    def apply(self, column: pd.Series, level: int) -> pd.Series:
        return column.map(lambda v: MISSING if pd.isna(v) else str(v))


@dataclass(frozen=True)
class Policy:
    """What to drop, what to generalize, what to protect, and how strongly."""

    direct_identifiers: tuple[str, ...]
    quasi_identifiers: Mapping[str, Generalization]
    sensitive: str
    k: int = DEFAULT_K
    l: int = DEFAULT_L  # noqa: E741 - the l of l-diversity
    # A column naming the person behind each row: groups are then counted in people, not
    # rows (five visits of one patient are not five people), and the column is dropped.
    subject: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.direct_identifiers, str):
            raise InvalidInputError(
                f"direct_identifiers: expected a tuple of column names, got the string "
                f"{self.direct_identifiers!r}",
                field="direct_identifiers",
            )
        for name, value, low in (("k", self.k, 2), ("l", self.l, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInputError(
                    f"{name}: expected an integer >= {low}, got {value!r}", field=name
                )
        if self.l > self.k:
            raise InvalidInputError(
                f"l: a group of k={self.k} rows cannot hold l={self.l} distinct values", field="l"
            )
        if not self.quasi_identifiers:
            raise InvalidInputError(
                "quasi_identifiers: expected at least one column", field="quasi_identifiers"
            )
        if self.sensitive in self.quasi_identifiers or self.sensitive in self.direct_identifiers:
            raise InvalidInputError(
                f"sensitive: {self.sensitive!r} is also listed as an identifier",
                field="sensitive",
            )
        if self.subject is not None and (
            self.subject in self.quasi_identifiers or self.subject == self.sensitive
        ):
            raise InvalidInputError(
                f"subject: {self.subject!r} is also a quasi-identifier or the sensitive column",
                field="subject",
            )
        overlap = set(self.direct_identifiers) & set(self.quasi_identifiers)
        if overlap:
            raise InvalidInputError(
                f"quasi_identifiers: {sorted(overlap)} are also direct identifiers",
                field="quasi_identifiers",
            )

    def describe(self) -> dict[str, Any]:
        """The policy as plain data (for records and reports)."""
        return {
            "direct_identifiers": list(self.direct_identifiers),
            "quasi_identifiers": {
                name: repr(hierarchy) for name, hierarchy in self.quasi_identifiers.items()
            },
            "sensitive": self.sensitive,
            "subject": self.subject,
            "k": self.k,
            "l": self.l,
        }


@dataclass(frozen=True)
class GroupViolation:
    """One group of rows sharing quasi-identifier values that breaks k or l."""

    values: dict[str, str]
    size: int
    distinct_sensitive: int

    def describe(self) -> str:
        values = ", ".join(f"{name}={value}" for name, value in self.values.items())
        return f"{values} (size {self.size}, {self.distinct_sensitive} distinct sensitive values)"


@dataclass(frozen=True)
class GateReport:
    """What the gate did and found; ``passed`` tells whether the dataset may be listed."""

    passed: bool
    rows: int
    unit: str  # what group sizes count: "people" (with a subject column) or "rows"
    k: int
    l: int  # noqa: E741
    k_achieved: int
    l_achieved: int
    dropped_columns: tuple[str, ...]
    generalization: dict[str, int]
    offending_columns: tuple[str, ...] = ()
    undeclared_identifiers: tuple[str, ...] = ()
    too_small_groups: tuple[GroupViolation, ...] = ()
    not_diverse_groups: tuple[GroupViolation, ...] = ()
    violating_groups: int = 0

    def summary(self) -> str:
        """One paragraph naming the offending columns and groups (or saying it passed)."""
        if self.passed:
            return (
                f"passed: {self.rows} rows are {self.k_achieved}-anonymous ({self.unit}) and "
                f"{self.l_achieved}-diverse (required k={self.k}, l={self.l})"
            )
        parts = []
        if self.undeclared_identifiers:
            parts.append(
                "columns that look like identifiers but are not declared: "
                + ", ".join(self.undeclared_identifiers)
            )
        if self.too_small_groups:
            parts.append(
                f"{len(self.too_small_groups)} groups over ({', '.join(self.offending_columns)}) "
                f"have fewer than k={self.k} {self.unit}, "
                f"e.g. {self.too_small_groups[0].describe()}"
            )
        if self.not_diverse_groups:
            parts.append(
                f"{len(self.not_diverse_groups)} groups have fewer than l={self.l} distinct "
                f"values of the sensitive attribute, e.g. {self.not_diverse_groups[0].describe()}"
            )
        return "refused: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (JSON-ready)."""
        return {
            "passed": self.passed,
            "rows": self.rows,
            "unit": self.unit,
            "k": self.k,
            "l": self.l,
            "k_achieved": self.k_achieved,
            "l_achieved": self.l_achieved,
            "dropped_columns": list(self.dropped_columns),
            "generalization": dict(self.generalization),
            "offending_columns": list(self.offending_columns),
            "undeclared_identifiers": list(self.undeclared_identifiers),
            "too_small_groups": [g.__dict__ for g in self.too_small_groups],
            "not_diverse_groups": [g.__dict__ for g in self.not_diverse_groups],
            "violating_groups": self.violating_groups,
            "summary": self.summary(),
        }


class AnonymizationError(InvalidInputError):
    """The dataset failed the gate; ``report`` names the offending columns and groups."""

    def __init__(self, report: GateReport) -> None:
        super().__init__(f"dataset {report.summary()}", field="dataset")
        self.report = report


@dataclass(frozen=True)
class AnonymizedDataset:
    """A dataset that passed the gate: the released frame and the report that let it pass."""

    frame: pd.DataFrame = field(repr=False)
    report: GateReport


def anonymize(frame: pd.DataFrame, policy: Policy) -> AnonymizedDataset:
    """Drop, generalize and check ``frame`` under ``policy``; raise if it cannot pass.

    Raises :class:`InvalidInputError` for a frame that does not fit the policy
    (missing columns, empty) and :class:`AnonymizationError` (a subclass) with the
    report for one that fails the gate. The input frame is never modified.
    """
    _check_frame(frame, policy)
    dropped = tuple(
        c for c in (*policy.direct_identifiers, policy.subject) if c is not None and c in frame
    )
    subjects = frame[policy.subject] if policy.subject is not None else None
    released = frame.drop(columns=list(dropped))
    undeclared = _undeclared_identifiers(released, policy)
    quasi = list(policy.quasi_identifiers)
    levels = dict.fromkeys(quasi, 1)
    while True:
        generalized = {
            name: policy.quasi_identifiers[name].apply(released[name], levels[name])
            for name in quasi
        }
        stats = _group_stats(pd.DataFrame(generalized), released[policy.sensitive], subjects)
        small, not_diverse = _violations(stats, policy)
        if not small and not not_diverse:
            break
        raisable = [q for q in quasi if levels[q] < policy.quasi_identifiers[q].levels]
        if not raisable:
            break
        # Coarsen the most identifying column: the one with the most distinct values left.
        levels[max(raisable, key=lambda q: generalized[q].nunique())] += 1

    report = _report(frame, policy, dropped, levels, stats, small, not_diverse, undeclared)
    if not report.passed:
        raise AnonymizationError(report)
    for name in quasi:
        released[name] = generalized[name]
    return AnonymizedDataset(released.reset_index(drop=True), report)


def _check_frame(frame: object, policy: Policy) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            f"dataset: expected a pandas DataFrame, got {type(frame).__name__}", field="dataset"
        )
    if frame.empty:
        raise InvalidInputError("dataset: expected at least one row, got none", field="dataset")
    required = [*policy.quasi_identifiers, policy.sensitive]
    if policy.subject is not None:
        required.append(policy.subject)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"dataset: the policy's columns {missing} are missing (have {list(frame.columns)})",
            field="dataset",
        )


def _undeclared_identifiers(frame: pd.DataFrame, policy: Policy) -> tuple[str, ...]:
    """Columns the policy neither drops nor generalizes that look like identifiers.

    By name (``email``, ``patient_id``...) or by content: text or integer codes unique
    to every row. Continuous measurements are unique per row too, and are not flagged.
    """
    declared = {*policy.quasi_identifiers, policy.sensitive}
    found = []
    for name in frame.columns:
        if name in declared:
            continue
        column = frame[name]
        by_name = bool(_IDENTIFIER_NAME.search(str(name)))
        coded = pd.api.types.is_object_dtype(column) or pd.api.types.is_integer_dtype(column)
        by_content = len(frame) >= policy.k and coded and column.nunique() == len(frame)
        if by_name or by_content:
            found.append(str(name))
    return tuple(found)


def _group_stats(
    quasi: pd.DataFrame, sensitive: pd.Series, subjects: pd.Series | None
) -> pd.DataFrame:
    """Per group of equal quasi-identifiers: its size (rows or people) and distinct values."""
    keyed = quasi.assign(
        _sensitive=sensitive.map(lambda v: MISSING if pd.isna(v) else v).values,
        _subject=subjects.values if subjects is not None else range(len(quasi)),
    )
    grouped = keyed.groupby(list(quasi.columns), sort=True, dropna=False)
    return grouped.agg(
        size=("_subject", "nunique"), distinct=("_sensitive", "nunique")
    ).reset_index()


def _violations(
    stats: pd.DataFrame, policy: Policy
) -> tuple[list[GroupViolation], list[GroupViolation]]:
    quasi = list(policy.quasi_identifiers)

    def as_violation(row: pd.Series) -> GroupViolation:
        return GroupViolation(
            values={q: str(row[q]) for q in quasi},
            size=int(row["size"]),
            distinct_sensitive=int(row["distinct"]),
        )

    small = [as_violation(row) for _, row in stats[stats["size"] < policy.k].iterrows()]
    big_enough = stats[stats["size"] >= policy.k]
    not_diverse = [
        as_violation(row) for _, row in big_enough[big_enough["distinct"] < policy.l].iterrows()
    ]
    return small, not_diverse


def _report(
    frame: pd.DataFrame,
    policy: Policy,
    dropped: tuple[str, ...],
    levels: dict[str, int],
    stats: pd.DataFrame,
    small: list[GroupViolation],
    not_diverse: list[GroupViolation],
    undeclared: tuple[str, ...],
) -> GateReport:
    quasi = tuple(policy.quasi_identifiers)
    failing_groups = small or not_diverse
    offending: tuple[str, ...] = undeclared
    if failing_groups:
        # Columns still split finely enough to isolate rows, most distinct values first.
        offending += tuple(sorted(quasi, key=lambda q: -stats[q].nunique()))
    return GateReport(
        passed=not (small or not_diverse or undeclared),
        rows=len(frame),
        unit="people" if policy.subject is not None else "rows",
        k=policy.k,
        l=policy.l,
        k_achieved=int(stats["size"].min()),
        l_achieved=int(stats["distinct"].min()),
        dropped_columns=dropped,
        generalization=dict(levels),
        offending_columns=offending,
        undeclared_identifiers=undeclared,
        too_small_groups=tuple(small[:MAX_REPORTED_GROUPS]),
        not_diverse_groups=tuple(not_diverse[:MAX_REPORTED_GROUPS]),
        violating_groups=len(small) + len(not_diverse),
    )


def policy_from_dict(spec: Mapping[str, Any]) -> Policy:
    """A policy from plain data (CLI files, API bodies)::

    {"direct_identifiers": ["name"], "sensitive": "diagnosis", "k": 5, "l": 2,
     "subject": null, "quasi_identifiers": {"age": {"bands": [5, 10], "low": 40},
                                            "zip": {"prefix": [3, 1]}, "sex": "keep"}}
    """
    if not isinstance(spec, Mapping):
        raise InvalidInputError("policy: expected an object", field="policy")
    quasi_spec = spec.get("quasi_identifiers")
    if not isinstance(quasi_spec, Mapping):
        raise InvalidInputError(
            "policy.quasi_identifiers: expected an object of column: hierarchy",
            field="quasi_identifiers",
        )
    quasi: dict[str, Generalization] = {}
    for name, hierarchy in quasi_spec.items():
        if hierarchy == "keep":
            quasi[name] = Keep()
        elif isinstance(hierarchy, Mapping) and "bands" in hierarchy:
            widths = _list_of(hierarchy["bands"], f"policy.quasi_identifiers.{name}.bands")
            quasi[name] = Bands(widths, low=hierarchy.get("low"), high=hierarchy.get("high"))
        elif isinstance(hierarchy, Mapping) and "prefix" in hierarchy:
            lengths = _list_of(hierarchy["prefix"], f"policy.quasi_identifiers.{name}.prefix")
            quasi[name] = Prefix(lengths)
        else:
            raise InvalidInputError(
                f'policy.quasi_identifiers.{name}: expected "keep", {{"bands": [...]}} '
                f'or {{"prefix": [...]}}, got {hierarchy!r}',
                field="quasi_identifiers",
            )
    sensitive = spec.get("sensitive")
    if not isinstance(sensitive, str):
        raise InvalidInputError("policy.sensitive: expected a column name", field="sensitive")
    direct = _list_of(spec.get("direct_identifiers", []), "policy.direct_identifiers")
    if not all(isinstance(column, str) for column in direct):
        raise InvalidInputError(
            f"policy.direct_identifiers: expected column names, got {list(direct)!r}",
            field="direct_identifiers",
        )
    subject = spec.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise InvalidInputError(
            f"policy.subject: expected a column name or null, got {subject!r}", field="subject"
        )
    return Policy(
        direct_identifiers=direct,
        quasi_identifiers=quasi,
        sensitive=sensitive,
        k=spec.get("k", DEFAULT_K),
        l=spec.get("l", DEFAULT_L),
        subject=subject,
    )


def _list_of(value: object, name: str) -> tuple[Any, ...]:
    # A bare string is iterable too: "name" must not become ("n", "a", "m", "e").
    if not isinstance(value, list | tuple):
        raise InvalidInputError(
            f"{name}: expected a list, got {value!r}", field=name.rsplit(".", 1)[-1]
        )
    return tuple(value)
