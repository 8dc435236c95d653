"""Offline evaluation: run any monitoring application on DataFrames or parquet, with no AWS and no running stack.

    import driftline
    evaluation = driftline.evaluate("feature_drift", sample=current_df, reference=training_df, base_period=60)
    evaluation.results_frame()      # one row per window and result, MLRun's column names

``app``: an application instance or class, a built-in app's name (``"feature_drift"`` or
``"builtin:feature_drift"``; ``"data_quality"``, ``"model_performance"``, ``"histogram_data_drift"``...), an
importable module (``"my_package.my_app[:Class]"``) or ``"path/to/file.py[:Class]"``
(:mod:`driftline.applications.loader`).
``sample``: a DataFrame, or a parquet/CSV file or parquet folder. ``reference``: a training DataFrame (its
profile is computed as ``log_model`` would), a ``ModelRecord``, a ``feature_stats`` profile, or None.

Windows: with ``base_period`` (minutes) the rows' ``timestamp`` range is cut exactly as the controller cuts it
(:func:`driftline.controller.windows.complete_windows`: ``[t, t + step)`` anchored at the first row, complete
windows only); without, the whole sample is one window. A parquet sample is never loaded whole for the
built-in drift app: its window sketches are built batch by batch (``chunk_rows`` rows at a time) and merged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.applications.base import ModelMonitoringApplicationBase, normalise_outputs
from driftline.applications.context import MonitoringApplicationContext
from driftline.applications.evaluate_cli import build_parser
from driftline.applications.loader import AppRef, load_class
from driftline.applications.parameters import check_application_kwargs
from driftline.controller.windows import complete_windows
from driftline.errors import ApplicationError, DriftlineError, InvalidRequestError
from driftline.inference_event import ROW_COLUMN_NAMES, TIMESTAMP_COLUMN
from driftline.observability import get_logger
from driftline.records import EndpointRecord, ModelRecord
from driftline.schemas import AppOutputs, to_iso
from driftline.stats.reference import (
    Reference,
    compute_reference_profile,
    merge_sketches,
    window_sketch,
    window_sketches,
)

TIMESTAMP = TIMESTAMP_COLUMN
DEFAULT_CHUNK_ROWS = 262_144
EVENT_COLUMNS = ROW_COLUMN_NAMES  # the stream's columns beside the features and labels
OFFLINE_ID = "offline"


# ------------------------------------------------------------------------------------------------- loading apps


def resolve_app(app: Any, application_kwargs: Mapping[str, Any] | None = None) -> ModelMonitoringApplicationBase:
    """An application instance from an instance, a class, or a reference the one loader resolves
    (:class:`~driftline.applications.loader.AppRef`: ``builtin:name`` or ``name``, ``package.module``,
    ``file.py``, each with an optional ``:Class``)."""
    kwargs = dict(application_kwargs or {})
    if isinstance(app, ModelMonitoringApplicationBase):
        if kwargs:
            raise InvalidRequestError("application_kwargs are for an app given by class or name, not an instance")
        return app
    if isinstance(app, type) and issubclass(app, ModelMonitoringApplicationBase):
        return app(**check_application_kwargs(app, kwargs))
    if not isinstance(app, str | Path):
        raise InvalidRequestError(
            f"app: expected an application instance or class, a built-in app name or 'file.py[:Class]', "
            f"got {type(app).__name__}"
        )
    cls = load_class(app)
    kwargs = check_application_kwargs(cls, kwargs, f"application {str(app)!r}")  # what registration checks
    try:
        return cls(**kwargs)
    except DriftlineError:
        raise
    except Exception as exc:
        raise ApplicationError(f"{cls.__name__}(**{kwargs}) failed: {exc}") from exc


# ------------------------------------------------------------------------------------------------- data sources


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A parquet file or folder, or a CSV file, as a DataFrame."""
    source = Path(path)
    if not source.exists():
        raise InvalidRequestError(f"{str(source)!r}: no such file or folder")
    if source.is_dir() or source.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(source, columns=list(columns) if columns else None)
    if source.suffix.lower() == ".csv":
        df = pd.read_csv(source)
        if TIMESTAMP in df.columns:
            df[TIMESTAMP] = pd.to_datetime(df[TIMESTAMP], utc=True)
        return df
    raise InvalidRequestError(f"{str(source)!r}: expected a .parquet/.csv file or a parquet folder")


