"""The standard-address service: geocode, batch, reverse, records, QR codes, lifecycle."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from address.crf import CrfParser
from address.crs import from_wgs84, to_wgs84
from address.errors import AddressNotFound, CodeNotFound, InvalidAddress
from address.gazetteer import Gazetteer
from address.geocode import Geocoder
from address.lifecycle import AddressBook, AddressLog
from address.model import Components, canonical_text
from address.national import parse_address
from address.qr import qr_png, qr_svg, record_url

__all__ = ["AddressService", "BATCH_COLUMNS"]

BATCH_COLUMNS = ["input", "code", "address", "road", "lon", "lat", "level", "score", "flags",
                 "error"]


class AddressService:
    """Standard addresses of one city.

    Parameters
    ----------
    gazetteer : Gazetteer
        The city's gazetteer.
    log : AddressLog, optional
        Durable log of address edits, shared by the processes serving this city.
    public_url : str
        Base URL of record links (QR codes).
    parser : CrfParser, optional
        A parser trained from a labelled corpus; without it :meth:`parse` uses the rules
        and the national division names.
    """

    def __init__(self, gazetteer: Gazetteer, *, log: AddressLog | None = None,
                 public_url: str = "http://127.0.0.1:8000",
                 parser: CrfParser | None = None) -> None:
        self.gazetteer = gazetteer
        self.parser = parser
        self.book = AddressBook(gazetteer, log)
        self.geocoder = Geocoder(gazetteer)
        self.public_url = public_url

    def parse(self, text: str) -> dict[str, Any]:
        """Components of any Chinese address, with no lookup of this city's doors.

        Parameters
        ----------
        text : str
            Raw address text.

        Returns
        -------
        dict
            ``{"components", "level", "flags", "inferred"}`` (see
            :func:`address.national.parse_address`); flagged ``model`` when a trained
            parser answered.

        Examples
        --------
        >>> from twin import City
        >>> City.load().address.parse("浙江省杭州市西湖区文三路90号")["components"]["road"]
        '文三路'
        """
        if self.parser is not None:
            return self.parser.parse(text).to_dict()
        return parse_address(text).to_dict()

    def geocode(self, text: str, *, limit: int = 5, crs: str = "wgs84") -> list[dict[str, Any]]:
        """Ranked candidates (see :meth:`address.geocode.Geocoder.geocode`)."""
        self.book.sync()
        return self.geocoder.geocode(text, limit=limit, crs=crs)

    def reverse(self, lon: float, lat: float, *, crs: str = "wgs84") -> dict[str, Any]:
        """Nearest address and road."""
        self.book.sync()
        return self.geocoder.reverse(lon, lat, crs=crs)

    def geocode_many(self, texts: Iterable[str] | pd.Series | pd.DataFrame, *,
                     column: str | None = None, crs: str = "wgs84",
                     progress: bool = False) -> pd.DataFrame:
        """Geocode many addresses; each distinct text is geocoded once.

        Parameters
        ----------
        texts : iterable of str, Series or DataFrame
            The addresses (a DataFrame needs ``column``).
        column : str, optional
            Address column of a DataFrame.
        crs : str
            Output coordinates.
        progress : bool
            Show a progress bar.

        Returns
        -------
        pandas.DataFrame
            One row per input: :data:`BATCH_COLUMNS`; failures carry ``error``.
        """
        if isinstance(texts, pd.DataFrame):
            if column is None or column not in texts.columns:
                raise InvalidAddress(f"column {column!r} not in the table "
                                     f"({', '.join(map(str, texts.columns))})")
            texts = texts[column]
        self.book.sync()
        series = pd.Series(list(texts), dtype=object)
        unique = pd.unique(series.fillna(""))
        best: dict[str, dict[str, Any]] = {}
        for text in tqdm(unique, disable=not progress, desc="geocode", unit="addr"):
            try:
                top = self.geocoder.geocode(str(text), limit=1, crs=crs)[0]
                best[text] = {k: top[k] for k in BATCH_COLUMNS if k in top}
                best[text]["flags"] = ";".join(top["flags"])
                best[text]["road"] = top["components"].get("road")
                best[text]["error"] = None
            except (InvalidAddress, AddressNotFound) as exc:
                best[text] = {"error": str(exc)}
        rows = [{"input": t, **best[t if isinstance(t, str) else ""]} for t in series.fillna("")]
        return pd.DataFrame(rows, columns=BATCH_COLUMNS)

    # -- records --------------------------------------------------------------------
    def record(self, code: str, *, as_of: str | None = None,
               crs: str = "wgs84") -> dict[str, Any]:
        """A standard address record with its canonical text and QR URL, its point in
        ``crs`` (wgs84, gcj02 or bd09)."""
        rec = self.book.get(code, as_of=as_of)
        comp = Components(road=rec["road"], number=rec["number"], sub_number=rec.get("sub_number"),
                          district=self.gazetteer.district_name.get(rec.get("district_code")))
        out = {**rec, "address": canonical_text(comp, self.gazetteer.locality),
               "url": record_url(self.public_url, code), "crs": crs}
        if crs != "wgs84" and out.get("lon") is not None and out.get("lat") is not None:
            lon, lat = from_wgs84(float(out["lon"]), float(out["lat"]), crs)
            out["lon"], out["lat"] = round(lon, 7), round(lat, 7)
        return out

    def qr(self, code: str, *, kind: str = "png") -> bytes:
        """QR code (PNG or SVG) of the record's URL."""
        self.book.sync()
        if self.gazetteer.door(code) is None:
            raise CodeNotFound(f"no standard address with code {code!r}")
        url = record_url(self.public_url, code)
        return qr_png(url) if kind == "png" else qr_svg(url)

    @staticmethod
    def _to_wgs84(fields: dict[str, Any], crs: str) -> dict[str, Any]:
        if crs != "wgs84" and fields.get("lon") is not None and fields.get("lat") is not None:
            lon, lat = to_wgs84(float(fields["lon"]), float(fields["lat"]), crs)
            fields = {**fields, "lon": lon, "lat": lat}
        return fields

    def create(self, *, crs: str = "wgs84", **fields: Any) -> dict[str, Any]:
        """Create a door address (see :meth:`AddressBook.create`); ``lon`` / ``lat`` in
        ``crs`` (stored as WGS84, answered in ``crs``)."""
        code = self.book.create(**self._to_wgs84(fields, crs))["code"]
        return self.record(code, crs=crs)

    def update(self, code: str, *, expected_version: int, crs: str = "wgs84",
               **fields: Any) -> dict[str, Any]:
        """Edit an address at a version; ``lon`` / ``lat`` in ``crs``."""
        self.book.update(code, expected_version=expected_version,
                         **self._to_wgs84(fields, crs))
        return self.record(code, crs=crs)

    def retire(self, code: str, *, expected_version: int) -> dict[str, Any]:
        """Retire an address."""
        self.book.retire(code, expected_version=expected_version)
        return self.record(code)

    def merge(self, code: str, *, into: str, expected_version: int) -> dict[str, Any]:
        """Merge an address into another."""
        self.book.merge(code, into=into, expected_version=expected_version)
        return self.record(code)
