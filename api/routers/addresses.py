"""Standard addresses over HTTP: geocode, batch, reverse, records, QR codes, lifecycle."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_editor
from api.deps import get_city, get_settings
from twin.city import City
from twin.settings import Settings

__all__ = ["router"]

router = APIRouter(tags=["addresses"])

Crs = Literal["wgs84", "gcj02", "bd09"]
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


@router.get("/geocode", summary="Address or place text -> ranked standard addresses")
def geocode(
    q: Annotated[str, Query(min_length=1, max_length=200,
                            description="address text, or the name of a place (POI, station, "
                                        "stop), optionally with 站 / 地铁站")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    crs: Crs = "wgs84",
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """``{"results": [{code, address, components, lon, lat, level, score, flags}]}``.

    ``level`` is one of ``door``, ``place``, ``interpolated``, ``road``, ``community``,
    ``street``, ``district``, ``city`` (most precise first; a door address always ranks
    before a place). A door is only ever given on the road written (same name, homophone,
    pinyin, a direction left out, or one unambiguous typo flagged ``road_corrected``); an
    unknown road answers at the most precise known division, flagged ``road_unknown``,
    with near roads after it as ``road``-level suggestions flagged ``road_suggested``. An
    ``interpolated`` result is a door placed between the known doors of its road, with
    ``error_m`` (estimated error in metres) and a null ``code``. A ``place`` result also
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
    crs: Crs = "wgs84",
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """Nearest door address and road with distances in metres."""
    return city.address.reverse(lon, lat, crs=crs)


@router.get("/addresses/{code}", summary="A standard address record")
def get_address(code: Code, as_of: Annotated[str | None, Query(max_length=64)] = None,
                city: City = Depends(get_city)) -> dict[str, Any]:
    """The record now, or ``as_of`` an ISO time."""
    return city.address.record(code, as_of=as_of)


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
def edit_address(code: Code, body: AddressEdit, city: City = Depends(get_city),
                 role: str = Depends(require_editor)) -> dict[str, Any]:
    """409 with the current version when ``version`` is stale; ``merge_into`` merges."""
    if body.merge_into:
        return city.address.merge(code, into=body.merge_into, expected_version=body.version)
    fields = body.model_dump(exclude_none=True, exclude={"version", "merge_into"})
    return city.address.update(code, expected_version=body.version, **fields)


@router.delete("/addresses/{code}", summary="Retire an address (editor key)")
def retire_address(code: Code, version: Annotated[int, Query(ge=1)],
                   city: City = Depends(get_city),
                   role: str = Depends(require_editor)) -> dict[str, Any]:
    """The record stays readable with status ``retired``."""
    return city.address.retire(code, expected_version=version)
