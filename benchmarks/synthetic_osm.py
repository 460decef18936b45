"""A synthetic OSM city for the routing benchmarks, written reproducibly as OSM XML.

A perturbed street grid (about 110 m blocks) labelled ``source=synthetic``: every tenth
street is ``primary``, every fifth ``secondary``, every other ``tertiary``, the rest
``residential``; residential streets alternate one-way directions in pairs; 4 % of
residential blocks are missing (T-junctions, dead ends); junctions of two main roads
carry ``highway=traffic_signals``; about 1 % of junctions have a turn restriction
(``type=restriction`` relation, ``no_left_turn`` / ``no_right_turn`` /
``no_straight_on`` / ``no_u_turn`` / ``only_straight_on``, via the junction node). Ways
are split at restricted junctions so that every ``from`` way ends and every ``to`` way
starts at the ``via`` node, as the OSM wiki asks.

    python benchmarks/synthetic_osm.py --side 330 --out build/bench/synthetic_330.osm

The same file is read by citytwin (``twin.osm`` + ``twin.roads``, as ``twin build --osm``)
and by OSRM's ``osrm-extract``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

__all__ = ["write_synthetic_osm", "synthetic_osm"]

_STEP_LON, _STEP_LAT = 0.00115, 0.001
_ORIGIN = (121.30, 31.00)
_MAX_WAY_NODES = 25


def _street_class(k: int) -> str:
    if k % 10 == 0:
        return "primary"
    if k % 5 == 0:
        return "secondary"
    if k % 2 == 0:
        return "tertiary"
    return "residential"


def _oneway(k: int) -> int:
    """+1 one-way in increasing index order, -1 decreasing, 0 both ways."""
    if _street_class(k) != "residential":
        return 0
    return (1, 0, -1, 0)[k % 4]


def write_synthetic_osm(path: str | Path, *, side: int = 330, seed: int = 7) -> Path:
    """Write a ``side`` x ``side`` synthetic city to ``path`` (OSM XML).

    Parameters
    ----------
    path : str or Path
        Output ``.osm`` file (parent directories are created).
    side : int
        Junctions per row and column (``side**2`` junctions).
    seed : int
        Seed of the perturbation, missing blocks and restrictions.

    Returns
    -------
    Path
        ``path``.
    """
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def nid(i: int, j: int) -> int:
        return 1 + i * side + j

    jitter = rng.uniform(-0.15, 0.15, size=(side, side, 2))
    # streets: ("row", i) runs along j, ("col", j) runs along i
    streets = [("row", k) for k in range(side)] + [("col", k) for k in range(side)]

    def cells(street: tuple[str, int]) -> list[tuple[int, int]]:
        kind, k = street
        return [(k, t) for t in range(side)] if kind == "row" else [(t, k) for t in range(side)]

    missing = {}
    for street in streets:
        if _street_class(street[1]) == "residential":
            missing[street] = set(np.flatnonzero(rng.random(side - 1) < 0.04).tolist())
        else:
            missing[street] = set()

    def has_segment(street: tuple[str, int], t: int) -> bool:
        return 0 <= t < side - 1 and t not in missing[street]

    # restrictions at interior junctions
    restricted: list[tuple[int, int, int, int, str]] = []  # (i, j, from dir, to dir, kind)
    # directions: 0 east (+j), 1 north (+i), 2 west, 3 south
    delta = {0: (0, 1), 1: (1, 0), 2: (0, -1), 3: (-1, 0)}

    def can_drive(i: int, j: int, d: int) -> bool:
        """Can a car leave junction (i, j) in direction d?"""
        di, dj = delta[d]
        street, t = (("row", i), min(j, j + dj)) if di == 0 else (("col", j), min(i, i + di))
        if not has_segment(street, t):
            return False
        way = _oneway(street[1])
        forward = (dj if di == 0 else di) > 0
        return way == 0 or (way == 1) == forward

    for i in range(1, side - 1):
        for j in range(1, side - 1):
            if rng.random() >= 0.01:
                continue
            arrive = [d for d in range(4) if can_drive(i - delta[d][0], j - delta[d][1], d)]
            leave = [d for d in range(4) if can_drive(i, j, d)]
            if not arrive or len(leave) < 2:
                continue
            come = int(rng.choice(arrive))  # travelling in direction `come` into (i, j)
            go = int(rng.choice(leave))
            turn = (go - come) % 4
            if rng.random() < 0.1 and (come in leave):
                kind, go = "only_straight_on", come
            else:
                kind = {0: "no_straight_on", 1: "no_left_turn", 2: "no_u_turn",
                        3: "no_right_turn"}[turn]
            restricted.append((i, j, come, go, kind))
    via_cells = {(i, j) for i, j, *_ in restricted}

    ways: list[tuple[int, list[int], dict[str, str]]] = []
    segment_way: dict[tuple[int, int], int] = {}
    way_id = 1
    for street in streets:
        kind, k = street
        cls = _street_class(k)
        tags = {"highway": cls, "name": f"Synthetic {'Row' if kind == 'row' else 'Column'} {k}",
                "source": "synthetic"}
        if cls == "primary":
            tags.update(lanes="4", maxspeed="60")
        if _oneway(k):
            tags["oneway"] = "yes"
        line = cells(street)
        pieces: list[list[tuple[int, int]]] = [[line[0]]]
        for t in range(side - 1):
            if not has_segment(street, t):
                pieces.append([line[t + 1]])
                continue
            pieces[-1].append(line[t + 1])
            if line[t + 1] in via_cells or len(pieces[-1]) >= _MAX_WAY_NODES:
                pieces.append([line[t + 1]])
        for piece in pieces:
            if len(piece) < 2:
                continue
            ids = [nid(i, j) for i, j in piece]
            if _oneway(k) == -1:
                ids.reverse()
            ways.append((way_id, ids, tags))
            for a, b in zip(ids[:-1], ids[1:], strict=True):
                segment_way[(min(a, b), max(a, b))] = way_id
            way_id += 1

    signals = {(i, j) for i in range(side) for j in range(side)
               if _street_class(i) in ("primary", "secondary")
               and _street_class(j) in ("primary", "secondary")}
    with path.open("w", encoding="utf-8") as out:
        lon0, lat0 = _ORIGIN
        out.write("<?xml version='1.0' encoding='UTF-8'?>\n")
        out.write('<osm version="0.6" generator="citytwin benchmarks/synthetic_osm.py (synthetic)">\n')
        out.write(f'  <bounds minlat="{lat0 - 0.001}" minlon="{lon0 - 0.001}" '
                  f'maxlat="{lat0 + side * _STEP_LAT}" maxlon="{lon0 + side * _STEP_LON}"/>\n')
        for i in range(side):
            for j in range(side):
                lat = lat0 + (i + jitter[i, j, 0]) * _STEP_LAT
                lon = lon0 + (j + jitter[i, j, 1]) * _STEP_LON
                head = f'  <node id="{nid(i, j)}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"'
                if (i, j) in signals:
                    out.write(head + '>\n    <tag k="highway" v="traffic_signals"/>\n  </node>\n')
                else:
                    out.write(head + "/>\n")
        for wid, ids, tags in ways:
            out.write(f'  <way id="{wid}" version="1">\n')
            out.writelines(f'    <nd ref="{n}"/>\n' for n in ids)
            out.writelines(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in tags.items())
            out.write("  </way>\n")
        rel_id = 1
        for i, j, come, go, kind in restricted:
            via = nid(i, j)
            prev = nid(i - delta[come][0], j - delta[come][1])
            nxt = nid(i + delta[go][0], j + delta[go][1])
            frm = segment_way[(min(prev, via), max(prev, via))]
            to = segment_way[(min(via, nxt), max(via, nxt))]
            out.write(f'  <relation id="{rel_id}" version="1">\n'
                      f'    <member type="way" ref="{frm}" role="from"/>\n'
                      f'    <member type="node" ref="{via}" role="via"/>\n'
                      f'    <member type="way" ref="{to}" role="to"/>\n'
                      f'    <tag k="type" v="restriction"/>\n'
                      f'    <tag k="restriction" v="{kind}"/>\n'
                      f'    <tag k="source" v="synthetic"/>\n  </relation>\n')
            rel_id += 1
        out.write("</osm>\n")
    return path


def synthetic_osm(side: int, *, seed: int = 7, directory: str | Path | None = None) -> Path:
    """The synthetic city file of this size, written once and reused."""
    directory = Path(directory or Path(__file__).resolve().parent.parent / "build" / "bench")
    path = directory / f"synthetic_{side}_{seed}.osm"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write_synthetic_osm(tmp, side=side, seed=seed)
        tmp.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=330)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(write_synthetic_osm(args.out, side=args.side, seed=args.seed))


if __name__ == "__main__":
    main()
