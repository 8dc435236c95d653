"""What keyword arguments an application takes, and the check registration runs on them.

An application declares its parameters in its constructor's signature (``def __init__(self, max_p95_ms: float =
50.0)``), read with :mod:`inspect` and :func:`typing.get_type_hints`. A constructor that also takes ``**kwargs``
accepts any other name unless the class lists the extra ones in ``application_parameters`` (name -> type): the
built-in apps do (``feature_drift`` lists its ``DriftConfig`` settings), so ``thresold=0.3`` is refused at the
door with the valid names instead of failing in the function on every window. An app without a constructor of
its own (MLRun's style: read ``self.application_kwargs``) accepts any JSON-serialisable keyword arguments.

Types checked: ``float`` (int or float, not bool), ``int``, ``bool``, ``str``, ``None`` and unions of them,
``Literal[...]``, lists/sequences (a JSON list), mappings (a JSON object); anything else is accepted as given.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from driftline.errors import InvalidRequestError

_SKIP = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(frozen=True)
class Parameter:
    name: str
    hint: Any = Any
    default: Any = inspect.Parameter.empty
    declared: bool = False  # from ``application_parameters``: optional, its default is the app's business

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty and not self.declared

    def describe(self) -> str:
        text = f"{self.name}: {type_name(self.hint)}"
        return text if self.required or self.declared else f"{text} = {self.default!r}"


def type_name(hint: Any) -> str:
    if hint is Any or hint is inspect.Parameter.empty:
        return "any"
    if hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(hint, "__name__", str(hint))


def _hints(function: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # an annotation that does not resolve (a name under TYPE_CHECKING): not checked
        return {}


def declared_parameters(cls: type) -> tuple[dict[str, Parameter], bool]:
    """``(parameters, open)``: the named parameters an app's constructor declares (plus its class's
    ``application_parameters``), and whether it also accepts names it does not declare."""
    init = cls.__init__  # type: ignore[misc]
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return {}, True
    hints = _hints(init)
    params: dict[str, Parameter] = {}
    has_var_keyword = False
    for i, p in enumerate(signature.parameters.values()):
        if i == 0 and p.name == "self":
            continue
        if p.kind == inspect.Parameter.VAR_KEYWORD:
            has_var_keyword = True
        if p.kind in _SKIP:
            continue
        params[p.name] = Parameter(p.name, hints.get(p.name, Any), p.default)
    extra = getattr(cls, "application_parameters", None)
    if extra is not None:
        for name, hint in extra.items():
            params.setdefault(name, Parameter(name, hint, declared=True))
    return params, has_var_keyword and extra is None


def fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a type hint (see the module docstring for what is checked)."""
    if hint is Any or hint is inspect.Parameter.empty or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    target = origin or hint
    if target is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if target is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if target is bool:
        return isinstance(value, bool)
    if target is str:
        return isinstance(value, str)
    if target in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable):
        return isinstance(value, list | tuple)
    if target in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return isinstance(value, dict)
    return True  # a type JSON cannot carry anyway: the constructor decides


def check_application_kwargs(cls: type, kwargs: Mapping[str, Any], label: str = "") -> dict[str, Any]:
    """``kwargs`` if the application ``cls`` takes them: JSON-serialisable, every name declared (unless the app is
    open), every value of its declared type, every required parameter given. Otherwise an
    :class:`InvalidRequestError` listing the valid parameters."""
    who = label or cls.__name__
    try:
        json.dumps(dict(kwargs), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{who}: application kwargs must be JSON-serialisable ({exc})") from exc
    params, open_ = declared_parameters(cls)
    valid = ", ".join(p.describe() for p in params.values()) or "none"
    unknown = sorted(set(kwargs) - set(params))
    if unknown and not open_:
        raise InvalidRequestError(f"{who}: unknown parameter(s) {unknown}; {cls.__name__} takes: {valid}")
    for name, value in kwargs.items():
        param = params.get(name)
        if param is not None and not fits(value, param.hint):
            raise InvalidRequestError(
                f"{who}: parameter {name}={value!r} ({type(value).__name__}) is not {type_name(param.hint)}; "
                f"{cls.__name__} takes: {valid}"
            )
    missing = [p.name for p in params.values() if p.required and p.name not in kwargs]
    if missing:
        raise InvalidRequestError(f"{who}: missing required parameter(s) {missing}; {cls.__name__} takes: {valid}")
    return dict(kwargs)
