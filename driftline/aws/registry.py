"""The registry table (pk ``pk``, sk ``sk``): projects, models, serving functions and apps.

Key layout (docs/architecture.md keeps the same table):
  pk = ``project#{project}``
  sk = ``config``                       project configuration
       ``model#{name}#{version:08d}``   one logged model version
       ``modeltag#{name}#{tag}``        a tag (``latest`` included) pointing at a version
       ``function#{name}``              a serving function spec
       ``app#{name}``                   a monitoring application (with its last failure, if any)
       ``alert#{name}``                 an alert configuration (:class:`driftline.alerting.AlertConfig`)
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from driftline.aws.clients import Clients
from driftline.aws.dynamo import from_item, query_all, to_item, to_value
from driftline.aws.failures import error_code, storage_errors
from driftline.errors import ConflictError, NotFoundError
from driftline.records import AppRecord, FunctionSpec, ModelRecord, ProjectConfig

LATEST = "latest"


def _pk(project: str) -> str:
    return f"project#{project}"


def parse_model_uri(uri: str) -> tuple[str, str, str]:
    """``store://models/{project}/{name}[:{tag_or_version}]`` -> (project, name, tag). Tag defaults to latest."""
    prefix = "store://models/"
    if not uri.startswith(prefix):
        raise NotFoundError(f"model path {uri!r}: expected store://models/<project>/<name>[:<tag>]")
    rest = uri[len(prefix) :]
    parts = rest.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise NotFoundError(f"model path {uri!r}: expected store://models/<project>/<name>[:<tag>]")
    project, name_tag = parts
    name, _, tag = name_tag.partition(":")
    return project, name, tag or LATEST


def model_uri(project: str, name: str, tag: str) -> str:
    return f"store://models/{project}/{name}:{tag}"


