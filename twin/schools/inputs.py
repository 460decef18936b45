"""Real inputs for the school model: schools (GeoJSON / CSV), homes CSV, population raster.

Schools may come with coordinates in WGS84, GCJ-02 (Amap, Tencent) or BD-09 (Baidu): a
``crs`` column (or the GeoJSON property ``crs_of_coordinates``, e.g. ``"BD-09"``) or the
``crs`` parameter says which; they are converted once, here, with :mod:`address.crs`.
Rows without coordinates are geocoded by address (already WGS84).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.errors import WindowError
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window, from_bounds

from address.crs import CRS_NAMES, to_wgs84
from twin.schools.errors import InvalidSchoolInput
from twin.synthetic import KINDERGARTEN_SHARE, MIDDLE_SHARE, PRIMARY_SHARE, SCHOOL_LEVELS

__all__ = ["read_schools", "read_schools_csv", "read_homes_csv", "homes_from_population_raster",
           "population_by_cell", "parse_committees", "LEVEL_NAMES",
           "KINDERGARTEN_SHARE", "PRIMARY_SHARE", "MIDDLE_SHARE"]

logger = logging.getLogger(__name__)

#: Level names accepted in input files, to the model's levels.
LEVEL_NAMES = {**{lv: lv for lv in SCHOOL_LEVELS}, "幼儿园": "kindergarten", "幼稚园": "kindergarten",
               "小学": "primary", "中学": "middle", "初中": "middle"}
_COMMITTEE = re.compile(r"^[\u4e00-\u9fa5]{1,8}$")
#: Raster windows up to this many pixels are shared between cells by exact overlap area;
#: larger ones by pixel centre.
_EXACT_PIXELS = 250_000


def parse_committees(text: object) -> list[str]:
    """The residents' committees (居委会) of an official catchment list, as short names.

    ``"茂名、香山、思南"`` -> ``["茂名", "香山", "思南"]``. A catchment given as road and
    lane ranges (``"1.天山路:88弄 ..."``) or a note (``"电脑派位"``) is not a committee
    list: the result is empty and the text is kept as is by :func:`read_schools`.
    """
    if not isinstance(text, str):
        return []
    items = [t.strip() for t in text.strip().split("、")]
    # one item alone is a note (电脑派位, 自主招生) unless it says 居委会
    if len(items) < 2 and not items[0].endswith("居委会"):
        return []
    if not all(_COMMITTEE.match(t) for t in items):
        return []
    return [t.removesuffix("居委会") for t in items]


def _crs_name(value: object, default: str) -> str:
    if not isinstance(value, str) or not value.strip():
        return default
    name = re.sub(r"[\s_\-]", "", value).lower()
    name = {"wgs": "wgs84", "epsg4326": "wgs84", "gcj": "gcj02", "bd": "bd09",
            "baidu": "bd09", "amap": "gcj02"}.get(name, name)
    if name not in CRS_NAMES:
        raise InvalidSchoolInput(f"unknown coordinate system {value!r}; use one of "
                                 f"{', '.join(CRS_NAMES)}")
    return name


def _decimals(value: float) -> int:
    text = repr(float(value))
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _first_address(text: object) -> str | None:
    """The first of several addresses (``"茂名南路175号/皋兰路20号"``), without
    ``总园：`` style labels and notes in brackets."""
    if not isinstance(text, str) or not text.strip():
        return None
    first = re.split(r"[/;；]|\s{2,}|分园|分院", text.strip())[0]
    first = re.sub(r"^(总园|总院|本部)[:：]?", "", first)
    return re.sub(r"[（(].*?[)）]", "", first).strip() or None


def _read_table(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows and raw coordinates (NaN where absent) of a GeoJSON / GPKG or CSV file."""
    if path.suffix.lower() in (".geojson", ".json", ".gpkg", ".shp"):
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:  # noqa: BLE001 - any reader error is a bad input
            raise InvalidSchoolInput(f"cannot read schools file {path.name}: {exc}") from exc
        pts = [g.representative_point() if g is not None and not g.is_empty else None
               for g in gdf.geometry]
        lon = np.array([np.nan if p is None else p.x for p in pts])
        lat = np.array([np.nan if p is None else p.y for p in pts])
        table = pd.DataFrame(gdf.drop(columns="geometry"))
        return table, lon, lat
    try:
        table = pd.read_csv(path, dtype=str)
    except Exception as exc:  # noqa: BLE001
        raise InvalidSchoolInput(f"cannot read schools CSV {path.name}: {exc}") from exc
    lon = pd.to_numeric(table["lon"], errors="coerce").to_numpy(float) if "lon" in table \
        else np.full(len(table), np.nan)
    lat = pd.to_numeric(table["lat"], errors="coerce").to_numpy(float) if "lat" in table \
        else np.full(len(table), np.nan)
    return table, lon, lat


