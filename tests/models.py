"""Small real models for tests that log one: ``log_model`` loads the file and predicts a few training rows."""

from __future__ import annotations

import pickle
from typing import Any


def model_bytes(train: Any, label_column: str, seed: int = 0) -> bytes:
    """A pickled decision tree fitted on ``train``'s features (every column but ``label_column``)."""
    from sklearn.tree import DecisionTreeClassifier

    features = train.drop(columns=label_column)
    return pickle.dumps(DecisionTreeClassifier(random_state=seed).fit(features, train[label_column]))
