"""Signal timing plans in and out of a twin: the ``signals`` layer <-> plan JSON files.

A city's real timing plans replace the generated ones through the same path as they
are built (``twin build --signal-plans FILE.json``), in the project's one plan format
(:mod:`routing.signals`)::

    {"plans": [{"osm_node": 62540346, "cycle_s": 120, "offset_s": 30,
                "phases": [{"movements": [{"from": 8756689000, "to": 9704194001,
                                           "turn": "through"}],
                            "green_s": 60, "yellow_s": 3, "all_red_s": 2,
                            "min_green_s": 12, "ped_clearance_s": 10}, ...]}]}

A plan names its junction by ``osm_node`` (an OSM node id of the junction), by ``node``
(the twin's node id) or by ``lon`` / ``lat`` (the nearest signalized junction within
:data:`MATCH_RADIUS_M`); movements name roads by their stable feature ids. Junctions a
file does not name keep their generated plans.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from routing.signals import ALL_RED_S, MIN_GREEN_S, YELLOW_S
from twin.errors import SignalPlanError

__all__ = ["read_plan_file", "apply_plans", "plans_to_json", "MATCH_RADIUS_M"]

MATCH_RADIUS_M = 30.0
_PHASE_DEFAULTS = {"yellow_s": YELLOW_S, "all_red_s": ALL_RED_S, "min_green_s": MIN_GREEN_S,
                   "ped_clearance_s": 0.0}


def read_plan_file(path: str | Path) -> list[dict]:
    """Read the plans of a JSON plan file (``{"plans": [...]}`` or a bare list).

    Raises
    ------
    SignalPlanError
        The file is not JSON or holds no list of plans.
    """
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignalPlanError(f"cannot read signal plans {path}: {exc}") from exc
    plans = payload.get("plans") if isinstance(payload, dict) else payload
    if not isinstance(plans, list):
        raise SignalPlanError(f"{path}: expected {{\"plans\": [...]}} or a list of plans")
    return plans


def _number(plan: dict, key: str, where: str, *, minimum: float = 0.0) -> float:
    value = plan.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SignalPlanError(f"{where}: {key} must be a number, got {value!r}")
    if value < minimum:
        raise SignalPlanError(f"{where}: {key} must be >= {minimum}, got {value}")
    return float(value)


def _junction(plan: dict, nodes: gpd.GeoDataFrame, signals: set[int], where: str) -> int:
    if "osm_node" in plan:
        hits = nodes.index[nodes["osm_node"] == plan["osm_node"]]
        if len(hits) == 0 or int(hits[0]) not in signals:
            raise SignalPlanError(f"{where}: OSM node {plan['osm_node']!r} is not a signalized "
                                  "junction of this city")
        return int(hits[0])
    if "node" in plan:
        node = plan["node"]
        if node not in signals:
            raise SignalPlanError(f"{where}: node {node!r} is not a signalized junction")
        return int(node)
    if "lon" in plan and "lat" in plan:
        lon, lat = _number(plan, "lon", where, minimum=-180), _number(plan, "lat", where,
                                                                     minimum=-90)
        cand = nodes.loc[sorted(signals)]
        dx = (cand["x"] - lon) * 111_320 * math.cos(math.radians(lat))
        dy = (cand["y"] - lat) * 110_540
        dist = np.hypot(dx, dy)
        if len(dist) == 0 or float(dist.min()) > MATCH_RADIUS_M:
            raise SignalPlanError(f"{where}: no signalized junction within {MATCH_RADIUS_M:.0f} m "
                                  f"of ({lon}, {lat})")
        return int(dist.idxmin())
    raise SignalPlanError(f"{where}: a plan needs osm_node, node, or lon and lat")


def _phase(raw: Any, node: int, roads: pd.DataFrame, where: str, number: int) -> dict:
    if not isinstance(raw, dict):
        raise SignalPlanError(f"{where}: a phase must be an object")
    phase = {**_PHASE_DEFAULTS, **raw}
    for key in ("green_s", *_PHASE_DEFAULTS):
        phase[key] = _number(phase, key, where)
    if phase["green_s"] < phase["min_green_s"]:
        raise SignalPlanError(f"{where}: green_s {phase['green_s']} is below min_green_s "
                              f"{phase['min_green_s']}")
    movements = phase.get("movements", [])
    if not isinstance(movements, list):
        raise SignalPlanError(f"{where}: movements must be a list")
    approaches: list[list[int]] = []
    for m in movements:
        road = m.get("from") if isinstance(m, dict) else None
        if road not in roads.index:
            raise SignalPlanError(f"{where}: movement from unknown road {road!r}")
        u, v, key = (int(x) for x in roads.loc[road, ["u", "v", "key"]])
        if v != node:
            raise SignalPlanError(f"{where}: road {road} does not end at this junction")
        to = m.get("to")
        if to is not None and (to not in roads.index or int(roads.at[to, "u"]) != node):
            raise SignalPlanError(f"{where}: movement to road {to!r}, which does not leave "
                                  "this junction")
        if [u, v, key] not in approaches:
            approaches.append([u, v, key])
    phase["name"] = str(phase.get("name") or f"phase {number + 1}")
    phase["approaches"] = approaches
    return phase


def apply_plans(signals: gpd.GeoDataFrame, plans: list[dict], *, nodes: gpd.GeoDataFrame,
                roads: pd.DataFrame, source: str) -> gpd.GeoDataFrame:
    """Replace the generated plans of the junctions that ``plans`` name.

    Parameters
    ----------
    signals : geopandas.GeoDataFrame
        The ``signals`` layer (``node`` column, plan columns).
    plans : list of dict
        Plans in the project's format (:func:`read_plan_file`).
    nodes, roads : geopandas.GeoDataFrame
        The ``nodes`` layer (``x``, ``y``, ``osm_node``) and the ``roads`` layer indexed by
        the road feature id (``u``, ``v``, ``key``).
    source : str
        ``timing_source`` of the replaced plans (e.g. ``"real: plans.json"``).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``signals`` with the named junctions' plans replaced.

    Raises
    ------
    SignalPlanError
        A plan is malformed, names an unknown junction or road, or two plans name the
        same junction.
    """
    out = signals.copy()
    row_of = {int(n): i for i, n in zip(out.index, out["node"], strict=True)}
    done: set[int] = set()
    for i, plan in enumerate(plans):
        where = f"plan {i}"
        if not isinstance(plan, dict):
            raise SignalPlanError(f"{where}: a plan must be an object")
        node = _junction(plan, nodes, set(row_of), where)
        if node in done:
            raise SignalPlanError(f"{where}: junction {node} has two plans")
        done.add(node)
        cycle = _number(plan, "cycle_s", where, minimum=1.0)
        offset = _number(plan, "offset_s", where)
        raw_phases = plan.get("phases")
        if not isinstance(raw_phases, list) or not raw_phases:
            raise SignalPlanError(f"{where}: phases must be a non-empty list")
        phases = [_phase(p, node, roads, f"{where} phase {j}", j) for j, p in enumerate(raw_phases)]
        total = sum(p["green_s"] + p["yellow_s"] + p["all_red_s"] for p in phases)
        if abs(total - cycle) > 0.5:
            raise SignalPlanError(f"{where}: phases add up to {total:g} s, not cycle_s {cycle:g}")
        r = row_of[node]
        out.loc[r, ["cycle_s", "offset_s"]] = [cycle, offset % cycle]
        out.loc[r, "phases"] = json.dumps(phases, ensure_ascii=False)
        out.loc[r, "n_phases"] = len(phases)
        out.loc[r, "timing_source"] = source
        out.loc[r, "plan_method"] = "as given"
    return out


def plans_to_json(signals: pd.DataFrame, nodes: pd.DataFrame) -> dict:
    """The plans of a ``signals`` layer as a plan file (``{"plans": [...]}``)."""
    plans = []
    for row in signals.itertuples():
        phases = [{k: v for k, v in p.items() if k != "approaches"}
                  for p in json.loads(row.phases)]
        plans.append({"node": int(row.node), "osm_node": int(nodes.at[row.node, "osm_node"]),
                      "cycle_s": float(row.cycle_s), "offset_s": float(row.offset_s),
                      "timing_source": row.timing_source, "phases": phases})
    return {"format": "citytwin signal plans 1", "plans": plans}
