"""Benchmarks: each ``benchmarks/<name>.py`` module has ``run() -> dict``.

``python -m benchmarks`` (``make bench``) runs them all and writes
``benchmarks/results/<name>.json``; ``python -m benchmarks NAME ...`` runs some.
"""
