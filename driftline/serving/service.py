"""The serving function's logic: what each Open Inference Protocol route answers.

The handler (``lambdas/serving/handler.py``) only routes; every answer is built here, every refusal is a
:mod:`driftline.errors` exception carrying its HTTP status.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from driftline import __version__, clock
from driftline.aws.artifacts import Artifacts
from driftline.aws.clients import Clients
from driftline.aws.registry import Registry
from driftline.config import ServingIdentity, Settings
from driftline.errors import DriftlineError, InvalidRequestError, ModelError, NotFoundError, ServiceUnavailableError
from driftline.observability import get_logger
from driftline.records import FunctionSpec
from driftline.schemas import endpoint_id_for, to_iso
from driftline.serving.models import ModelStore, ServedModel
from driftline.serving.protocol import (
    DEFAULT_OUTPUT_NAME,
    InferRequest,
    Prediction,
    decode_body,
    infer_response,
    parse_infer_request,
    shape_prediction,
)
from driftline.serving.tracking import EventEncoder, Tracker

logger = get_logger("serving")

SERVER_NAME = "driftline"
_MAX_ENCODERS = 64  # (model, version) pairs whose event encoders are kept

# Every route the handler serves, for the 404 answer (the handler registers exactly these).
ROUTES = (
    "GET /v2",
    "GET /v2/health/live",
    "GET /v2/health/ready",
    "GET /v2/models/{name}",
    "GET /v2/models/{name}/ready",
    "POST /v2/models/{name}/infer",
    "GET /v2/models/{name}/versions/{version}",
    "GET /v2/models/{name}/versions/{version}/ready",
    "POST /v2/models/{name}/versions/{version}/infer",
    "POST /v2/models/{name}/ground-truth",
    "POST /v2/models/{name}/events",
)


_ROUTE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"))
    for method, path in (route.split(" ", 1) for route in ROUTES)
)


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods the routes answer on ``path`` (empty: no route has that path), for a 405's ``Allow``."""
    return tuple(sorted({method for method, pattern in _ROUTE_PATTERNS if pattern.match(path)}))


class _Outcome(NamedTuple):
    prediction: Prediction | None
    error: dict[str, str] | None


