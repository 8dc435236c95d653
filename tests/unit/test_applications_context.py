from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from driftline.applications import MonitoringApplicationContext
from driftline.records import EndpointRecord, ModelRecord
from driftline.stats.profile import compute_feature_stats

START = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
END = datetime(2026, 11, 26, 17, 10, tzinfo=UTC)
ENDPOINT = EndpointRecord("e1", "p", "m", "serving", "store://models/p/m:latest", "1", ["x"], ["prediction"])


def _context(model, loader):
    return MonitoringApplicationContext(
        application_name="app",
        project_name="p",
        start_infer_time=START,
        end_infer_time=END,
        model_endpoint=ENDPOINT,
        model=model,
        sample_df_loader=loader,
        logger=None,
    )


def test_sample_df_is_loaded_once_and_only_when_read():
    calls = []

    def loader():
        calls.append(1)
        return pd.DataFrame({"x": [1.0, 2.0]})

    ctx = _context(None, loader)
    assert calls == []
    assert not ctx.sample_df_loaded
    assert len(ctx.sample_df) == 2
    assert len(ctx.sample_df) == 2
    assert calls == [1]
    assert ctx.sample_df_loaded


def test_identity_and_reference_come_from_the_endpoint_and_model():
    stats = compute_feature_stats(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}))
    model = ModelRecord("p", "m", "1", "store://models/p/m:1", "k", feature_names=["x"], feature_stats=stats)
    ctx = _context(model, lambda: pd.DataFrame({"x": [0.5, 9.0]}))
    assert (ctx.endpoint_id, ctx.endpoint_name, ctx.project_name) == ("e1", "m", "p")
    assert (ctx.feature_names, ctx.label_names) == (["x"], ["prediction"])
    assert ctx.feature_stats == stats
    window = ctx.sample_df_stats["x"]
    assert window["count"] == 2
    assert len(window["hist"][0]) == 22  # re-binned on the padded reference edges
    assert window["hist"][0][-1] == 1  # 9.0 is beyond the training max


def test_a_model_without_training_set_has_an_empty_profile():
    ctx = _context(None, pd.DataFrame)
    assert ctx.feature_stats == {}
    assert ctx.feature_names == ["x"]  # still known from the endpoint
    assert ctx.sample_df_stats == {}


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        MonitoringApplicationContext(
            application_name="a",
            project_name="p",
            start_infer_time=datetime(2026, 1, 1),
            end_infer_time=END,
            model_endpoint=ENDPOINT,
            model=None,
            sample_df_loader=pd.DataFrame,
            logger=None,
        )
