"""Evidently's default data drift report as a monitoring app (needs the optional ``evidently`` extra).

Reference rows: Evidently needs the training rows themselves, not a profile: ``reference_data`` (a parquet/CSV
path, ``s3://`` included) or, in offline evaluation, the training DataFrame given as ``reference``. Results:
one ``<column>_evidently_drift`` per column (value = Evidently's drift score, status detected when Evidently
calls the column drifted) and ``evidently_dataset_drift`` (the share of drifted columns); the HTML report is
kept with :meth:`log_evidently_object`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from driftline.applications import (
    ModelMonitoringApplicationResult,
    ResultKindApp,
    ResultStatusApp,
    result_name_for,
)
from driftline.applications.evidently import EvidentlyModelMonitoringApplicationBase
from driftline.errors import ApplicationError

P_VALUE_METHODS = re.compile(r"p[_ -]?value|test|chi|ks|z-|fisher|anderson|cramer|mann|epps|t-test", re.IGNORECASE)


def column_verdicts(snapshot_dict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column ``{score, method, threshold, drifted}`` from an Evidently 0.7 snapshot's ``dict()``."""
    out: dict[str, dict[str, Any]] = {}
    for metric in snapshot_dict.get("metrics", []):
        config = metric.get("config") or {}
        metric_id = str(metric.get("metric_id") or metric.get("metric_name") or config.get("type") or "")
        if "ValueDrift" not in metric_id and "ValueDrift" not in str(config.get("type", "")):
            continue
        column = config.get("column")
        if column is None:
            found = re.search(r"column=([^,)]+)", metric_id)
            column = found.group(1) if found else None
        value = metric.get("value")
        if column is None or not isinstance(value, int | float):
            continue
        method = str(config.get("method") or (re.search(r"method=([^,)]+)", metric_id) or [None, ""])[1])
        threshold = config.get("threshold")
        if threshold is None:
            found = re.search(r"threshold=([0-9.eE+-]+)", metric_id)
            threshold = float(found.group(1)) if found else None
        is_p_value = bool(P_VALUE_METHODS.search(method)) and "distance" not in method.lower()
        drifted = threshold is not None and (value < threshold if is_p_value else value >= threshold)
        out[str(column)] = {"score": float(value), "method": method, "threshold": threshold, "drifted": bool(drifted)}
    return out


class EvidentlyDataDriftApplication(EvidentlyModelMonitoringApplicationBase):
    application_parameters: ClassVar[Mapping[str, Any] | None] = {}  # its constructor's named ones only

    def __init__(self, reference_data: str | None = None, keep_report: bool = True, **kwargs: Any) -> None:
        super().__init__(reference_data=reference_data, keep_report=keep_report, **kwargs)
        self.reference_data = reference_data
        self.keep_report = keep_report
        self._reference: pd.DataFrame | None = None

    def reference_frame(self, ctx: Any) -> pd.DataFrame:
        given = getattr(ctx, "reference_df", None)
        if given is not None:
            return given
        if self._reference is None:
            if not self.reference_data:
                raise ApplicationError(
                    "evidently drift: Evidently compares raw rows; set reference_data=<parquet/CSV path of the "
                    "training set> in the app's kwargs"
                )
            path = self.reference_data
            source: Any = path
            if path.startswith("s3://"):  # the installation's bucket, through the artifact adapter
                from driftline.applications.evidently import _artifacts

                store = _artifacts()
                bucket, _, key = path[len("s3://") :].partition("/")
                if bucket != store.bucket:
                    raise ApplicationError(f"reference_data {path!r}: expected an object in s3://{store.bucket}/")
                source = io.BytesIO(store.get(key))
            self._reference = pd.read_csv(source) if path.endswith(".csv") else pd.read_parquet(source)
        return self._reference

    def do_tracking(self, monitoring_context: Any) -> list[Any]:
        ctx = monitoring_context
        reference = self.reference_frame(ctx)
        columns = [c for c in ctx.feature_names if c in reference.columns and c in ctx.sample_df.columns]
        if not columns:
            raise ApplicationError(f"evidently drift: no feature of {ctx.feature_names} is in both datasets")
        presets = importlib_presets()
        report = self.evidently.Report([presets.DataDriftPreset()])
        snapshot = report.run(current_data=ctx.sample_df[columns], reference_data=reference[columns])
        verdicts = column_verdicts(snapshot.dict())
        if self.keep_report:
            self.log_evidently_object(ctx, snapshot, "data_drift_report")
        taken = {"evidently_dataset_drift"}
        results = [
            ModelMonitoringApplicationResult(
                name=result_name_for(column, taken, "evidently_drift"),
                value=v["score"],
                kind=ResultKindApp.data_drift,
                status=ResultStatusApp.detected if v["drifted"] else ResultStatusApp.no_detection,
                extra_data={"feature": column, **v},
            )
            for column, v in verdicts.items()
        ]
        drifted = [c for c, v in verdicts.items() if v["drifted"]]
        share = len(drifted) / len(verdicts) if verdicts else 0.0
        results.insert(
            0,
            ModelMonitoringApplicationResult(
                name="evidently_dataset_drift",
                value=share,
                kind=ResultKindApp.data_drift,
                status=ResultStatusApp.detected if share >= 0.5 else ResultStatusApp.no_detection,
                extra_data={"drifted_features": drifted, "columns": len(verdicts), "rule": "share >= 0.5"},
            ),
        )
        return results


def importlib_presets() -> Any:
    import importlib

    return importlib.import_module("evidently.presets")
