"""Vector tile HTTP answers shared by ``/tiles`` and ``/ogc``: one code path for both.

The encoded tile comes from :meth:`layers.service.LayerService.tile` (cached by layer
versions, generalized per zoom); this module adds the HTTP contract: ETag and
Cache-Control, 304 on ``If-None-Match``, 204 for an empty tile, 404 outside the bounds.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool

from layers.errors import TileOutOfRange
from layers.service import LayerService

__all__ = ["MVT_MEDIA_TYPE", "CACHE_CONTROL", "vector_tile_response"]

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "public, max-age=60, must-revalidate"


async def vector_tile_response(request: Request, service: LayerService, names: Sequence[str],
                               z: int, x: int, y: int, *, as_of: str | None = None,
                               label: str | None = None) -> Response:
    """The MVT answer for layers ``names`` at ``z/x/y`` (``label`` names them in errors).

    Raises
    ------
    LayerNotFound, TileOutOfRange, InvalidQuery
    """
    tile = service.cached_tile(names, z, x, y) if as_of is None else None
    if tile is None:  # encode off the event loop
        for n in names:
            service.require(n)
        tile = await run_in_threadpool(service.tile, names, z, x, y, as_of=as_of)
    if not tile.data and not service.in_bounds(names, z, x, y):
        raise TileOutOfRange(f"tile {z}/{x}/{y} is outside the bounds of "
                             f"{label or ','.join(names)}")
    headers = {"ETag": tile.etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == tile.etag:
        return Response(status_code=304, headers=headers)
    if not tile.data:
        return Response(status_code=204, headers=headers)
    return Response(tile.data, media_type=MVT_MEDIA_TYPE, headers=headers)
