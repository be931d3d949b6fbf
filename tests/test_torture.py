"""Torture: many processes on one data dir, random SIGKILLs, nothing acknowledged lost.

On one data dir, for a bounded time: a real ``ailedger serve`` (uvicorn) taking
``POST /audit/decisions`` from two client threads, writer processes appending to the
same decision log, dashboard reads, ``ailedger log verify`` in a loop and one
``ailedger demo`` run, while a seeded random schedule SIGKILLs the server, the writers
and the verifiers (and restarts them). The demo is not killed: a paid market purchase
killed between payment and record is the market's reconciliation, not the log's.

Afterwards every acknowledged write (a 201 response, an ``ack`` line) is in the log
exactly once at the index it was acknowledged with and provable against the final
anchored root, ``ailedger log verify`` passes on every log, and every payment the
DataMarket made on chain has exactly one record on the market log. Runs on SQLite and on
PostgreSQL (``AILEDGER_DATABASE_URL``, a fresh database). Prints the counts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ailedger.audit import load_german_credit
from ailedger.audit.german_credit import MODEL_FEATURES
from ailedger.audit.model_store import served_credit_model
from ailedger.config import Settings
from ailedger.core.chain.anvil import free_port
from ailedger.core.log import hash_leaf
from ailedger.platform import Platform
from tests.conftest import require_service

pytestmark = pytest.mark.slow

STORM_SECONDS = 30.0  # at least; the storm lasts until the demo in it has finished
TOKEN = "torture-token"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
WRITER = Path(__file__).with_name("torture_writer.py")
CLI = [sys.executable, "-m", "ailedger.cli"]


@dataclass
class Tally:
    """What was acknowledged, by whom, and what went wrong on the way."""

    api: dict[str, int] = field(default_factory=dict)  # decision id -> leaf index
    writers: dict[str, int] = field(default_factory=dict)  # record -> leaf index
    kills: Counter = field(default_factory=Counter)
    verify_runs: int = 0
    verify_failures: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(params=["sqlite", "postgres"])
def torture_env(request, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILEDGER_")}
    env.update(
        AILEDGER_HOME=str(tmp_path / "home"),
        AILEDGER_PASSWORD="torture-password",
        AILEDGER_KEYSTORE_SCRYPT_N="16",
        AILEDGER_API_TOKEN=TOKEN,
    )
    database = None
    if request.param == "postgres":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        import psycopg

        database = f"torture_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        env["AILEDGER_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{database}"
    yield request.param, env
    if database is not None:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        home=env["AILEDGER_HOME"],
        password=env["AILEDGER_PASSWORD"],
        keystore_scrypt_n=int(env["AILEDGER_KEYSTORE_SCRYPT_N"]),
        database_url=env.get("AILEDGER_DATABASE_URL"),
    )


class Server:
    """``ailedger serve`` as a process that the storm kills and restarts."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.port = env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, *, wait: bool = True) -> None:
        self.process = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if wait:
            self.wait_until_up()

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("ailedger serve did not come up within 60 s")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _applications() -> list[dict]:
    rows = load_german_credit().features[list(MODEL_FEATURES)].iloc[:50].to_dict("records")
    return [{k: v.item() if hasattr(v, "item") else v for k, v in row.items()} for row in rows]


