"""GeoJSON answers of the model routers."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd

__all__ = ["feature_collection"]


def feature_collection(gdf: gpd.GeoDataFrame, versions: dict[str, int]) -> dict[str, Any]:
    """A FeatureCollection of ``gdf``, with the layer versions it was computed on as a
    foreign member (``versions``)."""
    return {**json.loads(gdf.to_json(drop_id=True)), "versions": versions}
