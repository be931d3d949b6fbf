"""SIGKILL at every step of a paid call: the host dies after signing the receipt, after
accepting the voucher, and after logging the call (before answering).

After each kill and a restart: the call was not acknowledged (the client got no
answer), the call log verifies, every voucher the host holds (and would claim) is
backed by a logged call, and the consumer's next call goes through and is claimed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from ailedger.config import Settings
from ailedger.platform import Platform
from ailedger.services import VoucherStore, diagnosis_model, service_contracts
from ailedger.services.runtime import log_name_for, voucher_store_path

# The data dir with the diagnosis model published, and how to start and call its host.
from tests.services.test_serve_process import _client, _start, env, port  # noqa: F401

pytestmark = pytest.mark.slow

# The services CLI, with the host killing itself right after one step of a paid call.
SERVE_KILLED_AFTER = """
import os, signal, sys
from ailedger.core.log import TransparencyLog
from ailedger.services.receipts import ReceiptSigner
from ailedger.services.store import VoucherStore
step = {"receipt": (ReceiptSigner, "sign"), "voucher": (VoucherStore, "accept"),
        "record": (TransparencyLog, "append")}[os.environ["KILL_AFTER_STEP"]]
original = getattr(*step)
def then_die(self, *args, **kwargs):
    original(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(*step, then_die)
from ailedger.cli.main import app
app(sys.argv[1:])
"""


def _logged_nonces(platform: Platform, channel_id: int) -> list[int]:
    log = platform.open_log(log_name_for("diagnosis"))
    try:
        receipts = [json.loads(log.record(i))["receipt"] for i in range(log.size)]
    finally:
        log.close()
    return [int(r["nonce"]) for r in receipts if int(r["channel_id"]) == channel_id]


@pytest.mark.parametrize("step", ["receipt", "record", "voucher"])
def test_host_killed_after_each_step_of_a_paid_call_loses_and_overcharges_nothing(
    env,  # noqa: F811
    port,  # noqa: F811
    step,
):
    first = _start(env, port)
    with Platform.open(Settings()) as platform:
        client = _client(platform)
        listing = client.discover("diagnosis")
        model = diagnosis_model()
        paid = client.call(listing, model.examples[0])
        channel_id = paid.voucher.channel_id
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)

        # The same host command, killing itself after `step`.
        dying = _start({**env, "KILL_AFTER_STEP": step}, port, SERVE_KILLED_AFTER)
        with pytest.raises(Exception):  # noqa: B017 -- any failure: no answer came back
            client.call(listing, model.examples[1])
        assert dying.wait(timeout=60) == -signal.SIGKILL

        done = subprocess.run(
            [sys.executable, "-m", "ailedger.cli", "log", "verify", log_name_for("diagnosis")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        with VoucherStore(voucher_store_path(platform.settings, "diagnosis")) as store:
            held = store.latest(channel_id).voucher.nonce
        logged = _logged_nonces(platform, channel_id)
        assert held <= max(logged), (
            f"the host holds voucher {held} but logged calls only up to {max(logged)}: "
            "it would claim payment for a call it never recorded"
        )
        restarted = _start(env, port)
        try:
            again = client.call(listing, model.examples[2])
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=60)
        channel = service_contracts(platform).channels.get(channel_id)
        assert channel.claimed == again.voucher.amount  # claimed up to the last answered call