class Sample:
    """The sample's rows: an in-memory DataFrame or a parquet dataset read window by window, batch by batch."""

    def __init__(self, sample: Any, timestamp_column: str = TIMESTAMP, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.timestamp_column = timestamp_column
        self.chunk_rows = chunk_rows
        self.frame: pd.DataFrame | None = None
        self.dataset: Any = None
        if isinstance(sample, pd.DataFrame):
            self.frame = sample
        elif isinstance(sample, str | Path):
            path = Path(sample)
            if path.exists() and (path.is_dir() or path.suffix.lower() in {".parquet", ".pq"}):
                import pyarrow.dataset as ds

                self.dataset = ds.dataset(str(path), format="parquet")
            else:
                self.frame = read_table(path)
        else:
            raise InvalidRequestError(
                f"sample: expected a DataFrame or a parquet/CSV path, got {type(sample).__name__}"
            )
        if self.frame is not None and self.frame.empty:
            raise InvalidRequestError("sample: the DataFrame has no rows; expected the rows to evaluate")

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns) if self.frame is not None else list(self.dataset.schema.names)

    @property
    def has_timestamps(self) -> bool:
        return self.timestamp_column in self.columns

    def time_range(self) -> tuple[datetime, datetime]:
        if self.frame is not None:
            stamps = _utc(self.frame[self.timestamp_column])
            low, high = stamps.min(), stamps.max()
        else:
            import pyarrow.compute as pc

            column = self.dataset.to_table(columns=[self.timestamp_column]).column(0)
            bounds = pc.min_max(column).as_py()
            low, high = pd.Timestamp(bounds["min"]), pd.Timestamp(bounds["max"])
        if pd.isna(low):
            raise InvalidRequestError(f"sample: column {self.timestamp_column!r} has no times")
        return _aware(low), _aware(high)

    def _filter(self, start: datetime | None, end: datetime | None) -> Any:
        if start is None or end is None or not self.has_timestamps:
            return None
        import pyarrow as pa
        import pyarrow.dataset as ds

        field_type = self.dataset.schema.field(self.timestamp_column).type
        tz = getattr(field_type, "tz", None)
        low = pa.scalar(start if tz else start.replace(tzinfo=None), type=field_type)
        high = pa.scalar(end if tz else end.replace(tzinfo=None), type=field_type)
        column = ds.field(self.timestamp_column)
        return (column >= low) & (column < high)

    def window_frame(self, start: datetime | None, end: datetime | None) -> pd.DataFrame:
        if self.frame is not None:
            if start is None or end is None or not self.has_timestamps:
                return self.frame
            stamps = _utc(self.frame[self.timestamp_column])
            return self.frame[(stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))].reset_index(drop=True)
        return self.dataset.to_table(filter=self._filter(start, end)).to_pandas()

    def sketches(self, start: datetime | None, end: datetime | None, references: Mapping[str, Reference]) -> dict:
        """The window's sketches. A DataFrame: ``chunk_rows`` rows at a time. Parquet: one row group and one
        column at a time (sketches are per column), so memory stays at about one column chunk whatever the
        window's size; the parts merge exactly."""
        parts: list[Mapping[str, Any]] = []
        if self.frame is not None:
            frame = self.window_frame(start, end)
            for offset in range(0, len(frame), self.chunk_rows):
                parts.append(window_sketches(frame.iloc[offset : offset + self.chunk_rows], references))
            return merge_sketches(parts)
        condition = self._filter(start, end)
        present = [name for name in references if name in self.dataset.schema.names]
        for fragment in self.dataset.get_fragments(filter=condition):
            for piece in fragment.split_by_row_group(filter=condition, schema=self.dataset.schema):
                for name in present:
                    column = piece.to_table(columns=[name], filter=condition, schema=self.dataset.schema).column(0)
                    if len(column):
                        parts.append({name: window_sketch(column.to_pandas(), references[name])})
        return merge_sketches(parts)

    def row_count(self, start: datetime | None, end: datetime | None) -> int:
        if self.frame is not None:
            return len(self.window_frame(start, end))
        return int(self.dataset.count_rows(filter=self._filter(start, end)))


