"""The Open Inference Protocol (KServe v2) over HTTP: request parsing, validation and answers.

Pure: no AWS, no model. Two request bodies are accepted:

- the seed's (MLRun's v2 model server): ``{"inputs": [[5.1, 3.5, 1.4, 0.2], ...]}``, one list per row;
- OIP tensors: ``{"id"?: str, "parameters"?: {...}, "inputs": [{"name", "shape", "datatype", "data"}]}``,
  either one 2-D tensor ``[n_rows, n_features]`` (``data`` flat in row-major order, or nested rows), or one
  1-D tensor ``[n_rows]`` per feature, named after the features.

Every refusal raises :class:`InvalidRequestError` (400) or :class:`PayloadTooLargeError` (413) with a message
that says what was expected; nothing refused is ever tracked.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import orjson

from driftline.errors import InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

INT_DATATYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})
DATATYPES = INT_DATATYPES | FLOAT_DATATYPES | {"BOOL", "BYTES"}
MAX_ID_LENGTH = 256
DEFAULT_OUTPUT_NAME = "predict"

_NUMBER_TYPES = frozenset({int, float})  # exact types: bool is not a number here
_FLOAT_MAX = 1.7976931348623157e308
# Up to this many values a plain Python pass beats numpy's conversion overhead (the seed sends one row).
_SMALL_REQUEST_VALUES = 256
_SEED_EXAMPLE = '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
_TENSOR_EXAMPLE = '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}'


@dataclass(frozen=True)
class Signature:
    """What a model takes and gives: feature names in order, which of them are strings, label names."""

    feature_names: tuple[str, ...]
    label_names: tuple[str, ...] = ()
    string_features: frozenset[int] = frozenset()  # indices of BYTES (string) features

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def all_numeric(self) -> bool:
        return not self.string_features

    def datatype_of(self, index: int) -> str:
        return "BYTES" if index in self.string_features else "FP64"

    def describe(self) -> str:
        names = ", ".join(self.feature_names[:8]) + (", ..." if self.n_features > 8 else "")
        return f"{self.n_features} features ({names})"


class InferRequest(NamedTuple):
    """A parsed, valid request. The per-request values here are named tuples, not frozen dataclasses: as immutable,
    and cheaper to build (a frozen dataclass sets each field through ``object.__setattr__``)."""

    request_id: str
    rows: list[list[Any]]
    parameters: dict[str, Any]

    @property
    def n_rows(self) -> int:
        return len(self.rows)


# ---------------------------------------------------------------------------------------------------- body


def _reject_constant(token: str) -> Any:
    raise InvalidRequestError(f"request body: {token} is not a number; expected finite numbers only")


# One decoder for every request (json.loads builds a new one whenever an option is given).
_decoder = json.JSONDecoder(parse_constant=_reject_constant)


# What orjson refuses goes through the standard library (which refuses NaN and infinities, as JSON does).
_encode_std = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode_json(value: Any) -> bytes:
    """Compact JSON, for answers and tracking events: orjson, about ten times the standard library's speed on the
    rows of numbers a request carries. The few values orjson refuses (integers beyond 64 bits, strings with a lone
    surrogate) are encoded by the standard library instead. Both write the same JSON values; orjson writes
    non-ASCII characters as UTF-8 rather than escapes. NaN and infinities never get here: requests are refused
    with them, and a model's non-finite outputs are already null."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _encode_std(value).encode()


BINARY_EXTENSION_HEADER = "inference-header-content-length"


def check_body_headers(headers: Mapping[str, str] | None) -> None:
    """Refuse (415) what the body's headers say cannot be read here, before the body is looked at: a compressed
    body (``Content-Encoding`` other than ``identity``) and the OIP binary tensor data extension
    (``Inference-Header-Content-Length``). Header names are lowercase: an HTTP API's payload 2.0 event lowercases
    them (and the local HTTP API does the same), so two lookups are all a request pays."""
    if not headers:
        return
    encoding = headers.get("content-encoding")
    if encoding and encoding.strip().lower() != "identity":
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {encoding!r} is not supported: send the JSON body uncompressed (no Content-Encoding "
            "header); split a large request into smaller ones instead"
        )
    if BINARY_EXTENSION_HEADER in headers:
        raise UnsupportedMediaTypeError(
            "the Open Inference Protocol binary tensor data extension (Inference-Header-Content-Length) is not "
            f"supported: send every tensor's values in its JSON 'data', e.g. {_TENSOR_EXAMPLE}"
        )


