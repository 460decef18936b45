"""School-district matching (学位信息一键查 / 学区划片): the City's ``city.schools``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin.schools.service import LEVELS, SchoolService

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["LEVELS", "SchoolService", "load"]


def load(city: City) -> SchoolService:
    """Open the school service on the city's schools, homes and road graph."""

    def geocode(text: str) -> list[dict]:
        return city.address.geocode(text, limit=1)

    return SchoolService(city.graph, city.layers["schools"].data, city.layers["homes"].data,
                         geocoder=geocode)
