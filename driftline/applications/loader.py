"""The one way an application's class is found, for the app function, offline evaluation, the SDK and tests.

An application is named by an :class:`AppRef`:

* ``builtin:<name>`` (or a bare ``<name>`` typed by a user): the module ``driftline.applications.builtin.<name>``,
  imported like any module, so it ships in every install (the wheel, the app image) and "go to definition" works.
  Stored records say ``{"kind": "builtin", "name": "<name>"}``.
* ``package.module``: any importable module (an app installed as a package; offline evaluation).
* ``path/to/app.py``: a user's file, read and run from its bytes.
* an S3 source (``{"kind": "s3", "key", "sha256"}`` in a record): the bytes the SDK uploaded, fetched by the
  caller (this module touches no AWS) and checked against their digest.

Any of them may end in ``:ClassName``; without one, the module must define exactly one application class. Source
code (files and S3 objects) becomes a module named after its sha256 and is cached under that digest, so an
unchanged source is fetched and executed once per process. Errors: :class:`InvalidRequestError` for a reference
a user typed that names nothing, :class:`ApplicationError` for an application that cannot be loaded (broken
code, a missing class, a stored record that names nothing).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import linecache
import pkgutil
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from driftline.applications import builtin
from driftline.applications.base import ModelMonitoringApplicationBase
from driftline.errors import ApplicationError, InvalidRequestError
from driftline.schemas import NAME_PATTERN

BUILTIN_PREFIX = "builtin:"
Kind = Literal["builtin", "module", "file", "s3"]

_modules: dict[str, ModuleType] = {}  # source sha256 -> module
_lock = threading.Lock()


@functools.cache
def builtin_names() -> tuple[str, ...]:
    """The built-in applications: the modules of :mod:`driftline.applications.builtin` (none imported)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(builtin.__path__) if not m.name.startswith("_")))


def _builtin_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return f"builtin source name {name!r} is not a module name"
    if name not in builtin_names():
        return f"builtin module {name!r} not found; expected one of {list(builtin_names())}"
    return None


@dataclass(frozen=True)
class AppRef:
    """Where an application's code is (see the module docstring). ``sha256`` is an S3 source's digest."""

    kind: Kind
    target: str  # builtin name | dotted module | file path | S3 key
    class_name: str | None = None
    sha256: str | None = None

    @property
    def where(self) -> str:
        return f"{BUILTIN_PREFIX}{self.target}" if self.kind == "builtin" else self.target

    @classmethod
    def parse(cls, text: str | Path) -> AppRef:
        """A reference typed by a user: ``builtin:name``, ``name``, ``package.module`` or ``file.py``, each with
        an optional ``:Class``."""
        if isinstance(text, Path):
            return cls("file", str(text))
        builtin_prefixed = text.startswith(BUILTIN_PREFIX)
        body, class_name = _split_class(text.removeprefix(BUILTIN_PREFIX))
        if builtin_prefixed or ("." not in body and "/" not in body and "\\" not in body):
            problem = _builtin_problem(body)
            if problem:
                raise InvalidRequestError(f"app {text!r}: {problem}")
            return cls("builtin", body, class_name)
        if body.endswith(".py") or "/" in body or "\\" in body:
            return cls("file", body, class_name)
        return cls("module", body, class_name)

    @classmethod
    def from_source(cls, source: Mapping[str, Any], class_name: str, app_name: str) -> AppRef:
        """A stored record's source: ``{"kind": "builtin", "name"}`` or ``{"kind": "s3", "key", "sha256"}``."""
        kind = source.get("kind")
        if kind == "builtin":
            name = source.get("name")
            problem = _builtin_problem(name)
            if problem:
                raise ApplicationError(f"application {app_name!r}: {problem}")
            return cls("builtin", str(name), class_name)
        if kind == "s3":
            key, sha = source.get("key"), source.get("sha256")
            if not isinstance(key, str) or not isinstance(sha, str) or len(sha) != 64:
                raise ApplicationError(
                    f"application {app_name!r}: an s3 source needs 'key' and a 64-hex 'sha256'; got {dict(source)}"
                )
            return cls("s3", key, class_name, sha.lower())
        raise ApplicationError(f"application {app_name!r}: source kind {kind!r}; expected 'builtin' or 's3'")


def _split_class(text: str) -> tuple[str, str | None]:
    """``"where:Class"`` -> (where, Class); a colon that belongs to the path (a file that exists) is kept."""
    head, colon, tail = text.rpartition(":")
    if colon and tail.isidentifier() and head and not Path(text).exists():
        return head, tail
    return text, None


