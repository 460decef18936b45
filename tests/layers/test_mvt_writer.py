"""The numpy MVT writer against an independent decoder, for every geometry and value type."""

from __future__ import annotations

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely

from layers.tiles import EXTENT, ProjectedLayer, encode_tile, tile_bounds

Z, X, Y = 16, 54_891, 26_784  # a tile in central Shanghai


def _frame() -> gpd.GeoDataFrame:
    """Features of every geometry type in the tile, in Web Mercator, with mixed attributes."""
    left, bottom, right, top = tile_bounds(Z, X, Y)
    w, h = right - left, top - bottom

    def at(fx: float, fy: float) -> tuple[float, float]:
        return left + fx * w, top - fy * h

    square = shapely.Polygon([at(0.1, 0.1), at(0.4, 0.1), at(0.4, 0.4), at(0.1, 0.4)],
                             holes=[[at(0.2, 0.2), at(0.3, 0.2), at(0.3, 0.3), at(0.2, 0.3)]])
    geoms = [
        shapely.Point(at(0.5, 0.5)),
        shapely.MultiPoint([at(0.6, 0.6), at(0.7, 0.7)]),
        shapely.LineString([at(0.05, 0.9), at(0.5, 0.95), at(0.95, 0.9)]),
        shapely.MultiLineString([[at(0.6, 0.1), at(0.9, 0.1)], [at(0.6, 0.2), at(0.9, 0.25)]]),
        square,
        shapely.MultiPolygon([shapely.box(*at(0.6, 0.5), *at(0.8, 0.3)),
                              shapely.box(*at(0.85, 0.5), *at(0.95, 0.3))]),
        shapely.LineString([at(-0.5, 0.5), at(1.5, 0.5)]),  # crosses the tile: clipped
    ]
    frame = gpd.GeoDataFrame({
        "name": ["点", "multi", "路", None, "园", "两块", "长路"],
        "count": [0, 1, 300, 2**40, -5, 7, 8],
        "share": [0.5, np.nan, 1.25, -2.5, 0.0, 3.0, 4.0],
        "open": [True, False, True, None, False, True, True],
    }, geometry=geoms, crs=3857, index=[f"f{i}" for i in range(len(geoms))])
    return frame.to_crs(4326)


def test_every_geometry_and_value_round_trips() -> None:
    frame = _frame()
    layer = ProjectedLayer.from_gdf("things", frame, 1)
    data = encode_tile([layer], Z, X, Y)
    decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})["things"]
    assert decoded["extent"] == EXTENT
    features = {f["properties"]["id"]: f for f in decoded["features"]}
    assert set(features) == set(frame.index)
    kinds = {k: f["geometry"]["type"] for k, f in features.items()}
    assert kinds == {"f0": "Point", "f1": "MultiPoint", "f2": "LineString",
                     "f3": "MultiLineString", "f4": "Polygon", "f5": "MultiPolygon",
                     "f6": "LineString"}
    props = {k: f["properties"] for k, f in features.items()}
    assert props["f0"] == {"id": "f0", "name": "点", "count": 0, "share": 0.5, "open": True}
    assert props["f1"]["open"] is False and "share" not in props["f1"]  # NaN left out
    assert props["f3"]["count"] == 2**40 and "name" not in props["f3"] and "open" not in props["f3"]
    assert props["f4"]["count"] == -5 and props["f4"]["share"] == 0.0
    # geometry in tile coordinates (y down)
    assert features["f0"]["geometry"]["coordinates"] == [2048, 2048]
    rings = features["f4"]["geometry"]["coordinates"]
    assert len(rings) == 2  # exterior and hole
    hole = shapely.Polygon(rings[0], [rings[1]])
    assert hole.area == pytest.approx((0.3 * EXTENT) ** 2 - (0.1 * EXTENT) ** 2, rel=0.01)
    clipped = np.array(features["f6"]["geometry"]["coordinates"])
    assert clipped[:, 0].min() >= -64 and clipped[:, 0].max() <= EXTENT + 64  # clipped to the buffer
    # ids are stable per feature and distinct
    ids = [f["id"] for f in decoded["features"]]
    assert len(set(ids)) == len(ids)


def test_composite_tile_is_the_concatenation_of_its_layers() -> None:
    frame = _frame()
    a, b = ProjectedLayer.from_gdf("a", frame, 1), ProjectedLayer.from_gdf("b", frame.iloc[:2], 1)
    both = encode_tile([a, b], Z, X, Y)
    assert both == encode_tile([a], Z, X, Y) + encode_tile([b], Z, X, Y)
    assert set(mapbox_vector_tile.decode(both)) == {"a", "b"}
    assert encode_tile([a], Z, X + 5, Y) == b""  # nothing there


def test_next_version_reusing_serialized_values_encodes_the_same_tile() -> None:
    frame = _frame()
    first = ProjectedLayer.from_gdf("things", frame, 1)
    edited = frame.copy()
    edited.loc["f0", ["name", "count", "share"]] = ["改了", 1, 1.0]  # 1 and 1.0 stay distinct
    edited.loc["f2", "open"] = False
    reused = ProjectedLayer.from_gdf("things", edited, 2, previous=first)
    fresh = ProjectedLayer.from_gdf("things", edited, 2)
    assert reused.value_memo is first.value_memo
    assert encode_tile([reused], Z, X, Y) == encode_tile([fresh], Z, X, Y)
    props = {f["properties"]["id"]: f["properties"] for f in mapbox_vector_tile.decode(
        encode_tile([reused], Z, X, Y))["things"]["features"]}
    assert props["f0"]["name"] == "改了" and props["f0"]["count"] == 1
    assert isinstance(props["f0"]["count"], int) and isinstance(props["f0"]["share"], float)
    assert props["f2"]["open"] is False
