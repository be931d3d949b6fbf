"""`/services` API: model listings, payment channels, earnings, and proof checks (read-only).

The lead's app includes :data:`router`. Paid calls themselves go to each model's own
host (``ailedger services serve``), whose endpoint the listing names.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from ailedger.api.deps import get_platform
from ailedger.errors import IntegrityError, NotFoundError
from ailedger.platform import Platform

router = APIRouter(prefix="/services", tags=["services"])


@router.get("")
def list_services(platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """Every model in the registry (deprecated ones included)."""
    from ailedger.services import service_contracts

    return [listing.to_dict() for listing in service_contracts(platform).registry.all()]


@router.get("/overview")
def overview(platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    """Listings, channels (with calls accepted by hosts in this data dir) and earnings."""
    from ailedger.services.overview import services_overview

    return services_overview(platform).to_dict()


@router.get("/channels")
def list_channels(
    consumer: str | None = None,
    platform: Platform = Depends(get_platform),
) -> list[dict[str, Any]]:
    """Every channel (of ``consumer``, if given), as the contract holds it."""
    from ailedger.core.chain import to_checksum
    from ailedger.services import service_contracts

    who = to_checksum(consumer, "consumer") if consumer else None
    return [s.to_dict() for s in service_contracts(platform).channels.opened(consumer=who)]


@router.get("/channels/{channel_id}")
def get_channel(channel_id: int, platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    from ailedger.services import service_contracts

    return service_contracts(platform).channels.get(channel_id).to_dict()


@router.get("/earnings")
def earnings(platform: Platform = Depends(get_platform)) -> list[dict[str, Any]]:
    """Per service owner: ALT claimed in total and ALT credited but not withdrawn."""
    from ailedger.services.overview import services_overview

    return [entry.to_dict() for entry in services_overview(platform).earnings]


@router.post("/proofs/verify")
def verify_proof(
    document: dict[str, Any] = Body(
        ...,
        description="A host's /proofs/<log_index> answer, or the file "
        "`ailedger services call --save` writes (the call with its receipt and proof).",
    ),
    platform: Platform = Depends(get_platform),
) -> dict[str, Any]:
    """Check a call proof against the chain: receipt, log inclusion, anchored head.

    Like ``/audit/verify``: a proof that fails a check answers 200 with ``ok: false``
    and the ``reason``; only a document that is not a proof at all is a 4xx.
    """
    from ailedger.core.trust import describe_identity
    from ailedger.services import CallReceipt, service_contracts, verify_call_proof

    proof, expected = document, None
    if isinstance(document.get("proof"), dict):  # a saved call: also match its receipt
        proof = document["proof"]
        if "receipt" in document:
            expected = CallReceipt.from_dict(document["receipt"])
    registry = service_contracts(platform).registry
    try:
        report = verify_call_proof(proof, platform.chain, registry, expected_receipt=expected)
    except IntegrityError as failed:
        return {"ok": False, "reason": failed.message, "field": failed.field}
    return {
        "ok": True,
        "reason": None,
        "model_name": report.model_name,
        "receipt": report.receipt.to_dict(),
        "log_index": report.log_index,
        "tree_size": report.tree_size,
        "anchor_block": report.anchor_block,
        "anchor_tx": report.anchor_tx,
        # Unpinned here: says so, and names the log, registry and operator checked.
        "identity": describe_identity(None, report.identity),
    }


@router.get("/{name}")
def get_service(name: str, platform: Platform = Depends(get_platform)) -> dict[str, Any]:
    """The listings called ``name``, newest last."""
    from ailedger.services import service_contracts

    found = [
        entry.to_dict()
        for entry in service_contracts(platform).registry.all()
        if entry.name == name
    ]
    if not found:
        raise NotFoundError(f"no model named {name!r} in the registry", field="name")
    return {"name": name, "listings": found}