def decode_body(body: str | bytes | None, *, is_base64: bool = False, max_bytes: int) -> Any:
    """The request's JSON document. Refuses an empty body, a body over ``max_bytes``, malformed JSON and the
    ``NaN``/``Infinity`` tokens Python's json module would otherwise accept."""
    if body is None or len(body) == 0:
        raise InvalidRequestError(f"empty request body; expected a JSON object such as {_SEED_EXAMPLE}")
    if is_base64:
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequestError("request body: marked base64-encoded but is not valid base64") from exc
    if isinstance(body, bytes) or body.isascii():
        size = len(body)
    else:
        try:
            size = len(body.encode())
        except UnicodeEncodeError as exc:  # a lone surrogate (an escaped "\ud800" in the event's JSON)
            raise InvalidRequestError("request body: expected UTF-8 encoded JSON, got an unpaired surrogate") from exc
    if size > max_bytes:
        raise PayloadTooLargeError(
            f"request body is {size} bytes, over the limit of {max_bytes}; split the request into smaller ones"
        )
    try:
        return _decoder.decode(body.decode("utf-8") if isinstance(body, bytes) else body)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError("request body: expected UTF-8 encoded JSON") from exc
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"request body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"expected a JSON object such as {_SEED_EXAMPLE}"
        ) from exc
    except RecursionError as exc:
        raise InvalidRequestError(
            f"request body is nested too deeply; expected a JSON object such as {_SEED_EXAMPLE}"
        ) from exc
    except ValueError as exc:  # e.g. an integer literal beyond Python's 4300-digit conversion limit
        raise InvalidRequestError(f"request body: {exc}; expected finite numbers of ordinary size") from exc


# ---------------------------------------------------------------------------------------------------- request


