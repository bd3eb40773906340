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


# Aliases share nodes: a few hundred bytes can stand for millions of nodes, which every
# walk of the documents would visit ("billion laughs"). Documents whose aliases expand to
# more than this many nodes, and to many times the nodes written, are refused.
MAX_EXPANDED_NODES = 200_000
MAX_EXPANSION = 20


class AliasBomb(yaml.YAMLError):
    """YAML whose aliases expand to far more nodes than the text holds."""


def load_all(text: str) -> list[Any]:
    docs = list(yaml.load_all(text, Loader=Loader))
    if "*" in text and "&" in text:  # aliases are possible only then
        _check_expansion(docs)
    return docs


def _check_expansion(docs: list[Any]) -> None:
    """AliasBomb when the documents' nodes, counted as a walk would meet them, exceed the
    bounds (counted once per distinct node: linear in what was parsed)."""
    sizes: dict[int, int] = {}
    unique = 0

    def size(node: Any) -> int:
        nonlocal unique
        if not isinstance(node, dict | list):
            return 1
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # (a cycle counts once)
        unique += 1
        children = node.values() if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES * MAX_EXPANSION:
                break
        sizes[id(node)] = total
        return total

    expanded = sum(size(d) for d in docs)
    if expanded > MAX_EXPANDED_NODES and expanded > MAX_EXPANSION * max(unique, 1):
        raise AliasBomb(
            f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes "
            f"({unique} written): refused"
        )
