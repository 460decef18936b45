"""A character CRF address parser trained from a labelled corpus (python-crfsuite).

Features per character: the character and its neighbours (±2), bigrams, its class
(digit, latin, Chinese, other), whether it is a typical suffix of a road, a place or a
number, and where it sits in the longest division name of the national index that
covers it (begin / inside / end and the division level). Nothing is learned from a
corpus until :func:`train` is given one; a trained model is a file (``parser.crfsuite``
in a bundle's ``address`` directory).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import pycrfsuite

from address.corpus import LABEL_COMPONENTS, TaggedAddress
from address.divisions import DivisionIndex, load_index
from address.errors import InvalidAddress
from address.national import ParsedAddress, level_of
from address.normalize import MAX_LENGTH, _simplified, replace_numerals
from address.score import normalize_value

__all__ = ["MODEL_FILE", "features", "train", "CrfParser", "prepare"]

#: The model's file name in a bundle's ``address`` directory.
MODEL_FILE = "parser.crfsuite"
_ROAD = set("路街道巷弄线桥")
_PLACE = set("区园城厦场司苑心村店院楼寓厂学站馆局都部府庄庭")
_NUMBER = set("号幢栋座单元层室组队楼期米")
_COUNTED = ("number", "building", "unit", "floor", "room")
_PARAMS = {"c1": 0.05, "c2": 0.01, "max_iterations": 150,
           "feature.possible_transitions": True}


@cache
def _char(c: str) -> str:
    n = unicodedata.normalize("NFKC", c)
    return _simplified(n if len(n) == 1 else c)


def prepare(text: str) -> str:
    """Length-preserving cleanup: full-width to half-width, traditional to simplified."""
    return "".join([_char(c) for c in text])


def _kind(c: str) -> str:
    if c.isdigit():
        return "D"
    if c.isascii() and c.isalpha():
        return "L"
    if "\u4e00" <= c <= "\u9fff":
        return "C"
    return "O"


def _division_tags(text: str, index: DivisionIndex) -> list[str]:
    tags = [""] * len(text)
    pos = 0
    while pos < len(text):
        hit = index.match(text, pos)
        if hit is None or len(hit[0]) < 2:
            pos += 1
            continue
        name, found = hit
        level = found[0].level
        end = pos + len(name)
        tags[pos] = f"B{level}"
        for i in range(pos + 1, end - 1):
            tags[i] = f"I{level}"
        tags[end - 1] = f"E{level}"
        pos = end
    return tags


def features(text: str, *, index: DivisionIndex | None = None) -> list[list[str]]:
    """CRF features of each character of ``text`` (already :func:`prepare`-d)."""
    index = index or load_index()
    div = _division_tags(text, index)
    padded = "^^" + text + "$$"
    out = []
    for i, c in enumerate(text):
        j = i + 2
        p1, p2, n1, n2 = padded[j - 1], padded[j - 2], padded[j + 1], padded[j + 2]
        f = [f"c={c}", f"p1={p1}", f"p2={p2}", f"n1={n1}", f"n2={n2}",
             f"p1c={p1}{c}", f"cn1={c}{n1}", f"p1n1={p1}|{n1}", f"k={_kind(c)}",
             f"kk={_kind(p1)}{_kind(c)}{_kind(n1)}"]
        if c in _ROAD:
            f.append("road_end")
        if c in _PLACE:
            f.append("place_end")
        if c in _NUMBER:
            f.append("number_end")
        if n1 in _NUMBER:
            f.append("n1_number_end")
        if div[i]:
            f.append(f"div={div[i]}")
        if i == 0:
            f.append("BOS")
        if i == len(text) - 1:
            f.append("EOS")
        out.append(f)
    return out


def train(addresses: Iterable[TaggedAddress], path: str | Path, *,
          index: DivisionIndex | None = None, max_iterations: int | None = None) -> Path:
    """Train a CRF on labelled addresses and write it to ``path``.

    Parameters
    ----------
    addresses : iterable of TaggedAddress
        The training corpus (see :func:`address.corpus.read_tagged`).
    path : str or Path
        Model file written.
    index : DivisionIndex, optional
        Division names for the dictionary features.
    max_iterations : int, optional
        L-BFGS iterations (150 by default).

    Returns
    -------
    Path
    """
    index = index or load_index()
    trainer = pycrfsuite.Trainer(verbose=False)
    for a in addresses:
        text = prepare(a.text)
        trainer.append(features(text, index=index), a.char_labels())
    params = dict(_PARAMS)
    if max_iterations is not None:
        params["max_iterations"] = max_iterations
    trainer.set_params(params)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    trainer.train(str(path))
    return path


def _spans(text: str, tags: Sequence[str]) -> list[tuple[str, str]]:
    spans, label, start = [], None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        if label is not None and (prefix != "I" or name != label):
            spans.append((label, text[start:i]))
            label = None
        if prefix == "B" or (prefix == "I" and label is None):
            label, start = name, i
    return spans


class CrfParser:
    """Parse addresses with a trained CRF model.

    Parameters
    ----------
    path : str or Path
        A model written by :func:`train`.
    index : DivisionIndex, optional
        Division names (features and ``inferred``).
    """

    def __init__(self, path: str | Path, *, index: DivisionIndex | None = None) -> None:
        self.path = Path(path)
        self.index = index or load_index()
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open(str(self.path))

    def tag(self, text: str) -> list[tuple[str, str]]:
        """``(corpus label, text)`` spans of an address."""
        clean = prepare(text)
        return _spans(clean, self.tagger.tag(features(clean, index=self.index)))

    def parse(self, text: str) -> ParsedAddress:
        """Components of an address (first span of each component), as
        :func:`address.national.parse_address` gives them."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidAddress("empty address")
        if len(text) > MAX_LENGTH:
            raise InvalidAddress(f"address longer than {MAX_LENGTH} characters")
        out = ParsedAddress(flags=["model"])
        for label, value in self.tag(text):
            component = LABEL_COMPONENTS.get(label)
            value = replace_numerals(value.strip(" -_"))
            if component in _COUNTED:  # digits, no counter, as the rules give them
                value = normalize_value(component, value) or value
            if component and value:
                out.components.setdefault(component, value)
        _infer(out, self.index)
        out.level = level_of(out.components)
        return out


def _infer(out: ParsedAddress, index: DivisionIndex) -> None:
    """Province, city and district the stated divisions imply, each narrowed by the ones
    above it; nothing from a name that stays ambiguous."""
    codes: dict[str, str | None] = {"province": None, "city": None, "county": None}
    for component, level in (("province", "province"), ("city", "city"),
                             ("district", "county")):
        value = out.components.get(component)
        hit = index.match(value) if value else None
        if not hit:
            continue
        found = [d for d in hit[1] if d.level in (level, "city" if level == "province" else level)
                 and (codes["province"] is None or d.province_code == codes["province"])
                 and (codes["city"] is None or d.city_code in (None, codes["city"]))]
        if len({(d.province_code, d.city_code, d.county_code) for d in found}) != 1:
            continue
        d = found[0]
        codes["province"], codes["city"] = d.province_code, d.city_code or codes["city"]
        codes["county"] = d.county_code or codes["county"]
    for name, level in (("province", "province"), ("city", "city"), ("district", "county")):
        full = index.name_of(level, codes[level])
        if full:
            out.inferred[name], out.inferred[f"{name}_code"] = full, codes[level]
