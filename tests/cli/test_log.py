"""`ailedger log verify` on a data dir whose decision log is anchored on chain."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from ailedger.cli.main import app
from ailedger.core.chain import AddressBook, dev_accounts
from ailedger.core.log import Anchorer, LogTamperedError, SqliteStore, TransparencyLog, TreeHead
from ailedger.core.trust import IdentityMismatchError, bind_identity
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError
from ailedger.platform import Platform
from tests.core.log.test_log_verify import _recompute_all_nodes

runner = CliRunner()


@pytest.fixture
def log_path(settings, monkeypatch):
    """A data dir with 12 records in the log ``decisions``, 10 of them anchored.

    The CLI then runs without ``AILEDGER_PASSWORD``: verifying needs no key.
    """
    with Platform.open(settings) as platform:
        platform.deploy_core_contracts()
        log = platform.open_log("decisions")
        log.append_many([f"record {i}".encode() for i in range(10)])
        log.close_batch()
        log.append_many([b"record 10", b"record 11"])
        log.close()
    monkeypatch.setenv("AILEDGER_HOME", str(settings.home))
    for name in ("AILEDGER_PASSWORD", "AILEDGER_CHAIN_URL", "AILEDGER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return settings.home / "logs" / "decisions.sqlite3"


def _files(home) -> dict[str, bytes]:
    """The data dir's files and bytes, less SQLite's -wal/-shm companions (a reader in a
    live data dir may create them empty: they hold no data of ours)."""
    return {
        str(p): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def test_verify_without_a_password_reports_records_and_anchored_heads(log_path):
    result = runner.invoke(app, ["log", "verify"])
    assert result.exit_code == 0, result.output
    assert "log 'decisions' verified: 12 records" in result.output
    assert "1 anchored on chain (up to size 10)" in result.output


def test_verify_of_a_record_changed_in_the_database_names_its_index(log_path):
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TRIGGER records_no_update")  # as an attacker with file access would
    conn.execute("UPDATE records SET entry = ? WHERE idx = 7", (b"record 7: forged",))
    conn.close()
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, LogTamperedError)
    assert result.exception.index == 7
    assert "record 7 was changed" in result.exception.message


def test_verify_of_an_unknown_log_is_not_found_and_creates_no_file(log_path, settings):
    before = _files(settings.home)
    result = runner.invoke(app, ["log", "verify", "nosuch"])
    assert isinstance(result.exception, NotFoundError)
    assert "no log named 'nosuch'" in result.exception.message
    assert not (settings.home / "logs" / "nosuch.sqlite3").exists()
    assert set(_files(settings.home)) == set(before)


def test_verify_on_a_data_dir_without_contracts_says_to_run_the_demo(settings, monkeypatch):
    monkeypatch.setenv("AILEDGER_HOME", str(settings.home))
    monkeypatch.delenv("AILEDGER_CHAIN_URL", raising=False)
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, NotFoundError)
    assert "run `ailedger demo` first" in result.exception.message


def test_verify_against_an_address_book_naming_another_contract_as_registry_fails(
    log_path, settings
):
    book = AddressBook(settings.deployments_file)
    token = book.get(31337, "ALTToken")
    registry = book.get(31337, "AnchorRegistry")
    book.record(31337, "AnchorRegistry", replace(registry, address=token.address))
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, IntegrityError)
    assert f"the code at {token.address} is not the AnchorRegistry" in result.exception.message


# --- identity: issue 11 item 1 (the identity swap) ---------------------------------------------


@pytest.fixture
def trust_file(log_path, settings, tmp_path):
    """The operator's trust root, exported (and published) before any attack."""
    path = tmp_path / "published" / "trust.json"
    path.parent.mkdir()
    result = runner.invoke(
        app, ["trust", "export", "-o", str(path)], env={"AILEDGER_PASSWORD": settings.password}
    )
    assert result.exit_code == 0, result.output
    return path


def _swap_identity(settings, log_path, *, rebind: bool) -> str:
    """The attack of issue 11: rewrite record 5 and the tree, register a log of the same name
    in the real AnchorRegistry under the attacker's key, anchor the forged root, rewrite the
    stored head and anchor rows and the keystore's plain-text operator address. With
    ``rebind`` the attacker also replaces the log's signed identity with one of its own."""
    attacker = dev_accounts(6)[5]
    store = SqliteStore(log_path)  # opening re-creates the triggers: open before dropping
    conn = sqlite3.connect(log_path, isolation_level=None)
    triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for (trigger,) in triggers:
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("UPDATE records SET entry = ? WHERE idx = 5", (b"record 5: forged",))
    _recompute_all_nodes(conn)
    with Platform.open(settings) as platform:
        registry = platform.contract("AnchorRegistry")
        anchorer = Anchorer.register(registry, "decisions", admin=attacker, signer=attacker)
        forged_root = TransparencyLog(store).root(10)
        signed = anchorer.sign(TreeHead(anchorer.log_id, 10, forged_root, int(time.time() * 1000)))
        anchor = anchorer.anchor(signed)
    conn.execute("DELETE FROM anchors")
    conn.execute("DELETE FROM tree_heads")
    store.add_head(signed)
    store.add_anchor(anchor)
    if rebind:
        conn.execute("DELETE FROM log_meta WHERE key = 'identity'")
        bind_identity(store, anchorer, "decisions", attacker)
    store.close()
    conn.close()
    keyfile = settings.home / "keystore" / "operator.json"
    data = json.loads(keyfile.read_text())
    data["address"] = attacker.address[2:].lower()
    keyfile.write_text(json.dumps(data))
    return attacker.address


def test_verify_prints_the_identity_and_that_it_is_not_pinned(log_path):
    result = runner.invoke(app, ["log", "verify"])
    assert result.exit_code == 0, result.output
    assert "identity NOT pinned" in result.output
    assert "operator 0x" in result.output and "AnchorRegistry 0x" in result.output


def test_verify_with_the_published_trust_root_says_pinned(trust_file):
    result = runner.invoke(app, ["log", "verify", "--trust", str(trust_file)])
    assert result.exit_code == 0, result.output
    assert f"identity pinned by trust root {trust_file}" in result.output


def test_identity_swap_fails_verify_without_pins(log_path, settings):
    # Before: `log verify` exited 0 and printed "verified" for this rewritten history.
    _swap_identity(settings, log_path, rebind=False)
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, IdentityMismatchError), result.output
    assert "changed identity since its operator created it" in result.exception.message
    assert "operator was" in result.exception.message


def test_identity_swap_with_a_forged_identity_fails_verify_with_pins(
    log_path, settings, trust_file
):
    real_operator = json.loads(trust_file.read_text())["operator"]["address"]
    attacker = _swap_identity(settings, log_path, rebind=True)
    # Without pins nothing in the data dir is left to tell (the attacker rewrote all of it),
    # and the output says the identity was not pinned and names the attacker.
    unpinned = runner.invoke(app, ["log", "verify"])
    assert "identity NOT pinned" in unpinned.output and attacker in unpinned.output
    for pins in (["--trust", str(trust_file)], ["--operator", real_operator]):
        result = runner.invoke(app, ["log", "verify", *pins])
        assert isinstance(result.exception, IdentityMismatchError), result.output
        assert f"operator {attacker}, pinned {real_operator}" in result.exception.message


def test_missing_identity_record_fails_verify(log_path):
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TRIGGER log_meta_no_delete")
    conn.execute("DELETE FROM log_meta WHERE key = 'identity'")
    conn.close()
    result = runner.invoke(app, ["log", "verify"])
    assert isinstance(result.exception, IdentityMismatchError)
    assert "has no identity signed by its operator" in result.exception.message