def _aware(moment: Any) -> datetime:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.tz_convert(UTC).to_pydatetime()


def _utc(series: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(series, utc=True) if getattr(series.dt, "tz", None) is None else series
    return stamps


# ------------------------------------------------------------------------------------------------- reference


def reference_model(
    reference: Any, feature_names: Sequence[str] | None, label_names: Sequence[str] | None, columns: Sequence[str]
) -> ModelRecord:
    """A model record holding the reference profile (features and labels)."""
    if isinstance(reference, ModelRecord):
        return reference
    if isinstance(reference, str | Path):
        path = Path(reference)
        if path.suffix.lower() == ".json":
            try:
                reference = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise InvalidRequestError(
                    f"reference {str(path)!r}: expected a JSON feature_stats profile ({exc})"
                ) from exc
        else:
            reference = read_table(path)
    labels = list(label_names) if label_names else []
    if isinstance(reference, pd.DataFrame):
        if reference.empty:
            raise InvalidRequestError("reference: the DataFrame has no rows; expected the training set")
        ignored = set(EVENT_COLUMNS) | set(labels)
        features = list(feature_names) if feature_names else [c for c in reference.columns if c not in ignored]
        missing = [c for c in features + labels if c not in reference.columns]
        if missing:
            raise InvalidRequestError(
                f"reference: columns {missing} are not in the training set {list(reference.columns)}"
            )
        present_labels = [c for c in labels if c in reference.columns]
        return ModelRecord(
            project=OFFLINE_ID,
            name=OFFLINE_ID,
            version="0",
            uri="",
            artifact_key="",
            feature_names=[str(c) for c in features],
            label_names=labels,
            feature_stats=compute_reference_profile(reference, features),
            label_stats=compute_reference_profile(reference, present_labels) if present_labels else {},
            training_rows=len(reference),
        )
    if reference is None:
        reference = {}
    if isinstance(reference, Mapping):
        profile = dict(reference)
        features = list(feature_names) if feature_names else [c for c in profile if c not in labels]
        return ModelRecord(
            project=OFFLINE_ID,
            name=OFFLINE_ID,
            version="0",
            uri="",
            artifact_key="",
            feature_names=features or [c for c in columns if c not in EVENT_COLUMNS and c not in labels],
            label_names=labels,
            feature_stats={k: v for k, v in profile.items() if k not in labels},
            label_stats={k: v for k, v in profile.items() if k in labels},
        )
    raise InvalidRequestError(
        "reference: expected a training DataFrame, a ModelRecord, a feature_stats profile (dict or .json file), "
        f"a parquet/CSV path or None; got {type(reference).__name__}"
    )


# ------------------------------------------------------------------------------------------------- context


class OfflineArtefacts:
    """The joint-drift and estimation artefacts ``log_model`` would store, fitted once per evaluation from the
    reference DataFrame (features, the true label column, and the model's reference scores as ``proba_<class>``
    columns or its predictions in ``prediction_column``), on the first window that asks."""

    def __init__(
        self,
        reference: pd.DataFrame | None,
        feature_names: Sequence[str],
        label_names: Sequence[str],
        prediction_column: str | None = None,
    ) -> None:
        self.reference = reference
        self.feature_names = list(feature_names)
        self.label = label_names[0] if label_names else None
        self.prediction_column = prediction_column
        self._fitted: Any = None

    def fitted(self) -> Any:
        from driftline.stats.model_artefacts import KINDS, Fitted, fit_from_reference_frame

        if self._fitted is None:
            if self.reference is None:
                reason = "evaluate was given no reference DataFrame to fit it on"
                self._fitted = Fitted(skipped=dict.fromkeys(KINDS, reason))
            else:
                self._fitted = fit_from_reference_frame(
                    self.reference, self.feature_names, self.label, prediction_column=self.prediction_column
                )
        return self._fitted


class OfflineContext(MonitoringApplicationContext):
    """The monitoring context of one offline window. Beyond MLRun's attributes: ``ground_truth`` (labels given
    to :func:`evaluate`), ``reference_df`` (the training rows, when given as a DataFrame), ``artifact_dir`` (where
    apps may write reports) and :meth:`window_sketches`. :meth:`model_artefact` fits from the reference
    DataFrame (:class:`OfflineArtefacts`)."""

    offline = True

    def __init__(
        self,
        *,
        sample: Sample,
        ground_truth: pd.DataFrame | None = None,
        reference_df: pd.DataFrame | None = None,
        artifact_dir: Path | None = None,
        artefacts: OfflineArtefacts | None = None,
        **kwargs: Any,
    ) -> None:
        start, end = kwargs["start_infer_time"], kwargs["end_infer_time"]
        self._sample = sample
        self._bounded = sample.has_timestamps
        super().__init__(
            sample_df_loader=lambda: sample.window_frame(*self._bounds(start, end)),
            **kwargs,
        )
        self.ground_truth = ground_truth
        self.reference_df = reference_df
        self.artifact_dir = artifact_dir
        self._artefacts = artefacts

    def model_artefact(self, kind: str) -> Any:
        if self._artefacts is None:
            return super().model_artefact(kind)
        return self._artefacts.fitted().get(kind)

    def model_artefact_note(self, kind: str) -> str:
        if self._artefacts is None:
            return super().model_artefact_note(kind)
        reason = self._artefacts.fitted().skipped.get(kind)
        return f"not fitted on the reference: {reason}" if reason else f"no {kind} artefact"

    def _bounds(self, start: datetime, end: datetime) -> tuple[datetime | None, datetime | None]:
        return (start, end) if self._bounded else (None, None)

    def window_sketches(self, references: Mapping[str, Reference]) -> dict[str, Any]:
        """The window's sketches, built piece by piece when the rows are not loaded yet (merged exactly)."""
        if self.sample_df_loaded:
            return window_sketches(self.sample_df, references)
        return self._sample.sketches(*self._bounds(self.start_infer_time, self.end_infer_time), references)


# ------------------------------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """What one app produced for each window, oldest first."""

    application_name: str
    windows: list[AppOutputs] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # rows per window
    rows_outside: int = 0  # rows in no complete window (the controller would analyse them later)
    model: ModelRecord | None = field(default=None, repr=False)  # the reference the app was judged against
    sample: Sample | None = field(default=None, repr=False)  # the rows, for the report's distributions

    def report(self, path: str | Path, title: str | None = None) -> Path:
        """Write the offline HTML report of this evaluation (results over time, the drifted features' windows
        against the reference); see :mod:`driftline.report`."""
        from driftline.report import evaluation_report

        return evaluation_report(self, path, title=title)

    def __iter__(self) -> Iterator[AppOutputs]:
        return iter(self.windows)

    def __len__(self) -> int:
        return len(self.windows)

    def results_frame(self) -> pd.DataFrame:
        rows = [
            {
                "application_name": w.application_name,
                "start_infer_time": w.start_infer_time,
                "end_infer_time": w.end_infer_time,
                "result_name": r.name,
                "result_value": r.value,
                "result_kind": int(r.kind),
                "result_status": int(r.status),
                "result_extra_data": r.extra_data,
            }
            for w in self.windows
            for r in w.results
        ]
        columns = [
            "application_name",
            "start_infer_time",
            "end_infer_time",
            "result_name",
            "result_value",
            "result_kind",
            "result_status",
            "result_extra_data",
        ]
        return pd.DataFrame(rows, columns=columns)

    def metrics_frame(self) -> pd.DataFrame:
        rows = [
            {
                "application_name": w.application_name,
                "start_infer_time": w.start_infer_time,
                "end_infer_time": w.end_infer_time,
                "metric_name": m.name,
                "metric_value": m.value,
            }
            for w in self.windows
            for m in w.metrics
        ]
        columns = ["application_name", "start_infer_time", "end_infer_time", "metric_name", "metric_value"]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "application_name": self.application_name,
            "windows": [w.to_dict() | {"rows": n} for w, n in zip(self.windows, self.rows, strict=True)],
            "rows_outside": self.rows_outside,
        }