def module_from_source(code: bytes, origin: str, app_name: str) -> ModuleType:
    """The module that ``code`` defines, executed once per distinct source (cached by sha256). ``origin`` names
    it in tracebacks (its lines are kept for them, so an S3 source shows its code too)."""
    digest = hashlib.sha256(code).hexdigest()
    module = _modules.get(digest)
    if module is not None:
        return module
    with _lock:
        if digest in _modules:  # another thread loaded it meanwhile
            return _modules[digest]
        name = f"driftline_app_{digest[:16]}"
        module = ModuleType(name)
        module.__file__ = origin
        text = code.decode("utf-8", errors="replace")
        linecache.cache[origin] = (len(text), None, text.splitlines(keepends=True), origin)
        sys.modules[name] = module  # dataclasses and pickling look the module up by name while it runs
        try:
            exec(compile(code, origin, "exec"), module.__dict__)  # noqa: S102 - running the app's code is the point
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ApplicationError(
                f"application {app_name!r}: could not import {origin}: {type(exc).__name__}: {exc}"
            ) from exc
        _modules[digest] = module
    return module


def load_module(
    ref: AppRef | str | Path, fetch: Callable[[str], bytes] | None = None, app_name: str | None = None
) -> ModuleType:
    """The module ``ref`` names (a string or path is parsed with :meth:`AppRef.parse`). ``fetch(key)`` returns an
    S3 source's bytes (needed only for ``s3``; not called when that digest is already loaded)."""
    ref = ref if isinstance(ref, AppRef) else AppRef.parse(ref)
    label = app_name or ref.where
    if ref.kind == "builtin":
        return importlib.import_module(f"{builtin.__name__}.{ref.target}")
    if ref.kind == "module":
        try:
            return importlib.import_module(ref.target)
        except ImportError as exc:
            raise ApplicationError(f"application {label!r}: cannot import module {ref.target!r}: {exc}") from exc
    if ref.kind == "file":
        path = Path(ref.target)
        if not path.is_file():
            raise InvalidRequestError(f"app {ref.target!r}: no such file")
        return module_from_source(path.read_bytes(), str(path), label)
    assert ref.sha256 is not None
    if ref.sha256 in _modules:
        return _modules[ref.sha256]
    if fetch is None:
        raise ApplicationError(f"application {label!r}: its source is in S3 ({ref.target}) and nothing can fetch it")
    body = fetch(ref.target)
    actual = hashlib.sha256(body).hexdigest()
    if actual != ref.sha256:
        raise ApplicationError(
            f"application {label!r}: sha256 mismatch for {ref.target}: the registry expects {ref.sha256}, the object "
            f"has {actual}; re-register the application (set_model_monitoring_function)"
        )
    return module_from_source(body, ref.target, label)


def application_classes(module: ModuleType) -> list[type[ModelMonitoringApplicationBase]]:
    """The concrete application classes ``module`` defines (not those it imports)."""
    base = ModelMonitoringApplicationBase
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, base) and not inspect.isabstract(v) and v.__module__ == module.__name__
    ]


def pick_class(module: ModuleType, class_name: str | None, where: str) -> type[ModelMonitoringApplicationBase]:
    """``class_name`` from ``module``, checked to be a concrete application class; without a name, the one
    application class the module defines."""
    classes = {c.__name__: c for c in application_classes(module)}
    found = sorted(classes)
    if class_name is None:
        if len(found) != 1:
            raise InvalidRequestError(f"app {where!r} defines {found}; name one as 'file.py:Class'")
        return classes[found[0]]
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ApplicationError(
            f"{where!r} defines no class {class_name!r}; application classes found there: {found or 'none'}"
        )
    if not (isinstance(cls, type) and issubclass(cls, ModelMonitoringApplicationBase)):
        raise ApplicationError(
            f"{class_name!r} in {where!r} is not a subclass of ModelMonitoringApplicationBase "
            f"(from driftline.applications import ModelMonitoringApplicationBase); application classes found there: "
            f"{found or 'none'}"
        )
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise ApplicationError(f"{class_name!r} in {where!r} does not implement {missing}")
    return cls


def load_class(
    ref: AppRef | str | Path, fetch: Callable[[str], bytes] | None = None, app_name: str | None = None
) -> type[ModelMonitoringApplicationBase]:
    """The application class ``ref`` names (a string or path is parsed with :meth:`AppRef.parse`)."""
    resolved = ref if isinstance(ref, AppRef) else AppRef.parse(ref)
    module = load_module(resolved, fetch, app_name)
    where = resolved.where if app_name is None else f"application {app_name!r}: {resolved.where}"
    return pick_class(module, resolved.class_name, where)
