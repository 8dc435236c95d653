"""Reaching under an L2 construct to the CloudFormation resource it wraps, with its type checked."""

from __future__ import annotations

from typing import TypeVar

from constructs import Construct

T = TypeVar("T")


def default_child(construct: Construct, kind: type[T]) -> T:
    """The construct's ``node.default_child`` (typed ``IConstruct | None`` by CDK) as the ``Cfn*`` class it is."""
    child = construct.node.default_child
    if not isinstance(child, kind):
        raise TypeError(f"{construct.node.path}: expected a {kind.__name__} under it, found {type(child).__name__}")
    return child