def test_trust_and_flag_pins_together_are_refused(trust_file):
    result = runner.invoke(
        app, ["log", "verify", "--trust", str(trust_file), "--operator", "0x" + "11" * 20]
    )
    assert isinstance(result.exception, InvalidInputError)
    assert "exclusive" in result.exception.message


def test_tampered_trust_root_is_refused(trust_file):
    data = json.loads(trust_file.read_text())
    data["operator"]["address"] = dev_accounts(6)[5].address  # swap in another operator
    trust_file.write_text(json.dumps(data))
    result = runner.invoke(app, ["log", "verify", "--trust", str(trust_file)])
    assert isinstance(result.exception, IntegrityError)
    assert "not by its operator" in result.exception.message


# --- `log proof` / `log verify-proof`: one proof format for any record --------------------------


@pytest.fixture
def proof_file(log_path, tmp_path):
    path = tmp_path / "record7.json"
    result = runner.invoke(app, ["log", "proof", "decisions", "7", "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert "ailedger.log.raw-proof/v1, leaf 7 of 10" in result.output, result.output
    return path


def test_proof_of_any_record_verifies_for_a_stranger_with_the_published_trust_root(
    proof_file, trust_file
):
    assert json.loads(proof_file.read_text())["record"] == "0x" + b"record 7".hex()
    result = runner.invoke(
        app, ["log", "verify-proof", str(proof_file), "--trust", str(trust_file)]
    )
    assert result.exit_code == 0, result.output
    assert "VERIFIED: ailedger.log.raw-proof/v1 record 7" in result.output
    assert f"identity pinned by trust root {trust_file}" in result.output


def test_proof_of_a_record_changed_after_proving_is_not_verified(proof_file):
    bundle = json.loads(proof_file.read_text())
    bundle["record"] = "0x" + b"record 7: forged".hex()
    proof_file.write_text(json.dumps(bundle))
    result = runner.invoke(app, ["log", "verify-proof", str(proof_file)])
    assert result.exit_code == 1
    assert "NOT VERIFIED: leaf_hash: the record was altered" in result.output


def test_proof_verified_against_another_operator_fails_identity(proof_file):
    other = dev_accounts(6)[5].address
    result = runner.invoke(app, ["log", "verify-proof", str(proof_file), "--operator", other])
    assert result.exit_code == 1
    assert "NOT VERIFIED: identity: identity differs from command-line pins" in result.output


def test_proof_of_an_unanchored_record_is_not_found(log_path, tmp_path):
    result = runner.invoke(app, ["log", "proof", "decisions", "11", "-o", str(tmp_path / "p")])
    assert isinstance(result.exception, NotFoundError)
    assert "log entry 11 is not anchored yet" in result.exception.message


def test_proof_of_an_unknown_log_is_not_found_and_creates_no_file(log_path, settings, tmp_path):
    result = runner.invoke(app, ["log", "proof", "nosuch", "0", "-o", str(tmp_path / "p")])
    assert isinstance(result.exception, NotFoundError)
    assert not (settings.home / "logs" / "nosuch.sqlite3").exists()


def test_verify_proof_of_a_non_json_file_is_an_input_error(log_path, tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text("{not json")
    result = runner.invoke(app, ["log", "verify-proof", str(path)])
    assert isinstance(result.exception, InvalidInputError)
    assert "is not JSON" in result.exception.message


def test_proof_of_a_kind_the_record_is_not_names_what_it_expected(log_path, tmp_path):
    out = tmp_path / "p.json"
    result = runner.invoke(
        app, ["log", "proof", "decisions", "0", "-o", str(out), "--kind", "ailedger.log.proof/v1"]
    )
    assert isinstance(result.exception, InvalidInputError)
    assert "record is not canonical JSON" in result.exception.message
    result = runner.invoke(app, ["log", "proof", "decisions", "0", "-o", str(out), "--kind", "x"])
    assert "unknown bundle_type 'x': expected one of" in result.exception.message
    assert "ailedger.audit.proof/v1" in result.exception.message
