"""ailedger.contracts: compiling with the installed vyper + snekmate, and the artifact cache."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from ailedger import contracts
from ailedger.errors import NotFoundError


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty artifact cache and an empty in-process memo."""
    directory = tmp_path / "cache"
    monkeypatch.setattr(contracts, "cache_dir", lambda: directory)
    monkeypatch.setattr(contracts, "_loaded", {})
    return directory


def _forbid_compiling(monkeypatch) -> None:
    def _fail(*args, **kwargs):
        raise AssertionError("compiled although a cached artifact was available")

    monkeypatch.setattr(contracts, "_compile", _fail)


def test_names_lists_every_contract_source():
    names = contracts.names()
    assert names == sorted(names)
    assert {"ALTToken", "AnchorRegistry"} <= set(names)


def test_unknown_contract_is_not_found_and_names_the_known_ones(cache):
    with pytest.raises(NotFoundError, match=r"unknown contract 'Nope'.*ALTToken, AnchorRegistry"):
        contracts.load("Nope")


@pytest.mark.parametrize("name", ["../ALTToken", "ALTToken.vy", ""])
def test_names_that_are_not_contracts_are_not_found(cache, name):
    with pytest.raises(NotFoundError):
        contracts.load(name)


def test_artifact_has_abi_bytecode_and_sha256_source_hash(cache):
    artifact = contracts.load("AnchorRegistry")
    functions = {item["name"] for item in artifact.abi if item["type"] == "function"}
    assert {"register_log", "set_signer", "anchor", "latest_head", "head_at"} <= functions
    assert len(artifact.bytecode) > 1000
    assert len(bytes.fromhex(artifact.source_hash)) == 32


def test_artifact_has_the_runtime_code_its_init_code_deploys(cache):
    artifact = contracts.load("AnchorRegistry")
    assert len(artifact.bytecode_runtime) > 1000
    assert artifact.bytecode_runtime in artifact.bytecode
    # Seven EIP-712 immutables of snekmate's domain separator module, 32-byte words each.
    assert artifact.immutables_size == 320


def test_immutables_section_holds_one_word_per_immutable(cache):
    # ModelRegistry's only immutable: the address of the AnchorRegistry its logs live in.
    assert contracts.load("ModelRegistry").immutables_size == 32


def test_load_writes_the_artifact_to_the_cache_under_its_source_hash(cache):
    artifact = contracts.load("ALTToken")
    document = json.loads((cache / f"ALTToken-{artifact.source_hash}.json").read_text())
    assert document["source_hash"] == artifact.source_hash
    assert bytes.fromhex(document["bytecode"]) == artifact.bytecode
    assert bytes.fromhex(document["bytecode_runtime"]) == artifact.bytecode_runtime
    assert document["immutables_size"] == artifact.immutables_size


def test_cached_artifact_equals_a_fresh_compile(cache, monkeypatch):
    contracts.load("ALTToken")
    monkeypatch.setattr(contracts, "_loaded", {})
    cached = contracts.load("ALTToken")
    assert cached == contracts.build("ALTToken")


def test_second_load_in_another_process_reads_the_cache_instead_of_compiling(cache, monkeypatch):
    first = contracts.load("AnchorRegistry")
    monkeypatch.setattr(contracts, "_loaded", {})  # as if a new process started
    _forbid_compiling(monkeypatch)
    assert contracts.load("AnchorRegistry") == first


def test_damaged_cache_entry_is_rebuilt(cache, monkeypatch):
    artifact = contracts.load("AnchorRegistry")
    entry = cache / f"AnchorRegistry-{artifact.source_hash}.json"
    entry.write_text('{"format": 1, "name": "AnchorRegistry", "abi": [')
    monkeypatch.setattr(contracts, "_loaded", {})
    assert contracts.load("AnchorRegistry") == artifact
    assert json.loads(entry.read_text())["source_hash"] == artifact.source_hash


def test_source_hash_covers_the_contract_source(cache, tmp_path, monkeypatch):
    original = contracts.build("AnchorRegistry").source_hash
    sources = tmp_path / "sources"
    shutil.copytree(contracts.SOURCES_DIR, sources, ignore=shutil.ignore_patterns("build"))
    edited = sources / "AnchorRegistry.vy"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    monkeypatch.setattr(contracts, "SOURCES_DIR", sources)
    assert contracts.build("AnchorRegistry").source_hash != original


def test_source_hash_covers_imported_snekmate_modules(cache, tmp_path, monkeypatch):
    original = contracts.build("AnchorRegistry").source_hash
    spec = importlib.util.find_spec("snekmate")
    installed = Path(next(iter(spec.submodule_search_locations)))
    copy = tmp_path / "site" / "snekmate"
    shutil.copytree(installed, copy)
    ecdsa = copy / "utils" / "ecdsa.vy"
    ecdsa.write_text(ecdsa.read_text() + "\n# an edit\n")
    monkeypatch.setattr(contracts, "_search_paths", lambda: [copy.parent, contracts.SOURCES_DIR])
    assert contracts.build("AnchorRegistry").source_hash != original


def test_cache_entry_of_an_older_format_is_recompiled(cache, monkeypatch):
    artifact = contracts.load("AnchorRegistry")
    entry = cache / f"AnchorRegistry-{artifact.source_hash}.json"
    old = json.loads(entry.read_text())
    old["format"] = 1
    del old["bytecode_runtime"], old["immutables_size"]
    entry.write_text(json.dumps(old))
    monkeypatch.setattr(contracts, "_loaded", {})
    assert contracts.load("AnchorRegistry") == artifact
    assert json.loads(entry.read_text())["format"] == contracts._CACHE_FORMAT


@pytest.mark.parametrize("size", [-32, "320", None, True])
def test_cache_entry_with_a_bad_immutables_size_is_recompiled(cache, monkeypatch, size):
    artifact = contracts.load("AnchorRegistry")
    entry = cache / f"AnchorRegistry-{artifact.source_hash}.json"
    document = json.loads(entry.read_text())
    document["immutables_size"] = size
    entry.write_text(json.dumps(document))
    monkeypatch.setattr(contracts, "_loaded", {})
    assert contracts.load("AnchorRegistry") == artifact
    assert json.loads(entry.read_text())["immutables_size"] == artifact.immutables_size
