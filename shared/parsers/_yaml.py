"""YAML documents as the descriptor parsers read them (the C loader when present)."""

from __future__ import annotations

from typing import Any

import yaml

YAMLError = yaml.YAMLError

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_BaseLoader):  # type: ignore[misc]
    """Safe YAML plus CloudFormation short-form tags (``!Ref x`` -> ``{"Ref": x}``)."""


def _cfn_tag(loader: Any, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


Loader.add_multi_constructor("!", _cfn_tag)


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=Loader))
