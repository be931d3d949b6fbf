"""The platform's Vyper contracts, compiled on demand and cached.

Sources are the ``*.vy`` files next to this module; they import snekmate
modules, which are found in snekmate's installed location. :func:`load`
compiles a contract with the pip-installed ``vyper`` the first time and keeps
the result as JSON, keyed by a hash of every input to the compilation, so
later calls (in this or any other process) read the cache instead.

Example::

    >>> token = load("ALTToken")  # doctest: +SKIP
    >>> token.name, len(token.source_hash)  # doctest: +SKIP
    ('ALTToken', 64)
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vyper
from vyper.compiler import outputs_from_compiler_data
from vyper.compiler.input_bundle import FilesystemInputBundle
from vyper.compiler.phases import CompilerData

from ailedger.errors import NotFoundError

__all__ = ["SOURCES_DIR", "Artifact", "build", "cache_dir", "load", "names"]

SOURCES_DIR = Path(__file__).resolve().parent
_CACHE_FORMAT = 1
_lock = threading.Lock()
_loaded: dict[str, Artifact] = {}


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: what deployment and calls need.

    ``source_hash`` is the hex SHA-256 over the vyper version and vyper's
    integrity sum, which itself hashes the contract's source and, recursively,
    every module and interface it imports (snekmate's included). Two artifacts
    with the same hash were compiled from identical inputs.
    """

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    source_hash: str


def names() -> list[str]:
    """The names of all contracts, sorted (``ALTToken``, ``AnchorRegistry``, ...)."""
    return sorted(path.stem for path in SOURCES_DIR.glob("*.vy"))


def load(name: str) -> Artifact:
    """The compiled contract ``name``, from the cache when its inputs are unchanged.

    Raises :class:`NotFoundError` for a name that has no source.
    """
    with _lock:
        artifact = _loaded.get(name)
        if artifact is None:
            artifact = _load_uncached_in_process(name)
            _loaded[name] = artifact
        return artifact


def build(name: str) -> Artifact:
    """Compile ``name`` from source, bypassing (and not touching) any cache."""
    data = _compiler_data(name)
    return _compile(name, data, _source_hash(data))


def cache_dir() -> Path:
    """Where compiled artifacts are kept: ``build/`` next to the sources if writable.

    An installed, read-only package falls back to the user's cache directory.
    """
    local = SOURCES_DIR / "build"
    if _is_writable(local):
        return local
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ailedger" / "contracts"


def _load_uncached_in_process(name: str) -> Artifact:
    data = _compiler_data(name)
    source_hash = _source_hash(data)
    directory = cache_dir()
    path = directory / f"{name}-{source_hash}.json"
    cached = _read_cache(path, name, source_hash)
    if cached is not None:
        return cached
    artifact = _compile(name, data, source_hash)
    _write_cache(directory, path, artifact)
    return artifact


def _source_path(name: str) -> Path:
    known = names()
    if name not in known:  # also keeps names like "../x" from reaching the file system
        raise NotFoundError(
            f"unknown contract {name!r}: expected one of {', '.join(known)}", field="name"
        )
    return SOURCES_DIR / f"{name}.vy"


def _search_paths() -> list[Path]:
    # Vyper resolves `from snekmate.x import y` against each search path, so the
    # paths are the directories *containing* snekmate. snekmate ships without an
    # __init__.py, hence submodule_search_locations rather than __file__.
    spec = importlib.util.find_spec("snekmate")
    if spec is None or spec.submodule_search_locations is None:
        raise NotFoundError("snekmate is not installed; pip install snekmate", field="snekmate")
    roots = [Path(location).parent for location in spec.submodule_search_locations]
    # Last entry has the highest precedence: our own sources shadow nothing else.
    return [*dict.fromkeys(roots), SOURCES_DIR]


def _compiler_data(name: str) -> CompilerData:
    path = _source_path(name)
    bundle = FilesystemInputBundle(_search_paths())
    # Relative path: the artifact must not depend on where the package is installed.
    return CompilerData(bundle.load_file(path.name), bundle)


def _source_hash(data: CompilerData) -> str:
    # integrity_sum only parses and resolves imports, far cheaper than compiling.
    payload = f"vyper {vyper.__version__}\n{data.integrity_sum}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _compile(name: str, data: CompilerData, source_hash: str) -> Artifact:
    out = outputs_from_compiler_data(data, ["abi", "bytecode"])
    return Artifact(
        name=name,
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        source_hash=source_hash,
    )


def _read_cache(path: Path, name: str, source_hash: str) -> Artifact | None:
    """The cached artifact, or None when missing or unusable (then it is rebuilt)."""
    try:
        raw = json.loads(path.read_text())
        if (
            raw["format"] != _CACHE_FORMAT
            or raw["name"] != name
            or raw["source_hash"] != source_hash
        ):
            return None
        return Artifact(
            name=name,
            abi=list(raw["abi"]),
            bytecode=bytes.fromhex(raw["bytecode"]),
            source_hash=source_hash,
        )
    except (OSError, ValueError, KeyError, TypeError):
        # A cache is only a cache: a damaged entry costs one recompilation.
        return None


def _write_cache(directory: Path, path: Path, artifact: Artifact) -> None:
    document = {
        "format": _CACHE_FORMAT,
        "name": artifact.name,
        "source_hash": artifact.source_hash,
        "vyper_version": vyper.__version__,
        "abi": artifact.abi,
        "bytecode": artifact.bytecode.hex(),
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader sees the old file or the whole new one.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{artifact.name}-", suffix=".tmp")
    except OSError:
        return  # unwritable cache: still correct, just slower next time
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=1)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    for stale in directory.glob(f"{artifact.name}-*.json"):
        if stale != path:
            with contextlib.suppress(OSError):
                stale.unlink()


def _is_writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)
