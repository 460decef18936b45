"""Build, load and serve footprint of the embedded city.

Prints: build time (fresh), bundle size, ``City.load()`` time (cold process, median of
runs), and the resident memory of ``twin serve`` after warm-up requests.

    .venv/bin/python benchmarks/foundation_load.py
"""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _proc import rss_mb

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="citytwin-bench-"))
    try:
        t0 = time.perf_counter()
        subprocess.run([PY, "-m", "twin", "build", "--build-dir", str(tmp), "--quiet"],
                       check=True, cwd=REPO, capture_output=True)
        build_s = time.perf_counter() - t0
        bundle = tmp / "shanghai"
        loads = []
        code = ("import time; t=time.perf_counter(); from twin import City; "
                f"c=City.load({str(bundle)!r}); c.graph; print(time.perf_counter()-t)")
        for _ in range(3):
            out = subprocess.run([PY, "-c", code], check=True, cwd=REPO, capture_output=True,
                                 text=True)
            loads.append(float(out.stdout.strip().splitlines()[-1]))
        port = _free_port()
        env = {"TWIN_BUNDLE": str(bundle), "PATH": "/usr/bin:/bin"}
        server = subprocess.Popen([PY, "-m", "twin", "serve", "--port", str(port)], cwd=REPO,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            for path in ("/layers", "/health", "/", "/geocode?q=%E5%8D%97%E4%BA%AC%E4%B8%9C%E8%B7%AF635",
                         "/coverage?minutes=5", "/schools?level=primary", "/bikes/quotas?res=9",
                         "/tiles/roads,pois/14/13720/6694.mvt", "/rasters/fire_travel_time/point"
                         "?lon=121.47&lat=31.23"):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
            rss = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
        print("| metric | value |")
        print("|---|---|")
        print(f"| build, fresh (s) | {build_s:.1f} |")
        print(f"| bundle size (MB) | {_dir_size(bundle) / 1e6:.1f} |")
        print(f"| City.load() + graph, cold process (s, median of 3) | "
              f"{statistics.median(loads):.2f} |")
        print(f"| twin serve resident memory after warm-up of every service (MB) | {rss:.0f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
