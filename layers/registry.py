"""The layer registry: named GeoDataFrames with the metadata map clients need."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from layers.errors import LayerNotFound

__all__ = ["LayerInfo", "Layer", "LayerRegistry", "OSM_ATTRIBUTION", "field_types"]

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"


def field_types(gdf: gpd.GeoDataFrame) -> dict[str, str]:
    """Map each non-geometry column to a TileJSON-style type name.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer's data.

    Returns
    -------
    dict of str to str
        ``{"name": "String", "lanes": "Number", "oneway": "Boolean"}``.
    """
    out: dict[str, str] = {}
    geom = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    for col, dtype in gdf.dtypes.items():
        if col == geom:
            continue
        if pd.api.types.is_bool_dtype(dtype):
            out[str(col)] = "Boolean"
        elif pd.api.types.is_numeric_dtype(dtype):
            out[str(col)] = "Number"
        else:
            out[str(col)] = "String"
    return out


@dataclass
class LayerInfo:
    """Metadata of a registered layer.

    Attributes
    ----------
    name : str
        Registry key, ``[a-z0-9_]+``.
    title : str
        Human title (may be Chinese).
    geometry_type : str
        ``Point``, ``LineString``, ``Polygon`` (multi-types folded into these).
    fields : dict
        Column name -> ``String`` / ``Number`` / ``Boolean``.
    crs : str
        Always ``EPSG:4326`` inside the twin.
    bounds : list of float or None
        ``[minx, miny, maxx, maxy]`` in WGS84; None for a layer without geometry
        (a plain table such as the official division codes).
    minzoom, maxzoom : int
        Zoom range the layer is served at.
    version : int
        Monotonic version, bumped on every edit.
    updated : str
        ISO 8601 time of the last change.
    attribution : str
        Attribution text (ODbL for OSM-derived layers).
    source : str
        Where the data comes from (``osm``, ``synthetic``, ``nbs`` ...).
    description : str
        One-line description.
    """

    name: str
    title: str
    geometry_type: str
    fields: dict[str, str]
    crs: str = "EPSG:4326"
    bounds: list[float] | None = None
    minzoom: int = 0
    maxzoom: int = 22
    version: int = 1
    updated: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    attribution: str = OSM_ATTRIBUTION
    source: str = "osm"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerInfo:
        """Build from :meth:`to_dict` output, ignoring unknown keys."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Layer:
    """A layer: its metadata and its features (index = feature id)."""

    info: LayerInfo
    data: gpd.GeoDataFrame

    @property
    def name(self) -> str:
        """The layer's registry name."""
        return self.info.name


def _geometry_type(gdf: gpd.GeoDataFrame) -> str:
    types = set(gdf.geom_type.dropna().unique()) if len(gdf) else set()
    folded = {t.replace("Multi", "") for t in types}
    if len(folded) == 1:
        return folded.pop()
    return "Geometry" if folded else "None"


class LayerRegistry(Mapping[str, Layer]):
    """Named layers of a city, each a GeoDataFrame in EPSG:4326 with :class:`LayerInfo`.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> reg = LayerRegistry()
    >>> gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(121.47, 31.23)],
    ...                        crs="EPSG:4326")
    >>> reg.add("pts", gdf, title="Points").info.geometry_type
    'Point'
    """

    def __init__(self) -> None:
        self._layers: dict[str, Layer] = {}

    def add(
        self,
        name: str,
        data: gpd.GeoDataFrame,
        *,
        title: str | None = None,
        attribution: str = OSM_ATTRIBUTION,
        source: str = "osm",
        description: str = "",
        minzoom: int = 0,
        maxzoom: int = 22,
        version: int = 1,
        updated: str | None = None,
    ) -> Layer:
        """Register (or replace) a layer and derive its metadata from the data.

        Parameters
        ----------
        name : str
            Registry key.
        data : geopandas.GeoDataFrame
            Features; reprojected to EPSG:4326 if needed.
        title, attribution, source, description, minzoom, maxzoom, version, updated
            Metadata, see :class:`LayerInfo`.

        Returns
        -------
        Layer
        """
        if data.crs is None:
            raise ValueError(f"layer {name!r} has no CRS")
        if data.crs.to_epsg() != 4326:
            data = data.to_crs(4326)
        has_geometry = bool(len(data)) and bool(data.geometry.notna().any())
        bounds = [float(v) for v in data.total_bounds] if has_geometry else None
        info = LayerInfo(
            name=name,
            title=title or name,
            geometry_type=_geometry_type(data),
            fields=field_types(data),
            bounds=bounds,
            minzoom=minzoom,
            maxzoom=maxzoom,
            version=version,
            attribution=attribution,
            source=source,
            description=description,
        )
        if updated:
            info.updated = updated
        layer = Layer(info=info, data=data)
        self._layers[name] = layer
        return layer

    def put(self, layer: Layer) -> None:
        """Register a ready-made :class:`Layer` as is."""
        self._layers[layer.name] = layer

    def __getitem__(self, name: str) -> Layer:
        try:
            return self._layers[name]
        except KeyError:
            raise LayerNotFound(
                f"unknown layer {name!r}; known layers: {', '.join(sorted(self._layers))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._layers

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def infos(self) -> list[LayerInfo]:
        """Metadata of every layer, in registration order."""
        return [layer.info for layer in self._layers.values()]
