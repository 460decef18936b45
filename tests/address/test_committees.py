"""Committees (居委会) of a geocoder candidate: names from ``components``, codes from
``inferred``."""

from __future__ import annotations

import pandas as pd

from twin.schools.official import CommitteeIndex

_INDEX = CommitteeIndex(pd.DataFrame({
    "code": ["310101013001", "310106013002", "310101023006"],
    "name": ["新桥居民委员会", "新桥居委会", "茂名居委会"]}))


def test_a_name_of_two_districts_needs_the_inferred_district() -> None:
    components = {"community": "新桥居委会", "road": "淡水路", "number": "100"}
    assert _INDEX.resolve(components) is None  # 黄浦区 and 静安区: not guessed
    found = _INDEX.resolve(components, {"district_code": "310106"})
    assert found == {"name": "新桥居委会", "code": "310106013002"}


def test_the_inferred_community_code_wins() -> None:
    found = _INDEX.resolve({"community": "茂名"}, {"community_code": "310101023006"})
    assert found == {"name": "茂名居委会", "code": "310101023006"}
    assert _INDEX.resolve({"road": "茂名南路"}, {"community_code": "310101023006"}) is None
