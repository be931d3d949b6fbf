"""The same job on Flower's deployment runtime: a SuperLink and SuperNodes on loopback.

``server`` and ``client`` are the ServerApp and ClientApp Flower loads from the
app this module writes (``[tool.flwr.app.components]``). The ServerApp process
opens the platform from ``AILEDGER_*`` (inherited from the SuperLink) and runs
:func:`~ailedger.federated.job.run_job` on the grid Flower hands it; each
SuperNode's ClientApp is the hospital its ``partition-id`` names, with that
hospital's key from the keystore and its share of the data. No Ray: only the
deployment runtime's own processes, every one bound to 127.0.0.1, with Flower's
offline settings (no telemetry, no update check, no dependency installation).

:func:`run_deployed` starts the processes, runs the app with ``flwr run`` and
stops them (by their process ids) whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from ailedger.config import Settings
from ailedger.errors import AILedgerError, NotFoundError
from ailedger.federated.apps import Behaviour, Hospital, local_update, signed_reply
from ailedger.federated.data import FederatedData, split_hospitals
from ailedger.federated.job import LOG_NAME, ClientSpec, JobSettings, run_job
from ailedger.federated.model import make_model
from ailedger.federated.records import finished_jobs

__all__ = ["client", "flower_environment", "run_deployed", "server"]

JOB_CONFIG_KEY = "ailedger-job"
CLAIM_CONFIG_KEY = "ailedger-claim"
FEDERATION = "ailedger"
STARTUP_SECONDS = 60.0


def settings_to_config(settings: JobSettings) -> str:
    """``settings`` as the JSON string the app's run config carries."""
    return json.dumps(asdict(settings))


@lru_cache(maxsize=4)
def settings_from_config(encoded: str) -> JobSettings:
    """The :class:`JobSettings` of a run config's JSON string."""
    raw = json.loads(encoded)
    clients = tuple(
        ClientSpec(c["name"], Behaviour(c["behaviour"]), c["label_noise"])
        for c in raw.pop("clients")
    )
    return JobSettings(clients=clients, **raw)


@lru_cache(maxsize=4)
def _split(encoded: str) -> FederatedData:
    settings = settings_from_config(encoded)
    return split_hospitals(
        settings.task, [c.label_noise for c in settings.clients], seed=settings.seed
    )


server = ServerApp()


@server.main()
def _serve(grid: Grid, context: Context) -> None:
    from ailedger.platform import Platform

    settings = settings_from_config(str(context.run_config[JOB_CONFIG_KEY]))
    with Platform.open(Settings()) as platform:
        run_job(platform, settings, grid=grid, claim=bool(context.run_config[CLAIM_CONFIG_KEY]))


client = ClientApp()


@client.train()
def _train(message: Message, context: Context) -> Message:
    from ailedger.core.identity import Keystore

    encoded = str(context.run_config[JOB_CONFIG_KEY])
    settings = settings_from_config(encoded)
    index = int(context.node_config["partition-id"])
    spec = settings.clients[index]
    data = _split(encoded)
    ailedger_settings = Settings()
    account = Keystore(ailedger_settings).unlock(spec.name, ailedger_settings.password or "")
    hospital = Hospital(spec.name, account, data.hospitals[index], spec.behaviour)
    model = make_model(settings.model, data.n_features, data.classes)
    global_arrays = message.content["arrays"].to_numpy_ndarrays()
    return signed_reply(message, hospital, local_update(hospital, model, global_arrays))


def flower_environment(home: Path, bin_dir: Path) -> dict[str, str]:
    """The environment every Flower process needs offline, its state inside ``home``.

    ``bin_dir`` goes first on PATH: the SuperLink and SuperNodes start Flower's
    other commands (``flower-superexec``, ``flwr-serverapp``, ``flwr-clientapp``) by name.
    """
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "FLWR_HOME": str(home),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    }


def _flower_bin() -> Path:
    """Where Flower's commands are: next to this Python first, else on PATH."""
    here = Path(sys.executable).parent
    if (here / "flower-superlink").exists():
        return here
    found = shutil.which("flower-superlink")
    if found is None:
        raise NotFoundError("flower-superlink: not installed (pip install flwr)", field="deploy")
    return Path(found).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_app(app_dir: Path, settings: JobSettings, claim: bool) -> None:
    app_dir.mkdir(parents=True, exist_ok=True)
    job = json.dumps(settings_to_config(settings))  # a TOML basic string is a JSON string
    (app_dir / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "ailedger-fl"
version = "1.0.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "ailedger"

[tool.flwr.app.components]
serverapp = "ailedger.federated.deploy:server"
clientapp = "ailedger.federated.deploy:client"

[tool.flwr.app.config]
{JOB_CONFIG_KEY} = {job}
{CLAIM_CONFIG_KEY} = {"true" if claim else "false"}
"""
    )


def _finished_jobs(settings: Settings) -> int:
    """How many jobs the fl log holds a last round for."""
    from ailedger.core.log import TransparencyLog, open_store

    log = TransparencyLog(open_store(settings, name=LOG_NAME))
    try:
        return finished_jobs(log)
    finally:
        log.close()


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AILedgerError(f"flower-superlink exited with {process.returncode}; see {log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AILedgerError(f"flower-superlink did not listen on 127.0.0.1:{port}; see {log}")


def run_deployed(
    settings: Settings, job: JobSettings, *, claim: bool = True, timeout: float = 900.0
) -> Path:
    """Run ``job`` on a SuperLink and one SuperNode per hospital, all on loopback.

    Returns the directory holding the processes' logs. Raises when ``flwr run``
    fails or times out; the processes are stopped either way.
    """
    bin_dir = _flower_bin()
    work = settings.home / "flower"
    work.mkdir(parents=True, exist_ok=True)
    env = flower_environment(work / "home", bin_dir)
    port = _free_port()
    (work / "home").mkdir(exist_ok=True)
    (work / "home" / "config.toml").write_text(
        f'[superlink]\ndefault = "{FEDERATION}"\n\n'
        f'[superlink.{FEDERATION}]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
    )
    _write_app(work / "app", job, claim)
    processes: list[subprocess.Popen] = []
    jobs_before = _finished_jobs(settings)

    def start(name: str, *args: str) -> subprocess.Popen:
        log = open(work / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [str(bin_dir / args[0]), *args[1:]], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        processes.append(process)
        return process

    try:
        link = start(
            "superlink",
            "flower-superlink",
            "--insecure",
            "--disable-runtime-dependency-installation",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        )
        _wait_for_port(port, link, work / "superlink.log")
        for index in range(len(job.clients)):
            start(
                f"supernode-{index}",
                "flower-supernode",
                "--insecure",
                "--superlink",
                f"127.0.0.1:{port}",
                "--host",
                "127.0.0.1",
                "--port",
                str(_free_port()),
                "--node-config",
                f"partition-id={index} num-partitions={len(job.clients)}",
            )
        result = subprocess.run(
            [str(bin_dir / "flwr"), "run", str(work / "app"), FEDERATION, "--stream"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        (work / "flwr-run.log").write_text(result.stdout + result.stderr)
        # `flwr run` exits 0 even when the run failed: the fl log says whether the job ran.
        if result.returncode != 0 or _finished_jobs(settings) <= jobs_before:
            raise AILedgerError(
                f"flwr run did not complete the job (exit {result.returncode}); "
                f"see the logs in {work}"
            )
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return work
