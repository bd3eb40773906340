"""The HTML report (issue 18.6) in a real headless Chromium (Debian's package, driven by
Playwright): `check --format html` of the example fleet and the scanner's page at `/`
render with no console errors and no request beyond the page itself, fit a desktop and a
phone screen, and show the numbers of the JSON report."""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.tools import ROOT, free_port, wait_ready

EXE = str(Path(sys.executable).parent / "ddcompat")
ARGS = ["examples/", "--policy", "examples/policy.yaml"]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
CHROMIUM = "/usr/bin/chromium"


def check(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, "check", *ARGS, *extra], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert shutil.which(CHROMIUM), "Chromium not found: `make test` installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def report_json() -> dict[str, Any]:
    out = check("--format", "json")
    assert out.returncode == 1, out.stderr  # the examples hold noncompliant workloads
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def open_page(
    browser: Browser, url: str, size: tuple[int, int]
) -> tuple[Page, list[str], list[str]]:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, problems, requests


def numbers(page: Page) -> dict[str, int]:
    shown: dict[str, str] = page.eval_on_selector_all(
        "[data-summary]",
        "els => Object.fromEntries(els.map(e => [e.dataset.summary, e.textContent]))",
    )
    return {k: int(v) for k, v in shown.items()}


def expected_gaps(report: dict[str, Any]) -> dict[str, int]:
    gaps: collections.Counter[str] = collections.Counter()
    for w in report["workloads"]:
        if w["exempt"] is not None:
            continue
        for feature, fr in w["features"].items():
            for code, sev in {(r["code"], r["severity"]) for r in fr["reasons"]}:
                if sev != "info":
                    gaps[f"{feature}/{code}"] += 1
    return dict(gaps)


def test_check_html_in_chromium(
    browser: Browser, report_json: dict[str, Any], tmp_path: Path
) -> None:
    out = check("--format", "html", "--output", str(tmp_path / "report.html"))
    assert out.returncode == 1, out.stderr  # the same exit status as any format
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    url = (tmp_path / "report.html").as_uri()
    s = report_json["summary"]
    for name, size in SIZES.items():
        page, problems, requests = open_page(browser, url, size)
        assert problems == [] and requests == [url]  # no console errors, no external assets
        shot = tmp_path / f"report-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        # nothing wider than the screen: the page scrolls down, never sideways
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        shown = numbers(page)
        verdicts = [w["verdict"] for w in report_json["workloads"]]
        assert shown == {
            "workloads": s["workloads"],
            "compliant": s["compliant"] == verdicts.count("compliant") and s["compliant"],
            "noncompliant": s["noncompliant"] == verdicts.count("noncompliant")
            and s["noncompliant"],
            "unverified": s["unverified"] == verdicts.count("unverified") and s["unverified"],
            "exempt": s["exempt"],
            "errors": s["errors"],
            "warnings": s["warnings"],
            "not_python": s["not_python"],
            "ignored_files": s["ignored_files"],
        }
        gaps = page.eval_on_selector_all(
            "#gaps tr[data-gap]",
            "rows => Object.fromEntries(rows.map(r => "
            "[r.dataset.gap, Number(r.cells[3].textContent)]))",
        )
        assert gaps == expected_gaps(report_json) and gaps
        groups = page.eval_on_selector_all(
            "#groups tr[data-group]", "rows => rows.map(r => Number(r.cells[2].textContent))"
        )
        assert sum(groups) == s["workloads"]
        # every workload is on the page, with its facts and where they came from
        ids = page.eval_on_selector_all(
            "[data-workload]", "els => els.map(e => e.dataset.workload)"
        )
        assert sorted(ids) == sorted(w["id"] for w in report_json["workloads"])
        # the charts count every workload once: by ddtrace line and by Python
        for chart in ("ddtrace", "python"):
            counts = page.eval_on_selector_all(
                f"[data-chart={chart}] [data-bar]", "gs => gs.map(g => Number(g.dataset.count))"
            )
            assert sum(counts) == s["workloads"], chart
        # the fix column: one row per fix in the JSON, for noncompliant workloads only
        fix_rows = page.eval_on_selector_all(
            "#fixes tr[data-fix]", "rows => rows.map(r => r.dataset.fix)"
        )
        assert sorted(fix_rows) == sorted(
            w["id"] for w in report_json["workloads"] for _ in w["fix"]
        )
        assert fix_rows
        # gaps: errors first
        severities = page.eval_on_selector_all(
            "#gaps tr[data-gap]", "rows => rows.map(r => r.cells[2].textContent)"
        )
        assert severities == sorted(severities, key=["error", "warning"].index)
        # the four verdicts add up; failing workloads first, then unverified, both open
        assert s["compliant"] + s["noncompliant"] + s["unverified"] + s["exempt"] == len(ids)
        shown_verdicts = page.eval_on_selector_all(
            "[data-workload]", "els => els.map(e => [e.dataset.verdict, e.open])"
        )
        rank = {"noncompliant": 0, "unverified": 1, "compliant": 2, "exempt": 3}
        assert [rank[v] for v, _ in shown_verdicts] == sorted(rank[v] for v, _ in shown_verdicts)
        assert all(opened == (v in ("noncompliant", "unverified")) for v, opened in shown_verdicts)
        page.close()
    first = next(w for w in report_json["workloads"] if w["facts_source"]["ddtrace"])
    page, _, _ = open_page(browser, url, SIZES["desktop"])
    box = page.locator(f'[data-workload="{first["id"]}"]')
    if not box.evaluate("e => e.open"):  # (noncompliant and unverified ones start open)
        box.locator("summary").click()
    text = box.inner_text()
    assert f"ddtrace: {first['ddtrace_version']}" in text
    page.close()


