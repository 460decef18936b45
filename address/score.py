"""Score parsed components against labelled spans: micro-F1 over (address, component,
value) triples, values compared after normalization.

Normalization: NFKC (full-width to half-width), Chinese numerals to digits, the trailing
division suffix dropped (省 市 区 县 街道 镇 乡 社区 居委会 村委会) and, for numbered
components, the trailing counter (号 号楼 幢 栋 座 单元 楼 层 室 ...), so that ``浙江省``
equals ``浙江`` and ``三幢`` equals ``3``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from address.normalize import replace_numerals

__all__ = ["SCORED", "normalize_value", "Score", "score"]

#: The components scored (what both public corpora label).
SCORED = ("province", "city", "district", "street", "community", "road", "number", "place",
          "building", "unit", "floor", "room")
_NUMBERED = {"number", "building", "unit", "floor", "room", "sub_number", "village_group"}
_DIVISION_SUFFIX = re.compile(r"(?:省|市|区|县|街道|镇|乡|社区|居委会|村委会)$")
_COUNTER = re.compile(r"(?:号楼|号院|号门|号|幢|栋|座|单元|楼|层|室|房|弄|户|门|梯|F|f|组|队|社)$")
_NUMERAL_RUN = re.compile("[零〇一二两三四五六七八九十百千]+")


def _numerals(text: str) -> str:
    from address.normalize import chinese_to_int

    def sub(m: re.Match[str]) -> str:
        try:
            return str(chinese_to_int(m.group(0)))
        except ValueError:
            return m.group(0)

    return _NUMERAL_RUN.sub(sub, text)


def normalize_value(component: str, value: str) -> str:
    """The form a component's value is compared in.

    Examples
    --------
    >>> normalize_value("province", "浙江省"), normalize_value("building", "三幢")
    ('浙江', '3')
    """
    text = unicodedata.normalize("NFKC", str(value)).strip().replace(" ", "")
    text = replace_numerals(text)
    if component in _NUMBERED:
        text = _COUNTER.sub("", _numerals(text))
    elif component in ("province", "city", "district", "street", "community"):
        text = _DIVISION_SUFFIX.sub("", text) or text
    return text


@dataclass
class Score:
    """True positives, predicted and gold counts, per component."""

    tp: Counter = field(default_factory=Counter)
    predicted: Counter = field(default_factory=Counter)
    gold: Counter = field(default_factory=Counter)

    def f1(self, component: str | None = None) -> float:
        """F1 of one component, or micro-F1 over all when ``component`` is None."""
        keys = [component] if component else list(self.gold | self.predicted)
        tp = sum(self.tp[k] for k in keys)
        p = sum(self.predicted[k] for k in keys)
        g = sum(self.gold[k] for k in keys)
        return 2 * tp / (p + g) if p + g else 0.0

    def precision(self, component: str | None = None) -> float:
        keys = [component] if component else list(self.predicted)
        p = sum(self.predicted[k] for k in keys)
        return sum(self.tp[k] for k in keys) / p if p else 0.0

    def recall(self, component: str | None = None) -> float:
        keys = [component] if component else list(self.gold)
        g = sum(self.gold[k] for k in keys)
        return sum(self.tp[k] for k in keys) / g if g else 0.0


def _triples(pairs: Iterable[tuple[str, str]], components: Iterable[str]) -> set[tuple[str, str]]:
    keep = set(components)
    return {(c, normalize_value(c, v)) for c, v in pairs if c in keep and v}


def score(predicted: Iterable[Mapping[str, object] | Iterable[tuple[str, str]]],
          gold: Iterable[Iterable[tuple[str, str]]], *,
          components: Iterable[str] = SCORED) -> Score:
    """Micro-F1 counts over (address, component, value) triples.

    Parameters
    ----------
    predicted : iterable
        Per address, a mapping component -> value (a list value counts each item) or
        ``(component, value)`` pairs.
    gold : iterable of iterable of (str, str)
        Per address, the labelled ``(component, text)`` pairs.
    components : iterable of str
        Components scored (others are ignored on both sides).

    Returns
    -------
    Score
    """
    components = tuple(components)
    out = Score()
    for pred, ref in zip(predicted, gold, strict=True):
        if isinstance(pred, Mapping):
            pairs = [(k, x) for k, v in pred.items()
                     for x in (v if isinstance(v, list | tuple) else [v]) if x is not None]
        else:
            pairs = list(pred)
        p, g = _triples(pairs, components), _triples(ref, components)
        for c, _ in p:
            out.predicted[c] += 1
        for c, _ in g:
            out.gold[c] += 1
        for c, _ in p & g:
            out.tp[c] += 1
    return out
