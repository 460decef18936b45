"""Glue: the City's standard-address service (``city.address``) and its build step.

The gazetteer serves the city's division (``City.division``): its province and city
start the canonical texts, its district codes prefix the address codes. The embedded
city brings official district / street / community tables and its shops' ``addr:*``
tags; another Chinese city gets its district and street tables from the kept division
dataset, the ``addr:*`` tags of its OSM file and its road names, each road in the
district whose centroid is nearest. A city abroad has no division: its address service
is :class:`AddressesUnavailable`, which raises
:class:`~address.errors.AddressUnavailable` on every use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import geopandas as gpd
import osmium
import pandas as pd
import shapely

from address.corpus import read_tagged
from address.crf import MODEL_FILE, CrfParser, train
from address.errors import AddressUnavailable
from address.gazetteer import Gazetteer, build_gazetteer
from address.lifecycle import AddressLog
from address.service import AddressService
from layers.versions import FileLog
from twin.bundle import BuildContext
from twin.divisions import CityDivision
from twin.settings import Settings

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["places_step", "build_step", "load", "edit_log", "geocode_csv",
           "osm_addresses", "osm_stops", "AddressesUnavailable", "ADDRESS_LOG"]

logger = logging.getLogger(__name__)

_LAYERS = ("districts", "streets", "communities", "roads", "pois", "stations")
#: the name address changes go under in a PostGIS twin's ``_edits`` table
ADDRESS_LOG = "_addresses"
_ADDR_TAGS = {"addr:street": "addr_street", "addr:housenumber": "addr_housenumber",
              "addr:district": "addr_district", "name": "name"}


class AddressesUnavailable:
    """``city.address`` of a city without standard addresses: every attribute raises
    :class:`~address.errors.AddressUnavailable` with the reason.

    Parameters
    ----------
    city : str
        The city's name.
    division : CityDivision
        Where it lies (abroad).
    """

    available = False

    def __init__(self, city: str, division: CityDivision) -> None:
        self.city = city
        self.division = division
        self.missing = ["province", "city", "district", "division codes"]
        self.reason = (
            f"standard addresses are not available for {city!r}: it lies outside the "
            f"administrative divisions of mainland China (time zone {division.timezone}), "
            f"so it has no {', '.join(self.missing)} to build them on")

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AddressUnavailable(self.reason, missing=list(self.missing))

    def __repr__(self) -> str:
        return f"AddressesUnavailable({self.city!r})"


def _layers(registry) -> dict:  # noqa: ANN001 - a LayerRegistry
    return {n: registry[n].data for n in _LAYERS if n in registry}


def _string_points(rows: list[dict[str, Any]], columns: list[str]) -> gpd.GeoDataFrame:
    """Rows with ``lon`` / ``lat`` and string ``columns`` as WGS84 points."""
    frame = pd.DataFrame(rows, columns=[*columns, "lon", "lat"])
    return gpd.GeoDataFrame(frame[columns].astype("string"),
                            geometry=shapely.points(frame["lon"].to_numpy(float),
                                                    frame["lat"].to_numpy(float)),
                            crs=4326)


def osm_addresses(path: str | Path) -> gpd.GeoDataFrame:
    """Nodes and ways of an OSM file with ``addr:street`` and ``addr:housenumber``.

    Parameters
    ----------
    path : str or Path
        ``.osm`` / ``.osm.pbf``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``addr_street``, ``addr_housenumber``, ``addr_district``, ``name``; points
        (a way: the mean of its node locations), WGS84.
    """
    rows: list[dict[str, Any]] = []
    processor = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
                 .with_locations()
                 .with_filter(osmium.filter.KeyFilter("addr:housenumber")))
    for obj in processor:
        tags = obj.tags
        if "addr:street" not in tags:
            continue
        if obj.is_node():
            if not obj.location.valid():
                continue
            lon, lat = obj.location.lon, obj.location.lat
        else:
            locs = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if not locs:
                continue
            lon = sum(p[0] for p in locs) / len(locs)
            lat = sum(p[1] for p in locs) / len(locs)
        row = {col: tags.get(tag) for tag, col in _ADDR_TAGS.items()}
        row.update(lon=lon, lat=lat)
        rows.append(row)
    return _string_points(rows, list(_ADDR_TAGS.values()))


def _stop_kind(tags: osmium.osm.TagList) -> str | None:
    pt, railway = tags.get("public_transport"), tags.get("railway")
    if railway in ("station", "halt") or pt == "station":
        return "station"
    if pt in ("stop_position", "platform") or tags.get("highway") == "bus_stop" \
            or railway == "tram_stop":
        return "stop"
    return None


def osm_stops(path: str | Path) -> gpd.GeoDataFrame:
    """Named public-transport nodes of an OSM file: stops and stations.

    Parameters
    ----------
    path : str or Path
        ``.osm`` / ``.osm.pbf``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name``, ``kind`` (``stop``: ``public_transport=stop_position|platform``,
        ``highway=bus_stop``, ``railway=tram_stop``; ``station``: ``railway=station|halt``,
        ``public_transport=station``), ``osm_id`` (``node/…``), ``source`` (``osm``);
        points, WGS84. Stop areas mapped as ways are not read.
    """
    rows: list[dict[str, Any]] = []
    processor = (osmium.FileProcessor(str(path), osmium.osm.NODE)
                 .with_filter(osmium.filter.KeyFilter("name")))
    for node in processor:
        kind = _stop_kind(node.tags)
        if kind is None or not node.location.valid():
            continue
        rows.append({"name": node.tags.get("name"), "kind": kind, "osm_id": f"node/{node.id}",
                     "lon": node.location.lon, "lat": node.location.lat})
    return _string_points(rows, ["name", "kind", "osm_id"]).assign(source="osm")


def _real_schools(registry) -> dict[str, gpd.GeoDataFrame]:  # noqa: ANN001 - a LayerRegistry
    """The real schools (not the generated ones), as places named like them."""
    if "schools" not in registry:
        return {}
    schools = registry["schools"].data
    real = schools[schools["source"].astype(str) != "synthetic"] if "source" in schools else schools
    return {"schools": real[["name", "geometry"]].assign(kind="school")}


def _centroids(division: CityDivision) -> dict[str, tuple[float, float]]:
    return {d.code: (d.lon, d.lat) for d in division.districts
            if d.lon is not None and d.lat is not None}


def build_step(ctx: BuildContext) -> None:
    """Build the gazetteer into ``<bundle>/address`` (nothing for a city abroad).

    Its places are the named ``pois`` and ``stations`` inside the road network's extent,
    the named stops and stations of the city's OSM file (``ctx.extras["osm_file"]``) and,
    once the schools step has made them, the real schools (:func:`places_step`). With
    a labelled corpus (input ``address_corpus``: ``token TAG`` lines, BIO or BIOES), a CRF
    parser is trained on it and kept as ``address/parser.crfsuite``.
    """
    division: CityDivision | None = ctx.extras.get("division")
    if division is not None and not division.available:
        logger.info("%s lies in no Chinese division: no standard addresses", ctx.name)
        return
    layers = _layers(ctx.layers)
    locality = division.locality() if division is not None else None
    centroids = None
    osm = ctx.extras.get("osm_file")
    if not ctx.extras.get("embedded") and division is not None:
        centroids = _centroids(division)
        if "pois" not in layers and osm is not None:
            layers["pois"] = osm_addresses(osm)
    if osm is not None:  # named stops and stations of the OSM file become places
        layers["stops"] = osm_stops(osm)
    layers.update(_real_schools(ctx.layers))
    build_gazetteer(layers, locality=locality, district_centroids=centroids).save(
        ctx.bundle_dir / "address")
    ctx.extras["gazetteer_layers"] = (layers, locality, centroids)
    corpus = ctx.extras.get("inputs", {}).get("address_corpus")
    if corpus is not None:  # twin build --address-corpus PATH: a trained parser
        addresses = read_tagged(corpus)
        logger.info("training the address parser on %d labelled addresses", len(addresses))
        train(addresses, ctx.bundle_dir / "address" / MODEL_FILE)


def places_step(ctx: BuildContext) -> None:
    """Build the gazetteer again once the schools exist, so real schools are places
    (``上海市实验小学`` geocodes at ``poi`` level); the schools step needed the first
    gazetteer to place the schools given by address only."""
    made = ctx.extras.get("gazetteer_layers")
    schools = _real_schools(ctx.layers)
    if made is None or not schools:
        return
    layers, locality, centroids = made
    build_gazetteer({**layers, **schools}, locality=locality,
                    district_centroids=centroids).save(ctx.bundle_dir / "address")


def _address_key(change: dict) -> tuple[str, int]:
    return change["code"], int(change["after"]["version"])


def edit_log(city: City) -> AddressLog:
    """The change log of the city's addresses, shared by every process serving it: the
    ``_edits`` table of a twin on PostGIS, else ``addresses.jsonl`` beside the bundle (so
    rebuilds keep the edits)."""
    engine = city.database_engine
    if engine is not None:
        from layers.postgis import PostgisEditLog, ensure_edits_table

        ensure_edits_table(engine, city.database_schema)
        return PostgisEditLog(engine, city.database_schema, ADDRESS_LOG, key=_address_key,
                              write_through=False)
    return FileLog(city.edits_dir / "addresses.jsonl")


def load(city: City) -> AddressService | AddressesUnavailable:
    """Open the address service with its shared edit log.

    Returns
    -------
    AddressService or AddressesUnavailable
        The latter for a city in no Chinese division: using it raises
        :class:`~address.errors.AddressUnavailable`.
    """
    division = city.division
    if not division.available:
        return AddressesUnavailable(city.name, division)
    directory = city.bundle_dir / "address"
    locality = division.locality()
    if (directory / "doors.parquet").is_file():
        gazetteer = Gazetteer.load(directory, locality=locality)
    else:  # a twin on PostGIS: from its layers, as the build step does
        official = "districts" in city.layers and city.layers["districts"].info.source == "nbs"
        gazetteer = build_gazetteer({**_layers(city.layers), **_real_schools(city.layers)},
                                    locality=locality,
                                    district_centroids=None if official else _centroids(division))
    model = directory / MODEL_FILE
    parser = CrfParser(model) if model.is_file() else None
    return AddressService(gazetteer, log=edit_log(city), public_url=Settings().public_url,
                          parser=parser)


def geocode_csv(city: City, path: Path, *, column: str, out: Path, crs: str = "wgs84",
                progress: bool = True) -> pd.DataFrame:
    """Geocode the ``column`` of a CSV into ``out`` (input columns + results)."""
    table = pd.read_csv(path, dtype=str)
    result = city.address.geocode_many(table, column=column, crs=crs, progress=progress)
    merged = pd.concat([table.reset_index(drop=True),
                        result.drop(columns="input").add_prefix("geo_")], axis=1)
    merged.to_csv(out, index=False)
    return merged
