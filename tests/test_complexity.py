"""The judging path stays readable (issue 24): no function on the way from a workload to
its result (the front ends' judging, the core judge, the sources of facts and their
precedence, the signals, the Kubernetes reader, the evaluator, the webhook's decoding,
judging and answers) is above cyclomatic complexity 25, measured by radon."""

from __future__ import annotations

import pytest
from radon.complexity import cc_visit

from tests.tools import ROOT

LIMIT = 25
JUDGING_PATH = [
    "shared/judge.py",
    "shared/precedence.py",
    "shared/facts/__init__.py",
    "shared/facts/image.py",
    "shared/signals.py",
    "shared/evaluator.py",
    "shared/parsers/kubernetes.py",
    "shared/parsers/_common.py",
    "shared/images/inspector.py",
    "shared/cli.py",
    "scanner/scan.py",
    "webhook/protocol.py",
    "webhook/decode.py",
    "webhook/decide.py",
    "webhook/respond.py",
]


@pytest.mark.parametrize("path", JUDGING_PATH)
def test_no_function_on_the_judging_path_is_too_complex(path: str) -> None:
    blocks = cc_visit((ROOT / path).read_text(encoding="utf-8"))
    over = sorted(
        (f"{b.fullname} ({b.complexity})" for b in blocks if b.complexity > LIMIT), key=str
    )
    assert not over, f"{path}: above {LIMIT}: {', '.join(over)}"
