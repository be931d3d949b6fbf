"""Storing trained models in the data dir and loading them back by id, checked."""

from __future__ import annotations

import hashlib

import pytest

from ailedger.audit import AuditedModel, model_id_of
from ailedger.audit.model_store import ModelStore, open_model_store, served_credit_model
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def test_saved_model_loads_back_under_its_id(store, trained):
    saved = store.save(trained)
    loaded = store.load(saved.card.model_id)
    assert model_id_of(loaded.estimator) == saved.card.model_id
    assert loaded.card == saved.card
    assert store.ids() == [saved.card.model_id]


def test_saved_card_is_the_trained_card_reissued_for_the_stored_bytes(store, trained):
    saved = store.save(trained)
    assert saved.card.model_dump(exclude={"model_id"}) == trained.card.model_dump(
        exclude={"model_id"}
    )
    stored_bytes = (store.directory / f"{saved.card.model_id}.pkl").read_bytes()
    assert hashlib.sha256(stored_bytes).hexdigest() == saved.card.model_id


def test_loaded_model_decides_like_the_trained_one(store, trained, credit_data):
    loaded = store.load(store.save(trained).card.model_id)
    features = trained.card.inputs.frame_from_columns(credit_data.features.iloc[:50])
    assert (
        loaded.estimator.predict_proba(features) == trained.estimator.predict_proba(features)
    ).all()


def test_audited_model_accepts_a_loaded_model_with_its_card(store, trained, log, accounts):
    loaded = store.load(store.save(trained).card.model_id)
    audited = AuditedModel(loaded.estimator, loaded.card, log, operator=accounts[0], threshold=0.6)
    assert audited.card.model_id == loaded.card.model_id


def test_saving_the_same_model_twice_stores_it_once(store, trained):
    first = store.save(trained)
    second = store.save(trained)
    assert first.card.model_id == second.card.model_id
    assert store.ids() == [first.card.model_id]


def test_altered_model_file_is_refused_before_unpickling(store, trained):
    model_id = store.save(trained).card.model_id
    path = store.directory / f"{model_id}.pkl"
    path.write_bytes(b"not a pickle at all")  # would raise if it were unpickled
    with pytest.raises(IntegrityError, match=f"expected sha256 {model_id}"):
        store.load(model_id)


def test_card_naming_another_model_is_refused(store, trained):
    model_id = store.save(trained).card.model_id
    card_path = store.directory / f"{model_id}.card.json"
    card_path.write_text(card_path.read_text().replace(model_id, "0" * 64))
    with pytest.raises(IntegrityError) as error:
        store.load(model_id)
    assert error.value.field == "model_card"


def test_unknown_model_id_is_not_found(store):
    with pytest.raises(NotFoundError) as error:
        store.load("ab" * 32)
    assert error.value.field == "model_id"


@pytest.mark.parametrize("model_id", ["", "../secrets", "AB" * 32, "ab" * 31, 42])
def test_malformed_model_id_is_refused(store, model_id):
    with pytest.raises(InvalidInputError) as error:
        store.load(model_id)
    assert error.value.field == "model_id"


def test_serving_an_unknown_model_is_refused_and_changes_nothing(store, trained):
    model_id = store.save(trained).card.model_id
    store.serve(model_id)
    with pytest.raises(NotFoundError):
        store.serve("cd" * 32)
    assert store.served_id() == model_id


def test_nothing_is_served_in_a_fresh_store(store):
    assert store.served_id() is None
    assert store.ids() == []


def test_served_credit_model_trains_once_then_loads(settings, trained):
    calls = []

    def train():
        calls.append(1)
        return trained

    first = served_credit_model(settings, train=train)
    second = served_credit_model(settings, train=train)
    assert len(calls) == 1
    assert first.card == second.card
    assert open_model_store(settings).served_id() == first.card.model_id
