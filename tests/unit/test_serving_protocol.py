from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from driftline.errors import InvalidRequestError, PayloadTooLargeError
from driftline.serving.protocol import (
    Signature,
    datatype_of,
    decode_body,
    encode_json,
    infer_response,
    parse_infer_request,
    shape_prediction,
)

NUMERIC = Signature(feature_names=("a", "b", "c"), label_names=("y",))
MIXED = Signature(feature_names=("age", "city"), string_features=frozenset({1}))


def parse(body, signature=NUMERIC, max_rows=100, max_bytes=10_000, **kw):
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return parse_infer_request(text, signature, max_rows=max_rows, max_bytes=max_bytes, new_id=lambda: "new", **kw)


def test_seed_rows_are_taken_as_given_with_a_new_id():
    request = parse({"inputs": [[1, 2.5, 3], [4, 5, 6]]})
    assert (request.request_id, request.rows, request.n_rows, request.parameters) == (
        "new",
        [[1, 2.5, 3], [4, 5, 6]],
        2,
        {},
    )


def test_the_body_id_and_parameters_are_kept():
    request = parse({"id": "abc", "parameters": {"k": 1}, "inputs": [[1, 2, 3]]})
    assert (request.request_id, request.parameters) == ("abc", {"k": 1})


@pytest.mark.parametrize(
    "inputs",
    [
        [{"name": "t", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6]}],
        [{"name": "t", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}],
        [{"name": "t", "shape": [2, 3], "datatype": "INT64", "data": [1, 2, 3, 4, 5, 6]}],
        [
            {"name": "c", "shape": [2], "datatype": "INT32", "data": [3, 6]},
            {"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 4]},
            {"name": "b", "shape": [2, 1], "datatype": "FP64", "data": [[2], [5]]},
        ],
    ],
    ids=["flat", "nested", "int", "per-feature"],
)
def test_tensor_forms_give_the_same_rows(inputs):
    assert parse({"inputs": inputs}).rows == [[1, 2, 3], [4, 5, 6]]


def test_bool_tensors_become_zero_and_one():
    inputs = [{"name": "t", "shape": [1, 3], "datatype": "BOOL", "data": [True, False, True]}]
    assert parse({"inputs": inputs}).rows == [[1, 0, 1]]


