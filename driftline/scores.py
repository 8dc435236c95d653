"""Class scores (a classifier's predicted probabilities), named once.

A classifier with ``predict_proba`` has one score per class for each row. Wherever scores travel (the inference
event, the parquet rows, ingested rows, the reference profile, the performance-estimation apps) the score of class
``c`` is the column ``proba_<c>``, classes in the model's ``classes_`` order. Everything that names a score column
imports these functions; nothing writes the prefix again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SCORE_PREFIX = "proba_"


def score_column(label: Any) -> str:
    """The column that holds the score of class ``label`` (``1`` -> ``proba_1``, ``"setosa"`` -> ``proba_setosa``)."""
    return f"{SCORE_PREFIX}{_label_text(label)}"


def score_columns(classes: Iterable[Any]) -> list[str]:
    """The score columns of a classifier whose ``classes_`` are ``classes``, in that order."""
    return [score_column(label) for label in classes]


def is_score_column(name: str) -> bool:
    return name.startswith(SCORE_PREFIX) and len(name) > len(SCORE_PREFIX)


def class_of(column: str) -> str:
    """The class a score column belongs to, as text (``proba_1`` -> ``"1"``)."""
    if not is_score_column(column):
        raise ValueError(f"{column!r} is not a score column: expected {SCORE_PREFIX}<class>")
    return column[len(SCORE_PREFIX) :]


def _label_text(label: Any) -> str:
    # numpy scalars print as their Python value; a float class that is whole (1.0) is named as the integer
    item = getattr(label, "item", None)
    if callable(item):
        label = item()
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label)