def test_the_scanner_serves_the_same_page(browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            EXE,
            "scanner",
            "run",
            "--path",
            str(ROOT / "examples"),
            "--policy",
            str(ROOT / "examples" / "policy.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc=proc)
        url = f"http://127.0.0.1:{port}/"
        page, problems, requests = open_page(browser, url, SIZES["phone"])
        assert problems == [] and requests == [url]
        assert "ddcompat scanner" in page.title()
        shown = numbers(page)
        metrics = page.request.get(f"http://127.0.0.1:{port}/metrics").text()
        scanned = next(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("ddcompat_scanned_workloads ")
        )
        # the page is the snapshot the metrics show
        assert shown["workloads"] == scanned > 0
        assert 0 < shown["noncompliant"] <= shown["workloads"] - shown["compliant"]
        page.screenshot(path=str(tmp_path / "scanner-phone.png"), full_page=True)
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_hostile_values_are_text_on_the_page(browser: Browser, tmp_path: Path) -> None:
    """Names and values from a descriptor are shown as text, never markup or a request."""
    evil = '<img src="http://127.0.0.1:9/x" onerror="console.error(1)">'
    (tmp_path / "pod.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "api", "namespace": "shop"},
                "spec": {
                    "containers": [
                        {
                            "name": evil,
                            "image": "python:3.11",
                            "env": [
                                {"name": "DD_APPSEC_ENABLED", "value": "true"},
                                {"name": "DD_TRACE_VERSION", "value": evil},
                            ],
                        }
                    ]
                },
            }
        )
    )
    out = subprocess.run(
        [
            EXE,
            "check",
            str(tmp_path / "pod.yaml"),
            "--format",
            "html",
            "-o",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode in (0, 1), out.stderr
    html = (tmp_path / "r.html").read_text()
    assert "<img" not in html and "&lt;img" in html
    url = (tmp_path / "r.html").as_uri()
    page, problems, requests = open_page(browser, url, SIZES["desktop"])
    assert problems == [] and requests == [url]
    assert evil in page.inner_text("#workloads")
    page.close()
