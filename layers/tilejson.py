"""TileJSON 3.0.0 documents for vector and raster layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layers.errors import LayerNotFound
from layers.registry import LayerInfo

__all__ = ["vector_tilejson", "raster_tilejson"]


def _union_bounds(infos: Sequence[LayerInfo]) -> list[float]:
    boxes = [i.bounds for i in infos if i.bounds]
    if not boxes:
        return [-180.0, -85.0511, 180.0, 85.0511]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes)]


def vector_tilejson(infos: Sequence[LayerInfo], tiles_url: str) -> dict[str, Any]:
    """TileJSON 3.0.0 for one or more vector layers served together.

    Parameters
    ----------
    infos : sequence of LayerInfo
        The layers in the tile.
    tiles_url : str
        Template ``.../{z}/{x}/{y}.mvt``.

    Raises
    ------
    LayerNotFound
        A layer has no geometry (a plain table), so it has no tiles.
    """
    flat = [i.name for i in infos if i.bounds is None]
    if flat:
        raise LayerNotFound(f"layers without geometry have no tiles: {', '.join(flat)}")
    bounds = _union_bounds(infos)
    minzoom = min(i.minzoom for i in infos)
    maxzoom = max(i.maxzoom for i in infos)
    return {
        "tilejson": "3.0.0",
        "name": ",".join(i.name for i in infos),
        "description": "; ".join(i.description or i.title for i in infos),
        "version": ".".join(str(i.version) for i in infos),
        "attribution": " | ".join(sorted({i.attribution for i in infos})),
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2,
                   max(minzoom, min(14, maxzoom))],
        "vector_layers": [
            {"id": i.name, "description": i.title, "minzoom": i.minzoom, "maxzoom": i.maxzoom,
             "fields": {"id": "Number", **i.fields}}
            for i in infos
        ],
    }


def raster_tilejson(name: str, *, tiles_url: str, bounds: list[float], attribution: str,
                    description: str, minzoom: int = 10, maxzoom: int = 18) -> dict[str, Any]:
    """TileJSON 3.0.0 for a raster layer served as PNG tiles."""
    return {"tilejson": "3.0.0", "name": name, "description": description,
            "attribution": attribution, "scheme": "xyz", "tiles": [tiles_url],
            "minzoom": minzoom, "maxzoom": maxzoom, "bounds": bounds,
            "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 14]}
