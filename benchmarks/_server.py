"""Start the service on a free loopback port for a benchmark, the way users run it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def running_server(*, workers: int = 1, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Yield ``(base_url, pid)`` of ``uvicorn api:create_app`` on 127.0.0.1; stop it after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "api:create_app", "--factory",
                               "--port", str(port), "--workers", str(workers), "--log-level",
                               "warning"], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                httpx.get(base + "/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)
