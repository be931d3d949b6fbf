"""Tokenized AI services: models in a registry, paid per call through payment channels.

Public API (everything else in this package may change)::

    deploy_service_contracts(platform) -> ServiceContracts(registry, channels, token)
    service_contracts(platform) -> ServiceContracts                 # already deployed
    ModelRegistryClient: .register(owner, name, model_hash=, card_hash=, price=, endpoint=,
                                   log_id=)   # the call log the model is bound to
        .update_price / .update_endpoint / .deprecate / .get(model_id) / .all()
        .find(name, owner=None)   # a bare name several owners hold: AmbiguousModelError
    ChannelsClient: .open(consumer, model_id, deposit, expiry) / .top_up / .extend / .reclaim
        .claim(service, voucher) / .withdraw(account) / .get(id) / .opened(consumer=, model_id=)
        .check_claimable(voucher, channel, claimant=, now=, expiry_margin=)  # claim's checks
        .limits -> VoucherLimits(max_nonce, max_amount)   # read from the contract
    VoucherSigner(chain_id, channels_address).sign(account, channel_id, nonce, amount)
    ServiceHost(model=, listing=, account=, registry=, channels=, store=, log=, policy=,
                max_batch=1000)
        .handle(request_json) -> response_json; .handle_batch(request_json) -> response_json
        .call(input, salt, voucher) -> PaidResponse; .call_batch(inputs, salt, voucher)
        -> PaidBatchResponse; .claim_due(); .claim_all(); .recover()
        .proof(index)   # never anchors: NotYetAnchoredError (425) until the batch policy does
        .upkeep_log() / .anchor_now()   # the upkeep loop's / the operator's own anchoring
    create_host_app(host, claim_interval=30.0) -> FastAPI          # `ailedger services serve`
    ConsumerRecords(path)   # a consumer's own record of vouchers signed and models pinned
    ServiceClient(account, registry, channels, records=, transport_for=...)
        .discover(name, owner=None) / .channel_for(listing, deposit=)
        .call(listing, input) -> PaidCall
        .call_batch(listing, inputs) -> PaidBatch       # N calls, one voucher, one receipt
        .prove(call_or_batch, item=0, wait=0.0) -> CallProofReport
        .rebuild_records(saved_calls=(), ask_hosts=True)   # lost records: chain + our signatures
    verify_call_proof(proof, chain, registry, *, expected_receipt=None) -> CallProofReport
    diagnosis_model() / credit_model() / build_model(name) -> ServedModel
    run_services_scenario(platform, console) -> ServicesSummary     # the demo step
    Errors: PaymentRequiredError (402), ModelDeprecatedError (410), AmbiguousModelError
    (409), NotYetAnchoredError (425), plus ailedger.errors.
"""

from __future__ import annotations

from ailedger.services.app import create_host_app
from ailedger.services.batches import MAX_BATCH, BatchItem
from ailedger.services.channels import ChannelsClient, ChannelState, ClaimResult, VoucherLimits
from ailedger.services.client import PaidBatch, PaidCall, ServiceClient
from ailedger.services.deployment import (
    ServiceContracts,
    deploy_service_contracts,
    service_contracts,
)
from ailedger.services.errors import (
    AmbiguousModelError,
    ModelDeprecatedError,
    NotYetAnchoredError,
    PaymentRequiredError,
)
from ailedger.services.host import ClaimPolicy, PaidBatchResponse, PaidResponse, ServiceHost
from ailedger.services.models import (
    ServedModel,
    build_model,
    credit_model,
    diagnosis_model,
    load_model,
    save_model,
)
from ailedger.services.proofs import CallProofReport, verify_call_proof
from ailedger.services.receipts import (
    BatchReceipt,
    CallReceipt,
    ReceiptSigner,
    call_record,
    commit,
)
from ailedger.services.records import ConsumerRecords
from ailedger.services.registry import ModelListing, ModelRegistryClient
from ailedger.services.scenario import ServicesSummary, run_services_scenario
from ailedger.services.store import VoucherStore
from ailedger.services.transport import HttpTransport, LocalTransport, Transport
from ailedger.services.vouchers import Voucher, VoucherSigner

__all__ = [
    "MAX_BATCH",
    "AmbiguousModelError",
    "BatchItem",
    "BatchReceipt",
    "CallProofReport",
    "CallReceipt",
    "ChannelState",
    "ChannelsClient",
    "ClaimPolicy",
    "ClaimResult",
    "ConsumerRecords",
    "HttpTransport",
    "LocalTransport",
    "ModelDeprecatedError",
    "ModelListing",
    "ModelRegistryClient",
    "NotYetAnchoredError",
    "PaidBatch",
    "PaidBatchResponse",
    "PaidCall",
    "PaidResponse",
    "PaymentRequiredError",
    "ReceiptSigner",
    "ServedModel",
    "ServiceClient",
    "ServiceContracts",
    "ServiceHost",
    "ServicesSummary",
    "Transport",
    "Voucher",
    "VoucherLimits",
    "VoucherSigner",
    "VoucherStore",
    "build_model",
    "call_record",
    "commit",
    "create_host_app",
    "credit_model",
    "deploy_service_contracts",
    "diagnosis_model",
    "load_model",
    "run_services_scenario",
    "save_model",
    "service_contracts",
    "verify_call_proof",
]
