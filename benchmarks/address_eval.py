"""Standard-address quality and speed: a labelled evaluation set, accuracy, throughput, cpca.

The evaluation set is built from the city's real door addresses (OSM ``addr:street`` +
``addr:housenumber``, deduplicated) with perturbations of several kinds, alone and
combined (fixed seed): full-width digits, Chinese numerals, traditional characters, noise
words / phone numbers / remarks, a missing 号, a dropped direction suffix (南京东路 ->
南京路), a one-character homophone typo in the road name, spaces and punctuation, a
building/unit/room tail, a city/district prefix (right or wrong).

    .venv/bin/python benchmarks/address_eval.py            # writes benchmarks/data/address_eval.csv
"""

from __future__ import annotations

import random
import re
import statistics
import time
from pathlib import Path

import pandas as pd
from opencc import OpenCC
from pypinyin import lazy_pinyin

from address.normalize import normalize
from twin import City

OUT = Path(__file__).resolve().parent / "data" / "address_eval.csv"
SEED = 20261123
_CN = "零一二三四五六七八九"


def to_chinese(n: int) -> str:
    """108 -> 一百零八 (up to 9999)."""
    if n == 0:
        return "零"
    units = [(1000, "千"), (100, "百"), (10, "十"), (1, "")]
    out, zero = "", False
    for value, unit in units:
        d = n // value % 10
        if d:
            if zero and out:
                out += "零"
            out += ("" if (value == 10 and d == 1 and not out) else _CN[d]) + unit
            zero = False
        elif out:
            zero = True
    return out


def homophones(chars: set[str]) -> dict[str, list[str]]:
    """Characters grouped by toneless pinyin (from the city's own names)."""
    groups: dict[str, list[str]] = {}
    for c in sorted(chars):
        groups.setdefault(lazy_pinyin(c)[0], []).append(c)
    return {c: [o for o in groups[lazy_pinyin(c)[0]] if o != c] for c in chars}


def build_set(city: City, n_per_door: int = 3) -> pd.DataFrame:
    """The labelled queries: ``query, kinds, road, number, code, district``."""
    gaz = city.address.gazetteer
    doors = gaz.doors[gaz.doors["status"] == "active"]
    rng = random.Random(SEED)
    t2s_inverse = OpenCC("s2t")
    name_chars = {c for n in gaz.roads for c in n} | {
        c for n in city.layers["pois"].data["name"].dropna() for c in str(n)
        if "\u4e00" <= c <= "\u9fff"}
    homo = homophones(name_chars)
    districts = list(gaz.district_name.items())
    rows = []
    kinds_all = ["fullwidth", "chinese_numeral", "traditional", "noise", "no_hao",
                 "no_direction", "homophone", "spaces", "tail", "prefix", "wrong_district"]
    for door in doors.itertuples():
        road, number = door.road, int(door.number)
        for k in range(n_per_door):
            kinds = [] if k == 0 else rng.sample(kinds_all, rng.choice([1, 1, 2, 3]))
            if "no_hao" in kinds and "tail" in kinds:
                kinds.remove("no_hao")  # 南丹东路1066号楼 is ambiguous for a person too
            r, num, suffix = road, str(number), "号"
            prefix, tail = "", ""
            if "no_direction" in kinds:
                stripped = re.sub("[东西南北中](路|街)$", r"\1", r)
                if stripped == r:
                    kinds.remove("no_direction")
                r = stripped
            if "homophone" in kinds:
                options = [(i, alt) for i, c in enumerate(r[:-1]) for alt in homo.get(c, [])]
                if options:
                    i, alt = rng.choice(options)
                    r = r[:i] + alt + r[i + 1:]
                else:
                    kinds.remove("homophone")
            if "chinese_numeral" in kinds:
                num = to_chinese(number) if number < 10_000 else num
            if "fullwidth" in kinds:
                num = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in num)
            if "no_hao" in kinds:
                suffix = ""
            if "prefix" in kinds or "wrong_district" in kinds:
                if "wrong_district" in kinds:
                    prefix = "上海市" + rng.choice([d for c, d in districts if c != door.district_code])
                elif isinstance(door.district_code, str):
                    prefix = "上海市" + gaz.district_name[door.district_code]
                else:
                    prefix = "上海"
            if "tail" in kinds:
                tail = (f"{rng.randint(1, 30)}号楼{rng.randint(1, 6)}单元"
                        f"{rng.randint(1, 30)}0{rng.randint(1, 4)}室")
            text = f"{prefix}{r}{num}{suffix}{tail}"
            if "traditional" in kinds:
                text = t2s_inverse.convert(text)
            if "spaces" in kinds:
                text = text.replace(r, f" {r} ", 1).replace(suffix or num, f"{suffix or num} ", 1)
                text = "，" + text if rng.random() < 0.5 else text
            if "noise" in kinds:
                text = rng.choice([text + "附近", text + "对面", "(近地铁站)" + text,
                                   text + " 电话13812345678", text + "（二楼）"])
            rows.append({"query": text, "kinds": "+".join(kinds) or "clean", "road": road,
                         "number": number, "code": door.code,
                         "district": gaz.district_name.get(door.district_code, "")})
    return pd.DataFrame(rows).drop_duplicates("query").reset_index(drop=True)


