"""Property-based fuzzing of every operation from the app's own OpenAPI schema.

Fixed seed and a bounded number of positive and negative examples per operation
(schemathesis + hypothesis): no server error, every response as the schema documents it,
and invalid input always refused with a 4xx.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from api import create_app
from twin import City, Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzzing import fuzz_app  # noqa: E402

EXAMPLES = 6


def test_every_operation_conforms_to_its_schema(city: City, tmp_path: Path) -> None:
    copy = tmp_path / "shanghai"  # fuzzed edits must not leak into the shared city
    shutil.copytree(city.bundle_dir, copy)
    app = create_app(Settings(api_keys={"fuzz-editor": "editor"}), city=City.load(copy))
    report = fuzz_app(app, examples=EXAMPLES, headers={"X-API-Key": "fuzz-editor"})
    assert report.operations >= 30 and report.cases >= 5 * report.operations
    assert report.statuses[200] and report.statuses[400]
    assert not report.failures, "\n".join(report.failures[:20])
