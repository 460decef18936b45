"""Labelled address corpora: read character-tagged files (BIO / BIOES) into spans.

A corpus file has one token a line, ``token TAG`` (a token is a character or a run of
digits), with a blank line between addresses; tags are ``B-label``, ``I-label``,
``E-label``, ``S-label`` or ``O``. :data:`LABEL_COMPONENTS` maps the labels of the public
address corpora (NAACL 2019, CCKS 2021) to this package's component names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TaggedAddress", "read_tagged", "LABEL_COMPONENTS", "gold_components"]

#: Corpus label -> component name (labels not listed are not components).
LABEL_COMPONENTS = {
    "prov": "province", "city": "city", "district": "district", "devzone": "devzone",
    "town": "street", "community": "community", "village_group": "village_group",
    "road": "road", "subroad": "subroad", "roadno": "number", "subroadno": "sub_number",
    "intersection": "intersection", "distance": "distance", "poi": "place",
    "subpoi": "subplace", "houseno": "building", "cellno": "unit", "floorno": "floor",
    "roomno": "room",
}


@dataclass
class TaggedAddress:
    """One labelled address: its text, and its spans as ``(label, start, end)``."""

    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)

    def values(self) -> list[tuple[str, str]]:
        """``(label, text of the span)`` in order."""
        return [(label, self.text[a:b]) for label, a, b in self.spans]

    def char_labels(self) -> list[str]:
        """One BIO tag per character (lower-case labels)."""
        tags = ["O"] * len(self.text)
        for label, a, b in self.spans:
            tags[a] = f"B-{label}"
            for i in range(a + 1, b):
                tags[i] = f"I-{label}"
        return tags


def _tokens(path: Path) -> Iterator[list[tuple[str, str]]]:
    tokens: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    yield tokens
                tokens = []
                continue
            token, _, tag = line.rpartition(" ") if " " in line else line.rpartition("\t")
            tokens.append((token or " ", tag))
    if tokens:
        yield tokens


def _spans(tokens: list[tuple[str, str]]) -> TaggedAddress:
    text, spans = "", []
    current: list | None = None
    for token, tag in tokens:
        start = len(text)
        text += token
        prefix, _, label = tag.partition("-")
        label = label.lower()
        continues = prefix in ("I", "E") and current is not None and current[0] == label
        if prefix in ("I", "E") and continues:
            current[2] = len(text)
        else:
            if current is not None:
                spans.append(tuple(current))
            current = [label, start, len(text)] if prefix in ("B", "S", "I", "E") else None
        if prefix in ("E", "S") and current is not None:
            spans.append(tuple(current))
            current = None
    if current is not None:
        spans.append(tuple(current))
    return TaggedAddress(text, spans)


def read_tagged(path: str | Path) -> list[TaggedAddress]:
    """Read a character-tagged corpus.

    Parameters
    ----------
    path : str or Path
        ``token TAG`` lines, blank lines between addresses (BIO or BIOES).

    Returns
    -------
    list of TaggedAddress
    """
    return [_spans(tokens) for tokens in _tokens(Path(path))]


def gold_components(address: TaggedAddress) -> list[tuple[str, str]]:
    """``(component, text)`` of the spans whose label is a component."""
    return [(LABEL_COMPONENTS[label], value) for label, value in address.values()
            if label in LABEL_COMPONENTS]
