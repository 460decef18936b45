"""pydeck maps of a city's layers for notebooks (``City.map``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pydeck as pdk

from layers.registry import OSM_ATTRIBUTION

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["city_map", "LAYER_COLORS"]

#: RGBA colour per layer name; others get :data:`DEFAULT_COLOR`.
LAYER_COLORS: dict[str, list[int]] = {
    "roads": [90, 90, 110, 200],
    "signals": [230, 40, 40, 230],
    "fire_stations": [255, 120, 0, 255],
    "ambulance_stations": [0, 160, 255, 255],
    "schools": [40, 170, 80, 230],
    "homes": [150, 100, 200, 160],
    "pois": [200, 160, 0, 160],
    "stations": [0, 90, 200, 220],
}
DEFAULT_COLOR = [60, 60, 60, 180]
_POINT_RADIUS = {"signals": 12, "fire_stations": 40, "ambulance_stations": 40, "schools": 35}


def _records(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf[gdf.geometry.notna()].copy()
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == object:
            out[col] = out[col].astype(str)
    return out


def _deck_layer(name: str, gdf: gpd.GeoDataFrame) -> pdk.Layer:
    color = LAYER_COLORS.get(name, DEFAULT_COLOR)
    return pdk.Layer(
        "GeoJsonLayer",
        data=_records(gdf).__geo_interface__,
        id=name,
        pickable=True,
        stroked=True,
        filled=True,
        get_line_color=color,
        get_fill_color=color,
        line_width_min_pixels=1.5,
        get_point_radius=_POINT_RADIUS.get(name, 15),
        point_radius_min_pixels=2,
    )


def city_map(
    city: City, layers: list[str], *, zoom: float = 14.0, pitch: float = 0.0,
    extra: list[pdk.Layer] | None = None, map_style: str | None = None,
    tooltip: dict[str, Any] | bool = True,
) -> pdk.Deck:
    """A pydeck map of some of the city's layers.

    Parameters
    ----------
    city : City
        The twin.
    layers : list of str
        Layer names, drawn bottom to top.
    zoom, pitch : float
        Initial view.
    extra : list of pydeck.Layer, optional
        More deck.gl layers drawn on top (routes, H3 cells, ...).
    map_style : str, optional
        Basemap style URL; default none (the machine may be offline).
    tooltip : dict or bool
        pydeck tooltip.

    Returns
    -------
    pydeck.Deck

    Raises
    ------
    layers.errors.LayerNotFound
        An unknown layer name.
    """
    deck_layers = [_deck_layer(name, city.layers[name].data) for name in layers]
    deck_layers.extend(extra or [])
    minx, miny, maxx, maxy = city.layers["roads"].info.bounds or [0, 0, 0, 0]
    view = pdk.ViewState(longitude=(minx + maxx) / 2, latitude=(miny + maxy) / 2, zoom=zoom,
                         pitch=pitch)
    deck = pdk.Deck(layers=deck_layers, initial_view_state=view, map_style=map_style,
                    tooltip=tooltip, map_provider=None if map_style is None else "carto")
    deck.description = OSM_ATTRIBUTION
    return deck