def parse_infer_request(
    body: str | bytes | None,
    signature: Signature,
    *,
    max_rows: int,
    max_bytes: int,
    is_base64: bool = False,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> InferRequest:
    """Parse and validate an inference request for a model with ``signature``."""
    document = decode_body(body, is_base64=is_base64, max_bytes=max_bytes)
    if not isinstance(document, dict):
        raise InvalidRequestError(
            f"request body: expected a JSON object such as {_SEED_EXAMPLE}, got a JSON {_json_kind(document)}"
        )
    request_id = _request_id(document.get("id"), new_id)
    parameters = document.get("parameters")
    if parameters is None:
        parameters = {}
    elif not isinstance(parameters, dict):
        raise InvalidRequestError(f"parameters: expected a JSON object, got a JSON {_json_kind(parameters)}")
    if "inputs" not in document:
        raise InvalidRequestError(f"request body: missing 'inputs'; expected e.g. {_SEED_EXAMPLE}")
    inputs = document["inputs"]
    if not isinstance(inputs, list):
        raise InvalidRequestError(
            f"inputs: expected a list of rows ({_SEED_EXAMPLE}) or of OIP tensors, got a JSON {_json_kind(inputs)}"
        )
    if not inputs:
        raise InvalidRequestError(f"inputs is empty; expected at least one row, e.g. {_SEED_EXAMPLE}")
    first = inputs[0]
    if isinstance(first, dict):
        rows = _rows_from_tensors(inputs, signature, max_rows)
    elif isinstance(first, list):
        _check_row_count(len(inputs), max_rows)
        rows = _check_rows(inputs, signature)
    else:
        raise InvalidRequestError(
            f"inputs: expected a list of rows such as {_SEED_EXAMPLE} or a list of OIP tensors such as "
            f"{_TENSOR_EXAMPLE}; got a list of JSON {_json_kind(first)}s"
        )
    return InferRequest(request_id=request_id, rows=rows, parameters=parameters)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _request_id(value: Any, new_id: Callable[[], str]) -> str:
    if value is None:
        return new_id()
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidRequestError(f"id: expected a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


def _check_row_count(n_rows: int, max_rows: int) -> None:
    if n_rows > max_rows:
        raise PayloadTooLargeError(
            f"the request has {n_rows} rows, over the limit of {max_rows} per request; split it into smaller ones"
        )


def _check_rows(rows: list[Any], signature: Signature) -> list[list[Any]]:
    """Rows as given (seed form or nested tensor data): each a list of ``n_features`` values of the right kind."""
    n = signature.n_features
    # The fast paths; the slow walk below only runs to name the first offender.
    if signature.all_numeric and all(type(row) is list and len(row) == n for row in rows):
        if len(rows) * n <= _SMALL_REQUEST_VALUES:
            if _small_and_finite(rows):
                return rows
        elif {type(v) for row in rows for v in row} <= _NUMBER_TYPES:
            _check_finite(rows)
            return rows
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidRequestError(
                f"inputs[{i}]: expected a row (a list of {signature.describe()}), got a JSON {_json_kind(row)}"
            )
        if len(row) != n:
            raise InvalidRequestError(f"inputs[{i}] has {len(row)} values; the model expects {signature.describe()}")
        for j, value in enumerate(row):
            _check_value(value, j, signature, "inputs[{i}][{j}]", i)
    return rows


def _small_and_finite(rows: list[list[Any]]) -> bool:
    """Every value a JSON number within a 64-bit float's range. Plain loops: a third cheaper than ``all()`` over a
    generator for the few values of a typical request."""
    for row in rows:
        for value in row:
            # NaN fails both comparisons; infinities and integers too big for a float fail one
            if type(value) not in _NUMBER_TYPES or not -_FLOAT_MAX <= value <= _FLOAT_MAX:
                return False
    return True


def _check_value(value: Any, feature: int, signature: Signature, where_template: str, row: int) -> None:
    """One value against its feature's kind; ``where_template`` (``{i}`` row, ``{j}`` column) is only
    formatted for the error message."""
    name = signature.feature_names[feature]

    def where() -> str:
        return where_template.format(i=row, j=feature)

    if feature in signature.string_features:
        if not isinstance(value, str):
            raise InvalidRequestError(
                f"{where()}: feature {name!r} is a string feature; expected a string, got a JSON {_json_kind(value)}"
            )
        return
    if type(value) not in _NUMBER_TYPES:
        raise InvalidRequestError(
            f"{where()}: feature {name!r} is numeric; expected a number, got a JSON {_json_kind(value)}"
        )
    if type(value) is float and not math.isfinite(value):
        raise InvalidRequestError(f"{where()}: feature {name!r}: expected a finite number, got {value!r}")
    if type(value) is int and abs(value) > _FLOAT_MAX:
        raise InvalidRequestError(f"{where()}: feature {name!r} is out of the range of a 64-bit float")


def _check_finite(rows: list[list[Any]]) -> None:
    """All-numeric rows: JSON numbers such as ``1e999`` parse to infinity and huge integers overflow."""
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except OverflowError as exc:
        raise InvalidRequestError("inputs: a number is out of the range of a 64-bit float") from exc
    finite = np.isfinite(matrix)
    if not finite.all():
        i, j = (int(x) for x in np.argwhere(~finite)[0])
        raise InvalidRequestError(f"inputs[{i}][{j}]: expected a finite number, got {rows[i][j]!r}")


# ---------------------------------------------------------------------------------------------------- tensors


def _rows_from_tensors(tensors: list[Any], signature: Signature, max_rows: int) -> list[list[Any]]:
    parsed = [_tensor(t, k) for k, t in enumerate(tensors)]
    if len(parsed) == 1 and len(parsed[0].shape) == 2:
        return _rows_from_matrix(parsed[0], signature, max_rows)
    if all(len(t.shape) == 1 or (len(t.shape) == 2 and t.shape[1] == 1) for t in parsed):
        return _rows_from_columns(parsed, signature, max_rows)
    shapes = ", ".join(f"{t.name}: {t.shape}" for t in parsed)
    raise InvalidRequestError(
        f"inputs: expected one tensor of shape [n_rows, {signature.n_features}] or one tensor of shape [n_rows] "
        f"per feature ({', '.join(signature.feature_names)}); got {shapes}"
    )


@dataclass(frozen=True)
class _Tensor:
    index: int
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]

    def where(self) -> str:
        return f"inputs[{self.index}] ({self.name!r})"


def _tensor(raw: Any, index: int) -> _Tensor:
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        raise InvalidRequestError(
            f"{where}: expected an OIP tensor object with name, shape, datatype and data; got a JSON {_json_kind(raw)}"
        )
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in raw]
    if missing:
        raise InvalidRequestError(
            f"{where}: missing {', '.join(missing)}; an OIP tensor has name, shape, datatype and data, e.g. "
            f"{_TENSOR_EXAMPLE}"
        )
    name, shape, datatype, data = raw["name"], raw["shape"], raw["datatype"], raw["data"]
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"{where}: name must be a non-empty string")
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 2:
        raise InvalidRequestError(
            f"{where} ({name!r}): shape must be a list of 1 or 2 non-negative integers such as [n_rows, n_features], "
            f"got {shape!r}"
        )
    if not isinstance(datatype, str) or datatype.upper() not in DATATYPES:
        raise InvalidRequestError(
            f"{where} ({name!r}): datatype {datatype!r} is not supported; "
            f"expected one of {', '.join(sorted(DATATYPES))}"
        )
    if not isinstance(data, list):
        raise InvalidRequestError(f"{where} ({name!r}): data must be a list, got a JSON {_json_kind(data)}")
    return _Tensor(index=index, name=name, shape=shape, datatype=datatype.upper(), data=data)


