"""Application results and metrics as pandas frames with MLRun's column names (times as UTC datetimes)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from driftline.aws import results as _stored

if TYPE_CHECKING:
    import pandas as pd


# MLRun's column names, defined once where the rows are stored (lists: what DataFrame.columns compares to)
RESULT_COLUMNS = list(_stored.RESULT_COLUMNS)
METRIC_COLUMNS = list(_stored.METRIC_COLUMNS)
TIME_COLUMNS = ("start_infer_time", "end_infer_time")


def _extra(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value else {}
        except ValueError:
            return {"raw": value}
    return dict(value) if isinstance(value, Mapping) else {}


def frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows to a frame with exactly ``columns`` (in that order, present even when there are no rows), sorted by
    window start, then application and name."""
    import pandas as pd

    records = [{c: row.get(c) for c in columns} for row in rows]
    df = pd.DataFrame.from_records(records, columns=list(columns))
    for column in TIME_COLUMNS:
        df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
    if "result_extra_data" in df.columns:
        df["result_extra_data"] = [_extra(v) for v in df["result_extra_data"]]
    value = "result_value" if "result_value" in columns else "metric_value"
    df[value] = df[value].astype("float64")
    for column in ("result_kind", "result_status"):
        if column in df.columns:
            df[column] = df[column].astype("int64")
    name = "result_name" if "result_name" in columns else "metric_name"
    return df.sort_values(["start_infer_time", "application_name", name], kind="stable").reset_index(drop=True)
