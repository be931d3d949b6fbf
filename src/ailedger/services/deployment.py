"""Deploying (or finding) the services contracts next to the platform's core contracts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ailedger import contracts
from ailedger.core.chain import Contract, ensure_deployed
from ailedger.platform import Platform
from ailedger.services.channels import ChannelsClient
from ailedger.services.registry import ModelRegistryClient

__all__ = ["SERVICE_CONTRACTS", "ServiceContracts", "deploy_service_contracts", "service_contracts"]

SERVICE_CONTRACTS = ("ModelRegistry", "PaymentChannels")


@dataclass(frozen=True)
class ServiceContracts:
    """The registry, the channels and the token they are paid in."""

    registry: ModelRegistryClient
    channels: ChannelsClient
    token: Contract


def deploy_service_contracts(platform: Platform) -> ServiceContracts:
    """Deploy ModelRegistry and PaymentChannels (after the core contracts), or reuse them."""
    platform.deploy_core_contracts()
    token = platform.contract("ALTToken")
    artifact = contracts.load("ModelRegistry")
    registry, _ = ensure_deployed(
        platform.chain,
        platform.book,
        "ModelRegistry",
        artifact.abi,
        artifact.bytecode,
        artifact.source_hash,
        (),
        platform.operator,
    )
    artifact = contracts.load("PaymentChannels")
    ctor_args = (token.address, registry.address)
    # The channels are bound to one token and one registry: a redeployed token or registry
    # must give new channels, so the constructor arguments are part of the reuse key.
    key = hashlib.sha256(f"{artifact.source_hash}:{ctor_args}".encode()).hexdigest()
    channels, _ = ensure_deployed(
        platform.chain,
        platform.book,
        "PaymentChannels",
        artifact.abi,
        artifact.bytecode,
        key,
        ctor_args,
        platform.operator,
    )
    return ServiceContracts(ModelRegistryClient(registry), ChannelsClient(channels, token), token)


def service_contracts(platform: Platform) -> ServiceContracts:
    """The deployed services contracts; ``NotFoundError`` until they are deployed."""
    registry = platform.contract("ModelRegistry")
    channels = platform.contract("PaymentChannels")
    token = platform.contract("ALTToken")
    return ServiceContracts(ModelRegistryClient(registry), ChannelsClient(channels, token), token)
