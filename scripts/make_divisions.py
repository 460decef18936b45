"""Derive the kept division dataset ``data/divisions/`` (a dev-time tool).

The build reads only the committed output; nothing downloads at build, run or test time.
Run it again to refresh the dataset from newer releases of its two sources::

    pip download --no-deps jionlp==1.5.31 -d /tmp/x
    pip download --no-deps cpca==0.5.5 -d /tmp/x
    python scripts/make_divisions.py --jionlp /tmp/x/jionlp-1.5.31-py2.py3-none-any.whl \\
        --cpca /tmp/x/cpca-0.5.5-py3-none-any.whl

Sources (see ``data/divisions/README.md``):

* jionlp 1.5.31 (Apache-2.0), ``jionlp/dictionary/china_location.zip`` ->
  ``china_location.txt``: a tab-indented tree ``province \\t code \\t short``, then city,
  county (same three fields), town (乡镇街道, name only) and village (name only).
* cpca 0.5.5 (MIT), ``cpca/resources/adcodes.csv``: ``adcode,name,longitude,latitude``
  per division (12-digit adcodes), the centroids.

Outputs:

* ``divisions.csv.gz``: ``code,level,name,short,parent_code,lon,lat`` for every province,
  city (prefecture) and county-level division; ``lon``/``lat`` (WGS84 as published by
  cpca) where cpca has the division.
* ``towns.csv.gz``: ``county_code,name`` for every town-level division (乡镇街道).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import zipfile
from pathlib import Path

__all__ = ["read_jionlp", "read_cpca", "centroid", "main"]

OUT = Path(__file__).resolve().parents[1] / "data" / "divisions"
LOCATION_MEMBER = "jionlp/dictionary/china_location.zip"
ADCODES_MEMBER = "cpca/resources/adcodes.csv"


def _open_member(path: Path, member: str) -> bytes:
    """A file inside a wheel, or the file itself when ``path`` is not a zip."""
    if zipfile.is_zipfile(path) and path.suffix == ".whl":
        with zipfile.ZipFile(path) as whl:
            return whl.read(member)
    return path.read_bytes()


def read_jionlp(path: Path) -> tuple[list[dict], list[dict]]:
    """Divisions (province/city/county) and towns from jionlp's location dictionary.

    Parameters
    ----------
    path : Path
        The jionlp wheel, or ``china_location.zip`` itself.

    Returns
    -------
    (list of dict, list of dict)
        Division rows and town rows.
    """
    raw = _open_member(path, LOCATION_MEMBER)
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        text = z.read("china_location.txt").decode("utf-8")
    divisions: list[dict] = []
    towns: list[dict] = []
    seen_towns: set[tuple[str, str]] = set()
    parents: dict[int, str | None] = {0: None, 1: None, 2: None}
    levels = {0: "province", 1: "city", 2: "county"}
    for line in text.splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip("\t"))
        fields = line.strip("\t").split("\t")
        if depth <= 2:
            name = fields[0].strip()
            code = fields[1].strip() if len(fields) > 1 else ""
            short = fields[2].strip() if len(fields) > 2 else ""
            if not code:  # a county without a code (Taiwan): no address code can use it
                parents[depth] = None
                for d in range(depth + 1, 3):
                    parents[d] = None
                continue
            divisions.append({"code": code, "level": levels[depth], "name": name,
                              "short": short or name,
                              "parent_code": parents[depth - 1] if depth else ""})
            parents[depth] = code
            for d in range(depth + 1, 3):
                parents[d] = None
        elif depth == 3 and parents[2]:
            key = (parents[2], fields[0].strip())
            if key not in seen_towns:
                seen_towns.add(key)
                towns.append({"county_code": key[0], "name": key[1]})
    return divisions, towns


def read_cpca(path: Path) -> dict[str, tuple[str, float, float]]:
    """``code (6 digits) -> (name, lon, lat)`` from cpca's ``adcodes.csv``."""
    raw = _open_member(path, ADCODES_MEMBER).decode("utf-8")
    out: dict[str, tuple[str, float, float]] = {}
    for row in csv.DictReader(io.StringIO(raw)):
        if row["longitude"] and row["latitude"]:
            out[row["adcode"][:6]] = (row["name"], float(row["longitude"]),
                                      float(row["latitude"]))
    return out


def _stem(name: str) -> str:
    return re.sub(r"(自治县|自治旗|新区|林区|特区|县|市|区|旗)$", "", name)


def centroid(row: dict, cpca: dict[str, tuple[str, float, float]]) -> tuple[float, float] | None:
    """The cpca centroid of a division: by code, else (a county re-coded since cpca's
    data, e.g. 晋宁县 530122 -> 晋宁区 530115) by name stem within the same city."""
    if row["code"] in cpca:
        return cpca[row["code"]][1:]
    if row["level"] != "county":
        return None
    stem = _stem(row["name"])
    same = [v for k, v in cpca.items() if k[:4] == row["code"][:4] and not k.endswith("00")
            and len(stem) >= 2 and _stem(v[0]) == stem]
    return same[0][1:] if len(same) == 1 else None


def _write(path: Path, rows: list[dict], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    # mtime=0: the same input gives byte-identical output
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0,
                                               compresslevel=9) as gz:
        gz.write(buf.getvalue().encode("utf-8"))


def main(argv: list[str] | None = None) -> None:
    """Write ``divisions.csv.gz`` and ``towns.csv.gz`` into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jionlp", type=Path, required=True,
                        help="jionlp 1.5.31 wheel or its china_location.zip")
    parser.add_argument("--cpca", type=Path, required=True,
                        help="cpca 0.5.5 wheel or its adcodes.csv")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    divisions, towns = read_jionlp(args.jionlp)
    cpca = read_cpca(args.cpca)
    for row in divisions:
        lon, lat = centroid(row, cpca) or (None, None)
        row["lon"] = "" if lon is None else f"{lon:.6f}"
        row["lat"] = "" if lat is None else f"{lat:.6f}"
    args.out.mkdir(parents=True, exist_ok=True)
    _write(args.out / "divisions.csv.gz", divisions,
           ["code", "level", "name", "short", "parent_code", "lon", "lat"])
    _write(args.out / "towns.csv.gz", towns, ["county_code", "name"])
    counties = [r for r in divisions if r["level"] == "county"]
    located = sum(1 for r in counties if r["lon"])
    print(f"{len(divisions)} divisions ({len(counties)} counties, {located} with a centroid), "
          f"{len(towns)} towns -> {args.out}")


if __name__ == "__main__":
    main()
