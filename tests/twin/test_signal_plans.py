"""The one signal-plan format: generated plans, and real plans through the same path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing.signals import PED_SPEED_MPS, turn_of
from twin import City
from twin.build import build_city
from twin.errors import SignalPlanError
from twin.signal_plans import plans_to_json

PHASE_KEYS = {"movements", "green_s", "yellow_s", "all_red_s", "min_green_s", "ped_clearance_s"}


def test_generated_plans_are_in_the_project_format(city: City) -> None:
    signals = city.layers["signals"].data
    roads = city.layers["roads"].data
    assert (signals["timing_source"] == "synthetic").all()
    for row in signals.itertuples():
        phases = json.loads(row.phases)
        assert all(PHASE_KEYS <= set(p) for p in phases)
        total = sum(p["green_s"] + p["yellow_s"] + p["all_red_s"] for p in phases)
        assert total == pytest.approx(row.cycle_s, abs=0.3)
        assert 0 <= row.offset_s < row.cycle_s
        for p in phases:
            assert p["green_s"] >= p["min_green_s"] - 0.11  # rounding to 0.1 s
            for m in p["movements"]:
                # movements name stable road ids that start / end at this junction
                assert roads.at[m["from"], "v"] == row.node
                assert roads.at[m["to"], "u"] == row.node
                assert m["turn"] in {"through", "left", "right", "uturn"}


def test_pedestrian_clearance_follows_crossing_width(city: City) -> None:
    signals = city.layers["signals"].data
    phases = [p for ps in signals["phases"] for p in json.loads(ps)]
    clearances = {p["ped_clearance_s"] for p in phases}
    # crossing length / 1.2 m/s, with 3.5 m lanes: several widths occur
    assert len(clearances) > 2
    wide = max(phases, key=lambda p: p["ped_clearance_s"])
    assert wide["ped_clearance_s"] == pytest.approx(round(wide["ped_clearance_s"] * PED_SPEED_MPS
                                                          / 3.5) * 3.5 / PED_SPEED_MPS, abs=0.1)
    assert wide["min_green_s"] >= 7 + wide["ped_clearance_s"] - 5 - 0.05


def test_turns_by_bearing() -> None:
    assert turn_of(0, 5) == "through"
    assert turn_of(0, 90) == "right"
    assert turn_of(0, 270) == "left"
    assert turn_of(90, 265) == "uturn"


def test_real_plans_replace_generated_ones(city: City, tmp_path: Path) -> None:
    signals = city.layers["signals"].data
    nodes = city.layers["nodes"].data
    exported = plans_to_json(signals, nodes)
    plan = exported["plans"][0]
    del plan["node"]  # named by its OSM node only, as a traffic-police file would
    plan["cycle_s"] = 150.0
    plan["offset_s"] = 12.0
    extra = 150.0 - sum(p["green_s"] + p["yellow_s"] + p["all_red_s"] for p in plan["phases"])
    plan["phases"][0]["green_s"] += extra
    path = tmp_path / "plans.json"
    path.write_text(json.dumps({"plans": [plan]}, ensure_ascii=False))
    bundle = build_city(name="shanghai-core", build_dir=tmp_path / "b", progress=False,
                        inputs={"signal_plans": path})
    rebuilt = City.load(bundle).layers["signals"].data.set_index("node")
    node = int(nodes.index[nodes["osm_node"] == plan["osm_node"]][0])
    assert rebuilt.at[node, "cycle_s"] == 150.0
    assert rebuilt.at[node, "offset_s"] == 12.0
    assert rebuilt.at[node, "timing_source"] == "real: plans.json"
    assert (rebuilt["timing_source"] == "synthetic").sum() == len(rebuilt) - 1
    # the routing service runs on the replaced plan
    routing_plan = City.load(bundle).routing.network.plans[node]
    assert routing_plan.cycle_s == 150.0


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.update(cycle_s=-5), "cycle_s must be >= 1"),
    (lambda p: p.update(cycle_s=999), "add up to"),
    (lambda p: p.update(osm_node=1), "not a signalized junction"),
    (lambda p: p["phases"][0]["movements"].append({"from": 1, "turn": "left"}), "unknown road"),
    (lambda p: p["phases"][0].update(green_s=1.0), "below min_green_s"),
    (lambda p: p.update(phases=[]), "non-empty list"),
])
def test_bad_plan_files_are_refused(city: City, tmp_path: Path, change, message: str) -> None:
    plan = plans_to_json(city.layers["signals"].data, city.layers["nodes"].data)["plans"][0]
    del plan["node"]
    change(plan)
    path = tmp_path / "plans.json"
    path.write_text(json.dumps([plan]))
    with pytest.raises(SignalPlanError, match=message):
        build_city(name="shanghai-core", build_dir=tmp_path / "b", progress=False,
                   inputs={"signal_plans": path})
