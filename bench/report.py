"""bench/REPORT.md: one table row per measurement (medians over the rounds, the spread in
brackets), then what each floor is, then the run's conditions."""

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.suite import Outcome, Spread, Summary

HEADER = "| measurement | floor | project | ratio | goal | met? |"
RULE = "|---|---|---|---|---|---|"


def number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def spread(values: Spread, unit: str = "") -> str:
    shown = f"{number(values.median)}{unit}"
    if values.low == values.high:
        return shown
    return f"{shown} ({number(values.low)}-{number(values.high)})"


def row(summary: Summary) -> str:
    unit = f" {summary.unit}" if summary.unit else ""
    met = {None: "—", True: "yes", False: "**no**"}[summary.met]
    cells = [
        summary.measurement,
        spread(summary.floor, unit),
        spread(summary.project, unit),
        spread(summary.ratio, "x"),
        str(summary.goal) if summary.goal else "—",
        met,
    ]
    return "| " + " | ".join(cells) + " |"


def render(
    outcomes: list[Outcome], rounds: int, quick: bool, engine: str, unrunnable: list[str]
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark report",
        "",
        f"Written by `python -m bench{' --quick' if quick else ''}` on {now}: "
        f"{rounds} round{'s' if rounds != 1 else ''} per benchmark, each floor measured "
        "in the same round as the figure it divides. Cells: median over the rounds, "
        "(lowest-highest) when they differ. ratio = project / floor.",
        "",
        HEADER,
        RULE,
    ]
    for outcome in outcomes:
        lines += [row(summary) for summary in outcome.summaries]
        if outcome.error:
            lines.append(f"| {outcome.benchmark}: failed | — | — | — | — | **no** |")
    lines += ["", "## What each floor is", ""]
    for outcome in outcomes:
        for summary in outcome.summaries:
            note = f" {summary.note}" if summary.note else ""
            lines.append(f"- **{summary.measurement}** — floor: {summary.floor_label}.{note}")
    lines += ["", "## Conditions", ""]
    lines += _conditions(outcomes, engine)
    lines += [f"- `{name}`: not run (no `run(quick)` for the suite)" for name in unrunnable]
    return "\n".join(lines) + "\n"


def _commit() -> str:
    """The commit measured (with `+` when the tree has changes), or `unknown`."""
    here = Path(__file__).parent
    try:
        head = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+" if changed else head


def _conditions(outcomes: list[Outcome], engine: str) -> list[str]:
    lines = [
        f"- machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; database: {engine}; commit: {_commit()}",
    ]
    for outcome in outcomes:
        loads = ", ".join(f"{load[0]:.2f}" for load in outcome.load) or "—"
        state = f"failed: {outcome.error}" if outcome.error else "ok"
        lines.append(
            f"- `{outcome.benchmark}`: {outcome.seconds:.0f} s, load average (1 min) before "
            f"each round: {loads}; {state}"
        )
    return lines
