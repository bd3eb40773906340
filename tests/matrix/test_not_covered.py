"""MATRIX_NOT_COVERED says what is missing in a user's words (issue 25.5): which releases
the matrix knows, as one range, not every row's range."""

from __future__ import annotations

from ddcompat.shared import evaluator, model
from ddcompat.shared import matrix as matrix_mod
from tests.matrix.test_caches import workload


def _reasons(edition: str, ddtrace: str) -> list[model.Reason]:
    result = evaluator.Evaluator(matrix_mod.load(edition=edition)).evaluate(workload(ddtrace))
    return [
        r for r in result.features["threat_detection"].reasons if r.code == "MATRIX_NOT_COVERED"
    ]


def test_a_release_past_the_matrix_names_the_releases_it_knows() -> None:
    [reason] = _reasons("current", "5.0.0")
    # the releases with wheels on PyPI: 0.28.0 (the first with any) to the end of 4.x
    assert reason.required == ">=0.28.0,<5"
    assert "ddtrace 5.0.0 is outside every release the matrix knows" in reason.message
    assert "(it knows ddtrace >=0.28.0,<5)" in reason.message


def test_a_range_known_in_part_asks_for_one_version() -> None:
    [reason] = _reasons("seed", ">=1.20,<2.3")
    assert reason.required == "<2"
    assert "name one version" in reason.message
