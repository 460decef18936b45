"""A longer schemathesis run over every operation of the app's OpenAPI schema.

Same checks as ``tests/api/test_fuzz.py`` (server errors, undocumented statuses, content
types, headers and bodies, accepted invalid data) with more examples per operation, both
positive and negative, fixed seed. Prints operations, cases, status classes and failures
per check, and the schema-valid requests the service refused (schema looser than checks).

    .venv/bin/python benchmarks/fuzz_api.py --examples 50
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "api")]  # this checkout's code first

from fuzzing import fuzz_app  # noqa: E402

from api import create_app  # noqa: E402
from twin import City, Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50, help="cases per operation and mode")
    args = parser.parse_args()
    app = create_app(Settings(api_keys={"fuzz-editor": "editor"}), city=City.load())
    started = time.perf_counter()
    report = fuzz_app(app, examples=args.examples, headers={"X-API-Key": "fuzz-editor"})
    seconds = time.perf_counter() - started
    print(f"\n| schemathesis, {args.examples} examples per operation and mode | value |")
    print("|---|---|")
    print(f"| operations | {report.operations} |")
    print(f"| cases | {report.cases} ({seconds:.0f} s) |")
    for status, n in sorted(report.statuses.items()):
        print(f"| responses {status // 100}xx | {n} |")
    print(f"| failures | {len(report.failures)} |")
    for kind, n in report.kinds().most_common():
        print(f"| - {kind} | {n} |")
    rejected = Counter(r.split(" | ")[0].split(": ", 1)[1] for r in report.rejected_positive)
    print(f"| schema-valid requests refused with a 4xx and a reason | "
          f"{len(report.rejected_positive)} (in {len(rejected)} operations) |")
    for line in report.failures[:15]:
        print("  failure:", line)
    for op, n in rejected.most_common():
        print(f"  refused: {op} ({n})")


if __name__ == "__main__":
    main()
