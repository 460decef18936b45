"""Process facts the benchmarks report, read from ``/proc`` (Linux)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["rss_mb", "children"]


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory (MB) of a process now (``VmRSS``); NaN when it is not reported."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    """Ids of the direct children of a process."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []
