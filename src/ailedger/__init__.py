"""ailedger: accountable, fair AI on a blockchain.

The public API lives in the subpackages: ``ailedger.core`` (identity, chain,
log, storage), ``ailedger.contracts`` and one package per domain.
"""

__version__ = "0.1.0"