class ServingService:
    def __init__(
        self,
        settings: Settings,
        models: ModelStore,
        tracker: Tracker,
        *,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        clients: Clients | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients  # for ground truth storage
        self.models = models
        self.tracker = tracker
        self._new_id = new_id
        self._encoders: dict[tuple[str, str], tuple[FunctionSpec, ServedModel, EventEncoder]] = {}

    @classmethod
    def create(cls, settings: Settings, identity: ServingIdentity, clients: Clients) -> ServingService:
        """The serving function ``identity`` of the installation ``settings``."""
        store = ModelStore(identity, Registry(clients), Artifacts(clients))
        return cls(settings, store, Tracker(clients, settings.stream_name), clients=clients)

    def ground_truth(self, name: str, body: str | bytes | None, is_base64: bool = False) -> dict[str, Any]:
        """Store labels that arrived after the predictions: ``{"labels": [{"request_id", "row_index", "<label>":
        value}, ...]}``, keyed by the request id this function answered with."""
        from driftline.ground_truth import ingest_records

        if self.clients is None:
            raise ServiceUnavailableError("ground truth storage is not configured for this serving function")
        self.models.route(name)  # an unknown model is a 404 before anything is stored
        document = decode_body(body, is_base64=is_base64, max_bytes=self.settings.max_request_bytes)
        endpoint_id = endpoint_id_for(self.models.project, self.models.function_name, name)
        stored = ingest_records(self.clients, self.models.project, endpoint_id, document)
        return {"model_name": name, "stored": stored}

    def ingest(self, name: str, body: str | bytes | None, is_base64: bool = False) -> dict[str, Any]:
        """Store rows a model served elsewhere already scored (:mod:`driftline.ingest`): validated against the
        model's record, put on the stream as the same inference events, once. An ingest already accepted (its
        receipt is there) is answered again without putting anything (``"duplicate": true``)."""
        from driftline.aws import kinesis
        from driftline.aws.artifacts import Artifacts
        from driftline.ingest import encode_records, parse_ingest, receipt_key

        if self.clients is None:
            raise ServiceUnavailableError("ingest is not configured for this serving function")
        received = clock.now()
        document = decode_body(body, is_base64=is_base64, max_bytes=self.settings.max_request_bytes)
        version = document.get("model_version") if isinstance(document, dict) else None
        if version is not None and (not isinstance(version, str | int) or isinstance(version, bool)):
            raise InvalidRequestError(f'model_version: expected a version such as "3", got {version!r:.40}')
        target = self.models.ingest_target(name, None if version is None else str(version))
        ingest = parse_ingest(document, target, received=received)
        artifacts = Artifacts(self.clients)
        key = receipt_key(target.endpoint_id, ingest.digest)
        try:
            stored = json.loads(artifacts.get(key))
            return {**stored, "duplicate": True}
        except NotFoundError:
            pass
        records = encode_records(ingest, target.endpoint_id)
        kinesis.put_records(self.clients, self.settings.stream_name, target.endpoint_id, records)
        answer = ingest.answer(target)
        artifacts.put(key, json.dumps({**answer, "received": to_iso(received)}).encode(), "application/json")
        return answer

    # -------------------------------------------------------------------------------------------- health

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": []}

    def live(self) -> dict[str, Any]:
        return {"live": True}

    def ready(self) -> dict[str, Any]:
        """Ready when the function is deployed and every model it routes loads (raises otherwise)."""
        names = self.models.model_names()
        for name in names:
            self.models.get(name)
        return {"ready": True, "models": names}

    def model_ready(self, name: str, version: str | None = None) -> dict[str, Any]:
        model = self.models.get(name, version)
        return {"name": name, "version": model.version, "ready": True}

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        model = self.models.get(name, version)
        signature = model.signature
        output_type = model.output_datatype()
        if len(signature.label_names) > 1:
            output_names = list(signature.label_names)
        else:
            output_names = [signature.label_names[0] if signature.label_names else DEFAULT_OUTPUT_NAME]
        return {
            "name": name,
            "versions": self.models.versions(name) if version is None else [model.version],
            "platform": model.framework,
            "inputs": [
                {"name": feature, "datatype": signature.datatype_of(i), "shape": [-1]}
                for i, feature in enumerate(signature.feature_names)
            ],
            "outputs": [{"name": n, "datatype": output_type, "shape": [-1]} for n in output_names],
            "parameters": {"model_version": model.version, "model_uri": model.uri, "endpoint_id": model.endpoint_id},
        }

    # -------------------------------------------------------------------------------------------- infer

    def infer(
        self, name: str, version: str | None, body: str | bytes | None, is_base64: bool = False
    ) -> dict[str, Any]:
        """Answer one inference request, tracking it when the function's spec says so.

        Refused requests (4xx) raise before anything is tracked. A model that raises gets an error event and
        raises :class:`ModelError` (500). A tracking event over Kinesis's record limit refuses the request
        (413) rather than leaving it untracked.
        """
        started = time.perf_counter()
        when = clock.now()
        spec, model = self.models.serve(name, version)
        request = parse_infer_request(
            body,
            model.signature,
            max_rows=self.settings.max_rows_per_request,
            max_bytes=self.settings.max_request_bytes,
            is_base64=is_base64,
            new_id=self._new_id,
        )
        outcome = self._predict(model, request)
        if spec.tracking:
            self._track(spec, model, request, outcome, when, started)
        if outcome.error is not None:
            raise ModelError(f"model {name!r} version {model.version} failed: {outcome.error['message']}")
        assert outcome.prediction is not None
        return infer_response(name, model.version, request.request_id, outcome.prediction)

    def _predict(self, model: ServedModel, request: InferRequest) -> _Outcome:
        try:
            raw = model.predict(request.rows)
            return _Outcome(prediction=shape_prediction(raw, request.n_rows, model.signature.label_names), error=None)
        except Exception as exc:
            logger.exception(
                "model raised",
                extra={"request_id": request.request_id, "model_name": model.name, "model_version": model.version},
            )
            return _Outcome(prediction=None, error={"type": type(exc).__name__, "message": str(exc) or repr(exc)})

    def _track(
        self,
        spec: FunctionSpec,
        model: ServedModel,
        request: InferRequest,
        outcome: _Outcome,
        when: Any,
        started: float,
    ) -> None:
        encoder = self._encoder(spec, model)
        per_row = outcome.prediction.per_row if outcome.prediction is not None else []
        rows, outputs, row_indices = self.tracker.sample(request.rows, per_row, spec.sampling_percentage)
        scores = self._scores(model, request, rows) if encoder.scored and outcome.error is None else None
        moment = to_iso(when)
        data = self._encode(encoder, request, outcome, moment, started, rows, outputs, row_indices, scores)
        try:
            self.tracker.check_size(encoder.endpoint_id, data, request.n_rows)
        except DriftlineError:
            if outcome.error is None:
                raise  # 413: the caller splits the request; nothing was answered, nothing is tracked
            # the model failed on a huge request: the error must still be counted, without its rows
            logger.warning(
                "error event too large; sending it without its input rows",
                extra={"request_id": request.request_id, "rows": request.n_rows},
            )
            data = self._encode(encoder, request, outcome, moment, started, [], [])
        self.tracker.send(
            data,
            endpoint_id=encoder.endpoint_id,
            request_id=request.request_id,
            model_name=model.name,
            rows=request.n_rows,
        )

    def _scores(self, model: ServedModel, request: InferRequest, rows: list[Any]) -> list[list[float | None]] | None:
        """The class scores of the rows kept for tracking (the sampled ones only), for a model that gives scores;
        a model whose predict_proba fails is tracked without them (logged): its prediction was answered."""
        try:
            return model.scores(rows)
        except Exception as exc:
            logger.warning(
                "predict_proba failed; tracked without scores",
                extra={"request_id": request.request_id, "model_name": model.name, "error": f"{exc!r:.300}"},
            )
            return None

    def _encode(
        self,
        encoder: EventEncoder,
        request: InferRequest,
        outcome: _Outcome,
        when: str,
        started: float,
        rows: list[Any],
        outputs: list[Any],
        row_indices: list[int] | None = None,
        scores: list[list[float | None]] | None = None,
    ) -> bytes:
        return encoder.encode(
            request_id=request.request_id,
            when=when,
            # the whole request so far, in microseconds (MLRun reported timedelta.microseconds: modulo 1 s)
            latency_us=int((time.perf_counter() - started) * 1_000_000),
            inputs=rows,
            outputs=outputs if outcome.error is None else [],
            effective_sample_count=request.n_rows,
            error=outcome.error,
            row_indices=row_indices,
            **({"scores": scores} if scores is not None else {}),
        )

    def _encoder(self, spec: FunctionSpec, model: ServedModel) -> EventEncoder:
        """The model's event encoder, built again when the spec or the model was re-read from the registry."""
        key = (model.name, model.version)
        entry = self._encoders.get(key)
        if entry is not None and entry[0] is spec and entry[1] is model:
            return entry[2]
        encoder = EventEncoder(
            endpoint_id=model.endpoint_id,
            project=spec.project,
            function_name=spec.name,
            model_name=model.name,
            model_version=model.version,
            feature_names=model.signature.feature_names,
            label_names=model.event_label_names,
            sampling_percentage=spec.sampling_percentage,
            score_names=model.score_names,
        )
        if len(self._encoders) >= _MAX_ENCODERS:
            self._encoders.clear()
        self._encoders[key] = (spec, model, encoder)
        return encoder
