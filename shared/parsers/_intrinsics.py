"""CloudFormation intrinsics and Serverless variables: values a template computes at
deploy time, read as far as the template itself says.

``Ref`` to a parameter is its ``Default``; a pseudo parameter (``AWS::Region``) stays a
visible placeholder (``${AWS::Region}``), which is enough wherever only part of a value
matters (the layer name and version of a layer ARN); ``Fn::Join`` and ``Fn::Sub`` over such
values are worked out; anything else (``Fn::GetAtt``, ``Fn::ImportValue``, ``Fn::If``, a
``Ref`` to a resource) is a value not known, never an error. Serverless's
``${self:custom.x}`` is looked up in the file itself; ``${ssm:...}``, ``${param:...}`` and
the like are not known. Linear in the size of the value: nothing is expanded twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# a value the template computes and does not say
UNKNOWN = None
MAX_DEPTH = 32
MAX_TEXT = 64 * 1024
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
_SLS = re.compile(r"\$\{(self|opt|sls|param|ssm|env|file|cf|s3|aws|strToBool)(?::([^}]*))?\}")


def _param_default(params: Mapping[str, Any], name: str) -> str | None:
    p = params.get(name)
    if isinstance(p, Mapping):
        d = p.get("Default")
        if isinstance(d, bool):
            return str(d).lower()
        if isinstance(d, str | int | float):
            return str(d)
    return None


def cfn_resolver(params: Mapping[str, Any]) -> Callable[[Any], Any]:
    """A function that resolves a template value (any shape) as far as the template says."""

    def ref(name: str) -> str | None:
        if name.startswith("AWS::"):
            return "${" + name + "}"
        return _param_default(params, name)

    def scalar(value: Any, depth: int) -> str | None:
        v = resolve(value, depth)
        if isinstance(v, bool):
            return str(v).lower()
        return str(v) if isinstance(v, str | int | float) else None

    def sub(value: Any, depth: int) -> str | None:
        text: Any = value
        variables: Mapping[str, Any] = {}
        if isinstance(value, list) and value:
            text = value[0]
            variables = value[1] if len(value) > 1 and isinstance(value[1], Mapping) else {}
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            return None

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in variables:
                got = scalar(variables[name], depth + 1)
            elif "." in name:  # ${Resource.Attribute}: deploy time
                got = None
            else:
                got = ref(name)
            return got if got is not None else m.group(0)

        return _SUB.sub(one, text)

    def resolve(value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return UNKNOWN
        if isinstance(value, Mapping):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return ref(arg) if isinstance(arg, str) else UNKNOWN
                if key == "Fn::Sub":
                    return sub(arg, depth)
                if key == "Fn::Join":
                    if (
                        isinstance(arg, list)
                        and len(arg) == 2
                        and isinstance(arg[0], str)
                        and isinstance(arg[1], list)
                    ):
                        parts = [scalar(p, depth + 1) for p in arg[1]]
                        if all(p is not None for p in parts):
                            joined = arg[0].join(p for p in parts if p is not None)
                            return joined if len(joined) <= MAX_TEXT else UNKNOWN
                    return UNKNOWN
                if isinstance(key, str) and (key.startswith("Fn::") or key == "Condition"):
                    return UNKNOWN
            return {k: resolve(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, depth + 1) for v in value]
        return value

    return resolve


def serverless_resolver(doc: Mapping[str, Any]) -> Callable[[Any], Any]:
    """Serverless variables and CloudFormation intrinsics in a ``serverless.yml``:
    ``${self:path}`` from the file itself (with its ``, default`` fallback), other sources
    not known; ``!Ref`` and the like as in a template (the file's ``resources`` are no
    parameters: a ``Ref`` to one is not known)."""
    cfn = cfn_resolver({})

    def lookup(path: str) -> Any:
        node: Any = doc
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def text(value: str, depth: int) -> str | None:
        if "${" not in value:
            return value
        whole = _SLS.fullmatch(value.strip())
        missing = False

        def one(m: re.Match[str]) -> str:
            nonlocal missing
            source, rest = m.group(1), (m.group(2) or "")
            path, _, fallback = rest.partition(",")
            got: Any = None
            if source == "self" and depth < 8:
                got = lookup(path.strip())
                if isinstance(got, str):
                    got = text(got, depth + 1)
            if not isinstance(got, str | int | float) or isinstance(got, bool):
                fb = fallback.strip().strip("'\"")
                if fb and not fb.startswith("${"):
                    return fb
                missing = True
                return m.group(0)
            return str(got)

        out = _SLS.sub(one, value)
        return None if (missing and whole) else out

    def resolve(value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return UNKNOWN
        if isinstance(value, str):
            return text(value, 0) if len(value) <= MAX_TEXT else value
        if isinstance(value, Mapping):
            if len(value) == 1 and isinstance(next(iter(value)), str):
                key = next(iter(value))
                if key == "Ref" or key.startswith("Fn::"):
                    return cfn(value)
            return {k: resolve(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, depth + 1) for v in value]
        return value

    return resolve