def evaluate(city: City, table: pd.DataFrame) -> pd.DataFrame:
    """Top-1 answer per query."""
    result = city.address.geocode_many(table["query"])
    out = table.copy()
    out["got_code"] = result["code"].to_numpy()
    out["got_level"] = result["level"].to_numpy()
    out["got_road"] = result["road"].to_numpy()
    out["door_ok"] = (out["got_code"] == out["code"]) & (out["got_level"] == "door")
    out["road_ok"] = out["got_road"] == out["road"]
    return out


def throughput(city: City, queries: list[str]) -> float:
    """Distinct messy addresses per second on one core (caches cleared)."""
    normalize.cache_clear()
    start = time.perf_counter()
    city.address.geocode_many(queries)
    return len(queries) / (time.perf_counter() - start)


def cpca_comparison(table: pd.DataFrame) -> str:
    """cpca vs ours on province/city/district extraction, same input."""
    try:
        import cpca
    except ImportError:
        return "cpca is not installed (pip install cpca) — comparison skipped"
    with_district = table[table["query"].str.contains("区")].copy()
    queries = with_district["query"].tolist()
    start = time.perf_counter()
    theirs = cpca.transform(queries)
    cpca_rate = len(queries) / (time.perf_counter() - start)
    from address.parse import parse

    gazetteer = City.load().address.gazetteer
    normalize.cache_clear()
    start = time.perf_counter()
    ours = [parse(normalize(q), gazetteer).district for q in queries]
    our_rate = len(queries) / (time.perf_counter() - start)
    expected = [re.search(r"上海市([\u4e00-\u9fa5]+?区)", normalize(q)) for q in queries]
    expected = [m.group(1) if m else None for m in expected]
    cpca_ok = sum(str(a) == str(e) for a, e in zip(theirs["区"], expected, strict=True))
    our_ok = sum(str(a) == str(e) for a, e in zip(ours, expected, strict=True))
    n = len(queries)
    return ("| district parse (queries with a district) | ours | cpca | ratio |\n|---|---|---|---|\n"
            f"| accuracy (n={n}) | {our_ok / n:.1%} | {cpca_ok / n:.1%} | |\n"
            f"| addresses/s | {our_rate:,.0f} | {cpca_rate:,.0f} | {our_rate / cpca_rate:.1f}x |")


def main() -> None:
    city = City.load()
    table = build_set(city)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False)
    result = evaluate(city, table)
    print(f"evaluation set: {len(table)} queries from {table['code'].nunique()} real doors "
          f"({OUT.name})\n")
    print("| perturbation | n | door top-1 | road top-1 |\n|---|---|---|---|")
    result["first_kind"] = result["kinds"].str.split("+").str[0]
    for kind, group in result.groupby(result["kinds"].where(~result["kinds"].str.contains(r"\+"),
                                                             "combined (2-3 kinds)")):
        print(f"| {kind} | {len(group)} | {group['door_ok'].mean():.1%} | {group['road_ok'].mean():.1%} |")
    print(f"| **all** | {len(result)} | **{result['door_ok'].mean():.1%}** | "
          f"**{result['road_ok'].mean():.1%}** |\n")
    wrong_door = result[(result["got_level"] == "door") & ~result["door_ok"]]
    print(f"confident wrong doors (level=door, wrong code): {len(wrong_door)}\n")
    queries = table["query"].tolist()
    rates = [throughput(city, queries) for _ in range(3)]
    print(f"| batch geocoding, one core, {len(queries)} distinct messy inputs, caches cleared "
          f"| {statistics.median(rates):,.0f} addresses/s |\n|---|---|\n")
    print(cpca_comparison(table))


if __name__ == "__main__":
    main()
