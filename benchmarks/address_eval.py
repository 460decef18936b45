"""Standard-address quality and speed: parsing on public labelled corpora, and geocoding
on a labelled evaluation set of the embedded city, beside cpca and jionlp.

**Parsing** (``--corpus DIR``, or ``TWIN_ADDRESS_CORPORA``; the corpora are read from there,
never copied): component micro-F1 of the default parser (rules + national divisions) and
of a CRF trained on the corpus (NAACL 2019: train -> dev; CCKS 2021: k-fold
cross-validation of its train split), per component, with throughput on one core; cpca
and jionlp on the same inputs, scored only on the components they produce. Scoring:
:mod:`address.score` (a lane is scored as the corpora's ``roadno`` and the door number
inside a lane as their ``houseno``, as both corpora label Shanghai lanes).

**Geocoding**:
The evaluation set is built from the city's real door addresses (OSM ``addr:street`` +
``addr:housenumber``, deduplicated) with perturbations of several kinds, alone and
combined (fixed seed): full-width digits, Chinese numerals, traditional characters, noise
words / phone numbers / remarks, a missing 号, a dropped direction suffix (南京东路 ->
南京路), a one-character homophone typo in the road name, spaces and punctuation, a
building/unit/room tail, a city/district prefix (right or wrong).

    .venv/bin/python benchmarks/address_eval.py --corpus ../shared/eval   # both parts
    .venv/bin/python benchmarks/address_eval.py --corpus ../shared/eval --no-geocoding \\
        --no-crf --no-peers --cpu 1                                      # default parser only
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from opencc import OpenCC
from pypinyin import lazy_pinyin

from address.corpus import TaggedAddress, gold_components, read_tagged
from address.crf import CrfParser, train
from address.divisions import load_index
from address.national import parse_address
from address.normalize import normalize
from address.score import SCORED, Score, score
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


def as_corpus(components: dict[str, str]) -> dict[str, str]:
    """Our components in the corpora's terms: a lane is their ``roadno``, the door
    number inside it their ``houseno``."""
    if "lane" not in components:
        return components
    out = dict(components)
    out["number"] = out.pop("lane")
    if "number" in components:
        out.setdefault("building", components["number"])
    return out


def _timed(fn, texts: list[str]) -> tuple[list[dict[str, str]], float]:  # noqa: ANN001
    start = time.perf_counter()
    out = []
    for t in texts:
        try:
            out.append(fn(t))
        except ValueError:
            out.append({})
    return out, len(texts) / (time.perf_counter() - start)


def rules(texts: list[str]) -> tuple[list[dict[str, str]], float]:
    """The default parser (normalize cache cleared first)."""
    index = load_index()
    normalize.cache_clear()
    return _timed(lambda t: as_corpus(parse_address(t, index=index).components), texts)


def parser_speed(texts: list[str], *, repeats: int = 7) -> tuple[float, float]:
    """Best and median addresses/s of the default parser over ``texts``, one thread,
    ``repeats`` runs (normalize cache cleared before each)."""
    rules(texts)  # warm up: division index, regexes, character table
    rates = [rules(texts)[1] for _ in range(repeats)]
    return max(rates), statistics.median(rates)


def crf(train_set: list[TaggedAddress], texts: list[str]) -> tuple[list[dict], float]:
    """A CRF trained on ``train_set``, applied to ``texts``."""
    with tempfile.TemporaryDirectory() as tmp:
        model = train(train_set, Path(tmp) / "parser.crfsuite")
        parser = CrfParser(model)
        return _timed(lambda t: parser.parse(t).components, texts)


def cpca_peer(texts: list[str]) -> tuple[list[dict], float, tuple[str, ...]]:
    import cpca

    start = time.perf_counter()
    table = cpca.transform(texts)
    rate = len(texts) / (time.perf_counter() - start)
    cols = {"省": "province", "市": "city", "区": "district"}
    out = [{cols[k]: v for k, v in row.items() if k in cols and isinstance(v, str) and v}
           for row in table.to_dict("records")]
    return out, rate, tuple(cols.values())


def jionlp_peer(texts: list[str]) -> tuple[list[dict], float, tuple[str, ...]]:
    import jionlp

    keys = {"province": "province", "city": "city", "county": "district", "town": "street",
            "village": "community"}

    def one(t: str) -> dict[str, str]:
        r = jionlp.parse_location(t, town_village=True)
        return {v: r[k] for k, v in keys.items() if r.get(k)}

    out, rate = _timed(one, texts)
    return out, rate, tuple(keys.values())


def _row(name: str, s: Score, rate: float | None, components: tuple[str, ...]) -> str:
    cells = [f"{s.f1(c):.3f}" if c in components and s.gold[c] else "-" for c in SCORED]
    micro = Score()
    for c in components:
        micro.tp[c], micro.predicted[c], micro.gold[c] = s.tp[c], s.predicted[c], s.gold[c]
    rate_cell = f"{rate:,.0f}" if rate else "-"
    return f"| {name} | {' | '.join(cells)} | **{micro.f1():.3f}** | {rate_cell} |"


def _folds(data: list[TaggedAddress], k: int) -> list[tuple[list, list]]:
    order = list(range(len(data)))
    random.Random(SEED).shuffle(order)
    return [([data[i] for i in order if i % k != f], [data[i] for j, i in enumerate(order)
                                                    if j % k == f]) for f in range(k)]


def parsing(corpora: Path, *, folds: int, peers: bool, with_crf: bool = True) -> None:
    """Print the parsing tables of both corpora, then the default parser's speed."""
    header = ("| parser | " + " | ".join(SCORED) + " | micro-F1 | addr/s |\n|"
              + "---|" * (len(SCORED) + 3))
    naacl_train = read_tagged(corpora / "naacl2019_address_train.txt")
    naacl_dev = read_tagged(corpora / "naacl2019_address_dev.txt")
    ccks = read_tagged(corpora / "ccks2021_address_train.conll")
    everything = tuple(SCORED)
    for title, test, splits in (
            ("NAACL 2019 dev (CRF trained on its train split)", naacl_dev,
             [(naacl_train, naacl_dev)]),
            (f"CCKS 2021 train, {folds}-fold cross-validation", ccks, _folds(ccks, folds))):
        print(f"\n{title}: {len(test):,} addresses\n\n{header}")
        texts = [a.text for a in test]
        gold = [gold_components(a) for a in test]
        pred, rate = rules(texts)
        print(_row("default (rules + divisions)", score(pred, gold), rate, everything))
        preds, golds, rates = [], [], []
        for train_set, held_out in (splits if with_crf else []):
            p, r = crf(train_set, [a.text for a in held_out])
            preds += p
            golds += [gold_components(a) for a in held_out]
            rates.append(r)
        if with_crf:
            print(_row("CRF (python-crfsuite)", score(preds, golds), statistics.median(rates),
                       everything))
        if peers:
            for name, peer in (("cpca", cpca_peer), ("jionlp.parse_location", jionlp_peer)):
                try:
                    p, r, comps = peer(texts)
                except ImportError:
                    print(f"| {name} | not installed |")
                    continue
                print(_row(name, score(p, gold, components=comps), r, comps))
                print(_row(f"default, on {name}'s components", score(pred, gold, components=comps),
                           None, comps))
    texts = [a.text for a in naacl_dev] + [a.text for a in ccks]
    best, median = parser_speed(texts)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"\n| default parser, one thread (CPUs {cpus}), {len(texts):,} addresses x 7 "
          f"| best {best:,.0f} addr/s | median {median:,.0f} addr/s | load average {load} |"
          "\n|---|---|---|---|")


def geocoding() -> None:
    """The embedded city's geocoding figures."""
    city = City.load()
    table = build_set(city)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False)
    result = evaluate(city, table)
    print(f"\nevaluation set: {len(table)} queries from {table['code'].nunique()} real doors "
          f"({OUT.name})\n")
    print("| perturbation | n | door top-1 | road top-1 |\n|---|---|---|---|")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=os.environ.get("TWIN_ADDRESS_CORPORA"),
                    help="directory of the labelled corpora (see its README)")
    ap.add_argument("--folds", type=int, default=5, help="CCKS cross-validation folds")
    ap.add_argument("--no-peers", action="store_true", help="skip cpca and jionlp")
    ap.add_argument("--no-crf", action="store_true", help="skip training the CRF")
    ap.add_argument("--no-geocoding", action="store_true", help="parsing only")
    ap.add_argument("--cpu", type=int, help="pin the process to this CPU (Linux)")
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.corpus is not None:
        parsing(Path(args.corpus), folds=args.folds, peers=not args.no_peers,
                with_crf=not args.no_crf)
    else:
        print("no --corpus / TWIN_ADDRESS_CORPORA: parsing on the public corpora skipped")
    if not args.no_geocoding:
        geocoding()


if __name__ == "__main__":
    main()
