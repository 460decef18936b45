"""Normalizer, numerals and coordinate systems."""

from __future__ import annotations

import pytest

from address.crs import bd09_to_gcj02, from_wgs84, gcj02_to_bd09, gcj02_to_wgs84, to_wgs84
from address.errors import InvalidAddress, InvalidCoordinates
from address.normalize import chinese_to_int, normalize


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("上海市黄浦區　淮海中路一百零八號（近地铁站）附近", "上海市黄浦区淮海中路108号"),
        ("三号楼二单元五零二室", "3号楼2单元502室"),
        ("淮海中路十二弄", "淮海中路12弄"),
        ("南京东路６３５号 13812345678", "南京东路635号"),
        ("淮海中路 775 号 对面", "淮海中路775号"),
        ("南京東路第六百三十五號", "南京东路635号"),
        ("陕西南路31-91号", "陕西南路31-91号"),
        ("四川中路\x00二十号", "四川中路20号"),
    ],
)
def test_normalize(raw: str, clean: str) -> None:
    assert normalize(raw) == clean


def test_normalize_keeps_its_output_on_its_fast_paths() -> None:
    # full-width, traditional and variant characters in one table; controls removed
    assert normalize("上海市黃浦區\u200b四川中路２０號衖") == "上海市黄浦区四川中路20号弄"
    # noise words are removed in order: 斜对面 loses its 对面 first
    assert normalize("淮海中路775号斜对面") == "淮海中路775号斜"
    assert normalize("南京东路第六百三十五号号") == "南京东路635号"


def test_numerals_inside_names_are_kept() -> None:
    assert normalize("四川中路") == "四川中路"
    assert normalize("九江路一号") == "九江路1号"


@pytest.mark.parametrize("bad", ["", "   ", "附近", "x" * 10_000, "\x01\x02"])
def test_bad_text(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        normalize(bad)


@pytest.mark.parametrize(("text", "value"), [("一百零八", 108), ("十二", 12), ("二十", 20),
                                             ("一二三", 123), ("三千零五", 3005), ("两百", 200)])
def test_chinese_to_int(text: str, value: int) -> None:
    assert chinese_to_int(text) == value


def test_known_coordinate_pairs() -> None:
    # published reference values (coordTransform)
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-9)
    assert bd09_to_gcj02(116.41036949371029, 39.92133699351021) == pytest.approx((116.404, 39.915), abs=1e-5)
    assert gcj02_to_wgs84(116.404, 39.915) == pytest.approx((116.39775550083061, 39.91359571849836), abs=2e-5)
    lon, lat = from_wgs84(121.4737, 31.2304, "gcj02")
    assert 0.003 < lon - 121.4737 < 0.006 and -0.003 < lat - 31.2304 < 0.0
    back = to_wgs84(*from_wgs84(121.4737, 31.2304, "bd09"), "bd09")
    assert back == pytest.approx((121.4737, 31.2304), abs=5e-6)
    assert from_wgs84(2.35, 48.85, "gcj02") == (2.35, 48.85)  # outside China: unchanged
    with pytest.raises(InvalidCoordinates):
        to_wgs84(1, 2, "epsg:3857")
