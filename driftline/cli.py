"""``driftline``: the command line over the SDK (MLRun's project API) and the local runtime.

Human-readable tables by default, ``--json`` for machines. A driftline error prints its message on stderr and
exits with 2 (as a usage error does); an AWS call that fails (nothing running, no credentials) exits with 1.
The SDK, pandas and the local runtime are imported only by the commands that use them, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from driftline.errors import ConfigurationError, DriftlineError, InvalidRequestError, NotFoundError, StorageError

if TYPE_CHECKING:
    from driftline.config import Settings
    from driftline.sdk.project import Project

EXIT_OK = 0
EXIT_AWS = 1
AWS_HINT = "(is a local stack running? start one with `driftline local up`, or set DRIFTLINE_* for a deployed one)"
EXIT_ERROR = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command whose reader closed the pipe

EPILOG = """\
examples:
  driftline local up                                  # the whole system on this machine (moto on loopback)
  driftline project create iris
  driftline models log iris RandomForestClassifier --file model.pkl --training-set train.csv --label-column label
  driftline monitoring enable iris --base-period 10
  driftline serving deploy iris --model RandomForestClassifier
  driftline invoke iris RandomForestClassifier --data '[[5.1, 3.5, 1.4, 0.2]]'
  driftline apps set iris --file my_app.py --class MyApp --kwarg threshold=0.3 --deploy
  driftline endpoints list iris
  driftline results iris RandomForestClassifier --since 1h
  driftline report iris --model RandomForestClassifier --start 2h -o report.html

