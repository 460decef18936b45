"""The live twin: models derived from the layers, kept current as the layers are edited.

Every network model (routing with its engines, the school assignment, the bike quotas) is
a *derived view* of the layers it reads, labelled with the versions of those layers. When
an accepted edit changes one of them, in this process or in another worker or host, the
model is derived again, reusing what the edit did not touch (a road closure re-weights the
routing engines on the same topology instead of rebuilding them), and swapped in whole: a
request holds one model from start to end and never sees a half-applied edit.

Edits made in another process reach this one through the shared store: the embedded
bundle's change logs (files, checked with one ``stat`` each) or the PostGIS ``_edits``
table (one primary-key lookup per poll). :meth:`LiveTwin.start` polls it every
:data:`POLL_S` seconds in a background thread and derives the changed models there, so
requests never wait for a derivation; without the thread (notebooks, scripts) a model is
brought up to date when it is asked for.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["LiveTwin", "ModelSpec", "MODEL_SPECS", "POLL_S", "Derived"]

logger = logging.getLogger(__name__)

#: Seconds between two polls of the shared store (edits reach every worker within ~2x).
POLL_S = 0.25

#: ``derive(city, frames, base, versions) -> model``: a model from the layers it reads
#: (``frames``: name -> GeoDataFrame), reusing ``base`` (the previous model, or None).
Derive = Callable[["City", Mapping[str, gpd.GeoDataFrame], Any, dict[str, int]], Any]


@dataclass(frozen=True)
class ModelSpec:
    """What a model reads and how it is derived.

    Attributes
    ----------
    layers : tuple of str
        The layers the model reads (those the city lacks are skipped).
    derive : callable
        ``derive(city, frames, base, versions) -> model``.
    """

    layers: tuple[str, ...]
    derive: Derive


def _derive_with(module: str) -> Derive:
    """The ``derive(city, frames, base=..., versions=...)`` of a twin module, imported
    when first called (a model's code loads only if the model is used)."""

    def derive(city: City, frames: Mapping[str, gpd.GeoDataFrame], base: Any,
               versions: dict[str, int]) -> Any:
        return importlib.import_module(module).derive(city, frames, base=base,
                                                      versions=versions)

    return derive


#: The models of a city and the layers each one reads.
MODEL_SPECS: dict[str, ModelSpec] = {
    "routing": ModelSpec(("roads", "nodes", "signals", "turn_restrictions", "fire_stations",
                          "ambulance_stations", "homes"), _derive_with("twin.emergency")),
    "schools": ModelSpec(("schools", "homes"), _derive_with("twin.schools")),
    "bikes": ModelSpec(("bike_fences", "bike_cells"), _derive_with("twin.bikes")),
}


@dataclass
class Derived:
    """A model and the layer versions it was derived from."""

    model: Any
    versions: dict[str, int]
    derived_at: float = field(default_factory=time.time)
    seconds: float = 0.0


class LiveTwin:
    """The current models of a city, re-derived when the layers they read change.

    Parameters
    ----------
    city : City
        The city whose layers drive the models.
    specs : mapping, optional
        The models (default :data:`MODEL_SPECS`).

    Examples
    --------
    >>> live = City.load().live                                   # doctest: +SKIP
    >>> live.model("routing").versions["roads"]                   # doctest: +SKIP
    1
    """

    def __init__(self, city: City, specs: Mapping[str, ModelSpec] | None = None) -> None:
        self.city = city
        self.specs = dict(specs or MODEL_SPECS)
        self._current: dict[str, Derived] = {}
        self._locks = {name: threading.Lock() for name in self.specs}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_poll: float | None = None
        self.poll_errors = 0
        #: Per model, why its last derivation failed (the previous model is still served).
        self.errors: dict[str, str] = {}

    # -- models -----------------------------------------------------------------------
    def layers_of(self, name: str) -> tuple[str, ...]:
        """The layers (present in this city) that model ``name`` reads."""
        return tuple(n for n in self.specs[name].layers if n in self.city.layers)

    def versions_of(self, name: str) -> dict[str, int]:
        """The current versions of the layers model ``name`` reads (no store access)."""
        return {n: int(self.city.layers[n].info.version) for n in self.layers_of(name)}

    def model(self, name: str) -> Any:
        """The current model ``name`` (derived on first use).

        With the background thread running, the latest derived model is returned at once
        (the thread derives the next one); without it, the model is first brought up to
        date with the layers as this process knows them.
        """
        derived = self._current.get(name)
        if derived is None or (self._thread is None and derived.versions != self.versions_of(name)):
            derived = self._derive(name)
        return derived.model

    def derived(self, name: str) -> Derived | None:
        """The current :class:`Derived` record of a model (None before its first use)."""
        return self._current.get(name)

    def _derive(self, name: str) -> Derived:
        with self._locks[name]:
            versions = self.versions_of(name)
            current = self._current.get(name)
            if current is not None and current.versions == versions:
                return current
            frames = {n: self.city.layers[n].data for n in self.layers_of(name)}
            started = time.perf_counter()
            model = self.specs[name].derive(self.city, frames,
                                            current.model if current else None, versions)
            derived = Derived(model, versions, seconds=time.perf_counter() - started)
            self._current[name] = derived
            if current is not None:
                logger.info("%s derived again for %s in %.3f s", name, versions, derived.seconds)
            return derived

    def refresh(self) -> list[str]:
        """Derive again every opened model whose layers changed; returns their names.

        An edit handler calls this after a write, so the writer's next request already
        sees its edit (other workers see it within a poll).
        """
        done = []
        for name in list(self._current):
            if self._current[name].versions != self.versions_of(name):
                try:
                    self._derive(name)
                except Exception as exc:  # noqa: BLE001 - keep serving the last good model
                    self.errors[name] = f"{type(exc).__name__}: {exc}"
                    logger.exception("deriving %s again failed; the previous model stays", name)
                    continue
                self.errors.pop(name, None)
                done.append(name)
        return done

    # -- the shared store -------------------------------------------------------------
    def poll(self) -> list[str]:
        """Apply what other processes wrote to the store, then :meth:`refresh`."""
        service = self.city.layer_service
        watched = {n for name in self._current for n in self.layers_of(name)}
        service.poll(sorted(watched))
        self.last_poll = time.time()
        return self.refresh()

    def start(self, interval: float = POLL_S) -> None:
        """Poll the store and derive changed models in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll()
                except Exception:  # noqa: BLE001 - the poller must outlive a store hiccup
                    self.poll_errors += 1
                    logger.exception("polling the layer store failed")

        self._thread = threading.Thread(target=loop, name="twin-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def status(self) -> dict[str, Any]:
        """Per model: the versions applied, when, and the lag behind the layers.

        ``behind`` lists the layers whose version in this process is newer than the
        model's (a derivation in progress); ``poll_age_s`` is the time since the store was
        last read (None without the background thread).
        """
        models = {}
        for name, derived in self._current.items():
            now = self.versions_of(name)
            models[name] = {
                "versions": derived.versions,
                "derived_at": dt.datetime.fromtimestamp(derived.derived_at, dt.UTC).isoformat(),
                "derive_s": round(derived.seconds, 3),
                "behind": {n: v for n, v in now.items() if derived.versions.get(n) != v},
                "error": self.errors.get(name),
            }
        age = None if self.last_poll is None else round(time.time() - self.last_poll, 3)
        return {"polling": self._thread is not None, "poll_age_s": age,
                "poll_errors": self.poll_errors, "models": models}