def cut_windows(
    first: datetime, last: datetime, step: timedelta, start: datetime | None = None, end: datetime | None = None
) -> list[tuple[datetime, datetime]]:
    """The controller's windows over offline data: anchored at the first row (or at ``start``, taken exactly,
    like a checkpoint), complete windows only, up to ``end`` (default: just after the last row)."""
    stop = end or last + timedelta(microseconds=1)
    anchor = start or first
    horizon = stop - anchor + step
    return complete_windows(
        first_request=anchor,
        last_request=stop,
        checkpoint=start,
        now=stop,
        step=step,
        flush_grace=timedelta(0),
        max_lateness=timedelta(0),
        max_backfill=horizon,
    )


def evaluate(
    app: Any,
    sample: Any,
    reference: Any = None,
    *,
    feature_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    base_period: int | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    application_kwargs: Mapping[str, Any] | None = None,
    ground_truth: pd.DataFrame | None = None,
    application_name: str | None = None,
    timestamp_column: str = TIMESTAMP,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    artifact_dir: str | Path | None = None,
    logger: Any = None,
    artefact_reader: Callable[[str], bytes] | None = None,
) -> Evaluation:
    """Run ``app`` on ``sample`` against ``reference`` offline; see the module docstring. ``artefact_reader``
    (an S3 key -> bytes function) reads the monitoring artefacts a logged model's record points at, when
    ``reference`` is that record."""
    instance = resolve_app(app, application_kwargs)
    name = application_name or _default_name(app, instance)
    rows = Sample(sample, timestamp_column, chunk_rows)
    labels = list(label_names) if label_names else []
    if isinstance(reference, str | Path) and Path(reference).suffix.lower() != ".json":
        reference = read_table(reference)  # a training set on disk: its rows also fit the monitoring artefacts
    model = reference_model(reference, feature_names, labels, rows.columns)
    if not labels:
        labels = list(model.label_names)
    features = list(feature_names) if feature_names else list(model.feature_names)
    if not features:
        features = [c for c in rows.columns if c not in EVENT_COLUMNS and c not in labels]
    low = _aware(start) if start is not None else None
    high = _aware(end) if end is not None else None
    if rows.has_timestamps:
        first, last = rows.time_range()
        if base_period is not None:
            if isinstance(base_period, bool) or not isinstance(base_period, int) or base_period < 1:
                raise InvalidRequestError(f"base_period: expected whole minutes >= 1, got {base_period!r}")
            windows = cut_windows(first, last, timedelta(minutes=base_period), low, high)
        else:
            windows = [(low or first, high or last + timedelta(microseconds=1))]
    else:
        if base_period is not None:
            raise InvalidRequestError(f"base_period needs a {timestamp_column!r} column in the sample to cut windows")
        now = datetime.now(UTC)
        windows = [(low or now - timedelta(days=1), high or now)]
    endpoint = EndpointRecord(
        endpoint_id=OFFLINE_ID,
        project=OFFLINE_ID,
        name=OFFLINE_ID,
        function_name=OFFLINE_ID,
        model_uri=model.uri or "offline://",
        feature_names=features,
        label_names=labels,
    )
    model.feature_names, model.label_names = features, labels
    out_dir = Path(artifact_dir) if artifact_dir is not None else None
    log = logger or get_logger("driftline-evaluate")
    evaluation = Evaluation(application_name=name, model=model, sample=rows)
    reference_df = reference if isinstance(reference, pd.DataFrame) else None
    artefacts = (
        OfflineArtefacts(reference_df, features, labels, getattr(instance, "reference_prediction_column", None))
        if reference_df is not None or not model.monitoring_artefacts
        else None
    )
    for window_start, window_end in windows:
        context = OfflineContext(
            sample=rows,
            ground_truth=ground_truth,
            reference_df=reference_df,
            artifact_dir=out_dir,
            artefacts=artefacts,
            application_name=name,
            project_name=OFFLINE_ID,
            start_infer_time=window_start,
            end_infer_time=window_end,
            model_endpoint=endpoint,
            model=model,
            logger=log,
            application_kwargs=dict(application_kwargs or {}),
            artefact_reader=artefact_reader,
        )
        count = rows.row_count(*context._bounds(window_start, window_end))
        results, metrics = normalise_outputs(instance.do_tracking(context), name) if count else ([], [])
        evaluation.windows.append(
            AppOutputs(
                project=OFFLINE_ID,
                endpoint_id=OFFLINE_ID,
                application_name=name,
                start_infer_time=to_iso(window_start),
                end_infer_time=to_iso(window_end),
                results=tuple(results),
                metrics=tuple(metrics),
            )
        )
        evaluation.rows.append(count)
    if rows.has_timestamps and base_period is not None:
        evaluation.rows_outside = rows.row_count(None, None) - sum(evaluation.rows)
    return evaluation


