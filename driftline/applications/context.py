"""What an application sees for one window: MLRun's ``MonitoringApplicationContext``.

``sample_df`` (the window's rows) is loaded on first access through a loader callable, and
``sample_df_stats`` (the window's statistics on the reference edges) is computed from it on first access;
an app that never touches them never pays for them.

A window of any size: an app that can work on pieces reads them with :meth:`~MonitoringApplicationContext.
iter_chunks` (the rows one row group at a time, only the columns it names) and merges what it computes, as the
built-in drift apps do with their exact sketches (:meth:`~MonitoringApplicationContext.window_sketches`); the
window is then never loaded whole. ``sample_df`` loads it whole, up to ``settings.sample_df_max_rows`` rows
(2,000,000 by default; past it :class:`~driftline.errors.WindowTooLargeError` says what to do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from driftline.records import EndpointRecord, ModelRecord

if TYPE_CHECKING:
    import pandas as pd

    from driftline.stats.reference import Reference, Window


class WindowRows(Protocol):
    """Where a window's rows come from when they can be read in pieces (:class:`driftline.applications.data.
    WindowSource` for the app function)."""

    def frame(self) -> pd.DataFrame: ...

    def chunks(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]: ...

    def is_empty(self) -> bool: ...


class MonitoringApplicationContext:
    """One window of one model endpoint, as handed to ``do_tracking``.

    Attributes (MLRun's names): ``application_name, project_name, start_infer_time, end_infer_time`` (aware UTC
    datetimes, the window is ``[start, end)``), ``endpoint_id, endpoint_name, model_endpoint`` (the
    :class:`EndpointRecord`), ``model`` (the :class:`ModelRecord`, None if it is no longer registered),
    ``feature_names, label_names, feature_stats`` (the model's reference profile; empty when the model was
    logged without ``training_set=``), ``sample_df``, ``sample_df_stats``, ``logger`` and
    ``application_kwargs``."""

    def __init__(
        self,
        *,
        application_name: str,
        project_name: str,
        start_infer_time: datetime,
        end_infer_time: datetime,
        model_endpoint: EndpointRecord,
        model: ModelRecord | None,
        sample_df_loader: Callable[[], pd.DataFrame] | None = None,
        logger: Any,
        application_kwargs: dict[str, Any] | None = None,
        artefact_reader: Callable[[str], bytes] | None = None,
        rows: WindowRows | None = None,
    ) -> None:
        if start_infer_time.tzinfo is None or end_infer_time.tzinfo is None:
            raise ValueError("start_infer_time and end_infer_time must be timezone-aware")
        self.application_name = application_name
        self.project_name = project_name
        self.start_infer_time = start_infer_time
        self.end_infer_time = end_infer_time
        self.model_endpoint = model_endpoint
        self.endpoint_id = model_endpoint.endpoint_id
        self.endpoint_name = model_endpoint.name
        self.model = model
        self.feature_names: list[str] = list((model.feature_names if model else None) or model_endpoint.feature_names)
        self.label_names: list[str] = list((model.label_names if model else None) or model_endpoint.label_names)
        self.feature_stats: dict[str, Any] = dict(model.feature_stats) if model else {}
        self.logger = logger
        self.application_kwargs: dict[str, Any] = dict(application_kwargs or {})
        if sample_df_loader is None and rows is None:
            raise ValueError("a context needs sample_df_loader or rows")
        self._rows = rows
        self._load_sample_df: Callable[[], pd.DataFrame] = sample_df_loader or rows.frame  # type: ignore[union-attr]
        self._read_artefact = artefact_reader

    def model_artefact(self, kind: str) -> Any:
        """What ``log_model`` fitted for the model (``reconstruction``, ``classifier``, ``cbpe``, ``dle``: see
        :mod:`driftline.stats.model_artefacts`), loaded once per process; None when there is none
        (:meth:`model_artefact_note` says why)."""
        entries = self.model.monitoring_artefacts if self.model else {}
        entry = entries.get(kind)
        if not isinstance(entry, dict) or "key" not in entry or self._read_artefact is None:
            return None
        from driftline.stats.model_artefacts import load_cached

        return load_cached(kind, entry, self._read_artefact)

    def model_artefact_note(self, kind: str) -> str:
        """Why :meth:`model_artefact` has nothing for ``kind``."""
        if self.model is None:
            return "the endpoint's model is no longer registered"
        skipped = (self.model.monitoring_artefacts or {}).get("skipped") or {}
        if kind in skipped:
            return f"log_model did not fit it: {skipped[kind]}"
        if not self.model.monitoring_artefacts:
            return (
                "the model was logged without monitoring artefacts; log it again with training_set=... (and "
                "label_column=... for performance estimation)"
            )
        return f"the model version has no {kind} artefact"

    @cached_property
    def sample_df(self) -> pd.DataFrame:
        """The window's rows (``start <= timestamp < end``), read on first access."""
        return self._load_sample_df()

    @cached_property
    def sample_df_stats(self) -> dict[str, dict]:
        """The window's statistics per feature, histograms re-binned on the padded reference edges
        (see :func:`driftline.stats.histograms.sample_df_stats`)."""
        from driftline.stats.histograms import sample_df_stats

        return sample_df_stats(self.sample_df, self.feature_stats)

    @property
    def sample_df_loaded(self) -> bool:
        return "sample_df" in self.__dict__

    def iter_chunks(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """The window's rows in pieces (only ``columns`` and ``timestamp`` when given; a column the window lacks
        is left out), in no particular order: one row group at a time when the rows can be read in pieces and
        ``sample_df`` is not loaded, else ``sample_df`` in one piece. Memory stays at about one piece."""
        if self._rows is not None and not self.sample_df_loaded:
            yield from self._rows.chunks(columns)
            return
        df = self.sample_df
        if columns is not None:
            df = df[[c for c in dict.fromkeys(["timestamp", *columns]) if c in df.columns]]
        if len(df):
            yield df

    def window_sketches(self, references: Mapping[str, Reference]) -> dict[str, Window]:
        """The window's sketches on the references' bins, merged exactly from :meth:`iter_chunks`."""
        from driftline.stats.reference import merge_sketches, window_sketches

        return merge_sketches([window_sketches(chunk, references) for chunk in self.iter_chunks(list(references))])

    def has_rows(self) -> bool:
        """Whether any row falls in the window (without loading it when the rows can be read in pieces)."""
        if self._rows is not None and not self.sample_df_loaded:
            return not self._rows.is_empty()
        return not self.sample_df.empty

    def __repr__(self) -> str:
        return (
            f"MonitoringApplicationContext(application_name={self.application_name!r}, "
            f"endpoint_id={self.endpoint_id!r}, start={self.start_infer_time.isoformat()}, "
            f"end={self.end_infer_time.isoformat()})"
        )
