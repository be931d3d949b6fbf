"""Tables of a job read back from the ``fl`` log, for the CLI and the demo.

Everything shown comes from the job's records (see :mod:`.records`), so what the
operator sees is what a stranger can prove.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["hospital_rows", "hospitals_table", "rounds_table"]

_ALT = 10**18


def rounds_table(records: list[dict[str, Any]]) -> Table:
    """One row per round: accuracy, loss, accepted and rejected replies, hashes."""
    job = records[0]
    table = Table(title=f"Job {job['job_id']}: {job['task']} with {job['strategy']}")
    for column in (
        "round",
        "accuracy",
        "val. loss",
        "accepted",
        "rejected",
        "global model",
        "reward root",
    ):
        table.add_column(column)
    for record in records:
        if record["kind"] != "fl.round":
            continue
        table.add_row(
            str(record["round"]),
            f"{record['metrics']['accuracy']:.3f}",
            f"{record['metrics']['validation_loss']:.3f}",
            str(len(record["accepted"])),
            str(record["rejected"]),
            record["global_model_hash"][:18],
            (record["reward_root"] or "-")[:18],
        )
    return table


def hospital_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per hospital: summed Shapley and leave-one-out scores, ALT earned, why it was flagged."""
    names = records[0]["clients"]
    rows = {
        address: {
            "hospital": name,
            "address": address,
            "shapley": 0.0,
            "leave_one_out": 0.0,
            "earned": 0,
            "flags": [],
        }
        for address, name in names.items()
    }
    for record in records:
        if record["kind"] == "fl.round":
            for address, value in record["shapley"].items():
                rows[address]["shapley"] += value
            for address, value in record["leave_one_out"].items():
                rows[address]["leave_one_out"] += value
            for address, amount in record["rewards"].items():
                rows[address]["earned"] += int(amount)
        elif record.get("status") == "rejected" and record["client"] in rows:
            rows[record["client"]]["flags"].append(f"round {record['round']}: {record['reason']}")
    for row in rows.values():
        if row["shapley"] <= 0:
            row["flags"].append("no positive contribution")
    return sorted(rows.values(), key=lambda row: row["hospital"])


def hospitals_table(records: list[dict[str, Any]]) -> Table:
    """The table of :func:`hospital_rows`."""
    table = Table(title="Contribution scores (GTG-Shapley, LOO as reference) and rewards")
    for column in ("hospital", "address", "Shapley", "LOO", "ALT earned", "flagged"):
        table.add_column(column, overflow="fold")
    for row in hospital_rows(records):
        table.add_row(
            row["hospital"],
            row["address"],
            f"{row['shapley']:+.4f}",
            f"{row['leave_one_out']:+.4f}",
            f"{row['earned'] / _ALT:,.4f}",
            "; ".join(row["flags"]) or "-",
        )
    return table