def read_schools(path: str | Path, *, crs: str | None = None,
                 geocode: Callable[[str], list[dict]] | None = None,
                 refine_approximate: bool = True) -> gpd.GeoDataFrame:
    """Real schools from a GeoJSON or CSV file, in WGS84.

    Columns (CSV) or properties (GeoJSON): ``name``, ``level`` (kindergarten, primary,
    middle or 幼儿园/小学/中学), ``address``; coordinates as the geometry or ``lon``,
    ``lat``; optional ``capacity``, ``crs`` / ``crs_of_coordinates``, ``id`` and
    ``catchment_committees`` (the official 对口 residents' committees, ``"茂名、香山"``).

    Parameters
    ----------
    path : str or Path
        The file.
    crs : str, optional
        Coordinate system of every row (``wgs84``, ``gcj02``, ``bd09``); overrides the
        per-row column. Default: the column, else WGS84.
    geocode : callable, optional
        ``text -> candidates`` (the address service): places rows without coordinates,
        and (``refine_approximate``) rows whose coordinates have two decimals or fewer
        (±0.5 km) when the address resolves at door or road level within 1.5 km.
    refine_approximate : bool
        See ``geocode``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``id``, ``name``, ``level``, ``capacity`` (NaN where the file has none),
        ``capacity_source`` (``"data"`` or None), ``address``, ``catchment_committees``
        (``"、"``-joined short names or None), ``catchment_text`` (a catchment that is not
        a committee list), ``crs_in``, ``location`` (``"given"``, ``"approximate"``,
        ``"geocoded"``), ``source`` = ``"real"``.

    Raises
    ------
    InvalidSchoolInput
        Missing columns, a bad level, capacity or coordinate system, or a row that cannot
        be placed.
    """
    path = Path(path)
    table, lon, lat = _read_table(path)
    missing = {"name", "level"} - set(table.columns)
    if missing:
        raise InvalidSchoolInput(f"schools file lacks columns: {', '.join(sorted(missing))}")
    levels = table["level"].astype(str).str.strip().map(LEVEL_NAMES)
    bad = levels.isna()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidSchoolInput(f"row {row + 2}: level must be one of {', '.join(SCHOOL_LEVELS)}"
                                 f" (got {table['level'].iloc[row]!r})")
    if "capacity" in table:
        capacity = pd.to_numeric(table["capacity"], errors="coerce")
        given = table["capacity"].notna() & (table["capacity"].astype(str).str.strip() != "")
        if (capacity.isna() & given).any() or (capacity <= 0).any():
            raise InvalidSchoolInput("capacity must be a positive number where given")
    else:
        capacity = pd.Series(np.nan, index=table.index)
    column = next((c for c in ("crs", "crs_of_coordinates") if c in table), None)
    default = _crs_name(crs, "wgs84") if crs is not None else "wgs84"
    crs_in = [default if crs is not None or column is None else _crs_name(v, default)
              for v in (table[column] if column else [None] * len(table))]
    address = table["address"] if "address" in table else pd.Series(None, index=table.index)
    location = np.where(np.isnan(lon) | np.isnan(lat), "missing", "given").astype(object)
    out_lon, out_lat = lon.copy(), lat.copy()
    for name in set(crs_in):
        rows = np.array([c == name for c in crs_in]) & (location == "given")
        if rows.any() and name != "wgs84":
            x, y = to_wgs84(lon[rows], lat[rows], name)
            out_lon[rows], out_lat[rows] = x, y
    coarse = np.array([loc == "given" and max(_decimals(x), _decimals(y)) <= 2
                       for loc, x, y in zip(location, lon, lat, strict=True)])
    location[coarse] = "approximate"
    for i in np.flatnonzero((location == "missing") | (coarse & refine_approximate)):
        text = _first_address(address.iloc[i])
        if geocode is None or text is None:
            if location[i] == "missing":
                raise InvalidSchoolInput(f"row {i + 2}: no coordinates and no address to geocode")
            continue
        try:
            best = geocode(text)[0]
        except (LookupError, IndexError) as exc:
            if location[i] == "missing":
                raise InvalidSchoolInput(f"row {i + 2}: address not found: {text!r}") from exc
            continue
        if best["level"] not in ("door", "interpolated", "road"):
            if location[i] == "missing":
                raise InvalidSchoolInput(f"row {i + 2}: {text!r} is only known at "
                                         f"{best['level']} level")
            continue
        if location[i] == "approximate":
            dx = (best["lon"] - out_lon[i]) * 111_320 * np.cos(np.radians(out_lat[i]))
            dy = (best["lat"] - out_lat[i]) * 110_540
            if np.hypot(dx, dy) > 1500:
                continue
        out_lon[i], out_lat[i] = best["lon"], best["lat"]
        location[i] = "geocoded"
    committees = [parse_committees(t) for t in table.get("catchment_committees",
                                                          pd.Series(None, index=table.index))]
    raw = table.get("catchment_committees", pd.Series(None, index=table.index))
    ids = (table["id"].astype(str).tolist() if "id" in table
           else [f"R{i:03d}" for i in range(len(table))])
    out = gpd.GeoDataFrame(
        {"id": ids, "name": table["name"].astype(str).str.strip(), "level": levels,
         "capacity": capacity.astype(float),
         "capacity_source": ["data" if pd.notna(c) else None for c in capacity],
         "address": address.where(address.notna(), None),
         "catchment_committees": ["、".join(c) if c else None for c in committees],
         "catchment_text": [None if c or not isinstance(t, str) or not t.strip()
                            else re.sub(r"\s+", " ", t).strip()
                            for c, t in zip(committees, raw, strict=True)],
         "crs_in": crs_in, "location": location, "source": "real"},
        geometry=gpd.points_from_xy(out_lon, out_lat), crs=4326)
    out.index = pd.RangeIndex(len(out), name="fid")
    return out


