"""CLI pieces that need no AWS: argument parsing, value parsing, tables, JSON conversion, exit codes of usage
errors, and the help listing every command."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from driftline import cli
from driftline.errors import InvalidRequestError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in (
        "local up",
        "demo",
        "project create",
        "models log",
        "models list",
        "monitoring enable",
        "monitoring disable",
        "monitoring status",
        "apps set",
        "apps list",
        "apps remove",
        "apps deploy",
        "serving deploy",
        "invoke",
        "ingest",
        "endpoints list",
        "endpoints get",
        "results",
    ):
        assert f"driftline {command}" in text


def test_usage_errors_exit_2_with_argparse_message(capsys):
    assert cli.main([]) == 2
    assert cli.main(["monitoring", "enable"]) == 2
    assert "the following arguments are required: project" in capsys.readouterr().err
    assert cli.main(["monitoring", "enable", "p", "--base-period", "0"]) == 2
    assert "expected a whole number of minutes >= 1" in capsys.readouterr().err
    assert cli.main(["serving", "deploy", "p", "--model", "m", "--sampling", "150"]) == 2
    assert "(0, 100]" in capsys.readouterr().err
    assert cli.main(["apps", "set", "p", "--file", "f.py", "--class", "C", "--kwarg", "novalue"]) == 2
    assert "expected key=value" in capsys.readouterr().err


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("driftline ")


def test_json_flag_is_accepted_before_or_after_the_command():
    parser = cli.build_parser()
    assert parser.parse_args(["--json", "models", "list", "p"]).json is True
    assert parser.parse_args(["models", "list", "p", "--json"]).json is True
    assert parser.parse_args(["models", "list", "p"]).json is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("threshold=0.3", ("threshold", 0.3)),
        ("name=abc", ("name", "abc")),
        ("flag=true", ("flag", True)),
        ("cols=[1, 2]", ("cols", [1, 2])),
        ("empty=", ("empty", "")),
        ("url=http://x?a=b", ("url", "http://x?a=b")),
    ],
)
def test_parse_kwarg(text, expected):
    assert cli.parse_kwarg(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=1", "bad key=1", "1x=2"])
def test_parse_kwarg_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match="key=value"):
        cli.parse_kwarg(text)


def test_parse_model_option():
    assert cli.parse_model_option("clf") == ("clf", None)
    assert cli.parse_model_option("clf=store://models/p/clf:2") == ("clf", "store://models/p/clf:2")
    for bad in ("=store://x", "clf="):
        with pytest.raises(argparse.ArgumentTypeError, match="NAME"):
            cli.parse_model_option(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", datetime(2026, 11, 26, 11, 30, tzinfo=UTC)),
        ("2h", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("1d", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("90s", datetime(2026, 11, 26, 11, 58, 30, tzinfo=UTC)),
        ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("2026-11-26T11:00:00+01:00", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("2026-11-26T10:00:00", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_parse_when(text, expected):
    assert cli.parse_when(text, NOW) == expected


def test_parse_when_refuses_garbage():
    with pytest.raises(InvalidRequestError, match=r"ISO 8601.*30m"):
        cli.parse_when("yesterday", NOW)


def test_table_pads_columns_and_formats_cells():
    text = cli.table(
        [{"name": "a", "n": 1.23456, "ok": True, "t": NOW}, {"name": "long-name", "n": None, "ok": False, "t": None}],
        ["name", "n", "ok", "t"],
    )
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "N", "OK", "T"]
    assert lines[2].split() == ["a", "1.235", "yes", "2026-11-26", "12:00:00"]
    assert lines[3].split() == ["long-name", "-", "no", "-"]
    assert lines[2].index("1.235") == lines[0].index("N ")  # aligned
    assert cli.table([], ["x"], empty="(nothing)") == "(nothing)"


def test_to_jsonable_handles_times_numpy_nan_and_dataclasses():
    out = cli.to_jsonable(
        {"t": NOW, "n": np.float64(1.5), "i": np.int64(3), "nan": float("nan"), "npnan": np.float64("nan"), 1: (1, 2)}
    )
    assert out == {"t": "2026-11-26T12:00:00+00:00", "n": 1.5, "i": 3, "nan": None, "npnan": None, "1": [1, 2]}
    assert json.dumps(cli.to_jsonable(cli.Output(data={"a": NOW}, text="x")))


def test_read_data_wraps_rows_and_refuses_non_lists(tmp_path):
    assert cli._read_data("[[1, 2]]") == {"inputs": [[1, 2]]}
    assert cli._read_data("[1, 2]") == {"inputs": [[1, 2]]}
    assert cli._read_data('{"inputs": [[1]], "id": "x"}') == {"inputs": [[1]], "id": "x"}
    body = tmp_path / "rows.json"
    body.write_text("[[3, 4]]")
    assert cli._read_data(f"@{body}") == {"inputs": [[3, 4]]}
    with pytest.raises(InvalidRequestError, match="expected JSON rows"):
        cli._read_data("[[1, 2]")
    with pytest.raises(InvalidRequestError, match="non-empty JSON list"):
        cli._read_data("[]")


def test_local_up_and_demo_delegate_with_their_options(monkeypatch):
    import driftline.local.demo as demo
    import driftline.local.runtime as runtime

    seen = {}
    monkeypatch.setattr(runtime, "main_up", lambda args: seen.setdefault("up", (args.port, args.metrics)) and 0)
    monkeypatch.setattr(demo, "main", lambda args: seen.setdefault("demo", (args.out, args.no_pause)) and 3)
    assert run(["local", "up", "--port", "0"])[0] == 0
    assert run(["demo", "--out", "/tmp/x", "--no-pause"])[0] == 3  # the demo's own exit code
    assert seen == {"up": (0, False), "demo": ("/tmp/x", True)}
    assert run(["demo"])[0] == 3
    assert run(["local", "up", "--port", "70000"])[0] == 2


def test_requests_to_a_deployed_http_api_are_sigv4_signed():
    from driftline.sdk.http import execute_api_region, signed_headers

    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v2/models/m/infer"
    assert execute_api_region(url) == "eu-west-1"
    assert execute_api_region("http://127.0.0.1:8780/v2/models/m/infer") is None
    headers = signed_headers(url, "POST", b"{}", {"Content-Type": "application/json"}, "eu-west-1")
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["Content-Type"] == "application/json"


def test_read_data_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(InvalidRequestError, match=r"--data @.*missing\.json: no such file"):
        cli._read_data(f"@{tmp_path / 'missing.json'}")
    with pytest.raises(InvalidRequestError, match="is a directory"):
        cli._read_data(f"@{tmp_path}")


def test_invoke_with_a_missing_data_file_is_one_line_and_exit_2(tmp_path):
    code, out, err = run(["invoke", "iris", "clf", "--data", f"@{tmp_path / 'missing.json'}"])
    assert code == 2
    assert out == ""
    assert err.strip() == f"error: --data @{tmp_path / 'missing.json'}: no such file"


@pytest.mark.parametrize("flag", ["--json", None])
def test_a_closed_pipe_ends_quietly_with_141(flag):
    """`driftline ... --json | head`: the reader is gone before the command writes; no traceback, SIGPIPE's exit
    code. The command is invoke with its answer stubbed (a long one), run in a process of its own."""
    import subprocess
    import sys

    script = (
        "import sys; from driftline import cli; "
        "cli.cmd_invoke = lambda args: cli.Output({'outputs': list(range(100000))}, 'x' * 500000); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    argv = ["invoke", "iris", "clf", "--data", "[[1, 2]]", *([flag] if flag else [])]
    process = subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # no reader left: the first write gets EPIPE
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == cli.EXIT_BROKEN_PIPE, err
    assert err == ""


def test_a_broken_pipe_on_the_output_is_exit_141():
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    assert cli.main(["--version"], stdout=Closed(), stderr=io.StringIO()) in (0, cli.EXIT_BROKEN_PIPE)
