"""Standard addresses over HTTP: geocode, batch, reverse, records, QR codes, lifecycle."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, create_model

from address.model import LEVELS as GEOCODE_LEVELS
from address.national import PARSE_COMPONENTS, PARSE_FLAGS, PARSE_LEVELS
from api.auth import require_editor
from api.deps import get_city, get_settings
from twin.city import City
from twin.settings import Settings

__all__ = ["router"]

router = APIRouter(tags=["addresses"])

Crs = Literal["wgs84", "gcj02", "bd09"]
CrsQuery = Annotated[Crs, Query(description="coordinates of the request and of the answer: "
                                            "wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)")]

_COMPONENT_DOCS = {
    "province": "省 / 自治区 / 直辖市 as written (浙江省, 浙江)",
    "city": "地级市 / 自治州 (杭州市); a municipality (上海市) is a city",
    "district": "区 / 县 / 县级市 (余杭区, 义乌市)",
    "devzone": "开发区 / 工业区 / 园区 (杭州经济技术开发区)",
    "street": "乡镇 / 街道 (闲林街道, 柳市镇)",
    "community": "社区 / 居委会 / 村 (翠苑社区, 仇毕村)",
    "village_group": "村民小组 (3组)",
    "road": "路 / 街 / 大道 / 巷 (文三路)",
    "subroad": "a second road (支路, or the cross road of an intersection)",
    "lane": "弄 (Shanghai lanes: 南京西路1025弄)",
    "number": "门牌号 on the road, digits (90, 103-104)",
    "sub_number": "sub-number of a door (12号之3 -> 3, 12-3号 -> 3)",
    "intersection": "路口 / 交叉口 between road and subroad",
    "distance": "distance from the place named (200米)",
    "place": "POI / landmark (翡翠城, 浙江大学)",
    "subplace": "part of the place (A区, 三期, 东门)",
    "building": "楼栋, without its counter (3 for 3幢 / 3号楼 / 3栋, A for A座)",
    "unit": "单元, digits",
    "floor": "楼层, digits (-1 for 负一层)",
    "room": "室 / 房, digits",
}


AddressComponents = create_model(
    "AddressComponents",
    __config__=ConfigDict(extra="allow"),
    __doc__="Components of an address as its text states them (normalized: digits for "
            "numbers, no counters); only those stated are present. One schema for "
            "``/parse``, ``/geocode`` and ``/addresses``.",
    **{name: (str | None, Field(None, description=_COMPONENT_DOCS[name]))
       for name in PARSE_COMPONENTS},
)


class InferredDivisions(BaseModel):
    """What the division names imply but the text does not state."""

    model_config = ConfigDict(extra="allow")
    province: str | None = Field(None, description="province of the divisions named")
    province_code: str | None = Field(None, pattern=r"^\d{6}$")
    city: str | None = None
    city_code: str | None = Field(None, pattern=r"^\d{6}$")
    district: str | None = None
    district_code: str | None = Field(None, pattern=r"^\d{6}$")


class ParseResult(BaseModel):
    """A parsed address."""

    query: str
    components: AddressComponents  # type: ignore[valid-type]
    level: Literal[PARSE_LEVELS] = Field(  # type: ignore[valid-type]
        description="the most precise component stated (door: a door number)")
    flags: list[Literal[PARSE_FLAGS]]  # type: ignore[valid-type]
    inferred: InferredDivisions


class GeocodeResult(BaseModel):
    """One ranked standard address."""

    model_config = ConfigDict(extra="allow")
    code: str | None
    address: str
    components: AddressComponents  # type: ignore[valid-type]
    inferred: InferredDivisions
    lon: float
    lat: float
    level: Literal[GEOCODE_LEVELS]  # type: ignore[valid-type]
    score: float
    flags: list[str]
    crs: str = "wgs84"


class GeocodeResponse(BaseModel):
    """Ranked standard addresses of a query."""

    query: str
    results: list[GeocodeResult]
Code = Annotated[str, PathParam(pattern=r"^\d{19}$", description="19-digit address code")]


class NewAddress(BaseModel):
    """A new door address."""

    model_config = ConfigDict(extra="forbid")
    road: str = Field(min_length=2, max_length=40)
    number: int = Field(ge=1, le=99_999)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    sub_number: str | None = Field(None, max_length=20)
    names: str | None = Field(None, max_length=200)
    district_code: str | None = Field(None, pattern=r"^\d{6}$")


class AddressEdit(BaseModel):
    """Changed fields of an address, with the version they are based on."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    road: str | None = Field(None, min_length=2, max_length=40)
    number: int | None = Field(None, ge=1, le=99_999)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    sub_number: str | None = Field(None, max_length=20)
    names: str | None = Field(None, max_length=200)
    merge_into: str | None = Field(None, pattern=r"^\d{19}$")


@router.get("/parse", summary="Any Chinese address -> its components",
            responses={200: {"model": ParseResult}})
