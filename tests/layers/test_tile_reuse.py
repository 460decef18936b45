"""After an edit, cached tiles the edit does not touch are reused; touched ones are redone."""

from __future__ import annotations

import mapbox_vector_tile

from layers.tiles import TMS, ProjectedLayer, encode_tile
from twin import City

SITE = (121.4735, 31.2304)       # where the edit happens
ELSEWHERE = (121.4900, 31.2400)  # 1.9 km away


def _tile(lon: float, lat: float, z: int = 16) -> tuple[int, int, int]:
    t = TMS.tile(lon, lat, z)
    return t.z, t.x, t.y


def test_untouched_tiles_survive_an_edit_and_touched_ones_change(fresh_city: City) -> None:
    service = fresh_city.layer_service
    near, far, low = _tile(*SITE), _tile(*ELSEWHERE), _tile(*ELSEWHERE, z=13)
    before = {t: service.tile(["pois", "roads"], *t).data for t in (near, far, low)}
    created = service.create("pois", {
        "type": "Feature", "geometry": {"type": "Point", "coordinates": list(SITE)},
        "properties": {"name": "新店"}})
    reused = service.cache.reused
    after = {t: service.tile(["pois", "roads"], *t).data for t in (near, far, low)}
    assert service.cache.reused == reused + 1           # only the far z16 tile
    assert after[far] == before[far]
    # the z13 tile covers the site too, so it is redone and holds the new shop
    for t in (near, low):
        names = [f["properties"].get("name")
                 for f in mapbox_vector_tile.decode(after[t])["pois"]["features"]]
        assert "新店" in names and after[t] != before[t]
    # every reused tile equals a fresh encoding of the current layers
    fresh = [ProjectedLayer.from_gdf(n, fresh_city.layers[n].data, 0,
                                     minzoom=fresh_city.layers[n].info.minzoom)
             for n in ("pois", "roads")]
    assert encode_tile(fresh, *far) == after[far]
    # moving the shop away from the site redoes the near tile again, which loses it
    moved = service.update("pois", str(created.fid), {
        "geometry": {"type": "Point", "coordinates": list(ELSEWHERE)}}, version=1)
    assert moved.feature_version == 2
    again = service.tile(["pois", "roads"], *near).data
    names = [f["properties"].get("name")
             for f in mapbox_vector_tile.decode(again)["pois"]["features"]]
    assert "新店" not in names
    assert service.tile(["pois", "roads"], *far).data != after[far]  # the far tile gains it