def _default_name(app: Any, instance: ModelMonitoringApplicationBase) -> str:
    if isinstance(app, str):
        ref = AppRef.parse(app)
        if ref.kind == "builtin":  # the name the SDK would give it: histogram_data_drift -> histogram-data-drift
            return ref.target.replace("_", "-")
    text = type(instance).__name__
    return "".join("-" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(text)).strip("-")


# ------------------------------------------------------------------------------------------------- CLI


def _split(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def evaluate_main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    """``driftline evaluate ...``: 0 on success, 2 with one line on stderr for a driftline error."""
    args = build_parser().parse_args(argv)
    try:
        try:
            kwargs = json.loads(args.kwargs)
        except ValueError as exc:
            raise InvalidRequestError(f"--kwargs: expected a JSON object ({exc})") from exc
        if not isinstance(kwargs, dict):
            raise InvalidRequestError("--kwargs: expected a JSON object")
        evaluation = evaluate(
            args.app,
            sample=args.sample,
            reference=args.reference,
            feature_names=_split(args.features),
            label_names=_split(args.labels),
            base_period=args.base_period,
            start=args.start,
            end=args.end,
            application_kwargs=kwargs,
            ground_truth=read_table(args.ground_truth) if args.ground_truth else None,
            artifact_dir=args.artifacts,
        )
        if args.report:
            written = evaluation.report(args.report)
            print(f"report written to {written}", file=sys.stderr)
    except DriftlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: could not write the report: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out(json.dumps(evaluation.to_dict(), indent=2, default=str))
        return 0
    frame = evaluation.results_frame()
    if frame.empty:
        out(f"{evaluation.application_name}: no results in {len(evaluation)} window(s)")
        return 0
    status_names = {-1: "irrelevant", 0: "no_detection", 1: "potential_detection", 2: "detected"}
    table = frame.assign(status=frame["result_status"].map(status_names))[
        ["start_infer_time", "result_name", "result_value", "status"]
    ]
    with pd.option_context("display.max_rows", None, "display.width", 160):
        out(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if evaluation.rows_outside:
        out(f"({evaluation.rows_outside} rows after the last complete window were not evaluated)")
    return 0


__all__ = ["Evaluation", "OfflineContext", "cut_windows", "evaluate", "evaluate_main", "resolve_app"]
