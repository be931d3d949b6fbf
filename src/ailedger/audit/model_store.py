"""Trained models kept in the data dir, so that a server decides with a model loaded by id.

Layout, under ``<home>/audit/models/``::

    <model_id>.pkl         the serialized estimator; its SHA-256 is the model id
    <model_id>.card.json   its model card
    served                 the id of the model the API decides with

Why a stored model is *canonicalized* first: pickling a freshly fitted LightGBM
model and pickling the same model after one round trip through pickle give
different bytes (pickle's memo sees different object sharing), though both
predict identically; from the first round trip on the bytes are stable. So
:meth:`ModelStore.save` stores the round-tripped form and re-issues the card
with the id of those bytes. Loading checks the file against that id *before*
unpickling, and the loaded estimator hashes to the same id again, so
:class:`~ailedger.audit.AuditedModel` accepts it with its card.

Unpickling runs code; the store only ever unpickles files of the operator's own
data dir whose hash is the id asked for.

Example::

    >>> store = open_model_store(settings)  # doctest: +SKIP
    >>> served = served_credit_model(settings)  # trains and saves on first use  # doctest: +SKIP
    >>> store.load(served.card.model_id).card.name  # doctest: +SKIP
    'german-credit-lgbm'
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path

from ailedger.audit.credit import TrainedCreditModel, train_credit_model
from ailedger.audit.model_card import ModelCard, model_id_of, serialize_model
from ailedger.config import Settings
from ailedger.errors import IntegrityError, InvalidInputError, NotFoundError

_MODEL_ID = re.compile(r"^[0-9a-f]{64}$")
_SERVED = "served"


class ModelStore:
    """Estimators and their cards, by model id, in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, trained: TrainedCreditModel) -> TrainedCreditModel:
        """Store a trained model; return it in its stored form (canonical bytes, re-issued card).

        Saving the same model twice stores it once.
        """
        data = serialize_model(pickle.loads(serialize_model(trained.estimator)))
        model_id = hashlib.sha256(data).hexdigest()
        card = trained.card.model_copy(update={"model_id": model_id})
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_atomically(self._model_path(model_id), data)
        _write_atomically(self._card_path(model_id), card.model_dump_json(indent=2).encode())
        return TrainedCreditModel(estimator=pickle.loads(data), card=card)

    def load(self, model_id: str) -> TrainedCreditModel:
        """The stored model ``model_id``; ``NotFoundError`` if there is none.

        Raises ``IntegrityError`` if its file no longer hashes to its id, or its card
        names another model.
        """
        _check_model_id(model_id)
        try:
            data = self._model_path(model_id).read_bytes()
            card_json = self._card_path(model_id).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"no stored model with id {model_id} in {self.directory}", field="model_id"
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != model_id:
            raise IntegrityError(
                f"stored model file was altered: expected sha256 {model_id}, got {actual}",
                field="model_id",
            )
        card = ModelCard.model_validate_json(card_json)
        if card.model_id != model_id:
            raise IntegrityError(
                f"stored model card names another model: expected {model_id}, got {card.model_id}",
                field="model_card",
            )
        estimator = pickle.loads(data)
        # A stored model is canonical (see the module docstring), so this holds.
        if model_id_of(estimator) != model_id:
            raise IntegrityError(
                f"stored model {model_id} does not serialize back to its id", field="model_id"
            )
        return TrainedCreditModel(estimator=estimator, card=card)

    def ids(self) -> list[str]:
        """Ids of the stored models, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(
            path.stem for path in self.directory.glob("*.pkl") if _MODEL_ID.match(path.stem)
        )

    def served_id(self) -> str | None:
        """The id of the model to decide with, or ``None`` if none was chosen."""
        try:
            return (self.directory / _SERVED).read_text().strip() or None
        except FileNotFoundError:
            return None

    def serve(self, model_id: str) -> None:
        """Make the stored model ``model_id`` the one to decide with."""
        _check_model_id(model_id)
        if not self._model_path(model_id).exists():
            raise NotFoundError(f"no stored model with id {model_id}", field="model_id")
        _write_atomically(self.directory / _SERVED, (model_id + "\n").encode())

    def _model_path(self, model_id: str) -> Path:
        return self.directory / f"{model_id}.pkl"

    def _card_path(self, model_id: str) -> Path:
        return self.directory / f"{model_id}.card.json"


def open_model_store(settings: Settings) -> ModelStore:
    """The model store of this data dir (``<home>/audit/models``)."""
    settings.ensure_home()
    return ModelStore(settings.home / "audit" / "models")


def served_credit_model(
    settings: Settings, train: Callable[[], TrainedCreditModel] = train_credit_model
) -> TrainedCreditModel:
    """The served model of this data dir; on first use, train the credit model and serve it."""
    store = open_model_store(settings)
    served = store.served_id()
    if served is not None:
        return store.load(served)
    stored = store.save(train())
    store.serve(stored.card.model_id)
    return stored


def _check_model_id(model_id: object) -> None:
    if not isinstance(model_id, str) or not _MODEL_ID.match(model_id):
        raise InvalidInputError(
            f"model_id must be 64 lowercase hex digits, got {model_id!r}", field="model_id"
        )


def _write_atomically(path: Path, data: bytes) -> None:
    # Write, flush to disk, then rename: a crash leaves the old file or the new, never half.
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
