"""What every benchmark here shares: peak RSS of a process, and the target report."""

from __future__ import annotations

import resource


def peak_rss_mib(pid: int | str = "self") -> float:
    """VmHWM (ru_maxrss would carry a parent's peak over exec)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(checks: list[tuple[str, bool]]) -> int:
    """Print PASS/MISS per target; the exit status is 0 only when all are met."""
    for text, passed in checks:
        print(("PASS " if passed else "MISS ") + text)
    return 0 if all(passed for _, passed in checks) else 1
