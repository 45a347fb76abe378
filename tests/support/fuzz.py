"""Schemathesis cases drawn and sent through httpx: bounded, reproducible, no database."""

from typing import Any

from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

EXAMPLES_PER_OPERATION = 12


def generate(strategy: Any) -> list[Any]:
    """Draw a bounded number of cases from a schemathesis strategy."""
    cases: list[Any] = []

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def collect(case: Any) -> None:
        cases.append(case)

    collect()
    return cases


def as_httpx(case: Any) -> dict[str, Any]:
    """The requests-style keyword arguments schemathesis serializes, for httpx."""
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url="")
    kwargs.pop("auth", None)
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    if "data" in kwargs and isinstance(kwargs["data"], str | bytes):
        kwargs["content"] = kwargs.pop("data")
    return kwargs
