"""Fuzz: Schemathesis drives every operation of the intake's own OpenAPI schema; no answer is a 5xx."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from redis import Redis

schemathesis = pytest.importorskip("schemathesis")

from daemon.intake.app import create_app  # noqa: E402
from tests.chaos.support import SIZES, record  # noqa: E402
from tests.fixtures.herald import make_settings  # noqa: F401,E402

TOKEN = "schema-token"


def test_openapi_operations_never_answer_5xx(redis: Redis, make_settings) -> None:
    """Every operation of GET /openapi.json, fed schema-generated requests with the token, answers below 500."""
    app = create_app(make_settings(http={"token": TOKEN}), redis)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    cases = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=max(10, SIZES.fuzz_examples // 10), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal cases
            cases += 1
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code >= 500:
                failures.append(f"{case.operation.label}: {response.status_code} {response.text[:200]}")

        check()
    record("schemathesis", cases=cases, server_errors=len(failures))
    assert cases > 0
    assert failures == []
