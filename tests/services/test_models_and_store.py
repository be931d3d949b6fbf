"""Served models (inputs checked, hashes pinned) and the host's durable voucher store."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from eth_account import Account

from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError
from ailedger.services import VoucherSigner, VoucherStore, build_model, load_model, save_model
from ailedger.services.store import StaleVoucherError

consumer = Account.from_key(b"\x05" * 32)
SIGNER = VoucherSigner(31337, "0x" + "11" * 20)


# --- models -----------------------------------------------------------------------------------


def test_diagnosis_scores_equal_the_fitted_pipelines_probabilities(model):
    rows = np.array([list(example.values()) for example in model.examples])
    expected = model.estimator.predict_proba(rows)[:, 1]
    served = [model.predict(example)["p_malignant"] for example in model.examples]
    assert np.allclose(served, expected, atol=1e-6)


def test_diagnosis_labels_follow_the_threshold(model):
    for example in model.examples[:20]:
        output = model.predict(example)
        assert output["diagnosis"] == ("malignant" if output["p_malignant"] >= 0.5 else "benign")


def test_model_hash_is_the_sha256_of_the_pickled_estimator(model):
    import hashlib

    assert model.model_hash == hashlib.sha256(model.model_bytes).digest()
    unpickled = pickle.loads(model.model_bytes)
    assert np.array_equal(unpickled[-1].coef_, model.estimator[-1].coef_)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda x: x.pop("mean area"), "input.mean area"),
        (lambda x: x.update(extra=1.0), "input.extra"),
        (lambda x: x.update({"mean area": float("nan")}), "input.mean area"),
        (lambda x: x.update({"mean area": True}), "input.mean area"),
        (lambda x: x.update({"mean area": 10**400}), "input.mean area"),  # beyond a float
    ],
)
def test_bad_inputs_are_named(model, change, field):
    inputs = dict(model.examples[0])
    change(inputs)
    with pytest.raises(InvalidInputError) as raised:
        model.predict(inputs)
    assert raised.value.field == field


def test_non_object_input_is_refused(model):
    with pytest.raises(InvalidInputError, match="expected a JSON object"):
        model.predict([1, 2, 3])


def test_saved_model_loads_with_the_same_hash_and_outputs(model, tmp_path):
    save_model(model, tmp_path)
    loaded = load_model(tmp_path, "diagnosis", model.model_hash)
    assert loaded.model_hash == model.model_hash
    assert loaded.predict(model.examples[7]) == model.predict(model.examples[7])


def test_saved_model_with_another_hash_is_refused(model, tmp_path):
    save_model(model, tmp_path)
    with pytest.raises(IntegrityError, match="does not match the registry"):
        load_model(tmp_path, "diagnosis", b"\x00" * 32)


def test_unsaved_model_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="services publish"):
        load_model(tmp_path, "diagnosis")


def test_unknown_builtin_model_is_not_found():
    with pytest.raises(NotFoundError, match="expected one of diagnosis, credit"):
        build_model("horoscope")


# --- voucher store ----------------------------------------------------------------------------


def test_store_keeps_the_latest_voucher_per_channel(tmp_path):
    with VoucherStore(tmp_path / "v.sqlite3") as store:
        store.accept(SIGNER.sign(consumer, 1, 1, 10), price=10)
        store.accept(SIGNER.sign(consumer, 1, 2, 20), price=10)
        store.accept(SIGNER.sign(consumer, 2, 1, 10), price=10)
        latest = store.latest(1)
        assert (latest.voucher.nonce, latest.voucher.amount, latest.calls) == (2, 20, 2)
        assert [a.voucher.channel_id for a in store.all()] == [1, 2]


def test_store_refuses_a_voucher_not_newer_than_the_stored_one(tmp_path):
    with VoucherStore(tmp_path / "v.sqlite3") as store:
        store.accept(SIGNER.sign(consumer, 1, 5, 50), price=10)
        with pytest.raises(StaleVoucherError, match="already accepted nonce 5"):
            store.accept(SIGNER.sign(consumer, 1, 5, 60), price=10)
        with pytest.raises(StaleVoucherError):
            store.accept(SIGNER.sign(consumer, 1, 6, 55), price=10)
        assert store.latest(1).voucher.amount == 50


def test_two_stores_on_one_file_accept_a_payment_only_once(tmp_path):
    path = tmp_path / "v.sqlite3"
    with VoucherStore(path) as first, VoucherStore(path) as second:
        voucher = SIGNER.sign(consumer, 1, 1, 10)
        first.accept(voucher, price=10)
        with pytest.raises(StaleVoucherError):
            second.accept(voucher, price=10)


def test_store_survives_reopening(tmp_path):
    path = tmp_path / "v.sqlite3"
    voucher = SIGNER.sign(consumer, 3, 4, 40)
    with VoucherStore(path) as store:
        store.accept(voucher, price=10)
    with VoucherStore(path) as store:
        assert store.latest(3).voucher == voucher


def test_store_rejects_an_unknown_synchronous_mode(tmp_path):
    with pytest.raises(InvalidInputError, match="synchronous"):
        VoucherStore(tmp_path / "v.sqlite3", synchronous="OFF")
