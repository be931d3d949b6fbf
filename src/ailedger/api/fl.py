"""``/fl/...``: federated jobs read back from the ``fl`` log (JSON, reads only).

Everything answered is a record of the log (or computed from them), each with its
leaf ``index``, so a client can ask for the inclusion proof of what it was shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Depends

from ailedger.api.deps import get_platform
from ailedger.core.log import TransparencyLog, open_store
from ailedger.federated import LOG_NAME
from ailedger.federated.records import job_records, latest_job_id
from ailedger.federated.views import hospital_rows
from ailedger.platform import Platform

router = APIRouter(prefix="/fl", tags=["federated"])


@contextmanager
def _log(platform: Platform) -> Iterator[TransparencyLog]:
    log = TransparencyLog(open_store(platform.settings, name=LOG_NAME))
    try:
        yield log
    finally:
        log.close()


@router.get("/jobs/latest")
def latest(platform: Platform = Depends(get_platform)) -> dict[str, int]:
    """The id of the last job on the log (404 when there is none)."""
    with _log(platform) as log:
        return {"job_id": latest_job_id(log)}


@router.get("/jobs/{job_id}/records")
def records(job_id: int, platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """Every record of the job (job, participations, rounds), each with its log index."""
    with _log(platform) as log:
        return job_records(log, job_id)


@router.get("/jobs/{job_id}/rounds")
def rounds(job_id: int, platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """The job's round records: global-model hash, metrics, scores, rewards, reward root."""
    with _log(platform) as log:
        return [r for r in job_records(log, job_id) if r["kind"] == "fl.round"]


@router.get("/jobs/{job_id}/hospitals")
def hospitals(job_id: int, platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """Per hospital: summed Shapley and leave-one-out scores, ALT earned (wei), flags."""
    with _log(platform) as log:
        rows = hospital_rows(job_records(log, job_id))
    return [{**row, "earned": str(row["earned"])} for row in rows]
