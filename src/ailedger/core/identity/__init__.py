"""Identity: named accounts in an encrypted keystore, EIP-712 signatures, canonical JSON.

Everything here is public API; other packages import from ``ailedger.core.identity``
rather than from its modules.
"""

from ailedger.core.identity.canonical import canonical_json
from ailedger.core.identity.eip712 import (
    Domain,
    TypeFields,
    document_signer,
    hash_typed,
    recover_typed,
    sign_document,
    sign_typed,
    verify_typed,
)
from ailedger.core.identity.keystore import KeyInfo, Keystore, validate_key_name

__all__ = [
    "Domain",
    "KeyInfo",
    "Keystore",
    "TypeFields",
    "canonical_json",
    "document_signer",
    "hash_typed",
    "recover_typed",
    "sign_document",
    "sign_typed",
    "validate_key_name",
    "verify_typed",
]
