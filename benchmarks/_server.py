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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server at {base} did not become ready in {seconds:.0f} s")


@contextmanager
def production_server(*, workers: int = 2, env: dict[str, str] | None = None,
                      args: tuple[str, ...] = ()) -> Iterator[tuple[str, int]]:
    """Yield ``(base_url, pid)`` of ``twin serve --workers N`` as the README runs it in production.

    Parameters
    ----------
    workers : int
        Worker processes.
    env : dict, optional
        Environment (``TWIN_*`` settings); default the current one.
    args : tuple of str
        More ``twin serve`` options.
    """
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "twin", "serve", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", str(workers), "--no-access-log",
                               *args], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=60)


@contextmanager
def running_server(*, workers: int = 1, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Yield ``(base_url, pid)`` of ``uvicorn api:create_app`` on 127.0.0.1; stop it after."""
    port = _free_port()
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
