"""HTTP API (FastAPI, OpenAPI at /docs): a thin layer over the core and the domains."""

from ailedger.api.app import create_app

__all__ = ["create_app"]