def _api_client(server: Server, tally: Tally, stop: threading.Event, seed: int) -> None:
    rng, applications = random.Random(seed), _applications()
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            try:
                response = client.post(
                    f"{server.url}/audit/decisions",
                    json=rng.choice(applications),
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            except httpx.HTTPError:
                time.sleep(0.05)  # the server was killed: not acknowledged
                continue
            if response.status_code == 201 or response.status_code == 200:
                body = response.json()
                with tally.lock:
                    assert body["decision_id"] not in tally.api
                    tally.api[body["decision_id"]] = body["leaf_index"]


def _dashboard_reader(server: Server, tally: Tally, stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            for page in ("/ui/audit/decisions", "/audit/decisions?limit=50"):
                try:
                    response = client.get(f"{server.url}{page}")
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if response.status_code != 200:
                    with tally.lock:
                        tally.page_errors.append(f"{page}: {response.status_code}")


class Writer:
    """A writer process; its ``ack`` lines are read by a thread into the tally."""

    def __init__(self, name: str, env: dict[str, str], tally: Tally) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER), name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.started, self.acks = time.monotonic(), 0
        self.reader = threading.Thread(target=self._read, args=(tally,), daemon=True)
        self.reader.start()

    def _read(self, tally: Tally) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            _, index, record = line.split()
            with tally.lock:
                assert record not in tally.writers
                tally.writers[record] = int(index)
                self.acks += 1

    def ready_to_die(self) -> bool:
        """Once it has written (or is stuck): one killed before its first append tests
        nothing, and starting a process takes seconds on a loaded machine."""
        return self.acks > 0 or time.monotonic() - self.started > 20

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.reader.join()


def _verify_once(env: dict[str, str], tally: Tally, rng: random.Random) -> None:
    process = subprocess.Popen(
        [*CLI, "log", "verify", "decisions"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if rng.random() < 0.3:  # killed part way, like an impatient auditor
        time.sleep(rng.uniform(0.1, 1.5))
        process.send_signal(signal.SIGKILL)
    out, err = process.communicate()
    with tally.lock:
        if process.returncode == -signal.SIGKILL:
            tally.kills["log verify"] += 1
            return
        tally.verify_runs += 1
        if process.returncode != 0:
            tally.verify_failures.append((out + err).strip())


def _verifier(env: dict[str, str], tally: Tally, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        _verify_once(env, tally, rng)


def test_many_processes_with_sigkills_lose_and_duplicate_nothing_acknowledged(torture_env):
    backend, env = torture_env
    seed = int(os.environ.get("AILEDGER_TORTURE_SEED", "20261202"))
    rng = random.Random(seed)
    started = time.monotonic()
    # What `ailedger serve` needs to take decisions; the demo itself runs in the storm.
    with Platform.open(_settings(env)) as platform:
        platform.deploy_core_contracts()
        platform.open_log("decisions").close()  # registered, so `log verify` finds it
    served_credit_model(_settings(env))

    tally, stop = Tally(), threading.Event()
    server = Server(env)
    server.start()
    writers = [Writer(f"w{n}", env, tally) for n in range(2)]
    threads = [
        threading.Thread(target=_api_client, args=(server, tally, stop, seed + n)) for n in range(2)
    ]
    threads.append(threading.Thread(target=_dashboard_reader, args=(server, tally, stop)))
    threads.append(threading.Thread(target=_verifier, args=(env, tally, stop, seed)))
    for thread in threads:
        thread.start()
    demo_output = Path(env["AILEDGER_HOME"]).parent / "demo.log"
    with demo_output.open("w") as sink:
        demo = subprocess.Popen([*CLI, "demo"], env=env, stdout=sink, stderr=subprocess.STDOUT)
    timings = {"setup": time.monotonic() - started}
    try:
        deadline = time.monotonic() + STORM_SECONDS
        server_started, acks_at_start = time.monotonic(), 0
        while time.monotonic() < deadline or demo.poll() is None:
            time.sleep(rng.uniform(0.5, 2.0))
            victim = rng.choice(["server", "writer"])
            with tally.lock:
                served = len(tally.api) - acks_at_start
            slot = rng.randrange(len(writers))
            if victim == "server" and (served or time.monotonic() - server_started > 20):
                # Killed once it has answered (or is stuck), like the writers below.
                server.kill()
                server.start(wait=False)  # the clients retry until it is back
                server_started, acks_at_start = time.monotonic(), len(tally.api)
            elif victim == "writer" and writers[slot].ready_to_die():
                writers[slot].kill()
                writers[slot] = Writer(f"w{slot}-{tally.kills['writer']}", env, tally)
            else:
                continue
            tally.kills[victim] += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for writer in writers:
            writer.kill()
        server.stop()
        demo.wait(timeout=300)
    assert demo.returncode == 0, demo_output.read_text()[-3000:]
    timings["storm"] = time.monotonic() - started - timings["setup"]

    found, lost, duplicated = _check_every_acknowledged_write(env, tally)
    acknowledged = len(tally.api) + len(tally.writers)
    print(
        f"\ntorture[{backend}] seed {seed}: acknowledged {acknowledged} "
        f"(api {len(tally.api)}, writers {len(tally.writers)}), found {found}, lost {lost}, "
        f"duplicated {duplicated}; kills {dict(tally.kills)}; log verify runs "
        f"{tally.verify_runs}, failed {len(tally.verify_failures)}; page errors "
        f"{len(tally.page_errors)}; seconds { ({k: round(v) for k, v in timings.items()}) }"
    )
    assert (lost, duplicated) == (0, 0)
    assert tally.verify_failures == [], tally.verify_failures
    assert tally.page_errors == []
    assert tally.api and tally.writers and tally.kills["server"] + tally.kills["writer"] >= 5
    _every_log_verifies(env)
    _every_payment_has_its_record(env)


def _check_every_acknowledged_write(env: dict[str, str], tally: Tally) -> tuple[int, int, int]:
    """Anchor everything, then look for each acknowledged write; (found, lost, duplicated)."""
    with Platform.open(_settings(env)) as platform:
        log = platform.open_log("decisions")
        log.close_batch()
        size, root = log.size, log.root()
        anchored = log.anchors()[-1]
        assert anchored.tree_size == size and log.head().head.root_hash == root
        where: dict[str, list[int]] = {}
        for index, entry, _ in log.store.scan():
            where.setdefault(_key_of(entry), []).append(index)
        found = lost = duplicated = 0
        for key, index in [*tally.api.items(), *tally.writers.items()]:
            indexes = where.get(key, [])
            if not indexes:
                lost += 1
                continue
            found += 1
            duplicated += len(indexes) > 1
            assert indexes[0] == index, f"{key} acknowledged at {index}, stored at {indexes}"
            log.inclusion_proof(index, size).verify(hash_leaf(log.record(index)), root)
        log.close()
    return found, lost, duplicated


def _key_of(entry: bytes) -> str:
    if entry.startswith(b"torture-"):
        return entry.decode()
    return json.loads(entry)["decision_id"]


def _every_payment_has_its_record(env: dict[str, str]) -> None:
    """Every payment the DataMarket made (``Settled``/``Refunded``) is on the market log once,
    as the log holds it now: nothing here repairs it."""
    from ailedger.market.contract import open_market

    with Platform.open(_settings(env)) as platform:
        market = open_market(platform)
        paid = {event.args["purchase_id"] for event in market.payment_events()}
        log = platform.open_log("market")
        try:
            entries = log.store.entries(0, log.store.size())
            recorded = Counter(json.loads(entry).get("purchase_id") for entry in entries)
        finally:
            log.close()
    assert paid, "the demo made no market payment"
    assert {purchase: recorded[purchase] for purchase in paid} == dict.fromkeys(paid, 1)


def _every_log_verifies(env: dict[str, str]) -> None:
    url = env.get("AILEDGER_DATABASE_URL")
    if url is None:
        names = sorted(p.stem for p in (Path(env["AILEDGER_HOME"]) / "logs").glob("*.sqlite3"))
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT schema_name FROM information_schema.schemata "
                "WHERE schema_name LIKE 'log\\_%' ORDER BY 1"
            ).fetchall()
        names = [row[0].removeprefix("log_") for row in rows]
    assert {"decisions", "market"} <= set(names), names
    for name in names:
        done = subprocess.run(
            [*CLI, "log", "verify", name], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"log {name}: {done.stdout}{done.stderr}"