def parse(
    q: Annotated[str, Query(min_length=1, max_length=200,
                            description="address text from anywhere in China")],
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """``{"components", "level", "flags", "inferred"}``: province, city, district, devzone,
    street (乡镇/街道), community, village_group, road, subroad, lane, number, sub_number,
    intersection, distance, place (POI), subplace, building, unit, floor, room, as the text
    states them; ``inferred`` holds what the national division names imply (the province
    and city of a named district, division codes). A landmark is the ``place``
    component (``/geocode`` answers a place found by its name at level ``poi``). With a
    parser trained at build time (``twin build --address-corpus``) the answer is flagged
    ``model``.
    """
    return {"query": q, **city.address.parse(q)}


@router.get("/geocode", summary="Address or place text -> ranked standard addresses",
            responses={200: {"model": GeocodeResponse}})
def geocode(
    q: Annotated[str, Query(min_length=1, max_length=200,
                            description="address text, or the name of a place (POI, station, "
                                        "stop), optionally with 站 / 地铁站")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    crs: CrsQuery = "wgs84",
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """``{"results": [{code, address, components, lon, lat, level, score, flags}]}``.

    ``level`` is one of ``door``, ``poi``, ``interpolated``, ``road``, ``community``,
    ``street``, ``district``, ``city`` (most precise first; a door address always ranks
    before a POI). A door is only ever given on the road written (same name, homophone,
    pinyin, a direction left out, or one unambiguous typo flagged ``road_corrected``); an
    unknown road answers at the most precise known division, flagged ``road_unknown``,
    with near roads after it as ``road``-level suggestions flagged ``road_suggested``. An
    ``interpolated`` result is a door placed between the known doors of its road, with
    ``error_m`` (estimated error in metres) and a null ``code``. A ``poi`` result also
    has ``name`` (normalized), ``label`` (as mapped) and ``kind`` (``station``, ``poi``
    or ``stop``); its ``code`` is the code of the door it carries, or null. Flags carry
    details after a ``:`` (``road_corrected:茅台台路->茅台路``).
    """
    return {"query": q, "results": city.address.geocode(q, limit=limit, crs=crs)}


@router.post("/geocode/batch", summary="Geocode a list of addresses")
def geocode_batch(
    addresses: Annotated[list[Annotated[str, Field(max_length=200)]], Body(min_length=1)],
    crs: Crs = "wgs84",
    city: City = Depends(get_city),
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    """Best candidate per address (errors per row); 413 beyond ``max_batch``."""
    if len(addresses) > settings.max_batch:
        raise HTTPException(413, f"batch of {len(addresses)} exceeds the limit of "
                                 f"{settings.max_batch} addresses")
    table = city.address.geocode_many(addresses, crs=crs)
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    return {"results": records}


@router.get("/reverse", summary="Point -> nearest standard address and road")
def reverse(
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: CrsQuery = "wgs84",
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """Nearest door address and road with distances in metres."""
    return city.address.reverse(lon, lat, crs=crs)


@router.get("/addresses/{code}", summary="A standard address record")
def get_address(code: Code, as_of: Annotated[str | None, Query(max_length=64)] = None,
                crs: CrsQuery = "wgs84", city: City = Depends(get_city)) -> dict[str, Any]:
    """The record now, or ``as_of`` an ISO time; its point in ``crs``."""
    return city.address.record(code, as_of=as_of, crs=crs)


@router.get("/addresses/{code}/qr.png", summary="QR code (PNG) of the record URL",
            responses={200: {"content": {"image/png": {}}}})
def qr_png(code: Code, city: City = Depends(get_city)) -> Response:
    """地址二维码 as PNG."""
    return Response(city.address.qr(code, kind="png"), media_type="image/png")


@router.get("/addresses/{code}/qr.svg", summary="QR code (SVG) of the record URL",
            responses={200: {"content": {"image/svg+xml": {}}}})
def qr_svg(code: Code, city: City = Depends(get_city)) -> Response:
    """地址二维码 as SVG."""
    return Response(city.address.qr(code, kind="svg"), media_type="image/svg+xml")


@router.post("/addresses", status_code=201, summary="Create a standard address (editor key)")
def create_address(body: NewAddress, city: City = Depends(get_city),
                   role: str = Depends(require_editor)) -> dict[str, Any]:
    """409 with the existing code when the door already exists."""
    return city.address.create(**body.model_dump(exclude_none=True))


@router.patch("/addresses/{code}", summary="Edit or merge an address (editor key)")
def edit_address(code: Code, body: AddressEdit, crs: CrsQuery = "wgs84",
                 city: City = Depends(get_city),
                 role: str = Depends(require_editor)) -> dict[str, Any]:
    """409 with the current version when ``version`` is stale; ``merge_into`` merges;
    ``lon`` / ``lat`` in ``crs``."""
    if body.merge_into:
        return city.address.merge(code, into=body.merge_into, expected_version=body.version)
    fields = body.model_dump(exclude_none=True, exclude={"version", "merge_into"})
    return city.address.update(code, expected_version=body.version, crs=crs, **fields)


@router.delete("/addresses/{code}", summary="Retire an address (editor key)")
def retire_address(code: Code, version: Annotated[int, Query(ge=1)],
                   city: City = Depends(get_city),
                   role: str = Depends(require_editor)) -> dict[str, Any]:
    """The record stays readable with status ``retired``."""
    return city.address.retire(code, expected_version=version)