def _rows_from_matrix(tensor: _Tensor, signature: Signature, max_rows: int) -> list[list[Any]]:
    n_rows, n_cols = tensor.shape
    if n_cols != signature.n_features:
        raise InvalidRequestError(
            f"{tensor.where()}: shape {tensor.shape} has {n_cols} columns; the model expects "
            f"{signature.describe()}, so shape [n_rows, {signature.n_features}]"
        )
    if n_rows == 0:
        raise InvalidRequestError(f"{tensor.where()}: shape {tensor.shape} has no rows; expected at least one")
    _check_row_count(n_rows, max_rows)
    data = tensor.data
    if data and isinstance(data[0], list):
        if len(data) != n_rows or not all(isinstance(r, list) and len(r) == n_cols for r in data):
            raise InvalidRequestError(
                f"{tensor.where()}: nested data does not match shape {tensor.shape}; expected {n_rows} lists of "
                f"{n_cols} values (or {n_rows * n_cols} values flat, row-major)"
            )
        flat = [v for row in data for v in row]
    else:
        if len(data) != n_rows * n_cols:
            raise InvalidRequestError(
                f"{tensor.where()}: shape {tensor.shape} needs {n_rows * n_cols} values, data has {len(data)}"
            )
        flat = data
    mixed = 0 < len(signature.string_features) < signature.n_features
    if mixed:
        if tensor.datatype != "BYTES":
            raise InvalidRequestError(
                f"{tensor.where()}: the model has string and numeric features; send one 1-D tensor per feature, "
                "or one BYTES tensor"
            )
    else:
        expected_bytes = not signature.all_numeric
        if (tensor.datatype == "BYTES") != expected_bytes:
            kind = "string features: use datatype BYTES" if expected_bytes else "numeric features: use FP64"
            raise InvalidRequestError(f"{tensor.where()}: datatype {tensor.datatype} does not fit the model's {kind}")
        flat = _check_data(flat, tensor, signature.feature_names[0] if expected_bytes else None)
    rows = [flat[r * n_cols : (r + 1) * n_cols] for r in range(n_rows)]
    if mixed:
        template = tensor.where().replace("{", "{{").replace("}", "}}") + " row {i} column {j}"
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                _check_value(value, j, signature, template, i)
    elif signature.all_numeric:
        _check_finite(rows)
    return rows


def _rows_from_columns(tensors: list[_Tensor], signature: Signature, max_rows: int) -> list[list[Any]]:
    by_name = {t.name: t for t in tensors}
    expected = set(signature.feature_names)
    if len(by_name) != len(tensors) or set(by_name) != expected:
        missing = [n for n in signature.feature_names if n not in by_name]
        extra = sorted(set(by_name) - expected)
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(extra)}" if extra else "",
                "duplicate names" if len(by_name) != len(tensors) else "",
            )
            if part
        )
        raise InvalidRequestError(
            f"inputs: one 1-D tensor per feature must be named after the model's {signature.describe()} ({detail})"
        )
    n_rows = tensors[0].shape[0]
    columns: list[list[Any]] = []
    for j, name in enumerate(signature.feature_names):
        tensor = by_name[name]
        if tensor.shape[0] != n_rows:
            raise InvalidRequestError(
                f"{tensor.where()}: shape {tensor.shape} has {tensor.shape[0]} rows, "
                f"{tensors[0].where()} has {n_rows}; every feature tensor needs the same number of rows"
            )
        data = tensor.data
        if data and isinstance(data[0], list):  # shape [n, 1] sent nested
            if not all(isinstance(v, list) and len(v) == 1 for v in data):
                raise InvalidRequestError(f"{tensor.where()}: nested data does not match shape {tensor.shape}")
            data = [v[0] for v in data]
        if len(data) != n_rows:
            raise InvalidRequestError(
                f"{tensor.where()}: shape {tensor.shape} needs {n_rows} values, data has {len(data)}"
            )
        is_string = j in signature.string_features
        if (tensor.datatype == "BYTES") != is_string:
            kind = "a string feature: use datatype BYTES" if is_string else "numeric: use a numeric datatype (FP64)"
            raise InvalidRequestError(f"{tensor.where()}: datatype {tensor.datatype} does not fit; {name!r} is {kind}")
        columns.append(_check_data(data, tensor, name))
    if n_rows == 0:
        raise InvalidRequestError("inputs: the feature tensors have no rows; expected at least one")
    _check_row_count(n_rows, max_rows)
    rows = [list(row) for row in zip(*columns, strict=True)]
    if signature.all_numeric:
        _check_finite(rows)
    return rows