def test_string_features_take_strings_and_numeric_ones_numbers():
    assert parse({"inputs": [[31, "Paris"]]}, MIXED).rows == [[31, "Paris"]]
    with pytest.raises(InvalidRequestError, match="'city' is a string feature; expected a string, got a JSON number"):
        parse({"inputs": [[31, 7]]}, MIXED)
    with pytest.raises(InvalidRequestError, match="'age' is numeric; expected a number, got a JSON string"):
        parse({"inputs": [["31", "Paris"]]}, MIXED)
    per_feature = [
        {"name": "age", "shape": [1], "datatype": "FP64", "data": [31]},
        {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["Oslo"]},
    ]
    assert parse({"inputs": per_feature}, MIXED).rows == [[31, "Oslo"]]
    matrix = [{"name": "t", "shape": [1, 2], "datatype": "FP64", "data": [31, "Oslo"]}]
    with pytest.raises(InvalidRequestError, match="string and numeric features"):
        parse({"inputs": matrix}, MIXED)
    matrix[0]["datatype"] = "BYTES"
    assert parse({"inputs": matrix}, MIXED).rows == [[31, "Oslo"]]
    matrix[0] |= {"name": "{t}", "data": [31, 32]}
    with pytest.raises(InvalidRequestError, match=r"inputs\[0\] \('\{t\}'\) row 0 column 1: feature 'city'"):
        parse({"inputs": matrix}, MIXED)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"inputs": [[-Infinity, 1, 2]]}', "-Infinity is not a number"),
        ('{"inputs": [[1e400, 1, 2]]}', r"inputs\[0\]\[0\]: feature 'a': expected a finite number, got inf"),
        ('{"inputs": [' + "[1, 2, 3], " * 99 + "[1e400, 1, 2]]}", r"inputs\[99\]\[0\]: expected a finite number"),
        ('{"inputs": [[1, 2, ' + "9" * 400 + "]]}", "out of the range of a 64-bit float"),
        ('{"inputs": [[1, 2, 3]], "parameters": []}', "parameters: expected a JSON object"),
        ('{"inputs": [[1, 2, 3]], "id": ""}', "id: expected a non-empty string"),
        ('{"inputs": "1,2,3"}', "got a JSON string"),
        ('{"inputs": [[1, 2, 3], 4]}', r"inputs\[1\]: expected a row"),
        ('{"inputs": [[1, 2, 3], [1, 2]]}', r"inputs\[1\] has 2 values; the model expects 3 features \(a, b, c\)"),
        ('{"inputs": [{"name": "t", "shape": [1, -3], "datatype": "FP64", "data": [1, 2, 3]}]}', "non-negative"),
        ('{"inputs": [{"name": "t", "shape": [1, 1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}', "1 or 2"),
        ('{"inputs": [{"name": "t", "shape": [0, 3], "datatype": "FP64", "data": []}]}', "has no rows"),
        ('{"inputs": [{"name": "t", "shape": [1, 3], "datatype": "FP64", "data": 5}]}', "data must be a list"),
        ('{"inputs": [{"name": "t", "shape": [2, 3], "datatype": "FP64", "data": [[1, 2, 3]]}]}', "nested data"),
        ('{"inputs": [{"name": "t", "shape": [1, 3], "datatype": "UINT8", "data": [1, -2, 3]}]}', "non-negative"),
        ('{"inputs": [{"name": "t", "shape": [1, 3], "datatype": "BOOL", "data": [1, 0, 1]}]}', "true/false"),
        ('{"inputs": [{"name": "t", "shape": [1, 3], "datatype": "FP64", "data": [1, null, 3]}]}', "JSON null"),
        (
            '{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},'
            ' {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]},'
            ' {"name": "c", "shape": [1], "datatype": "FP64", "data": [1]}]}',
            "every feature tensor needs the same number of rows",
        ),
        (
            '{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},'
            ' {"name": "z", "shape": [1], "datatype": "FP64", "data": [1]}]}',
            "missing b, c; unknown z",
        ),
        (
            '{"inputs": [{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["x"]},'
            ' {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]},'
            ' {"name": "c", "shape": [1], "datatype": "FP64", "data": [1]}]}',
            "'a' is numeric",
        ),
        (
            '{"inputs": [{"name": "t", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]},'
            ' {"name": "u", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}',
            r"expected one tensor of shape \[n_rows, 3\]",
        ),
    ],
)
def test_bad_requests_say_what_was_expected(body, message):
    with pytest.raises(InvalidRequestError, match=message) as caught:
        parse(body)
    assert caught.value.status_code == 400


def test_row_limit_applies_to_every_form():
    with pytest.raises(PayloadTooLargeError, match="3 rows, over the limit of 2"):
        parse({"inputs": [[1, 2, 3]] * 3}, max_rows=2)
    tensor = [{"name": "t", "shape": [3, 3], "datatype": "FP64", "data": [1] * 9}]
    with pytest.raises(PayloadTooLargeError, match="3 rows"):
        parse({"inputs": tensor}, max_rows=2)
    columns = [{"name": n, "shape": [3], "datatype": "FP64", "data": [1, 2, 3]} for n in "abc"]
    with pytest.raises(PayloadTooLargeError) as caught:
        parse({"inputs": columns}, max_rows=2)
    assert caught.value.status_code == 413


def test_body_size_is_counted_in_bytes():
    body = '{"inputs": [[1, 2, 3]], "parameters": {"note": "' + "é" * 10 + '"}}'
    assert len(body) == 61  # characters; 10 of them take two bytes in UTF-8
    parse(body, max_bytes=71)
    with pytest.raises(PayloadTooLargeError, match="71 bytes, over the limit of 70"):
        parse(body, max_bytes=70)