The CLI finds the installation like the SDK: DRIFTLINE_* variables, else a running `driftline local up`,
else real AWS with the default credentials. Exit codes: 0 ok, 1 an AWS call failed, 2 a driftline error or
bad arguments (the message says what was expected), 141 the reader of the output closed the pipe."""


@dataclasses.dataclass
class Output:
    """What a command produced: ``data`` for ``--json``, ``text`` for people."""

    data: Any
    text: str


# ------------------------------------------------------------------------------------------------ formatting


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return to_jsonable(value.item())
    if isinstance(value, float) and value != value:  # NaN: JSON has none
        return None
    return value


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], empty: str = "(none)") -> str:
    """A plain text table: a header, a rule, one line per row; columns as wide as their widest cell."""
    if not rows:
        return empty
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value)
    return str(value)


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    items = list(pairs)
    width = max((len(k) for k, _ in items), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in items)


# ------------------------------------------------------------------------------------------------ argument types


def parse_kwarg(text: str) -> tuple[str, Any]:
    """``k=v``: the value is read as JSON when it is JSON (``0.3``, ``true``, ``[1, 2]``), else kept as text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected key=value with a Python identifier as key, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def parse_model_option(text: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME=store://models/...``."""
    name, sep, path = text.partition("=")
    if not name or (sep and not path):
        raise argparse.ArgumentTypeError(f"expected NAME or NAME=store://models/<project>/<name>[:<tag>], got {text!r}")
    return name, path or None


def parse_sampling(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage in (0, 100], got {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage in (0, 100], got {text!r}")
    return value


def parse_port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535 (0: any free port), got {text!r}")
    return int(text)


def parse_positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of minutes >= 1, got {text!r}")
    return int(text)


_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (``Z`` or offset; a naive time is taken as UTC) or a duration back from now (``90m``)."""
    from driftline.schemas import parse_time

    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(
            f"time {text!r}: expected ISO 8601 (2026-11-26T17:00:00Z) or a duration back from now (30m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return parse_time(moment, "time")


# ------------------------------------------------------------------------------------------------ commands


def _project(name: str) -> Project:
    from driftline.sdk.project import get_project

    try:
        return get_project(name)
    except NotFoundError:
        raise NotFoundError(
            f"project {name!r} does not exist; create it with `driftline project create {name}`"
        ) from None


def cmd_local_up(args: argparse.Namespace) -> int:
    from driftline.local.runtime import main_up

    return main_up(args)


def _running_stack() -> Settings:
    from driftline.sdk.discovery import read_local_state, state_path

    settings = read_local_state()
    if settings is None:
        raise ConfigurationError(
            f"no local stack is running (no live state file at {state_path()}); start one with `driftline local up`"
        )
    return settings


def cmd_local_env(args: argparse.Namespace) -> int:
    """Shell exports for other tools (the AWS CLI, scripts): the running stack's endpoint and the keys of its SDK
    principal, which IAM on the stack allows exactly what the stack's SDK policy allows."""
    import shlex

    settings = _running_stack()
    assert settings.credentials is not None
    values = {
        "AWS_ENDPOINT_URL": settings.endpoint_url or "",
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.credentials.secret_access_key,
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")
    print("unset AWS_SESSION_TOKEN AWS_PROFILE")
    return 0


def cmd_local_status(args: argparse.Namespace) -> Output:
    from driftline.sdk.http import request_json

    settings = _running_stack()
    status = request_json(f"{settings.api_url}/_local/status", method="GET")
    denied = status.get("iam", {}).get("denied", [])
    lines = [
        f"local stack at {settings.api_url} (AWS emulation {settings.endpoint_url})",
        f"  logs: {status.get('run_dir')}/logs",
    ]
    for name, counts in sorted(status.get("functions", {}).items()):
        lines.append(f"  {name:<11} calls {counts['calls']:>6}  errors {counts['errors']:>4}")
    lines.append(f"  IAM: {len(denied)} call(s) denied" + "".join(f"\n    {d}" for d in denied))
    return Output(status, "\n".join(lines))


def cmd_smoke(args: argparse.Namespace) -> int:
    """Exit 0 when every check passed, 1 when one failed (the report says which and what it saw)."""
    from driftline.sdk.discovery import resolve_settings
    from driftline.sdk.smoke import run_smoke

    settings = resolve_settings()
    headers = dict(_header(h) for h in args.header or [])
    as_json = getattr(args, "json", False)

    def progress(check: Any) -> None:
        if not as_json:
            print(check.line(), flush=True)

    if not as_json:
        from driftline.sdk.serving import served_by_api

        print(f"smoke test of {settings.api_url} (project {served_by_api(settings).project!r})", flush=True)
    report = run_smoke(settings, model=args.model, timeout=args.timeout, headers=headers, progress=progress)
    if as_json:
        print(json.dumps(to_jsonable(report.to_dict()), indent=2))
    else:
        print("all checks passed" if report.ok else "FAILED: the deployment does not do what it must (see above)")
    return EXIT_OK if report.ok else EXIT_AWS


def _header(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition(":")
    if not sep or not name.strip():
        raise InvalidRequestError(f"--header {raw!r}: expected 'Name: value' (e.g. 'Authorization: Bearer <token>')")
    return name.strip(), value.strip()


def cmd_demo(args: argparse.Namespace) -> int:
    from driftline.local.demo import main as demo_main

    return demo_main(args)


def cmd_project_create(args: argparse.Namespace) -> Output:
    from driftline.sdk.project import get_or_create_project

    project = get_or_create_project(args.name)
    config = project.config
    return Output(config.to_dict(), f"project {config.name!r} ready (created {config.created})")


def cmd_project_list(args: argparse.Namespace) -> Output:
    from driftline.sdk.project import list_projects

    configs = list_projects()
    rows = [
        {"name": c.name, "monitoring": c.monitoring_enabled, "base_period": c.base_period_minutes, "created": c.created}
        for c in configs
    ]
    return Output([c.to_dict() for c in configs], table(rows, ["name", "monitoring", "base_period", "created"]))


def _model_summary(record: Any) -> dict[str, Any]:
    return {
        "name": record.name,
        "version": record.version,
        "uri": record.uri,
        "tags": record.tags,
        "framework": record.framework,
        "features": len(record.feature_names),
        "labels": record.label_names,
        "training_rows": record.training_rows,
        "created": record.created,
    }


def cmd_models_log(args: argparse.Namespace) -> Output:
    project = _project(args.project)
    training_set = None
    if args.training_set:
        from driftline.sdk.models import read_training_set

        training_set = read_training_set(args.training_set)
    elif args.label_column:
        raise InvalidRequestError("--label-column needs --training-set (the label is a column of the training set)")
    record = project.log_model(
        args.name,
        model_file=args.file,
        training_set=training_set,
        label_column=args.label_column,
        framework=args.framework or "",
        tag=args.tag,
    )
    text = (
        f"logged {record.uri} (tags: {', '.join(record.tags)})\n"
        f"  file      s3://{project.settings.bucket}/{record.artifact_key}\n"
        f"  features  {', '.join(record.feature_names) or '-'}\n"
        f"  labels    {', '.join(record.label_names)}\n"
        f"  reference statistics: {'yes, ' + str(record.training_rows) + ' rows' if record.feature_stats else 'none'}"
    )
    return Output(record.to_dict() | {"feature_stats": record.feature_stats, "label_stats": record.label_stats}, text)


def cmd_models_list(args: argparse.Namespace) -> Output:
    models = _project(args.project).list_models(args.name)
    rows = [_model_summary(m) for m in models]
    columns = ["name", "version", "tags", "framework", "features", "training_rows", "created"]
    return Output(rows, table(rows, columns))


def _status_text(status: Mapping[str, Any]) -> str:
    schedule = status["schedule"]
    lines = key_values(
        [
            ("project", status["project"]),
            ("monitoring", "enabled" if status["monitoring_enabled"] else "disabled"),
            ("base period", f"{status['base_period_minutes']} minutes"),
            (
                "controller schedule",
                "none"
                if schedule is None
                else f"{schedule['name']} {schedule['state']} every {schedule['rate_minutes']} min",
            ),
            ("endpoints", status["endpoints"]),
        ]
    )
    rows = [a | {"last_error": _short(a.get("last_error", ""))} for a in status["applications"]]
    apps = table(
        rows,
        ["name", "class", "deployed", "failures", "last_error_at", "last_error"],
        empty="(no monitoring applications)",
    )
    return f"{lines}\n\n{apps}"


def _short(text: str, limit: int = 80) -> str:
    """One line of at most ``limit`` characters (the whole text is in --json)."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def cmd_monitoring_enable(args: argparse.Namespace) -> Output:
    project = _project(args.project)
    project.enable_model_monitoring(base_period=args.base_period, deploy_histogram_data_drift_app=not args.no_drift_app)
    status = project.monitoring_status()
    return Output(status, _status_text(status))


def cmd_monitoring_update(args: argparse.Namespace) -> Output:
    project = _project(args.project)
    project.update_model_monitoring_controller(base_period=args.base_period)
    status = project.monitoring_status()
    return Output(status, _status_text(status))


def cmd_monitoring_disable(args: argparse.Namespace) -> Output:
    project = _project(args.project)
    removed = project.disable_model_monitoring(
        delete_histogram_data_drift_app=not args.keep_drift_app,
        delete_user_applications=bool(args.delete_user_apps or args.app),
        user_application_list=args.app or None,
    )
    status = project.monitoring_status() | {"removed_applications": removed}
    text = _status_text(status)
    if removed:
        text += f"\n\nremoved applications: {', '.join(removed)}"
    return Output(status, text)


def cmd_monitoring_status(args: argparse.Namespace) -> Output:
    status = _project(args.project).monitoring_status()
    return Output(status, _status_text(status))


def _app_rows(functions: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "class": f.application_class,
            "source": f.source.get("key") or f"builtin:{f.source.get('name')}",
            "kwargs": json.dumps(f.application_kwargs) if f.application_kwargs else "",
            "deployed": f.deployed,
            "failures": f.record.failures,
            "last_error_at": f.record.last_error_at or None,
            "last_error": _short(f.record.last_error),
        }
        for f in functions
    ]


def cmd_apps_set(args: argparse.Namespace, err: TextIO) -> Output:
    from driftline.sdk.names import normalise_app_name

    project = _project(args.project)
    kwargs = dict(args.kwarg or [])
    clash = sorted(set(kwargs) & {"func", "application_class", "name", "requirements"})
    if clash:
        raise InvalidRequestError(f"--kwarg {clash}: these names are set_model_monitoring_function's own parameters")
    wanted = args.name or args.cls
    name = normalise_app_name(wanted)
    if name != wanted:
        print(f"warning: application name {wanted!r} is used as {name!r} (lowercase letters, digits and '-')", file=err)
    app = project.set_model_monitoring_function(
        func=args.file, application_class=args.cls, name=name, requirements=args.requirement or None, **kwargs
    )
    if args.deploy:
        app = project.deploy_function(app)
    state = (
        "deployed: monitoring runs it from the next window"
        if app.deployed
        else (
            "not deployed: monitoring does not start until it is deployed "
            f"(driftline apps deploy {args.project} {app.name})"
        )
    )
    text = f"application {app.name!r} ({app.application_class}) registered from {app.source['key']}\n  {state}"
    return Output(app.to_dict(), text)


def cmd_apps_list(args: argparse.Namespace) -> Output:
    functions = _project(args.project).list_model_monitoring_functions()
    rows = _app_rows(functions)
    return Output(
        [f.to_dict() for f in functions],
        table(rows, ["name", "class", "deployed", "kwargs", "source", "failures", "last_error_at", "last_error"]),
    )


def cmd_apps_remove(args: argparse.Namespace) -> Output:
    removed = _project(args.project).remove_model_monitoring_function(args.names)
    return Output({"removed": removed}, f"removed {', '.join(removed)}")


def cmd_apps_deploy(args: argparse.Namespace) -> Output:
    from driftline.sdk.apps import MonitoringFunction

    project = _project(args.project)
    function = project.get_function(args.name)
    if not isinstance(function, MonitoringFunction):
        raise InvalidRequestError(
            f"{args.name!r} is a serving function, not a monitoring application; use `driftline serving deploy`"
        )
    app = project.deploy_function(function)
    return Output(app.to_dict(), f"application {app.name!r} deployed: monitoring runs it from the next window")


def cmd_serving_deploy(args: argparse.Namespace) -> Output:
    from driftline.sdk.serving import V2_MODEL_SERVER, import_function

    project = _project(args.project)
    fn = import_function(V2_MODEL_SERVER, project=project, new_name=args.function)
    for name, path in args.model:
        fn.add_model(name, model_path=path)
    if not args.no_tracking:
        fn.set_tracking(sampling_percentage=args.sampling)
    project.deploy_function(fn)
    ids = fn.endpoint_ids()
    rows = [{"model": k, "path": r.model_path, "endpoint_id": ids[k]} for k, r in sorted(fn.models.items())]
    tracking = f"tracking on, sampling {fn.sampling_percentage:g}%" if fn.tracking else "tracking off"
    text = f"serving function {fn.name!r} deployed ({tracking})\n" + table(rows, ["model", "path", "endpoint_id"])
    return Output(fn.to_dict() | {"endpoints": ids}, text)


def _read_data(text: str) -> Any:
    raw = _read_file(text[1:], "--data") if text.startswith("@") else text
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"--data: expected JSON rows such as '[[5.1, 3.5, 1.4, 0.2]]' ({exc})") from None
    if isinstance(data, dict):
        return data  # a whole Open Inference Protocol body
    if not isinstance(data, list) or not data:
        raise InvalidRequestError("--data: expected a non-empty JSON list of rows, e.g. '[[5.1, 3.5, 1.4, 0.2]]'")
    if not isinstance(data[0], list):
        data = [data]  # one row given flat
    return {"inputs": data}


def _read_file(path: str, option: str) -> str:
    """A file named on the command line, as text; a missing or unreadable one is an error that says so."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise InvalidRequestError(f"{option} @{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidRequestError(f"{option} @{path}: is a directory, expected a JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"{option} @{path}: cannot be read ({exc})") from None


def cmd_invoke(args: argparse.Namespace) -> Output:
    from driftline.sdk.serving import ServingFunction

    body = _read_data(args.data)
    project = _project(args.project)
    try:
        fn = project.get_function(args.function)
    except NotFoundError:
        raise NotFoundError(
            f"serving function {args.function!r} is not deployed in project {args.project!r}; "
            f"deploy it with `driftline serving deploy {args.project} --model {args.model}`"
        ) from None
    if not isinstance(fn, ServingFunction):
        raise InvalidRequestError(f"{args.function!r} is a monitoring application, not a serving function")
    if args.model not in fn.models:
        raise InvalidRequestError(
            f"serving function {fn.name!r} routes no model {args.model!r}; it routes {sorted(fn.models)}"
        )
    answer = fn.invoke(f"v2/models/{args.model}/infer", body)
    return Output(answer, json.dumps(answer, indent=2) if not isinstance(answer, str) else answer)


def cmd_ingest(args: argparse.Namespace) -> Output:
    from driftline.sdk.models import read_training_set

    path = Path(args.file)
    if not path.is_file():
        raise InvalidRequestError(f"{args.file}: no such file (expected a .parquet or .csv file of scored rows)")
    try:
        frame = read_training_set(path)
    except InvalidRequestError as exc:
        raise InvalidRequestError(str(exc).replace("training set", "file")) from None
    project = _project(args.project)
    scores = [c.strip() for c in args.score_columns.split(",") if c.strip()] if args.score_columns else None
    answer = project.log_inferences(
        args.model,
        frame,
        args.prediction_column,
        timestamps=args.timestamp_column,
        request_ids=args.request_id_column,
        scores=scores,
        function=args.function,
    )
    again = f", {answer['duplicates']} of them already stored (sent before)" if answer["duplicates"] else ""
    text = (
        f"{answer['rows']} rows ({answer['requests']} requests) of model {args.model!r} sent to endpoint "
        f"{answer['endpoint_id']} in {answer['chunks']} chunks{again}"
    )
    return Output(answer, text)


def _endpoint_row(ep: Any) -> dict[str, Any]:
    return {
        "name": ep.name,
        "function": ep.function_name,
        "endpoint_id": ep.endpoint_id,
        "version": ep.model_version,
        "monitoring": ep.monitoring,
        "predictions": ep.predictions,
        "errors": ep.error_count,
        "latency_ms": None if ep.average_latency_us is None else ep.average_latency_us / 1000,
        "per_second_5m": ep.predictions_per_second,
        "last_request": ep.last_request,
    }


def cmd_endpoints_list(args: argparse.Namespace) -> Output:
    endpoints = _project(args.project).list_model_endpoints()
    rows = [_endpoint_row(e) for e in endpoints]
    columns = ["name", "function", "endpoint_id", "version", "monitoring", "predictions", "errors", "latency_ms"]
    return Output([e.to_dict() for e in endpoints], table(rows, [*columns, "per_second_5m", "last_request"]))


def cmd_endpoints_get(args: argparse.Namespace) -> Output:
    ep = _project(args.project).get_model_endpoint(args.endpoint)
    data = ep.to_dict()

    def ms(us: float | None) -> str:
        return "-" if us is None else f"{us / 1000:.3f} ms"

    text = key_values(
        [
            ("endpoint", f"{ep.function_name}/{ep.name} ({ep.endpoint_id})"),
            ("model", ep.model_uri),
            ("monitoring", ep.monitoring),
            ("features", ", ".join(ep.feature_names) or "-"),
            ("labels", ", ".join(ep.label_names) or "-"),
            ("requests", ep.requests),
            ("predictions", ep.predictions),
            ("errors", ep.error_count),
            ("average latency", ms(ep.average_latency_us)),
            ("last prediction", json.dumps(ep.last_prediction)),
            ("first request", ep.first_request),
            ("last request", ep.last_request),
            ("latency avg 5m / 1h", f"{ms(ep.latency_avg_5m)} / {ms(ep.latency_avg_1h)}"),
            ("predictions 5m / 1h", f"{ep.predictions_count_5m} / {ep.predictions_count_1h}"),
            ("predictions per second (5m)", f"{ep.predictions_per_second:.3f}"),
        ]
    )
    return Output(data, text)


def _enum_name(enum: Any, value: Any) -> str:
    try:
        return str(enum(int(value)).name)
    except ValueError:
        return str(value)


def _alert_row(config: Any) -> dict[str, Any]:
    return {
        "name": config.name,
        "selects": " ".join(
            f"{what}={','.join(values)}"
            for what, values in (
                ("endpoints", config.endpoints),
                ("apps", config.applications),
                ("results", config.results),
            )
            if values
        )
        or "all",
        "statuses": ",".join(_enum_name_plain(s) for s in config.statuses),
        "criteria": f"{config.count} of {config.windows}",
        "reset": config.reset_policy,
        "cooldown": f"{config.cooldown_minutes} min" if config.cooldown_minutes else "-",
        "targets": ",".join(t.id for t in config.targets) or "(silenced)",
    }


def _enum_name_plain(value: Any) -> str:
    return getattr(value, "name", str(value))


ALERT_COLUMNS = ["name", "selects", "statuses", "criteria", "reset", "cooldown", "targets"]


def cmd_alerts_set(args: argparse.Namespace) -> Output:
    targets: list[Any] | None = None
    if args.no_targets:
        if args.target:
            raise InvalidRequestError("--no-targets and --target: expected one or the other")
        targets = []
    elif args.target:
        targets = []
        for target in args.target:
            if target.startswith(("https://", "http://")) and args.webhook_secret:
                targets.append({"kind": "webhook", "url": target, "secret_parameter": args.webhook_secret})
            else:
                targets.append(target)
    if args.webhook_secret and not any(isinstance(t, dict) for t in targets or []):
        raise InvalidRequestError("--webhook-secret: expected a webhook --target URL to send it to")
    config = _project(args.project).set_alert(
        args.name,
        endpoints=args.endpoint,
        applications=args.app,
        results=args.result,
        statuses=args.status or ("detected",),
        count=args.count,
        windows=args.windows,
        reset_policy=args.reset_policy,
        cooldown_minutes=args.cooldown,
        targets=targets,
        description=args.description,
    )
    return Output(config.to_dict(), table([_alert_row(config)], ALERT_COLUMNS))


def cmd_alerts_list(args: argparse.Namespace) -> Output:
    configs = _project(args.project).list_alerts()
    text = table(
        [_alert_row(c) for c in configs],
        ALERT_COLUMNS,
        empty="(no alert configurations: one alert when a result enters detected, on the stack's bus and topic)",
    )
    return Output([c.to_dict() for c in configs], text)


def cmd_alerts_delete(args: argparse.Namespace) -> Output:
    _project(args.project).delete_alert(args.name)
    return Output({"deleted": args.name}, f"deleted alert {args.name!r}")


def cmd_alerts_reset(args: argparse.Namespace) -> Output:
    config = _project(args.project).reset_alert(args.name)
    return Output(config.to_dict(), f"alert {args.name!r} re-armed at {config.reset_at}")


def cmd_results(args: argparse.Namespace) -> Output:
    from driftline import clock
    from driftline.schemas import ResultKind, ResultStatus

    now = clock.now()
    since = parse_when(args.since, now) if args.since else None
    until = parse_when(args.until, now) if args.until else None
    if since is not None and until is not None and since > until:
        raise InvalidRequestError(
            f"--since {args.since} ({since.isoformat()}) is after --until {args.until} ({until.isoformat()}); "
            "expected an earlier --since"
        )
    project = _project(args.project)
    if args.latest:
        df = project.get_latest_results(args.endpoint)
    elif args.metrics:
        df = project.get_metrics(args.endpoint, start=since, end=until, application_name=args.app)
    else:
        df = project.get_results(args.endpoint, start=since, end=until, application_name=args.app)
    if args.latest and args.app:
        df = df[df["application_name"] == args.app]
        if df.empty:
            project.require_application(args.app)
    records = [to_jsonable(r) for r in df.to_dict(orient="records")]
    rows = []
    for r in df.to_dict(orient="records"):
        row = {
            "start": r["start_infer_time"].to_pydatetime(),
            "end": r["end_infer_time"].to_pydatetime(),
            "application": r["application_name"],
        }
        if "metric_name" in r:
            row |= {"metric": r["metric_name"], "value": r["metric_value"]}
        else:
            row |= {
                "result": r["result_name"],
                "value": r["result_value"],
                "status": _enum_name(ResultStatus, r["result_status"]),
                "kind": _enum_name(ResultKind, r["result_kind"]),
            }
        rows.append(row)
    columns = ["start", "end", "application"] + (
        ["metric", "value"] if args.metrics and not args.latest else ["result", "value", "status", "kind"]
    )
    return Output(records, table(rows, columns, empty="(no results in that range)"))


def cmd_report(args: argparse.Namespace) -> Output:
    from driftline import clock

    now = clock.now()
    start = parse_when(args.start, now) if args.start else None
    end = parse_when(args.end, now) if args.end else None
    project = _project(args.project)
    try:
        path = project.report(args.output, model=args.model, endpoint=args.endpoint, start=start, end=end)
    except OSError as exc:
        raise InvalidRequestError(f"could not write the report to {args.output!r}: {exc}") from exc
    return Output({"report": str(path)}, f"report written to {path}")


# ------------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for machines instead of tables"
    )

    parser = argparse.ArgumentParser(
        prog="driftline",
        description="Serverless model monitoring on AWS: MLRun's model-monitoring flow on Lambda, Kinesis, S3 "
        "and DynamoDB.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", default=False, help="print JSON for machines instead of tables")
    parser.add_argument("--version", action="version", version=_version())
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    def sub(
        parent: Any, name: str, help_text: str, handler: Callable[..., Any] | None = None
    ) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text, parents=[common])
        if handler is not None:
            p.set_defaults(handler=handler)
        return p

    # local
    local = sub(groups, "local", "run the whole system on this machine")
    local_cmds = local.add_subparsers(dest="command", metavar="COMMAND", required=True)
    up = sub(local_cmds, "up", "start the local stack (moto on loopback, HTTP API, stream, scheduler) until Ctrl-C")
    up.add_argument("--port", type=parse_port, default=None, help="HTTP API port (0: any free port)")
    up.add_argument("--metrics", action="store_true", help="also emit the handlers' CloudWatch metrics")
    up.add_argument(
        "--project",
        default=None,
        help="the project the API root (/v2/...) serves (default: $DRIFTLINE_PROJECT or default)",
    )
    up.add_argument("--serving-function", default=None, help="and its serving function (default serving)")
    up.set_defaults(raw_handler=cmd_local_up)
    p = sub(local_cmds, "env", "shell exports that point other tools at the running local stack (eval $(...))")
    p.set_defaults(raw_handler=cmd_local_env)
    sub(local_cmds, "status", "the running local stack: functions, calls, errors, IAM denials", cmd_local_status)

    # evaluate: its own parser (driftline.applications.evaluate_cli) fills this subcommand
    from driftline.applications.evaluate_cli import build_parser as evaluate_parser

    evaluate_parser(
        groups.add_parser(
            "evaluate",
            help="run a monitoring application offline on a sample (no AWS, no running stack)",
            description="Run a monitoring application offline on a sample (no AWS, no running stack).",
        )
    ).set_defaults(raw_handler=cmd_evaluate)

    smoke = sub(
        groups,
        "smoke",
        "check a deployed (or the local) stack end to end: health, metadata, one inference, the event on S3, "
        "live figures, results",
    )
    smoke.add_argument("--model", default=None, help="a model the serving function routes (default: the smoke model)")
    smoke.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the stream (default 180)")
    smoke.add_argument(
        "--header", action="append", help="an extra request header, e.g. 'Authorization: Bearer <JWT>' (repeatable)"
    )
    smoke.set_defaults(raw_handler=cmd_smoke)

    demo = sub(groups, "demo", "run the seed's user flow end to end and write an offline HTML report")
    demo.add_argument("--out", default="./driftline-demo", help="output folder (default ./driftline-demo)")
    demo.add_argument("--no-pause", action="store_true", help="do not sleep between requests")
    demo.set_defaults(raw_handler=cmd_demo)

    # project
    project = sub(groups, "project", "create and list projects")
    project_cmds = project.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub(project_cmds, "create", "create a project (no-op if it exists)", cmd_project_create)
    p.add_argument("name", help="lowercase letters, digits and '-'")
    sub(project_cmds, "list", "list projects", cmd_project_list)

    # models
    models = sub(groups, "models", "log and list models")
    model_cmds = models.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub(model_cmds, "log", "log a model file (with its training set for drift detection)", cmd_models_log)
    p.add_argument("project")
    p.add_argument("name", help="model name, e.g. RandomForestClassifier")
    p.add_argument("--file", required=True, help="the model file (pickle/joblib)")
    p.add_argument("--training-set", help="CSV or parquet training set: its columns give the reference statistics")
    p.add_argument("--label-column", help="the label column of the training set")
    p.add_argument("--framework", default="", help="e.g. sklearn")
    p.add_argument("--tag", default="latest", help="an extra tag besides latest")
    p = sub(model_cmds, "list", "list logged model versions", cmd_models_list)
    p.add_argument("project")
    p.add_argument("--name", help="only this model")

    # monitoring
    monitoring = sub(groups, "monitoring", "enable, disable and inspect model monitoring")
    mon_cmds = monitoring.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub(
        mon_cmds,
        "enable",
        "schedule the controller every base period (+ the histogram drift app)",
        cmd_monitoring_enable,
    )
    p.add_argument("project")
    p.add_argument(
        "--base-period", type=parse_positive_int, default=10, help="minutes between windows, 1..1440 (default 10)"
    )
    p.add_argument("--no-drift-app", action="store_true", help="do not deploy the built-in histogram drift app")
    p = sub(mon_cmds, "update", "change the base period of enabled monitoring in place", cmd_monitoring_update)
    p.add_argument("project")
    p.add_argument("--base-period", type=parse_positive_int, required=True, help="minutes between windows, 1..1440")
    p = sub(
        mon_cmds, "disable", "disable the controller's schedule (data and the stream are kept)", cmd_monitoring_disable
    )
    p.add_argument("project")
    p.add_argument("--keep-drift-app", action="store_true", help="keep the built-in drift app registered")
    p.add_argument("--delete-user-apps", action="store_true", help="also remove every user application")
    p.add_argument("--app", action="append", metavar="NAME", help="remove only these user applications (repeatable)")
    p = sub(mon_cmds, "status", "monitoring state, schedule, applications", cmd_monitoring_status)
    p.add_argument("project")

    # apps
    apps = sub(groups, "apps", "monitoring applications")
    app_cmds = apps.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub(app_cmds, "set", "register an application class from a .py file")
    p.set_defaults(handler_err=cmd_apps_set)
    p.add_argument("project")
    p.add_argument("--file", required=True, help="the .py file defining the class")
    p.add_argument("--class", dest="cls", required=True, help="a ModelMonitoringApplicationBase subclass")
    p.add_argument("--name", help="application name (default: the class name, lowercased)")
    p.add_argument(
        "--kwarg", action="append", type=parse_kwarg, metavar="KEY=VALUE", help="constructor argument (repeatable)"
    )
    p.add_argument("--requirement", action="append", metavar="PKG", help="a package the app needs (repeatable)")
    p.add_argument("--deploy", action="store_true", help="deploy it right away (monitoring runs it)")
    p = sub(app_cmds, "list", "list applications", cmd_apps_list)
    p.add_argument("project")
    p = sub(app_cmds, "remove", "remove applications", cmd_apps_remove)
    p.add_argument("project")
    p.add_argument("names", nargs="+", metavar="NAME")
    p = sub(app_cmds, "deploy", "deploy a registered application", cmd_apps_deploy)
    p.add_argument("project")
    p.add_argument("name")

    # alerts
    alerts = sub(groups, "alerts", "alert configurations: which results notify, when, and where")
    alert_cmds = alerts.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub(alert_cmds, "set", "store an alert configuration (replaces one of the same name)", cmd_alerts_set)
    p.add_argument("project")
    p.add_argument("name", help="its name; 'default' configures what no other configuration selects")
    p.add_argument("--endpoint", action="append", metavar="MODEL|ID", help="a model endpoint (repeatable; default all)")
    p.add_argument("--app", action="append", metavar="NAME", help="an application name or pattern (repeatable)")
    p.add_argument("--result", action="append", metavar="NAME", help="a result name or pattern, e.g. '*_drift'")
    p.add_argument(
        "--status",
        action="append",
        choices=["detected", "potential_detection"],
        help="statuses that notify (repeatable; default detected)",
    )
    p.add_argument("--count", type=parse_positive_int, default=1, help="criteria: at least COUNT windows ...")
    p.add_argument("--windows", type=parse_positive_int, default=None, help="... of the last WINDOWS (default COUNT)")
    p.add_argument(
        "--reset-policy",
        choices=["auto", "manual", "always"],
        default="auto",
        help="auto: once per episode (default); manual: once until `alerts reset`; always: every such window",
    )
    p.add_argument("--cooldown", type=int, default=0, metavar="MINUTES", help="least time between two alerts")
    p.add_argument(
        "--target",
        action="append",
        metavar="TARGET",
        help="sns, eventbridge, eventbridge:default, or a webhook URL (repeatable; default eventbridge + sns)",
    )
    p.add_argument("--no-targets", action="store_true", help="no target: silence what it selects")
    p.add_argument(
        "--webhook-secret",
        metavar="SSM_NAME",
        help="SSM SecureString (under /driftline/<stack>/webhooks/) sent as X-Driftline-Secret to the webhooks",
    )
    p.add_argument("--description", default="")
    p = sub(alert_cmds, "list", "list alert configurations", cmd_alerts_list)
    p.add_argument("project")
    p = sub(alert_cmds, "delete", "delete an alert configuration", cmd_alerts_delete)
    p.add_argument("project")
    p.add_argument("name")
    p = sub(alert_cmds, "reset", "re-arm a manual alert configuration", cmd_alerts_reset)
    p.add_argument("project")
    p.add_argument("name")

    # serving
    serving = sub(groups, "serving", "serving functions")
    serving_cmds = serving.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub(serving_cmds, "deploy", "deploy a serving function routing logged models", cmd_serving_deploy)
    p.add_argument("project")
    p.add_argument(
        "--model",
        action="append",
        type=parse_model_option,
        required=True,
        metavar="NAME[=store://...]",
        help="a model to serve (default path store://models/<project>/<NAME>:latest); repeatable",
    )
    p.add_argument("--function", default="serving", help="function name (default serving)")
    p.add_argument("--sampling", type=parse_sampling, default=100.0, help="tracked percentage of rows (default 100)")
    p.add_argument("--no-tracking", action="store_true", help="serve without monitoring")

    p = sub(groups, "invoke", "send rows to a served model (POST v2/models/<MODEL>/infer)", cmd_invoke)
    p.add_argument("project")
    p.add_argument("model")
    p.add_argument("--data", required=True, help="JSON rows '[[5.1, 3.5, 1.4, 0.2]]', a whole body, or @file.json")
    p.add_argument("--function", default="serving", help="serving function name (default serving)")

    p = sub(
        groups,
        "ingest",
        "monitor rows a model served elsewhere scored: a parquet or CSV file (POST v2/models/<MODEL>/events)",
        cmd_ingest,
    )
    p.add_argument("project")
    p.add_argument("file", metavar="FILE", help="a .parquet or .csv file: the model's feature columns and more")
    p.add_argument("--model", required=True, help="the logged model the rows belong to")
    p.add_argument("--prediction-column", help="the predictions (default: the model's label column)")
    p.add_argument("--timestamp-column", help="each row's time (default: a 'timestamp' column, else now)")
    p.add_argument("--request-id-column", help="each row's request id (default: derived from the rows)")
    p.add_argument(
        "--score-columns", help="comma-separated class-score columns (default: the model's proba_<class> columns)"
    )
    p.add_argument("--function", default="serving", help="serving function whose API takes the rows (default serving)")

    # endpoints
    endpoints = sub(groups, "endpoints", "model endpoints and their live figures")
    ep_cmds = endpoints.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub(ep_cmds, "list", "list a project's endpoints", cmd_endpoints_list)
    p.add_argument("project")
    p = sub(ep_cmds, "get", "one endpoint by model name, function/model or id", cmd_endpoints_get)
    p.add_argument("project")
    p.add_argument("endpoint", metavar="NAME_OR_ID")

    p = sub(groups, "results", "an endpoint's application results (or metrics) over time", cmd_results)
    p.add_argument("project")
    p.add_argument("endpoint", metavar="ENDPOINT", help="model name, function/model or endpoint id")
    p.add_argument("--app", help="only this application")
    p.add_argument("--since", help="ISO time or a duration back from now (30m, 2h, 1d)")
    p.add_argument("--until", help="ISO time or a duration back from now")
    p.add_argument("--metrics", action="store_true", help="metrics instead of results")
    p.add_argument("--latest", action="store_true", help="only the newest window's value of each result")

    p = sub(
        groups,
        "report",
        "an offline HTML report of an endpoint over a time range: results over time, drifted features' windows "
        "against the reference",
        cmd_report,
    )
    p.add_argument("project")
    p.add_argument("--model", help="the endpoint serving this model (its name)")
    p.add_argument("--endpoint", help="the endpoint by name, function/model or id (instead of --model)")
    p.add_argument("--start", help="ISO time or a duration back from now (default: the endpoint's first request)")
    p.add_argument("--end", help="ISO time or a duration back from now (default: now)")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    parser.epilog = "commands:\n" + command_summary(parser) + "\n\n" + EPILOG
    return parser


def _leaf_commands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        for name, child in action.choices.items():
            nested = _leaf_commands(child, f"{prefix} {name}")
            out.extend(nested or [(f"{prefix} {name}", helps.get(name, ""))])
    return out


def command_summary(parser: argparse.ArgumentParser) -> str:
    """Every leaf command with its one-line help, for ``driftline --help``."""
    leaves = _leaf_commands(parser, parser.prog)
    width = max(len(name) for name, _ in leaves)
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in leaves)


def _version() -> str:
    from driftline import __version__

    return f"driftline {__version__}"


# ------------------------------------------------------------------------------------------------ main


def _aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from driftline.applications.evaluate import evaluate_main

    argv = sys.argv[1:] if args._argv is None else list(args._argv)
    return evaluate_main(argv[argv.index("evaluate") + 1 :])


def _main(argv: Sequence[str] | None, stdout: TextIO | None, stderr: TextIO | None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args._argv = argv
    except SystemExit as exc:  # --help, --version, usage errors (argparse already printed)
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_ERROR

    raw_handler = getattr(args, "raw_handler", None)
    try:
        if raw_handler is not None:
            # long-running commands (local up, demo) print their own output; their warnings are not collected
            return int(raw_handler(args) or 0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if getattr(args, "handler_err", None) is not None:
                output = args.handler_err(args, err)
            else:
                output = args.handler(args)
        for warning in caught:
            if issubclass(warning.category, UserWarning):
                print(f"warning: {warning.message}", file=err)
    except StorageError as exc:  # the adapters' form of a failed AWS call
        print(f"error: an AWS call failed: {exc}\n  {AWS_HINT}", file=err)
        return EXIT_AWS
    except DriftlineError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except _aws_errors() as exc:
        print(f"error: an AWS call failed: {exc}\n  {AWS_HINT}", file=err)
        return EXIT_AWS
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130
    if getattr(args, "json", False):
        print(json.dumps(to_jsonable(output.data), indent=2, allow_nan=False), file=out)
    else:
        print(output.text, file=out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    try:
        code = _main(argv, stdout, stderr)
        (stdout or sys.stdout).flush()  # here, so a closed pipe is seen now and not by the interpreter's exit
        return code
    except BrokenPipeError:
        # the reader went away (`driftline ... --json | head`): stop quietly, as a shell tool does on SIGPIPE;
        # stdout is pointed at /dev/null so the interpreter's flush at exit does not complain either
        if stdout is None or stdout is sys.stdout:
            _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output): nothing will flush to a pipe
        pass


if __name__ == "__main__":
    sys.exit(main())
