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
    anchors = (platform.contract("AnchorRegistry").address,)
    registry, _ = ensure_deployed(
        platform.chain,
        platform.book,
        "ModelRegistry",
        artifact.abi,
        artifact.bytecode,
        _reuse_key(artifact.source_hash, anchors),
        anchors,
        platform.operator,
    )
    artifact = contracts.load("PaymentChannels")
    ctor_args = (token.address, registry.address)
    channels, _ = ensure_deployed(
        platform.chain,
        platform.book,
        "PaymentChannels",
        artifact.abi,
        artifact.bytecode,
        _reuse_key(artifact.source_hash, ctor_args),
        ctor_args,
        platform.operator,
    )
    return ServiceContracts(ModelRegistryClient(registry), ChannelsClient(channels, token), token)


def _reuse_key(source_hash: str, ctor_args: tuple) -> str:
    """What an address-book entry is reused by: the source and the constructor arguments
    (the contracts are bound to the token and registries they were deployed with, so a
    redeployed one must give new ones)."""
    return hashlib.sha256(f"{source_hash}:{ctor_args}".encode()).hexdigest()


def service_contracts(platform: Platform) -> ServiceContracts:
    """The deployed services contracts; ``NotFoundError`` until they are deployed."""
    registry = platform.contract("ModelRegistry")
    channels = platform.contract("PaymentChannels")
    token = platform.contract("ALTToken")
    return ServiceContracts(ModelRegistryClient(registry), ChannelsClient(channels, token), token)
