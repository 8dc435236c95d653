"""MLRun's ``EvidentlyModelMonitoringApplicationBase``: an app that runs Evidently and keeps its reports.

Evidently is optional and imported lazily: ``pip install 'driftline[evidently]'``. evidently 0.7.23 does not
import with pandas 3 (the project's pin), so the extra is meant for its own environment (an app function
image or a notebook venv with ``pandas<3``); the rest of driftline never imports it.

``log_evidently_object(monitoring_context, evidently_object, artifact_name)`` stores a report (an Evidently
``Snapshot``/``Report`` result): into the Evidently workspace when ``evidently_workspace_path`` is set
(``Workspace.add_run(evidently_project_id, ...)``), and as a self-contained HTML file: offline into the
evaluation's ``artifact_dir``, in the app function under
``s3://{bucket}/artifacts/{project}/monitoring/{app}/{endpoint_id}/{artifact_name}-{start}.html``.
"""

from __future__ import annotations

import functools
import importlib
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from driftline import layout
from driftline.applications.base import ModelMonitoringApplicationBase
from driftline.applications.context import MonitoringApplicationContext
from driftline.errors import ApplicationError

INSTALL_HINT = (
    "evidently is not installed: install the optional extra (pip install 'driftline[evidently]') in an "
    "environment with pandas < 3 (evidently 0.7.23 does not import with pandas 3)"
)


def import_evidently() -> ModuleType:
    """The ``evidently`` module, or an :class:`ApplicationError` saying how to get it."""
    try:
        return importlib.import_module("evidently")
    except ImportError as exc:
        raise ApplicationError(f"{INSTALL_HINT} ({exc})") from exc


@functools.cache
def _artifacts() -> Any:
    """The app function's artifact store, built once per container (only when a report goes to S3)."""
    from driftline.aws.artifacts import Artifacts
    from driftline.aws.clients import Clients
    from driftline.config import Settings

    return Artifacts(Clients(Settings.from_env()))


def artifact_key(context: MonitoringApplicationContext, artifact_name: str, unique_per_endpoint: bool = True) -> str:
    stamp = context.start_infer_time.strftime("%Y%m%dT%H%M%SZ")
    where = f"{context.endpoint_id}/" if unique_per_endpoint else ""
    prefix = f"{layout.ARTIFACTS_PREFIX}{context.project_name}/monitoring/{context.application_name}/"
    return f"{prefix}{where}{artifact_name}-{stamp}.html"


def report_html(evidently_object: Any) -> bytes:
    """The report as one self-contained HTML document."""
    for method in ("get_html_str", "get_html"):
        render = getattr(evidently_object, method, None)
        if callable(render):
            try:
                html = render(as_iframe=False)
            except TypeError:
                html = render()
            return html.encode() if isinstance(html, str) else bytes(html)
    save = getattr(evidently_object, "save_html", None)
    if not callable(save):
        raise ApplicationError(
            f"log_evidently_object: expected an Evidently snapshot or report, got {type(evidently_object).__name__}"
        )
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.html")
        save(path)
        return Path(path).read_bytes()


class EvidentlyModelMonitoringApplicationBase(ModelMonitoringApplicationBase):
    """Base of apps that use Evidently (MLRun's name and arguments); subclasses implement ``do_tracking``."""

    def __init__(
        self, evidently_project_id: Any = None, evidently_workspace_path: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(
            evidently_project_id=evidently_project_id, evidently_workspace_path=evidently_workspace_path, **kwargs
        )
        self.evidently = import_evidently()
        self.evidently_project_id = evidently_project_id
        self.evidently_workspace_path = evidently_workspace_path
        self._workspace: Any = None
        if evidently_workspace_path and evidently_project_id is None:
            raise ApplicationError("evidently_workspace_path needs evidently_project_id (the workspace project)")

    @property
    def workspace(self) -> Any:
        if self._workspace is None and self.evidently_workspace_path:
            module = importlib.import_module("evidently.ui.workspace")
            workspace_cls = module.Workspace
            create = getattr(workspace_cls, "create", None)
            self._workspace = (
                create(self.evidently_workspace_path)
                if callable(create)
                else workspace_cls(self.evidently_workspace_path)
            )
        return self._workspace

    def store_artifact(self, context: MonitoringApplicationContext, key: str, body: bytes) -> str:
        """Where the HTML goes: the offline evaluation's ``artifact_dir``, else S3 (the app function)."""
        folder = getattr(context, "artifact_dir", None)
        if folder is not None:
            path = Path(folder) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            return str(path)
        if getattr(context, "offline", False):  # offline evaluation without a folder: nothing is kept
            return ""
        return _artifacts().put(key, body, "text/html")

    def log_evidently_object(
        self,
        monitoring_context: MonitoringApplicationContext,
        evidently_object: Any,
        artifact_name: str,
        unique_per_endpoint: bool = True,
    ) -> str:
        """Keep a report: in the workspace (when configured) and as HTML; returns where the HTML went."""
        workspace = self.workspace
        if workspace is not None:
            add = getattr(workspace, "add_run", None) or getattr(workspace, "add_snapshot", None)
            if add is None:
                raise ApplicationError("the Evidently workspace has neither add_run nor add_snapshot")
            add(self.evidently_project_id, evidently_object)
        key = artifact_key(monitoring_context, artifact_name, unique_per_endpoint)
        location = self.store_artifact(monitoring_context, key, report_html(evidently_object))
        monitoring_context.logger.info(
            "evidently report stored", extra={"artifact_name": artifact_name, "location": location}
        )
        return location