def _check_data(data: list[Any], tensor: _Tensor, feature: str | None) -> list[Any]:
    """Values of one tensor against its datatype. BOOL becomes 0/1 for the model."""
    datatype = tensor.datatype
    kinds = {type(v) for v in data}
    if datatype == "BYTES":
        ok = kinds <= {str}
        expected = "strings"
    elif datatype == "BOOL":
        ok = kinds <= {bool}
        expected = "true/false"
    elif datatype in INT_DATATYPES:
        ok = kinds <= {int}
        expected = "integers"
    else:
        ok = kinds <= _NUMBER_TYPES
        expected = "numbers"
    if not ok:
        bad = next(v for v in data if not _fits(v, datatype))
        what = f" for feature {feature!r}" if feature else ""
        raise InvalidRequestError(
            f"{tensor.where()}: datatype {datatype} expects {expected}{what}; got a JSON {_json_kind(bad)} ({bad!r})"
        )
    if datatype.startswith("UINT") and data and min(data) < 0:
        raise InvalidRequestError(f"{tensor.where()}: datatype {datatype} expects non-negative integers")
    if datatype == "BOOL":
        return [int(v) for v in data]
    return data


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BYTES":
        return isinstance(value, str)
    if datatype == "BOOL":
        return type(value) is bool
    if datatype in INT_DATATYPES:
        return type(value) is int
    return type(value) in _NUMBER_TYPES


# ---------------------------------------------------------------------------------------------------- answers


class Prediction(NamedTuple):
    """A model's answer, shaped twice: the OIP ``outputs`` and one output per row for the tracking event."""

    outputs: list[dict[str, Any]]
    per_row: list[Any]


def datatype_of(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind == "i":
        return f"INT{array.dtype.itemsize * 8}"
    if kind == "u":
        return f"UINT{array.dtype.itemsize * 8}"
    if kind == "f":
        return f"FP{array.dtype.itemsize * 8}"
    return "BYTES"


def shape_prediction(raw: Any, n_rows: int, label_names: Sequence[str]) -> Prediction:
    """Turn what ``predict`` returned into OIP outputs. One column per label gives one tensor per label;
    anything else is one tensor named after the single label (or ``predict``). Raises ``ValueError`` when the
    model's answer does not have one prediction per row."""
    array = np.asarray(raw)
    if array.ndim == 0 or array.shape[0] != n_rows:
        got = "a scalar" if array.ndim == 0 else f"{array.shape[0]} predictions"
        raise ValueError(f"the model returned {got} for {n_rows} input rows; expected one prediction per row")
    if array.ndim > 2:
        raise ValueError(f"the model returned an array of shape {list(array.shape)}; expected 1 or 2 dimensions")
    datatype = datatype_of(array)
    values = _json_values(array)
    if array.ndim == 2 and len(label_names) > 1 and array.shape[1] == len(label_names):
        outputs = [
            {"name": label, "shape": [n_rows], "datatype": datatype, "data": [row[j] for row in values]}
            for j, label in enumerate(label_names)
        ]
        return Prediction(outputs=outputs, per_row=values)
    name = label_names[0] if len(label_names) == 1 else DEFAULT_OUTPUT_NAME
    flat = values if array.ndim == 1 else [v for row in values for v in row]
    output = {"name": name, "shape": list(array.shape), "datatype": datatype, "data": flat}
    return Prediction(outputs=[output], per_row=values)


def _json_values(array: np.ndarray) -> list[Any]:
    values = array.tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        # JSON has no NaN/Infinity: a model's non-finite output travels as null
        cells = array.astype(object)
        cells[~np.isfinite(array)] = None
        values = cells.tolist()
    return values


def infer_response(model_name: str, model_version: str, request_id: str, prediction: Prediction) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "model_version": model_version,
        "id": request_id,
        "outputs": prediction.outputs,
    }


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    """The OIP error shape."""
    return {"error": message, **extra}
