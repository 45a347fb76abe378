"""The benchmark runs (a few iterations) and prints a ratio; no time is asserted."""

import pytest

from bench.bench_tool_call import measure, report
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration


async def test_the_tool_call_benchmark_runs_and_reports_a_ratio(
    endpoints: Endpoints, database: str
) -> None:
    results = await measure(endpoints.rabbit_url, endpoints.mongo_url, database, 3, 60)
    assert results.iterations >= 1
    assert results.ratio > 0
    assert "ratio gateway / floor" in report(results)