def read_schools_csv(path: str | Path, *, geocode: Callable[[str], list[dict]] | None = None,
                     crs: str | None = None) -> gpd.GeoDataFrame:
    """Schools from a CSV (``name, level, address`` or ``lon, lat``, optional ``capacity``,
    ``crs``); see :func:`read_schools`."""
    return read_schools(path, crs=crs, geocode=geocode)


def read_homes_csv(path: str | Path) -> gpd.GeoDataFrame:
    """Homes from a CSV with ``lon, lat, children_primary, children_middle`` (and
    optionally ``children_kindergarten``)."""
    table = pd.read_csv(path)
    need = {"lon", "lat", "children_primary", "children_middle"}
    if not need <= set(table.columns):
        raise InvalidSchoolInput(f"homes CSV needs columns {', '.join(sorted(need))}")
    return gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]),
                            geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)


def homes_from_population_raster(path: str | Path, *, density: bool = False) -> gpd.GeoDataFrame:
    """One home per populated raster cell (its centre), children by the age shares.

    Parameters
    ----------
    path : str or Path
        A single-band GeoTIFF of persons per cell (or per km² with ``density=True``).
    density : bool
        Values are persons per km² (multiplied by the cell area).
    """
    with rasterio.open(path) as src:
        values = src.read(1, masked=True).filled(0).astype(float)
        rows, cols = np.nonzero(values > 0)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
        lon, lat = warp_transform(src.crs, "EPSG:4326", xs, ys)
        area_km2 = abs(src.transform.a * src.transform.e) / 1e6 if src.crs.is_projected else 1.0
    population = values[rows, cols] * (area_km2 if density else 1.0)
    return gpd.GeoDataFrame(
        {"population": np.round(population).astype(int),
         "children_kindergarten": np.round(population * KINDERGARTEN_SHARE).astype(int),
         "children_primary": np.round(population * PRIMARY_SHARE).astype(int),
         "children_middle": np.round(population * MIDDLE_SHARE).astype(int),
         "source": "raster"},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)


def population_by_cell(path: str | Path, cells: gpd.GeoDataFrame) -> np.ndarray:
    """Persons of a population raster within each cell (polygon).

    The raster holds persons per pixel, in any CRS; the cells are reprojected to it.
    A pixel shared by cells is split by overlap area (pixel centres decide for rasters
    of more than 250 000 pixels over the cells), so no person is counted twice.

    Parameters
    ----------
    path : str or Path
        Single-band GeoTIFF (nodata and negative values count as 0).
    cells : geopandas.GeoDataFrame
        Polygons (e.g. the land-use grid clipped to the network).

    Returns
    -------
    numpy.ndarray
        Persons per cell, aligned with ``cells``.

    Raises
    ------
    InvalidSchoolInput
        The file is not a readable georeferenced raster.
    """
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidSchoolInput(f"cannot read population raster {Path(path).name}: {exc}") from exc
    with src:
        if src.crs is None:
            raise InvalidSchoolInput(f"population raster {Path(path).name} has no CRS")
        shapes = cells.to_crs(src.crs).geometry.reset_index(drop=True)
        minx, miny, maxx, maxy = shapes.total_bounds
        window = from_bounds(minx, miny, maxx, maxy, src.transform).round_offsets().round_lengths()
        try:
            window = window.intersection(Window(0, 0, src.width, src.height))
        except WindowError:  # the cells are outside the raster
            return np.zeros(len(shapes))
        values = src.read(1, window=window, masked=True, boundless=False).filled(0).astype(float)
        transform = src.window_transform(window)
    values[~np.isfinite(values) | (values < 0)] = 0.0
    out = np.zeros(len(shapes))
    rows, cols = np.nonzero(values > 0)
    if not len(rows):
        return out
    if len(rows) > _EXACT_PIXELS:
        xs, ys = rasterio.transform.xy(transform, rows, cols)
        tree = shapely.STRtree(shapes.values)
        pts, cell = tree.query(shapely.points(xs, ys), predicate="within")
        np.add.at(out, cell, values[rows[pts], cols[pts]])
        return out
    x0, y0 = (np.asarray(v) for v in rasterio.transform.xy(transform, rows, cols, offset="ul"))
    x1, y1 = (np.asarray(v) for v in rasterio.transform.xy(transform, rows, cols, offset="lr"))
    pixels = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1),
                         np.maximum(y0, y1))
    tree = shapely.STRtree(shapes.values)
    pix, cell = tree.query(pixels, predicate="intersects")
    share = shapely.area(shapely.intersection(pixels[pix], shapes.values[cell])) / shapely.area(
        pixels[pix])
    np.add.at(out, cell, values[rows[pix], cols[pix]] * share)
    return out
