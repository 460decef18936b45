"""Which features a vector tile draws at each zoom (generalization by zoom).

A tile at a low zoom covers a whole city; drawing every feature there makes tiles of
megabytes that no map needs. As the OpenMapTiles schema does for its ``transportation``
layer, roads appear by class (:data:`ROAD_CLASS_MINZOOM`: arterials first, residential
streets from zoom 13); every other layer appears from its registered ``minzoom``. The
embedded MVT writer and the PostGIS ``ST_AsMVT`` path apply the same rule, so both give
the same features in every tile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ROAD_CLASS_MINZOOM", "DEFAULT_ROAD_MINZOOM", "CLASS_COLUMN", "feature_minzoom",
           "minzoom_sql"]

#: Smallest zoom at which a road of each OSM class is drawn.
ROAD_CLASS_MINZOOM: dict[str, int] = {
    "motorway": 5, "trunk": 7, "primary": 10, "secondary": 11, "tertiary": 12,
    "motorway_link": 12, "trunk_link": 12, "primary_link": 13, "secondary_link": 13,
    "tertiary_link": 13,
}
#: Zoom from which road classes not listed above (residential, service ...) are drawn.
DEFAULT_ROAD_MINZOOM = 13
#: The column that marks a layer as a road layer.
CLASS_COLUMN = "highway"


def feature_minzoom(props: pd.DataFrame, layer_minzoom: int) -> np.ndarray:
    """Smallest zoom at which each feature is drawn.

    Parameters
    ----------
    props : pandas.DataFrame
        The layer's attributes (a ``highway`` column makes it a road layer).
    layer_minzoom : int
        The layer's registered ``minzoom``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` per row: ``max(layer_minzoom, class minzoom)``.
    """
    out = np.full(len(props), layer_minzoom, dtype=np.uint8)
    if CLASS_COLUMN in props.columns:
        by_class = (props[CLASS_COLUMN].astype(object).map(ROAD_CLASS_MINZOOM)
                    .fillna(DEFAULT_ROAD_MINZOOM).to_numpy(dtype=np.uint8))
        out = np.maximum(out, by_class)
    return out


def minzoom_sql(columns: list[str], layer_minzoom: int, *, zoom: str = ":z",
                alias: str = "t") -> str:
    """The same rule as a SQL condition (for ``ST_AsMVT`` queries).

    Parameters
    ----------
    columns : list of str
        The layer's columns.
    layer_minzoom : int
        The layer's registered ``minzoom``.
    zoom : str
        The SQL expression of the tile's zoom.
    alias : str
        The table alias.

    Returns
    -------
    str
        A boolean SQL expression (only integers and fixed class names are inlined).
    """
    cond = f"{zoom} >= {int(layer_minzoom)}"
    if CLASS_COLUMN in columns:
        cases = " ".join(f"WHEN '{cls}' THEN {int(z)}" for cls, z in ROAD_CLASS_MINZOOM.items())
        cond += (f" AND {zoom} >= CASE {alias}.\"{CLASS_COLUMN}\" {cases} "
                 f"ELSE {int(DEFAULT_ROAD_MINZOOM)} END")
    return cond