def test_base64_and_encoding_errors():
    encoded = base64.b64encode(b'{"inputs": [[1, 2, 3]]}').decode()
    assert parse(encoded, is_base64=True).rows == [[1, 2, 3]]
    with pytest.raises(InvalidRequestError, match="not valid base64"):
        parse("!!!not base64!!!", is_base64=True)
    with pytest.raises(InvalidRequestError, match="UTF-8"):
        parse(b'{"inputs": [["\xff"]]}')


def test_empty_body_shows_an_example():
    for empty in (None, "", b""):
        with pytest.raises(InvalidRequestError, match=r'empty request body; expected a JSON object such as \{"inputs"'):
            decode_body(empty, max_bytes=10)


def test_shape_prediction_single_label():
    prediction = shape_prediction(np.array([0, 2, 1]), 3, ("label",))
    assert prediction.outputs == [{"name": "label", "shape": [3], "datatype": "INT64", "data": [0, 2, 1]}]
    assert prediction.per_row == [0, 2, 1]
    unnamed = shape_prediction([0.5, 1.5], 2, ())
    assert unnamed.outputs[0]["name"] == "predict"
    assert unnamed.outputs[0]["datatype"] == "FP64"


def test_shape_prediction_one_tensor_per_label_and_matrices():
    two = shape_prediction(np.array([[1, 10], [2, 20]]), 2, ("x", "y"))
    assert [(o["name"], o["data"]) for o in two.outputs] == [("x", [1, 2]), ("y", [10, 20])]
    assert two.per_row == [[1, 10], [2, 20]]
    proba = shape_prediction(np.array([[0.25, 0.75], [1.0, 0.0]]), 2, ("label",))
    assert proba.outputs == [{"name": "label", "shape": [2, 2], "datatype": "FP64", "data": [0.25, 0.75, 1.0, 0.0]}]


def test_shape_prediction_types_and_non_finite_values():
    assert shape_prediction(np.array(["setosa"]), 1, ()).outputs[0]["datatype"] == "BYTES"
    assert shape_prediction(np.array([True]), 1, ()).outputs[0]["datatype"] == "BOOL"
    assert shape_prediction(np.array([1.5], dtype=np.float32), 1, ()).outputs[0]["datatype"] == "FP32"
    nan = shape_prediction(np.array([1.0, np.nan, np.inf]), 3, ())
    assert nan.per_row == [1.0, None, None]
    json.dumps(infer_response("m", "1", "id", nan), allow_nan=False)  # serialisable as strict JSON


@pytest.mark.parametrize(("raw", "message"), [(np.array([1, 2]), "2 predictions for 3"), (5, "a scalar")])
def test_shape_prediction_refuses_answers_that_do_not_fit_the_rows(raw, message):
    with pytest.raises(ValueError, match=message):
        shape_prediction(raw, 3, ())


def test_datatypes_of_numpy_arrays():
    assert [datatype_of(np.zeros(1, dtype=d)) for d in ("int8", "uint16", "float16", "bool", "object")] == [
        "INT8",
        "UINT16",
        "FP16",
        "BOOL",
        "BYTES",
    ]


def test_infer_response_shape():
    prediction = shape_prediction([1], 1, ("y",))
    assert infer_response("m", "3", "r", prediction) == {
        "model_name": "m",
        "model_version": "3",
        "id": "r",
        "outputs": [{"name": "y", "shape": [1], "datatype": "INT64", "data": [1]}],
    }


@pytest.mark.parametrize(
    "value",
    [
        {"inputs": [[5.1, 3.5, 1e-300, 1.7976931348623157e308, -0.0, 10**18]], "outputs": [0, None], "id": "r"},
        {"inputs": [[10**30, 2]], "error": None},  # a request may carry integers orjson cannot write
        {"inputs": [["caf\u00e9", "\U0001f600", "lone \ud800"]]},  # ... or strings with a lone surrogate
        {"nested": {"a": [True, False, None, ""]}, "big": -(10**25)},
    ],
)
def test_encoded_json_decodes_to_the_same_values(value):
    data = encode_json(value)
    assert isinstance(data, bytes)
    assert json.loads(data) == value
    assert b" " not in data.replace(b"lone ", b"")  # compact
