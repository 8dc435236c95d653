"""The arguments of ``driftline evaluate``, apart from the evaluation itself so that building the CLI's parser
(``driftline --help``) does not import pandas."""

from __future__ import annotations

import argparse


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="driftline evaluate", description="Run a monitoring application offline on a sample (no AWS needed)."
    )
    parser.add_argument(
        "app",
        help="built-in app name (feature_drift, builtin:data_quality, ...), package.module[:Class] or file.py[:Class]",
    )
    parser.add_argument("--sample", required=True, help="parquet file or folder, or CSV, with the rows to evaluate")
    parser.add_argument("--reference", help="training set (parquet/CSV) or a feature_stats JSON profile")
    parser.add_argument("--features", help="comma-separated feature columns (default: the reference's)")
    parser.add_argument("--labels", help="comma-separated label/prediction columns")
    parser.add_argument("--base-period", type=int, help="window length in minutes (default: one window)")
    parser.add_argument("--start", help="ISO time: first window starts here")
    parser.add_argument("--end", help="ISO time: windows end by here")
    parser.add_argument("--kwargs", default="{}", help="application kwargs as a JSON object")
    parser.add_argument("--ground-truth", help="labels (parquet/CSV) keyed by request_id for model_performance")
    parser.add_argument("--artifacts", help="folder for reports the app writes")
    parser.add_argument(
        "--report", metavar="PATH", help="also write an offline HTML report (results over time, drifted features)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser
