"""What the serving handler costs per request beyond the model and Kinesis, next to a bare Powertools resolver.

Both answer the same API Gateway HTTP API v2 event in the same process and run: ours through the real
``lambdas/serving/handler.py`` (decorators, routing, validation, response, event building, metrics) with a
trivial model and a no-op Kinesis put; the baseline is an ``APIGatewayHttpResolver`` whose one route parses
the JSON body and returns a JSON body. Prints medians in microseconds and their ratio (target: <= 2x), over
several rounds of interleaved requests, with each round's ratio so the machine's noise shows.
No AWS and no moto: the registry and the bucket are in-memory fakes behind the real ModelStore.

    .venv/bin/python bench/serving_overhead.py [--requests 3000] [--rounds 5] [--rows 1] [--proba]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "driftline")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the model-loaded line would land among the figures

import numpy as np  # noqa: E402
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types  # noqa: E402

from driftline.config import ServingIdentity, Settings  # noqa: E402
from driftline.local.handlers import load_handler  # noqa: E402
from driftline.local.lambda_context import LocalLambdaContext  # noqa: E402
from driftline.records import FunctionSpec, ModelRecord, ModelRoute  # noqa: E402
from driftline.serving.models import ModelStore  # noqa: E402
from driftline.serving.service import ServingService  # noqa: E402
from driftline.serving.tracking import Tracker  # noqa: E402

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
INSIDE_NS = [0]  # time spent inside the fake model and the fake put


class TrivialModel:
    n_features_in_ = 4

    def predict(self, x: Any) -> Any:
        start = time.perf_counter_ns()
        out = np.zeros(len(x), dtype=np.int64)
        INSIDE_NS[0] += time.perf_counter_ns() - start
        return out


class TrivialClassifier(TrivialModel):
    """With class scores: the handler also tracks predict_proba of the kept rows (time inside it excluded too)."""

    classes_ = np.array([0, 1, 2])

    def predict_proba(self, x: Any) -> Any:
        start = time.perf_counter_ns()
        out = np.full((len(x), 3), 1 / 3)
        INSIDE_NS[0] += time.perf_counter_ns() - start
        return out


MODEL_CLASS: list[type] = [TrivialModel]


def fake_put(clients: Any, stream: str, key: str, data: bytes) -> None:
    start = time.perf_counter_ns()
    INSIDE_NS[0] += time.perf_counter_ns() - start


class MemoryRegistry:
    def __init__(self) -> None:
        route = ModelRoute("iris", "store://models/bench/iris:latest")
        self.spec = FunctionSpec("bench", "serving", models={"iris": route}, tracking=True)
        self.record = ModelRecord(
            "bench", "iris", "1", "store://models/bench/iris:1", "artifacts/bench/models/iris/1/model.pkl",
            feature_names=FEATURES, label_names=["label"],
        )  # fmt: skip

    def get_function(self, project: str, name: str) -> FunctionSpec:
        return self.spec

    def get_model(self, project: str, name: str, tag: str = "latest") -> ModelRecord:
        return self.record

    def get_model_by_uri(self, uri: str) -> ModelRecord:
        return self.record

    def list_models(self, project: str) -> list[ModelRecord]:
        return [self.record]


class MemoryArtifacts:
    bucket = "bench"

    def get(self, key: str) -> bytes:
        return pickle.dumps(MODEL_CLASS[0]())


def build_serving_handler() -> Any:
    handler = load_handler("serving", fresh=True)
    settings = Settings()
    store = ModelStore(ServingIdentity(project="bench"), MemoryRegistry(), MemoryArtifacts(), loader=pickle.loads)
    service = ServingService(settings, store, Tracker(None, settings.stream_name, put=fake_put))  # type: ignore[arg-type]
    deps = handler.Deps(settings=settings, clients=None, service=service)
    vars(handler)["deps"] = lambda: deps  # the handler builds its Deps once per container; the bench's instead
    return handler


def build_bare_resolver() -> Any:
    app = APIGatewayHttpResolver()

    @app.post("/v2/models/<name>/infer")
    def infer(name: str) -> Response:
        body = json.loads(app.current_event.body or "{}")
        answer = {"model_name": name, "outputs": [{"name": "predict", "data": [0] * len(body["inputs"])}]}
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=json.dumps(answer))

    return app


def build_observed_resolver() -> Any:
    """The floor of any handler under the house rules: the bare resolver plus Powertools' Logger context
    and EMF metrics decorators, publishing one metric."""
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    app = build_bare_resolver()
    logger = Logger(service="bench-floor")
    metrics = Metrics(namespace="driftline", service="bench-floor")

    @logger.inject_lambda_context
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        return app.resolve(event, context)

    return handler


def http_event(rows: int) -> dict:
    event = json.loads((ROOT / "tests" / "events" / "http-api-v2-event.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v2/models/iris/infer"
    event["requestContext"]["http"]["method"] = "POST"
    event["routeKey"] = "$default"
    event["body"] = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]] * rows})
    return event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the figures pool them all")
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--proba", action="store_true", help="a classifier with predict_proba: scores are tracked")
    args = parser.parse_args()
    if args.proba:
        MODEL_CLASS[0] = TrivialClassifier

    handler = build_serving_handler()
    bare = build_bare_resolver()
    floor = build_observed_resolver()
    event = http_event(args.rows)
    context = LocalLambdaContext(function_name="bench")

    ours: list[float] = []
    baseline: list[float] = []
    observed: list[float] = []
    inside: list[float] = []
    round_ratios: list[float] = []
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # EMF metrics and logs print to stdout
        for _ in range(200):  # warm-up: model load, caches, first-call costs
            assert handler.handler(event, context)["statusCode"] == 200
            bare.resolve(event, context)
            floor(event, context)
        for _ in range(args.rounds):
            first = len(ours)
            for i in range(args.requests):
                if i % 100 == 0:
                    sink.seek(0)
                    sink.truncate()
                start = time.perf_counter_ns()
                bare.resolve(event, context)
                baseline.append((time.perf_counter_ns() - start) / 1000)
                start = time.perf_counter_ns()
                floor(event, context)
                observed.append((time.perf_counter_ns() - start) / 1000)
                INSIDE_NS[0] = 0
                start = time.perf_counter_ns()
                answer = handler.handler(event, context)
                elapsed = time.perf_counter_ns() - start
                inside.append(INSIDE_NS[0] / 1000)
                ours.append((elapsed - INSIDE_NS[0]) / 1000)
                assert answer["statusCode"] == 200
            round_ratios.append(statistics.median(ours[first:]) / statistics.median(baseline[first:]))

    ours_median = statistics.median(ours)
    base_median = statistics.median(baseline)
    floor_median = statistics.median(observed)
    total = args.rounds * args.requests
    kind = "a classifier with predict_proba (scores tracked)" if args.proba else "a model without scores"
    print(
        f"serving overhead, {total} requests of {args.rows} row(s) in {args.rounds} rounds, {kind}; medians, p90 in us"
    )
    print(f"  bare APIGatewayHttpResolver (parse JSON, JSON answer) {base_median:8.1f}  p90 {_p90(baseline):8.1f}")
    print(f"  same + Powertools Logger/Metrics decorators, 1 metric {floor_median:8.1f}  p90 {_p90(observed):8.1f}")
    print(f"  driftline serving handler, outside model and put      {ours_median:8.1f}  p90 {_p90(ours):8.1f}")
    print(f"    (excluded: time inside the model and put fakes      {statistics.median(inside):8.1f})")
    print(f"  ratio ours / bare resolver                            {ours_median / base_median:8.2f}x  (target <= 2x)")
    print(f"    per round: {' '.join(f'{r:.2f}' for r in round_ratios)}  (the spread is this machine's noise)")
    print(f"  ratio ours / resolver with the house observability    {ours_median / floor_median:8.2f}x")
    print(f"  observability decorators alone / bare resolver        {floor_median / base_median:8.2f}x")


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


if __name__ == "__main__":
    main()
