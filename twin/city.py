"""``City``: the composition root of a twin.

It holds the layer registry and the road graph, and opens the domain services
(addresses, routing, bikes, schools) lazily on first use.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import shapely

from layers import embedded
from layers.queries import Query
from layers.registry import LayerRegistry
from twin.bundle import Manifest, read_manifest
from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY

if TYPE_CHECKING:
    import pydeck
    from sqlalchemy.engine import Engine

    from layers.raster import RasterStore
    from layers.service import LayerService
    from twin.divisions import CityDivision
    from twin.live import LiveTwin
    from twin.scenario_store import ScenarioStore
    from twin.scenarios import Scenario, ScenarioCache
    from twin.signal_requests import SignalRequests

__all__ = ["City"]

logger = logging.getLogger(__name__)


class City:
    """A city twin: layers, road graph and services.

    Use the constructors :meth:`load` and :meth:`from_postgis`.

    Attributes
    ----------
    name : str
        City name.
    layers : LayerRegistry
        Every layer (name -> GeoDataFrame + metadata).
    bundle_dir : Path
        Directory of the bundle (domain indexes live here).
    manifest : Manifest or None
        The bundle's manifest (None for a city read from PostGIS).

    Examples
    --------
    >>> from twin import City
    >>> city = City.load()                       # doctest: +SKIP
    >>> city.layers["roads"].data.head()          # doctest: +SKIP
    """

    def __init__(
        self, name: str, layers: LayerRegistry, *, bundle_dir: Path,
        manifest: Manifest | None = None, database_url: str | None = None,
        database_schema: str = "twin",
    ) -> None:
        self.name = name
        self.layers = layers
        self.bundle_dir = bundle_dir
        self.manifest = manifest
        self.database_url = database_url
        self.database_schema = database_schema

    def __repr__(self) -> str:
        return f"City({self.name!r}, layers={list(self.layers)})"

    @classmethod
    def load(cls, path: str | Path | None = None, *, build: bool = True) -> City:
        """Load a built city bundle.

        Parameters
        ----------
        path : str or Path, optional
            A bundle directory. Default: the embedded default city, built first if it
            is missing or out of date (when ``build`` is true).
        build : bool
            Build the embedded default city when needed.

        Returns
        -------
        City

        Raises
        ------
        BundleError
            The bundle is missing, incomplete or corrupt.
        """
        if path is None:
            bundle = DEFAULT_BUILD_DIR / DEFAULT_CITY
            if build:
                from twin.build import build_city

                bundle = build_city(progress=False)
        else:
            bundle = Path(path)
        manifest = read_manifest(bundle)
        layers = embedded.read_layers(bundle / "layers")
        return cls(manifest.name, layers, bundle_dir=bundle, manifest=manifest)

    @classmethod
    def from_postgis(cls, url: str, *, schema: str = "twin",
                     cache_dir: str | Path | None = None) -> City:
        """Load a city whose layers live in PostGIS.

        Parameters
        ----------
        url : str
            SQLAlchemy URL, ``postgresql://user@host:port/db``.
        schema : str
            Schema the layers were written to.
        cache_dir : str or Path, optional
            Where domain indexes are cached. Default: ``build/<name>-postgis-<hash>``.

        Returns
        -------
        City

        Raises
        ------
        twin.errors.DatabaseError
            Bad URL, unreachable server, missing PostGIS or no layers there.
        """
        from twin.database import read_city_layers

        name, layers = read_city_layers(url, schema=schema)
        if cache_dir is None:
            digest = hashlib.sha256(f"{url}/{schema}".encode()).hexdigest()[:10]
            cache_dir = DEFAULT_BUILD_DIR / f"{name}-postgis-{digest}"
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        return cls(name, layers, bundle_dir=cache, database_url=url, database_schema=schema)

    @cached_property
    def database_engine(self) -> Engine | None:
        """The connection pool of a twin on PostGIS (None for an embedded twin)."""
        if not self.database_url:
            return None
        from layers.postgis import connect

        return connect(self.database_url, create_extension=False)

    @cached_property
    def layer_service(self) -> LayerService:
        """Queries, versioned edits and tiles over :attr:`layers` (edits logged durably)."""
        from layers.service import LayerService

        engine = self.database_engine
        postgis = (engine, self.database_schema) if engine is not None else None
        from twin.road_state import check_road_edit

        service = LayerService(self.layers, edits_dir=self.edits_dir, postgis=postgis)
        service.validators["roads"] = check_road_edit
        return service

    @cached_property
    def rasters(self) -> RasterStore:
        """Raster layers of the bundle (population density, fire travel time)."""
        from layers.raster import RasterStore

        return RasterStore(self.bundle_dir / "rasters")

    @property
    def edits_dir(self) -> Path:
        """Where edits are logged: beside the bundle, so a rebuild keeps them."""
        return self.bundle_dir.parent / f"{self.bundle_dir.name}.edits"

    def features(
        self, layer: str, *, bbox: tuple[float, float, float, float] | None = None,
        point: tuple[float, float] | None = None, radius_m: float | None = None,
        polygon: shapely.Geometry | None = None, where: dict[str, str] | None = None,
        as_of: str | None = None, limit: int = 10_000, offset: int = 0,
    ) -> gpd.GeoDataFrame:
        """Features of a layer intersecting a bbox / point+radius / polygon, filtered.

        Parameters
        ----------
        layer : str
            Layer name.
        bbox : tuple, optional
            ``(minx, miny, maxx, maxy)`` in WGS84.
        point, radius_m : optional
            ``(lon, lat)`` and a radius in metres.
        polygon : shapely geometry, optional
            Intersecting features.
        where : dict, optional
            Property equality filters.
        as_of : str, optional
            ISO time: the layer as it was then.
        limit, offset : int
            Paging.

        Returns
        -------
        geopandas.GeoDataFrame

        Examples
        --------
        >>> city.features("pois", point=(121.4737, 31.2304), radius_m=300)  # doctest: +SKIP
        """
        query = Query(bbox=bbox, point=point, radius_m=radius_m, polygon=polygon,
                      filters={k: str(v) for k, v in (where or {}).items()}, limit=limit,
                      offset=offset)
        return self.layer_service.query(layer, query, as_of=as_of)

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The drivable road graph, rebuilt from the ``nodes`` and ``roads`` layers."""
        from twin.roads import layers_to_graph

        return layers_to_graph(self.layers["nodes"].data, self.layers["roads"].data)

    @cached_property
    def division(self) -> CityDivision:
        """Where the city lies: province, city, districts with their division codes, and
        time zone (``country`` None abroad); see :mod:`twin.divisions`.

        Examples
        --------
        >>> City.load().division.city, City.load().division.timezone  # doctest: +SKIP
        ('上海市', 'Asia/Shanghai')
        """
        from twin.divisions import city_division

        return city_division(self)

    def _service(self, module: str) -> Any:
        return importlib.import_module(module).load(self)

    @cached_property
    def address(self) -> Any:
        """The standard-address service (:mod:`address`)."""
        return self._service("twin.addresses")

    @cached_property
    def live(self) -> LiveTwin:
        """The models derived from the layers, kept current as they are edited
        (:mod:`twin.live`)."""
        from twin.live import LiveTwin

        return LiveTwin(self)

    @property
    def routing(self) -> Any:
        """The current routing service: paths, green wave, dispatch, coverage
        (:mod:`routing`), derived from the layers as they are now."""
        return self.live.model("routing")

    @property
    def bikes(self) -> Any:
        """The current shared-bike quota model (:mod:`twin.bikes`)."""
        return self.live.model("bikes")

    @property
    def schools(self) -> Any:
        """The current school-district model (:mod:`twin.schools`)."""
        return self.live.model("schools")

    @cached_property
    def runs(self) -> Any:
        """Emergency runs and their green windows, shared by every worker (:mod:`twin.runs`)."""
        return self._service("twin.runs")

    @cached_property
    def scenarios(self) -> ScenarioStore:
        """The stored what-if scenarios, shared by every worker (:mod:`twin.scenario_store`)."""
        from twin.scenario_store import FileScenarioStore, PostgisScenarioStore

        if self.database_engine is not None:
            return PostgisScenarioStore(self.database_engine, self.database_schema)
        return FileScenarioStore(self.edits_dir / "scenarios")

    @cached_property
    def scenario_cache(self) -> ScenarioCache:
        """The stored scenarios this process has derived models for (a few, newest kept)."""
        from twin.scenarios import ScenarioCache

        return ScenarioCache()

    @cached_property
    def signal_requests(self) -> SignalRequests:
        """The priority requests of the active runs for the signal controllers
        (:mod:`twin.signal_requests`)."""
        from twin.signal_requests import SignalRequests

        return SignalRequests(self)

    def scenario(self, edits: list[dict[str, Any]]) -> Scenario:
        """A what-if: the models under ``edits``, the live city untouched.

        Parameters
        ----------
        edits : list of dict
            Each ``{"layer", "id", "op", "properties", "geometry"}`` (``op`` update by
            default), ``{"layer", "op": "create", "feature"}`` or ``{"layer", "id",
            "op": "delete"}``; see :mod:`twin.scenarios`.

        Returns
        -------
        Scenario
            Also a context manager: ``with city.scenario(edits) as s: s.routing...``.

        Raises
        ------
        twin.scenarios.InvalidScenario
            An edit names an unknown layer or feature, or is malformed.

        Examples
        --------
        >>> with city.scenario([{"layer": "roads", "id": "1", "properties":   # doctest: +SKIP
        ...                      {"closed": True}}]) as s:
        ...     s.routing.coverage(minutes=5)
        """
        from twin.scenarios import Scenario

        return Scenario.from_edits(self, edits)

    def warm(self) -> None:
        """Open what the first requests would otherwise wait for: the address and routing
        services (with their compiled route queries) and every tileable layer's projection
        (a few seconds on the embedded city). Servers call it before taking traffic."""
        self.address  # noqa: B018  (a cached property: opened once)
        self.routing.warm()
        self.layer_service.warm()

    def map(self, layers: list[str] | None = None, **kwargs: Any) -> pydeck.Deck:
        """A pydeck map of some layers (default: roads, signals, fire stations).

        Parameters
        ----------
        layers : list of str, optional
            Layer names.
        **kwargs
            Passed to :func:`twin.maps.city_map`.

        Returns
        -------
        pydeck.Deck
        """
        from twin.maps import city_map

        return city_map(self, layers or ["roads", "signals", "fire_stations"], **kwargs)

    def info(self) -> dict[str, Any]:
        """Summary: layers with feature counts, bounds, sources and attribution."""
        return {
            "name": self.name,
            "bundle": str(self.bundle_dir),
            "built_at": self.manifest.built_at if self.manifest else None,
            "sources": self.manifest.sources if self.manifest else {},
            "layers": [
                {"name": info.name, "title": info.title, "features": len(self.layers[n].data),
                 "geometry": info.geometry_type, "bounds": info.bounds, "source": info.source,
                 "attribution": info.attribution}
                for n, info in zip(self.layers, self.layers.infos(), strict=True)
            ],
        }
