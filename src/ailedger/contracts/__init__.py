"""The platform's Vyper contracts, compiled on demand and cached.

Sources are the ``*.vy`` files next to this module; they import snekmate
modules, which are found in snekmate's installed location. :func:`load`
compiles a contract with the pip-installed ``vyper`` the first time and keeps
the result as JSON, keyed by a hash of every input to the compilation, so
later calls (in this or any other process) read the cache instead.

:func:`check_deployed_code` lets anyone with read access to a chain check that
the code at an address is one of these contracts, compiled from these sources.
Vyper 0.4 deploys the runtime code followed by the immutables the constructor
computed (its data section), so the check runs the constructor for that address
and chain (see :func:`deployed_code`) and compares every byte.

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
from typing import TYPE_CHECKING, Any

import vyper
from vyper.compiler import outputs_from_compiler_data
from vyper.compiler.input_bundle import FilesystemInputBundle
from vyper.compiler.phases import CompilerData

from ailedger.contracts._constructor import run_constructor
from ailedger.core.chain.contract import encode_arguments
from ailedger.core.chain.validation import to_address_bytes
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from ailedger.core.chain.base import Chain

__all__ = [
    "SOURCES_DIR",
    "Artifact",
    "build",
    "cache_dir",
    "check_deployed_code",
    "deployed_code",
    "load",
    "names",
]

SOURCES_DIR = Path(__file__).resolve().parent
# Part of every cache entry: an entry written by an older format (one that lacks
# fields the Artifact now has) is ignored and recompiled.
_CACHE_FORMAT = 2
_lock = threading.Lock()
_loaded: dict[str, Artifact] = {}


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: what deployment and calls need.

    ``source_hash`` is the hex SHA-256 over the vyper version and vyper's
    integrity sum, which itself hashes the contract's source and, recursively,
    every module and interface it imports (snekmate's included). Two artifacts
    with the same hash were compiled from identical inputs.

    ``bytecode`` is the init code a deployment sends; ``bytecode_runtime`` is the
    code it leaves at the contract's address, before the ``immutables_size``
    bytes of immutable values the constructor appends to it.
    """

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    source_hash: str
    bytecode_runtime: bytes
    immutables_size: int


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


def deployed_code(name: str, chain_id: int, address: str, *ctor_args: Any) -> bytes:
    """The exact code deploying ``name`` with ``ctor_args`` leaves at ``address`` on ``chain_id``.

    That is the runtime code followed by the immutables its constructor computes
    there. Raises :class:`NotFoundError` for a name that has no source and
    :class:`InvalidInputError` for arguments the constructor does not take or rejects.
    """
    artifact = load(name)
    constructor = next((e for e in artifact.abi if e.get("type") == "constructor"), {})
    init_code = artifact.bytecode + encode_arguments(
        {"name": "constructor", "inputs": [], **constructor}, ctor_args, f"{name} constructor"
    )
    code = run_constructor(
        init_code, chain_id=chain_id, address=to_address_bytes(address, "address")
    )
    if code is None:
        raise InvalidInputError(
            f"{name} constructor: reverted with arguments {ctor_args!r}", field="ctor_args"
        )
    return code


def check_deployed_code(chain: Chain, name: str, address: str, *ctor_args: Any) -> None:
    """Check that the code at ``address`` on ``chain`` is ``name`` compiled from our sources.

    Every byte must be what deploying it there with ``ctor_args`` gives
    (:func:`deployed_code`), immutables included. Raises :class:`IntegrityError`
    ("the code at 0x... is not the AnchorRegistry: expected ..., got ...") when
    there is no code there or other code; errors of :func:`deployed_code` otherwise.
    """
    expected = deployed_code(name, chain.chain_id, address, *ctor_args)
    code = chain.code(address)
    if code == expected:
        return
    artifact = load(name)
    runtime = len(artifact.bytecode_runtime)
    if not code:
        got = "no code at all"
    elif len(code) != len(expected):
        got = f"{len(code)} bytes"
    else:
        first = next(i for i, (a, b) in enumerate(zip(code, expected, strict=True)) if a != b)
        if first < runtime:
            got = f"{len(code)} bytes whose runtime code differs from byte {first} on"
        else:
            got = (
                f"the runtime code with other immutables (from byte {first - runtime} of "
                "them on) than its constructor sets at this address"
            )
    raise IntegrityError(
        f"the code at {address} is not the {name}: expected {len(expected)} bytes "
        f"({runtime} of runtime code compiled from source {artifact.source_hash[:16]}... "
        f"and {artifact.immutables_size} of immutables), got {got}",
        field="address",
    )


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
    out = outputs_from_compiler_data(data, ["abi", "bytecode", "bytecode_runtime"])
    return Artifact(
        name=name,
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        source_hash=source_hash,
        bytecode_runtime=bytes.fromhex(out["bytecode_runtime"].removeprefix("0x")),
        # The size of the data section the constructor fills and returns after the runtime code.
        immutables_size=data.global_ctx.immutable_section_bytes,
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
            bytecode_runtime=bytes.fromhex(raw["bytecode_runtime"]),
            immutables_size=_size(raw["immutables_size"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        # A cache is only a cache: a damaged entry costs one recompilation.
        return None


def _size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"immutables_size: expected a non-negative integer, got {value!r}")
    return value


def _write_cache(directory: Path, path: Path, artifact: Artifact) -> None:
    document = {
        "format": _CACHE_FORMAT,
        "name": artifact.name,
        "source_hash": artifact.source_hash,
        "vyper_version": vyper.__version__,
        "abi": artifact.abi,
        "bytecode": artifact.bytecode.hex(),
        "bytecode_runtime": artifact.bytecode_runtime.hex(),
        "immutables_size": artifact.immutables_size,
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
