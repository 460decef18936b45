"""Property-based fuzzing of every operation from the app's own OpenAPI schema.

Fixed seed and a bounded number of examples per operation (schemathesis + hypothesis):
no response may be a server error.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from api import create_app
from twin import City, Settings

EXAMPLES = 12


def test_no_server_errors_on_any_operation(city: City) -> None:
    app = create_app(Settings(api_keys={"fuzz-editor": "editor"}), city=city)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # noqa: ANN001
            response = case.call()
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} "
                                f"{case.body!r:.120} -> {response.status_code} "
                                f"{response.text[:200]}")

        check()
    assert operations >= 30 and len(calls) >= 5 * operations
    assert any(code < 300 for code in calls) and any(400 <= code < 500 for code in calls)
    assert not failures, "\n".join(failures[:20])
