"""Normalize messy Chinese address text before parsing.

Full-width to half-width (NFKC), traditional to simplified (OpenCC), Chinese numerals to
digits where they are numbers (三号楼 -> 3号楼, 一百零八号 -> 108号, 十二弄), variant
characters (號 -> 号, 衖 -> 弄), and noise removed: spaces and punctuation, phone numbers,
parenthesised remarks, and vague place words (附近, 对面, 旁边, 门口 ...).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from opencc import OpenCC

from address.errors import InvalidAddress

__all__ = ["MAX_LENGTH", "normalize", "chinese_to_int", "replace_numerals"]

MAX_LENGTH = 200
_T2S = OpenCC("t2s")
_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL = "零〇○一二两三四五六七八九十百千"
#: units after which a Chinese numeral is a number (door, lane, building, unit, room, floor)
_COUNTERS = "号弄栋幢座楼单元室层支巷户"
_VARIANTS = str.maketrans({"號": "号", "衖": "弄", "邨": "村", "廿": "二十", "卅": "三十",
                           "－": "-", "—": "-", "–": "-", "~": "-", "～": "-", "至": "-"})
_NOISE_WORDS = ("附近", "对面", "旁边", "隔壁", "门口", "周边", "一带", "左右", "往里走",
                "里面", "楼下", "后面", "斜对面", "交叉口附近")
_PHONE = re.compile(r"(?:\+?86[- ]?)?1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|电话[:：]?\d+")
_REMARK = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
_PUNCT = re.compile(r"[\s,，。;；:：、'\"“”‘’!！?？/\\|*#@&]+")
_NUM_RE = re.compile(f"(第)?([{_NUMERAL}]+)(?=[{_COUNTERS}]|$)")
_NOISE_ANY = re.compile("|".join(map(re.escape, _NOISE_WORDS)))
_ORDINAL = re.compile(r"第(\d+)")
_DOUBLE_HAO = re.compile(r"(\d+)号号")


@cache
def _simplified(char: str) -> str:
    """Traditional -> simplified, character by character (cached; OpenCC tables)."""
    return _T2S.convert(char) if "\u3400" <= char <= "\u9fff" else char


class _CharTable(dict):
    """``str.translate`` table filled on first sight of each character: traditional ->
    simplified (OpenCC, character by character), then the variants (號 -> 号, 衖 -> 弄).
    Only the basic multilingual plane is kept (at most 65,536 entries)."""

    def __missing__(self, code: int) -> str:
        value = _simplified(chr(code)).translate(_VARIANTS)
        if code < 0x10000:
            self[code] = value
        return value


_CHARS = _CharTable()


def _without_controls(text: str) -> str:
    """``text`` without characters of Unicode category C (controls, format, unassigned)."""
    if text.isprintable():  # the common case: no category C character (nor Z but " ")
        return text
    return "".join([c for c in text if unicodedata.category(c)[0] != "C"])


def chinese_to_int(text: str) -> int:
    """``"一百零八"`` -> 108, ``"十二"`` -> 12, ``"三"`` -> 3, ``"一二三"`` -> 123.

    Raises
    ------
    ValueError
        Not a Chinese numeral.
    """
    if not text or any(c not in _DIGITS and c not in _UNITS for c in text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    if not any(c in _UNITS for c in text):  # digit by digit: 一二三 -> 123
        return int("".join(str(_DIGITS[c]) for c in text))
    total, current = 0, 0
    for c in text:
        if c in _DIGITS:
            current = _DIGITS[c]
        else:
            total += (current or 1) * _UNITS[c]
            current = 0
    return total + current


def replace_numerals(text: str) -> str:
    """Chinese numerals followed by a counter (号, 弄, 栋 ...) or ``第`` become digits."""

    def sub(m: re.Match[str]) -> str:
        try:
            return str(chinese_to_int(m.group(2)))
        except ValueError:
            return m.group(0)

    return _NUM_RE.sub(sub, text)


@lru_cache(maxsize=65_536)
def normalize(text: str) -> str:
    """Normalize an address string.

    Parameters
    ----------
    text : str
        Raw address text.

    Returns
    -------
    str
        Cleaned text: half-width, simplified, digits, no noise.

    Raises
    ------
    InvalidAddress
        Empty, longer than :data:`MAX_LENGTH`, or control characters only.

    Examples
    --------
    >>> normalize("上海市黄浦區　淮海中路一百零八號（近地铁站）附近")
    '上海市黄浦区淮海中路108号'
    """
    if not isinstance(text, str):
        raise InvalidAddress("address must be text")
    if not text.strip():
        raise InvalidAddress("empty address")
    if len(text) > MAX_LENGTH:
        raise InvalidAddress(f"address longer than {MAX_LENGTH} characters")
    text = unicodedata.normalize("NFKC", _without_controls(text)).translate(_CHARS)
    text = _REMARK.sub("", text)
    text = _PHONE.sub("", text)
    if _NOISE_ANY.search(text):  # removed word by word, in order
        for word in _NOISE_WORDS:
            text = text.replace(word, "")
    text = _PUNCT.sub("", text)
    text = replace_numerals(text)
    if "第" in text:
        text = _ORDINAL.sub(r"\1", text)
    if "号号" in text:
        text = _DOUBLE_HAO.sub(r"\1号", text)
    if not text.strip():
        raise InvalidAddress("no address content after removing noise")
    return text
