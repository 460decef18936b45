"""Schemathesis over the app's own OpenAPI schema: every operation, positive and negative
cases, a fixed seed and a bounded number of examples. Shared by ``tests/api/test_fuzz.py``
and the longer ``benchmarks/fuzz_api.py``.

A case fails when the response is a server error, has a status, content type, headers or
body the schema does not document, or accepts invalid (negative) data. Valid-by-schema
data the service still refuses with a 4xx and a reason (the schema is looser than the
checks, e.g. ``res`` 7-10 of the bike model) is counted apart as ``rejected_positive``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

__all__ = ["FuzzReport", "fuzz_app", "CHECKS"]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@dataclass
class FuzzReport:
    """What a fuzz run did and found."""

    operations: int = 0
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    rejected_positive: list[str] = field(default_factory=list)
    no_negative: list[str] = field(default_factory=list)

    def kinds(self) -> Counter:
        """Failures per check."""
        return Counter(f.split(":", 1)[0] for f in self.failures)


def _failures(case: Any, response: Any, checks: list) -> list[str]:
    try:
        case.validate_response(response, checks=checks)
    except BaseException as exc:  # noqa: BLE001  (a FailureGroup, or a single failure)
        return [f"{type(sub).__name__}: {case.operation.label} | {case.formatted_path} "
                f"-> {response.status_code} {response.text[:160]}"
                for sub in getattr(exc, "exceptions", [exc])]
    return []


def _run(operation: Any, mode: GenerationMode, report: FuzzReport, examples: int,
         headers: dict[str, str] | None) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(headers=headers, timeout=300)
        report.cases += 1
        report.statuses[response.status_code // 100 * 100] += 1
        report.failures.extend(_failures(case, response, CHECKS))
        if mode is GenerationMode.POSITIVE:
            report.rejected_positive.extend(_failures(case, response, [positive_data_acceptance]))

    try:
        check()
    except Unsatisfiable:  # no invalid input exists (no parameters at all)
        report.no_negative.append(operation.label)


def fuzz_app(app: FastAPI, *, examples: int, headers: dict[str, str] | None = None) -> FuzzReport:
    """Fuzz every operation of ``app`` with ``examples`` positive and negative cases each."""
    report = FuzzReport()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    streams = {f"{method.upper()} {path}" for path, item in app.openapi()["paths"].items()
               for method, op in item.items()
               if "text/event-stream" in op.get("responses", {}).get("200", {}).get("content", {})}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in streams:  # an event stream answers until its time is up
            continue
        report.operations += 1
        for mode in GenerationMode:
            _run(operation, mode, report, examples, headers)
    return report
