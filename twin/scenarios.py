"""What-if scenarios: the models under a set of layer edits, the live city untouched.

A scenario is a list of edits, each one of::

    {"layer": "roads", "id": "123000", "op": "update", "properties": {"closed": true}}
    {"layer": "fire_stations", "op": "create", "feature": {GeoJSON Feature}}
    {"layer": "fire_stations", "id": "F2", "op": "delete"}

(``op`` defaults to ``update``; an update may carry ``geometry`` too, as a PATCH body; a
feature is named by its feature id or, where the layer has one, its ``id`` property).
The edits are validated as the layer API validates an edit, applied to copies of the
layers they touch (copy-on-write: the live layers are shared, not copied), and each model
is derived over that overlay from the live model, as a live edit would derive it
(:mod:`twin.live`): a road closure re-weights the routing engines on the same hierarchy.

Scenarios are stored in the shared store (:mod:`twin.scenario_store`) so every worker
answers ``?scenario=ID``; they expire after :data:`SCENARIO_TTL`.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from layers.errors import LayerError
from layers.registry import Layer
from layers.versions import LayerEditor
from twin.errors import InvalidScenario
from twin.road_state import check_road_edit

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["Scenario", "ScenarioCache", "SCENARIO_TTL", "MAX_EDITS", "scenario_for", "check_edits",
           "store_scenario"]

#: How long a stored scenario lives.
SCENARIO_TTL = dt.timedelta(hours=24)
#: Most edits in one scenario.
MAX_EDITS = 500
#: Scenarios whose models a worker keeps derived.
_CACHED = 8
_OPS = ("update", "create", "delete")
_STATION_KIND = {"fire_stations": "fire", "ambulance_stations": "ambulance"}


def _feature_id(layer: Layer, ref: Any) -> Any:
    """The feature id an edit names: a feature id, or a unique ``id`` property."""
    index = layer.data.index
    for key in (ref, int(ref) if isinstance(ref, str) and ref.lstrip("-").isdigit() else None):
        if key is not None and key in index:
            return key
    if "id" in layer.data.columns:
        hits = index[layer.data["id"].astype(str) == str(ref)]
        if len(hits) == 1:
            return hits[0]
    raise InvalidScenario(f"layer {layer.name!r} has no feature {ref!r}")


def _edit_layer(editor: LayerEditor, edit: Mapping[str, Any]) -> None:
    """Apply one edit to a scratch editor (no log: nothing is written)."""
    layer = editor.layer
    op = edit.get("op", "update")
    if op not in _OPS:
        raise InvalidScenario(f"op must be one of {', '.join(_OPS)}; got {op!r}")
    if op == "create":
        feature = edit.get("feature")
        if not isinstance(feature, dict):
            raise InvalidScenario("a create needs a GeoJSON 'feature'")
        props = dict(feature.get("properties") or {})
        if layer.name in _STATION_KIND:
            props.setdefault("kind", _STATION_KIND[layer.name])
            props.setdefault("id", f"{props['kind'][0].upper()}-new-{len(editor.changes) + 1}")
            props.setdefault("name", props["id"])
        if layer.name == "roads":
            check_road_edit(props, None)
        editor.create(props, feature.get("geometry"))
        return
    if "id" not in edit:
        raise InvalidScenario(f"an {op} needs the 'id' of the feature")
    fid = _feature_id(layer, edit["id"])
    version = editor.feature_version(fid)
    if op == "delete":
        editor.delete(fid, expected_version=version)
        return
    props = edit.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidScenario("properties must be an object")
    if layer.name == "roads":
        check_road_edit(props, layer.data.loc[fid].to_dict())
    if not props and edit.get("geometry") is None:
        raise InvalidScenario("an update needs properties or a geometry")
    editor.update(fid, expected_version=version, properties=props,
                  geometry=edit.get("geometry"))


def check_edits(city: City, edits: Any) -> dict[str, gpd.GeoDataFrame]:
    """Validate ``edits`` against the city's layers and apply them to copies.

    Returns
    -------
    dict
        Layer name -> its data under the edits (only the layers edited).

    Raises
    ------
    InvalidScenario
        Not a list of edits, too many, an unknown layer / feature / op, or an edit the
        layer refuses (its message is kept).
    """
    if not isinstance(edits, list) or not edits:
        raise InvalidScenario("edits must be a non-empty list")
    if len(edits) > MAX_EDITS:
        raise InvalidScenario(f"at most {MAX_EDITS} edits in a scenario; got {len(edits)}")
    editors: dict[str, LayerEditor] = {}
    for i, edit in enumerate(edits):
        if not isinstance(edit, dict) or not isinstance(edit.get("layer"), str):
            raise InvalidScenario(f"edit {i} must be an object with a 'layer'")
        name = edit["layer"]
        if name not in city.layers:
            raise InvalidScenario(f"edit {i}: unknown layer {name!r}")
        if name not in editors:
            live = city.layers[name]
            editors[name] = LayerEditor(Layer(copy.copy(live.info), live.data))
        try:
            _edit_layer(editors[name], edit)
        except InvalidScenario as exc:
            raise InvalidScenario(f"edit {i}: {exc}") from None
        except (LayerError, ValueError, TypeError) as exc:
            raise InvalidScenario(f"edit {i} ({name}): {exc}") from None
    return {name: editor.layer.data for name, editor in editors.items()}


@dataclass
class Scenario:
    """The models of a city under a set of edits.

    Attributes
    ----------
    city : City
        The live city (never changed by the scenario).
    edits : list of dict
        The edits.
    frames : dict
        The edited layers' data under the edits.
    id : str or None
        The stored scenario's id (None for one made in Python and not stored).
    """

    city: City
    edits: list[dict[str, Any]]
    frames: dict[str, gpd.GeoDataFrame]
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _models: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_edits(cls, city: City, edits: list[dict[str, Any]], *, id: str | None = None,
                   meta: dict[str, Any] | None = None) -> Scenario:
        """Validate the edits and make the overlay (see :func:`check_edits`)."""
        return cls(city, list(edits), check_edits(city, edits), id=id, meta=dict(meta or {}))

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *exc: object) -> None:
        self._models.clear()

    def model(self, name: str) -> Any:
        """Model ``name`` derived under the edits (once per scenario)."""
        with self._lock:
            if name not in self._models:
                live = self.city.live
                base = live.model(name)
                layers = live.layers_of(name)
                if not set(layers) & set(self.frames):
                    self._models[name] = base
                else:
                    frames = {n: self.frames.get(n, self.city.layers[n].data) for n in layers}
                    versions = {**getattr(base, "versions", {}), "scenario": self.id or "local"}
                    self._models[name] = live.specs[name].derive(self.city, frames, base,
                                                                 versions)
            return self._models[name]

    @property
    def routing(self) -> Any:
        """The routing service under the edits."""
        return self.model("routing")

    @property
    def schools(self) -> Any:
        """The school service under the edits."""
        return self.model("schools")

    @property
    def bikes(self) -> Any:
        """The bike model under the edits."""
        return self.model("bikes")


class ScenarioCache:
    """Per worker: the scenarios recently asked for, derived once each."""

    def __init__(self, size: int = _CACHED) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Scenario] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, make: Any) -> Scenario:
        """The cached scenario of ``key``, or ``make()`` (kept)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        scenario = make()
        with self._lock:
            self._items[key] = scenario
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return scenario


def new_scenario_id() -> str:
    """A fresh scenario id (random: no coordination between workers needed)."""
    return uuid.uuid4().hex[:16]


def scenario_for(city: City, scenario_id: str) -> Scenario:
    """The stored scenario ``scenario_id``, over the live layers as they are now.

    Raises
    ------
    twin.errors.ScenarioNotFound
        No such scenario, or it expired.
    """
    record = city.scenarios.get(scenario_id)
    versions = tuple(sorted((n, v) for name in city.live.specs
                            for n, v in city.live.versions_of(name).items()))
    return city.scenario_cache.get((scenario_id, versions), lambda: Scenario.from_edits(
        city, record["edits"], id=scenario_id, meta=record))


def store_scenario(city: City, edits: list[dict[str, Any]], *, created_by: str | None = None,
                   name: str | None = None) -> dict[str, Any]:
    """Validate ``edits`` and keep them as a scenario in the shared store.

    Returns
    -------
    dict
        The stored record: ``id``, ``name``, ``edits``, ``created_at``, ``expires_at``,
        ``created_by`` and the live ``versions`` it was made on.

    Raises
    ------
    InvalidScenario
        See :func:`check_edits`.
    """
    check_edits(city, edits)
    now = dt.datetime.now(dt.UTC)
    record = {"id": new_scenario_id(), "name": name, "edits": edits,
              "created_at": now.isoformat(), "expires_at": (now + SCENARIO_TTL).isoformat(),
              "created_by": created_by,
              "versions": {n: v for spec in city.live.specs
                           for n, v in city.live.versions_of(spec).items()}}
    city.scenarios.put(record)
    return record
