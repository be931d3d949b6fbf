"""`ailedger fl ...` on a data dir where a job ran without claims; hospitals claim by CLI."""

from __future__ import annotations

import pytest
from rich.console import Console
from typer.testing import CliRunner

from ailedger.cli import fl as fl_cli
from ailedger.cli.fl import app
from ailedger.errors import InvalidInputError, NotFoundError

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("fl-cli") / "home"


def _use(home, patch: pytest.MonkeyPatch) -> None:
    patch.setenv("AILEDGER_HOME", str(home))
    patch.setenv("AILEDGER_PASSWORD", "pw")
    patch.setenv("AILEDGER_KEYSTORE_SCRYPT_N", "16")
    patch.delenv("AILEDGER_CHAIN_URL", raising=False)
    # Wide enough that tables do not wrap the words the tests look for.
    patch.setattr(fl_cli, "console", Console(width=300, soft_wrap=True))


@pytest.fixture
def env(home, monkeypatch):
    _use(home, monkeypatch)


@pytest.fixture(scope="module")
def ran(home):
    with pytest.MonkeyPatch.context() as patch:
        _use(home, patch)
        result = runner.invoke(app, ["run", "--hospitals", "4", "--rounds", "2", "--no-claim"])
    assert result.exit_code == 0, result.output
    return result.output


def test_run_prints_rounds_and_scores(ran):
    assert "Job 1: breast-cancer with median" in ran
    assert "hospital-3" in ran and "no positive contribution" in ran


def test_rounds_and_scores_read_the_log_back(ran, env):
    rounds = runner.invoke(app, ["rounds"])
    assert rounds.exit_code == 0, rounds.output
    assert rounds.output.count("0x") >= 4  # a global model hash and a reward root per round
    scores = runner.invoke(app, ["scores", "--job", "1"])
    assert "hospital-1" in scores.output and "Shapley" in scores.output


def test_a_hospital_claims_its_rewards_once(ran, env):
    first = runner.invoke(app, ["claim", "hospital-1"])
    assert first.exit_code == 0, first.output
    assert "claimed in block" in first.output
    again = runner.invoke(app, ["claim", "hospital-1"])
    assert "claimed before" in again.output and "claimed in block" not in again.output


def test_a_free_rider_has_nothing_to_claim(ran, env):
    result = runner.invoke(app, ["claim", "hospital-3"])
    assert "no reward in this job" in result.output


def test_unknown_job_and_strategy_are_clear_errors(ran, env):
    result = runner.invoke(app, ["rounds", "--job", "99"])
    assert isinstance(result.exception, NotFoundError)
    assert "no federated job 99" in str(result.exception)
    result = runner.invoke(app, ["run", "--strategy", "bogus"])
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "strategy"
