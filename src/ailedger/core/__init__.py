"""Core services every domain builds on: identity, chain, log, storage.

Core never imports a domain package.
"""