class Registry:
    def __init__(self, clients: Clients) -> None:
        self._db = clients.dynamodb
        self._table = clients.settings.table("registry")

    # -------------------------------------------------------------------------------------------- projects

    def get_project(self, project: str) -> ProjectConfig | None:
        item = self._get(_pk(project), "config")
        return ProjectConfig.from_dict(item) if item else None

    def put_project(self, config: ProjectConfig) -> None:
        self._put(_pk(config.name), "config", config.to_dict())

    def list_projects(self) -> list[ProjectConfig]:
        items: list[dict[str, Any]] = []
        with storage_errors(f"listing the projects in {self._table}"):
            paginator = self._db.get_paginator("scan")
            for page in paginator.paginate(
                TableName=self._table,
                FilterExpression="sk = :c",
                ExpressionAttributeValues={":c": {"S": "config"}},
            ):
                items.extend(from_item(i) or {} for i in page.get("Items", []))
        return [ProjectConfig.from_dict(i) for i in items]

    # -------------------------------------------------------------------------------------------- models

    def next_model_version(self, project: str, name: str) -> str:
        versions = self._query(_pk(project), f"model#{name}#")
        return str(1 + max((int(v["version"]) for v in versions), default=0))

    def put_model(self, record: ModelRecord, tags: tuple[str, ...] = (LATEST,)) -> None:
        """Store a model version (never overwriting one: versions are immutable) and move its tags."""
        with storage_errors(f"storing model {record.name!r} version {record.version} in {self._table}"):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=to_item(
                        {"pk": _pk(record.project), "sk": f"model#{record.name}#{int(record.version):08d}"}
                        | record.to_dict()
                    ),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise ConflictError(
                        f"model {record.name!r} version {record.version} already exists; versions are immutable"
                    ) from exc
                raise
        for tag in tags:
            self._put(_pk(record.project), f"modeltag#{record.name}#{tag}", {"version": record.version})

    def get_model(self, project: str, name: str, tag: str = LATEST) -> ModelRecord:
        version = tag
        if not tag.isdigit():
            pointer = self._get(_pk(project), f"modeltag#{name}#{tag}")
            if pointer is None:
                raise NotFoundError(f"model {name!r} has no tag {tag!r} in project {project!r}")
            version = str(pointer["version"])
        item = self._get(_pk(project), f"model#{name}#{int(version):08d}")
        if item is None:
            raise NotFoundError(f"model {name!r} version {version} not found in project {project!r}")
        return ModelRecord.from_dict(item)

    def get_model_by_uri(self, uri: str) -> ModelRecord:
        project, name, tag = parse_model_uri(uri)
        return self.get_model(project, name, tag)

    def list_models(self, project: str) -> list[ModelRecord]:
        return [ModelRecord.from_dict(i) for i in self._query(_pk(project), "model#")]

    # -------------------------------------------------------------------------------------------- functions

    def put_function(self, spec: FunctionSpec) -> None:
        self._put(_pk(spec.project), f"function#{spec.name}", spec.to_dict())

    def get_function(self, project: str, name: str) -> FunctionSpec:
        item = self._get(_pk(project), f"function#{name}")
        if item is None:
            raise NotFoundError(f"serving function {name!r} is not deployed in project {project!r}")
        return FunctionSpec.from_dict(item)

    # -------------------------------------------------------------------------------------------- apps

    def put_app(self, record: AppRecord) -> None:
        self._put(_pk(record.project), f"app#{record.name}", record.to_dict())

    def get_app(self, project: str, name: str) -> AppRecord:
        item = self._get(_pk(project), f"app#{name}")
        if item is None:
            raise NotFoundError(f"monitoring application {name!r} is not registered in project {project!r}")
        return AppRecord.from_dict(item)

    def list_apps(self, project: str) -> list[AppRecord]:
        return [AppRecord.from_dict(i) for i in self._query(_pk(project), "app#")]

    def delete_app(self, project: str, name: str) -> bool:
        with storage_errors(f"deleting app {name!r} of project {project!r} from {self._table}"):
            response = self._db.delete_item(
                TableName=self._table,
                Key={"pk": to_value(_pk(project)), "sk": to_value(f"app#{name}")},
                ReturnValues="ALL_OLD",
            )
        return "Attributes" in response

    def record_app_failure(
        self, project: str, name: str, *, error: str, at: str, window: dict[str, Any], request_id: str
    ) -> bool:
        """Keep an app's last failure on its record (``last_error``, ``last_error_at``, ``last_error_window``,
        ``failures`` counted once per failed invocation: a repeated report of ``request_id`` changes nothing)
        and mark its alert pending (``failure_alert_pending`` = the request id, cleared by
        :meth:`clear_failure_alert`). False when the app is no longer registered or the report was recorded
        before."""
        with storage_errors(f"recording a failure of app {name!r} of project {project!r} in {self._table}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"pk": to_value(_pk(project)), "sk": to_value(f"app#{name}")},
                    UpdateExpression=(
                        "SET last_error = :e, last_error_at = :at, last_error_window = :w, last_error_request = :r, "
                        "failure_alert_pending = :r ADD failures :one"
                    ),
                    ConditionExpression="attribute_exists(pk) AND (NOT last_error_request = :r)",
                    ExpressionAttributeValues={
                        ":e": to_value(error),
                        ":at": to_value(at),
                        ":w": to_value(window),
                        ":r": to_value(request_id),
                        ":one": to_value(1),
                    },
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def failure_alert_pending(self, project: str, name: str, request_id: str) -> bool:
        item = self._get(_pk(project), f"app#{name}") or {}
        return item.get("failure_alert_pending") == request_id

    def clear_failure_alert(self, project: str, name: str, request_id: str) -> None:
        with storage_errors(f"clearing the failure alert of app {name!r} of project {project!r} in {self._table}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"pk": to_value(_pk(project)), "sk": to_value(f"app#{name}")},
                    UpdateExpression="REMOVE failure_alert_pending",
                    ConditionExpression="failure_alert_pending = :r",
                    ExpressionAttributeValues={":r": to_value(request_id)},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

    # -------------------------------------------------------------------------------------------- alerts

    def put_alert(self, config: dict[str, Any]) -> None:
        self._put(_pk(config["project"]), f"alert#{config['name']}", config)

    def get_alert(self, project: str, name: str) -> dict[str, Any] | None:
        return self._get(_pk(project), f"alert#{name}")

    def list_alerts(self, project: str) -> list[dict[str, Any]]:
        return self._query(_pk(project), "alert#")

    def delete_alert(self, project: str, name: str) -> bool:
        with storage_errors(f"deleting alert {name!r} of project {project!r} from {self._table}"):
            response = self._db.delete_item(
                TableName=self._table,
                Key={"pk": to_value(_pk(project)), "sk": to_value(f"alert#{name}")},
                ReturnValues="ALL_OLD",
            )
        return "Attributes" in response

    # -------------------------------------------------------------------------------------------- helpers

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        with storage_errors(f"reading {pk} {sk} from {self._table}"):
            response = self._db.get_item(
                TableName=self._table, Key={"pk": to_value(pk), "sk": to_value(sk)}, ConsistentRead=True
            )
        return from_item(response.get("Item"))

    def _put(self, pk: str, sk: str, data: dict[str, Any]) -> None:
        with storage_errors(f"writing {pk} {sk} to {self._table}"):
            self._db.put_item(TableName=self._table, Item=to_item({"pk": pk, "sk": sk} | data))

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        with storage_errors(f"querying {pk} {prefix}* in {self._table}"):
            return query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": to_value(pk), ":prefix": to_value(prefix)},
                ConsistentRead=True,
            )
