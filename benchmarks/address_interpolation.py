"""Geocoding without inventing: typo recovery and house-number interpolation, measured.

Two measurements on the city's real doors (every active door of the gazetteer):

* **Doubled / dropped character.** For each door whose road name has an inner character
  (three characters or more), the address is written with that character doubled
  (乌鲁木齐中路 -> 乌鲁木木齐中路) and, separately, dropped; the rate at which the
  geocoder still returns that exact door (level ``door``) is reported, along with the rate
  of *false doors* (a door on another road), which must be zero.
* **Interpolation, leave one out.** Each door is removed in turn (``Geocoder.interpolate``
  leaves the door's own number out) and placed from the other doors of its road on the
  same side; the error to its true point is reported (median, p90, and the share whose
  true error is within the ``error_m`` the geocoder states).

    .venv/bin/python benchmarks/address_interpolation.py            # the default city
    .venv/bin/python benchmarks/address_interpolation.py --core     # shanghai-core
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from address.errors import AddressError
from address.geocode import Geocoder
from twin import City

__all__ = ["typo_recovery", "interpolation_errors", "main"]


def _variants(road: str) -> dict[str, str]:
    """One doubled and one dropped inner character (the middle one of the name's stem)."""
    stem = road[:-1] if road.endswith(("路", "街")) else road[:-2] if road.endswith(
        "大道") else road
    if len(stem) < 2:
        return {}
    k = len(stem) // 2
    return {"doubled": road[:k] + road[k] + road[k:], "dropped": road[:k] + road[k + 1:]}


def typo_recovery(geocoder: Geocoder) -> dict[str, dict[str, float]]:
    """Per kind of typo: doors tried, share recovered at door level, share of false doors."""
    g = geocoder.gazetteer
    stats: dict[str, list[tuple[bool, bool]]] = {"doubled": [], "dropped": []}
    for (road, number), code in g.door_index.items():
        for kind, written in _variants(road).items():
            try:
                best = geocoder.geocode(f"{written}{number}号", limit=1)[0]
            except AddressError:
                stats[kind].append((False, False))
                continue
            door = best["level"] == "door"
            stats[kind].append((door and best["code"] == code,
                                door and best["components"].get("road") != road))
    return {kind: {"n": len(v), "recovered": float(np.mean([a for a, _ in v])) if v else 0.0,
                   "false_door": float(np.mean([b for _, b in v])) if v else 0.0}
            for kind, v in stats.items()}


def interpolation_errors(geocoder: Geocoder) -> dict[str, float]:
    """Leave-one-out interpolation of every door: count, coverage and errors in metres."""
    g = geocoder.gazetteer
    errors, stated = [], []
    for (road, number), code in g.door_index.items():
        point = g.door_point(code)
        placed = geocoder.interpolate(road, number)
        if point is None or placed is None:
            continue
        dx = (placed[0] - point[1]) * g._scale[0]
        dy = (placed[1] - point[2]) * g._scale[1]
        errors.append(float(np.hypot(dx, dy)))
        stated.append(placed[2])
    e, s = np.array(errors), np.array(stated)
    return {"doors": len(g.door_index), "placed": len(e),
            "median_m": float(np.median(e)) if len(e) else float("nan"),
            "p90_m": float(np.percentile(e, 90)) if len(e) else float("nan"),
            "within_error_m": float(np.mean(e <= s)) if len(e) else float("nan")}


def main() -> None:
    """Print both tables for the default city (or ``--core``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--core", action="store_true", help="the small shanghai-core city")
    args = ap.parse_args()
    if args.core:
        from twin.build import build_city

        city = City.load(build_city(name="shanghai-core", progress=False))
    else:
        city = City.load()
    geocoder = Geocoder(city.address.gazetteer)
    t = time.perf_counter()
    typos = typo_recovery(geocoder)
    print(f"typo recovery ({time.perf_counter() - t:.1f} s)")
    print(f"{'kind':<10}{'doors':>8}{'recovered':>12}{'false door':>12}")
    for kind, r in typos.items():
        print(f"{kind:<10}{r['n']:>8}{r['recovered']:>12.1%}{r['false_door']:>12.1%}")
    t = time.perf_counter()
    interp = interpolation_errors(geocoder)
    print(f"\ninterpolation, leave one out ({time.perf_counter() - t:.1f} s)")
    print(f"doors {interp['doors']}, placed {interp['placed']}: median {interp['median_m']:.1f} m, "
          f"p90 {interp['p90_m']:.1f} m, within stated error_m {interp['within_error_m']:.1%}")


if __name__ == "__main__":
    main()
