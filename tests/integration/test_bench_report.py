"""`python -m bench --quick` runs every registered benchmark once, small, and writes the
report: a row per measurement with numbers in it, and each benchmark named as run. No
time or ratio is asserted (the figures of a quick run on a shared machine mean little)."""

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from bench.suite import discover
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

ROW = re.compile(
    r"^\| (?P<measurement>[^|]+) \| (?P<floor>[^|]+) \| (?P<project>[^|]+) \| "
    r"(?P<ratio>[^|]+) \| (?P<goal>[^|]+) \| (?P<met>[^|]+) \|$"
)
NUMBER = r"[0-9][0-9,]*(\.[0-9]+)?"


def rows(report: str) -> list[dict[str, str]]:
    table = report.split("| measurement |", 1)[1].split("\n\n", 1)[0]
    return [m.groupdict() for line in table.splitlines() if (m := ROW.match(line.strip()))]


async def test_a_quick_run_reports_every_benchmark_with_numbers(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    out = tmp_path / "REPORT.md"
    env = {**os.environ, "RABBITMQ_URL": endpoints.rabbit_url}
    env.pop("MONGODB_URL", None)  # each benchmark starts its own wire server
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--out",
        str(out),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")[-5000:]
    report = out.read_text(encoding="utf-8")
    names = [benchmark.name for benchmark in discover() if not benchmark.needs_big]
    assert names  # the push, gateway, tool-call and SLA benchmarks at least
    ran = {line.split("`")[1]: line for line in report.splitlines() if line.startswith("- `")}
    for name in names:
        assert ran[name].endswith("; ok"), ran.get(name)
    found = rows(report)
    assert len(found) >= len(names)
    for row in found:
        assert re.fullmatch(rf"{NUMBER}x( \({NUMBER}-{NUMBER}\))?", row["ratio"].strip()), row
        for column in ("floor", "project"):
            assert re.match(NUMBER, row[column].strip()), row
        assert row["met"].strip() in {"yes", "**no**", "—"}, row
