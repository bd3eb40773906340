"""The reason codes: one row each, with everything every part of ddcompat says about it.

A row gives the code, its default severity (a policy may change it), the effect a
certain finding has on the feature's status (the evaluator makes it ``unknown`` where
the facts leave the answer open), the one-line help shown in SARIF rules and the
contract, and the message templates of the evaluator (``str.format`` fields). Adding a
code is adding a row here; the policy schema, the JSON Schema, SARIF, the metrics' code
label set and the contract page all read this table.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ddcompat.shared import model


class CodeRow(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    severity: model.Severity
    effect: model.Effect
    help: str
    # variant -> message template ("default" when the code has one message)
    messages: dict[str, str]
    # where the facts leave a finding of this code open: the fact to supply and how (the
    # report's `verify` for unverified workloads)
    verify: tuple[str, str] | None = None


# How to supply a fact that left a finding open (the `verify` column)
_PIN_ONE = (
    "pin one ddtrace version (requirements or lock file, or the "
    "ddcompat.io/ddtrace-version annotation)"
)
_SUPPLY_DDTRACE = (
    "pin ddtrace in a requirements or lock file the build reads, set the "
    "ddcompat.io/ddtrace-version annotation, or run with --inspect-images"
)
_PIN_RANGE = "pin one ddtrace version: the range holds releases with different runtimes"
_PIN_INJECTED = "pin the injected version (admission.datadoghq.com/python-lib.version: vX.Y.Z)"
_NAME_LAYER = "name the Datadog layer version in the ARN (...:layer:Datadog-PythonXY:N)"
_SUPPLY_PYTHON = (
    "use a python:X.Y image tag, set the ddcompat.io/python-version annotation, or "
    "run with --inspect-images"
)
_PIN_PLATFORM = (
    "pin the node's OS and architecture (nodeSelector kubernetes.io/os and "
    "kubernetes.io/arch, or the task's runtimePlatform)"
)
_DECLARE_FRAMEWORK = (
    "declare the framework's version (ddcompat.io/frameworks: django==4.2) or pin it in a lock file"
)
_PIN_KNOWN = (
    "pin one released ddtrace version the matrix knows, or add rows with their source (--matrix)"
)


TABLE: tuple[CodeRow, ...] = (
    CodeRow(
        code="DDTRACE_TOO_OLD",
        severity="error",
        effect="unsupported",
        verify=("ddtrace", _PIN_ONE),
        help="The ddtrace version is older than the feature's minimum.",
        messages={"default": "{title} needs ddtrace {minimum} or newer{note}"},
    ),
    CodeRow(
        code="DDTRACE_UNKNOWN",
        severity="warning",
        effect="unknown",
        verify=("ddtrace", _SUPPLY_DDTRACE),
        help="The ddtrace version is not known precisely enough to decide.",
        messages={
            "missing": "ddtrace version not found (set ddcompat.io/ddtrace-version, "
            "pin ddtrace in the image, or use library injection with a version)",
            "unreadable": "{error}",
            "range": "ddtrace range {observed} includes versions older than {minimum}, "
            "which {title} needs; pin the version",
            "unpinned": "ddtrace is installed unpinned (`pip install ddtrace`): the "
            "version is whatever was newest at build time; pin it",
            "latest": "`latest` is the newest ddtrace release, which this matrix edition "
            "does not name; pin the version or use an edition that knows it",
        },
    ),
    CodeRow(
        code="PYTHON_UNSUPPORTED",
        severity="error",
        effect="unsupported",
        verify=("ddtrace", _PIN_RANGE),
        help="The Python version is not a supported runtime.",
        messages={
            "default": "CPython {python} is not a supported runtime{for_ddtrace}",
            "no_known_line": "CPython {python} is a runtime of no ddtrace line this "
            "matrix knows; with the ddtrace version unknown, support is unknown",
            "partial": "CPython {python} is a supported runtime for only part of ddtrace "
            "{ddtrace}; pin the version",
            "feature": "{title} does not run on CPython {python} with ddtrace {observed}",
            "free_threaded": "free-threaded CPython {observed} has no ddtrace wheel in any "
            "release the matrix knows (ddtrace publishes wheels for CPython {required} with "
            "the GIL only); use the standard CPython {python} build",
        },
    ),
    CodeRow(
        code="INJECTION_PYTHON_UNSUPPORTED",
        severity="error",
        effect="unsupported",
        verify=("ddtrace", _PIN_INJECTED),
        help="Datadog library injection does not inject into this Python: the application "
        "runs without ddtrace.",
        messages={
            "default": "library injection of ddtrace {observed} injects into CPython "
            "{required} only: on CPython {python} it stops and the application runs without "
            "ddtrace",
            "partial": "library injection injects into CPython {python} for only part of "
            "ddtrace {observed} (CPython {required}); pin the injected version",
        },
    ),
    CodeRow(
        code="LAMBDA_FEATURE_OFF",
        severity="error",
        effect="unsupported",
        verify=("lambda_layer", _NAME_LAYER),
        help="The Datadog Lambda layer turns the feature off whatever the tracer could do.",
        messages={
            "default": "{title} is off on Datadog Lambda layer {observed}: {detail}; use "
            "layer {supported_from} or newer",
            "maybe": "{title} may be off on Datadog Lambda layer {observed} (layers "
            "{layers}: {detail}); name the layer version",
        },
    ),
    CodeRow(
        code="LAMBDA_LAYER_EARLY",
        severity="warning",
        effect="none",
        help="The feature runs on this Datadog Lambda layer, but Datadog's tooling supports "
        "it only from a later layer.",
        messages={"default": "{variable} on Datadog Lambda layer {observed}: {detail}"},
    ),
    CodeRow(
        code="LAMBDA_RUNTIME_DEPRECATED",
        severity="warning",
        effect="none",
        help="AWS has deprecated the Lambda runtime (no more security patches).",
        messages={
            "default": "AWS deprecated the Lambda runtime {runtime} on {deprecated}: no "
            "more security patches{blocks}",
        },
    ),
    CodeRow(
        code="FACTS_OLDER_THAN_RELEASE",
        severity="info",
        effect="none",
        help="The release is newer than the newest the matrix's facts know: judged by its "
        "line's rows.",
        messages={
            "default": "ddtrace {observed} is newer than the newest {line}.x release these "
            "facts know ({newest}, read {read}): judged by the {line}.x line's rows",
            "layer": "Datadog Lambda layer {observed} is newer than the newest these facts "
            "know ({newest}, read {read}): its tracer is taken as layer {newest}'s "
            "requirement allows",
        },
    ),
    CodeRow(
        code="PYTHON_UNKNOWN",
        severity="warning",
        effect="unknown",
        verify=("python", _SUPPLY_PYTHON),
        help="The Python version is not known.",
        messages={
            "missing": "Python version not found "
            "(set ddcompat.io/python-version or use a python:X.Y image)",
            "unreadable": "Python version {observed!r} is not major.minor",
            "floating": "Python {observed} is a floating tag (any {observed}.x): "
            "pin a minor version in the image tag",
        },
    ),
    CodeRow(
        code="PLATFORM_UNSUPPORTED",
        severity="error",
        effect="unsupported",
        verify=("platform", _PIN_PLATFORM),
        help="The OS or CPU architecture is not a supported runtime.",
        messages={
            "os": "no supported runtime on {os}",
            "arch": "CPU architecture not supported on {os}",
            "some_arch": "CPU architecture not supported on {os} "
            "for some of the allowed node architectures",
            "feature": "{title} does not run on {os} with ddtrace {observed}",
        },
    ),
    CodeRow(
        code="LAMBDA_LAYER_MISMATCH",
        severity="error",
        effect="unsupported",
        help="The Datadog Lambda layer is built for another Python than the function's runtime.",
        messages={
            "default": "the Datadog layer is built for Python {observed}, the function runs "
            "Python {required}: use Datadog-Python{layer_name}"
        },
    ),
    CodeRow(
        code="DEPLOYMENT_UNSUPPORTED",
        severity="error",
        effect="unsupported",
        help="The feature is not supported on this deployment type.",
        messages={"default": "{title} is not supported on {deployment_type}"},
    ),
    CodeRow(
        code="FRAMEWORK_UNSUPPORTED",
        severity="error",
        effect="unsupported",
        verify=("frameworks", _DECLARE_FRAMEWORK),
        help="The web framework or its version is not supported for the feature.",
        messages={
            "not_listed": "framework {name} is not supported for {feature}",
            "too_old": "{name} {version} is older than {minimum}",
            "maybe_old": "{name} {version} may be older than {minimum}",
        },
    ),
    CodeRow(
        code="AUTH_FRAMEWORK_UNSUPPORTED",
        severity="error",
        effect="unsupported",
        verify=("frameworks", _DECLARE_FRAMEWORK),
        help="No supported authentication framework for user activity tracking.",
        messages={
            "default": "automatic user activity tracking needs a supported authentication "
            "framework (found {found})"
        },
    ),
    CodeRow(
        code="REMOTE_CONFIG_DISABLED",
        severity="error",
        effect="unsupported",
        help="The feature needs Remote Configuration, which is disabled.",
        messages={
            "default": "{title} needs Remote Configuration, which is disabled "
            "(DD_REMOTE_CONFIGURATION_ENABLED)"
        },
    ),
    CodeRow(
        code="PREVIEW_FEATURE",
        severity="warning",
        effect="preview",
        help="The feature is in preview.",
        messages={"default": "{title} is in preview (no GA version)"},
    ),
    CodeRow(
        code="MATRIX_NOT_COVERED",
        severity="warning",
        effect="unknown",
        verify=("ddtrace", _PIN_KNOWN),
        help="The compatibility matrix does not cover these facts.",
        messages={
            "no_rows": "ddtrace {observed} is outside every release the matrix knows "
            "(it knows ddtrace {required}), so which Pythons and platforms it runs on is "
            "unknown; a newer ddcompat, or rows with their source via --matrix, would say",
            "partial": "ddtrace {observed} is a range the matrix knows only in part (it knows "
            "ddtrace {required}); name one version to have it judged",
            "feature": "feature {feature} is not in the matrix",
        },
    ),
    CodeRow(
        code="MAINTENANCE_BRANCH",
        severity="info",
        effect="none",
        help="The ddtrace release branch is in maintenance.",
        messages={"default": "ddtrace {observed} is on a maintenance release branch ({branch})"},
    ),
    CodeRow(
        code="DDTRACE_END_OF_LIFE",
        severity="warning",
        effect="none",
        help="The ddtrace release line is at end of life on the date judged.",
        messages={
            "default": "ddtrace {observed} is on a release line at end of life ({branch}) "
            "as of {as_of}",
            "forecast": "ddtrace {observed} is on a release line at end of life ({branch}) "
            "as of {as_of} by the vendor's forecast ({estimate})",
        },
    ),
    CodeRow(
        code="LIFECYCLE_FORECAST",
        severity="info",
        effect="none",
        help="The vendor forecasts when the ddtrace release line leaves its support level.",
        messages={
            "default": "ddtrace {observed}: the {branch} line is in {level} until {until} "
            "by the vendor's forecast ({estimate})",
        },
    ),
    CodeRow(
        code="SETTING_IGNORED",
        severity="warning",
        effect="none",
        help="An environment variable is set that the ddtrace version in use does not read.",
        messages={
            "default": "{variable} is not read by ddtrace {observed} (read by ddtrace "
            "{required}){instead}",
            "lambda": "{variable} is not read by the Datadog Lambda layer version {observed} "
            "(read from layer versions {required}){instead}",
        },
    ),
    CodeRow(
        code="FLASK_QUERY_STRING",
        severity="info",
        effect="none",
        help="Query strings are not supported on Flask.",
        # the matrix's caveat row carries the text
        messages={"default": "{message}"},
    ),
)

BY_CODE: dict[str, CodeRow] = {row.code: row for row in TABLE}
CODES: tuple[str, ...] = tuple(BY_CODE)
DEFAULT_SEVERITIES: dict[str, model.Severity] = {row.code: row.severity for row in TABLE}
HELP: dict[str, str] = {row.code: row.help for row in TABLE}


def check(code: str) -> str:
    """``code`` if it is a reason code; ValueError naming the known ones otherwise (the
    policy and matrix schemas validate with it)."""
    if code not in BY_CODE:
        raise ValueError(f"unknown reason code {code!r} (known: {', '.join(CODES)})")
    return code


def finding(
    code: str,
    variant: str = "default",
    *,
    effect: model.Effect | None = None,
    required: str | None = None,
    observed: str | None = None,
    **fields: Any,
) -> model.Finding:
    """A finding of ``code`` with the message of ``variant`` filled from ``fields`` (and
    ``observed``); ``effect`` replaces the row's where the facts leave the answer open."""
    row = BY_CODE[code]
    message = row.messages[variant].format(observed=observed, required=required, **fields)
    return model.Finding(code, effect or row.effect, message, required, observed)
