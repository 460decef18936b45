"""The standard-address service: geocode, batch, reverse, records, QR codes, lifecycle."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from address.errors import AddressNotFound, CodeNotFound, InvalidAddress
from address.gazetteer import Gazetteer
from address.geocode import Geocoder
from address.lifecycle import AddressBook, AddressLog
from address.model import Components, canonical_text
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
    """

    def __init__(self, gazetteer: Gazetteer, *, log: AddressLog | None = None,
                 public_url: str = "http://127.0.0.1:8000") -> None:
        self.gazetteer = gazetteer
        self.book = AddressBook(gazetteer, log)
        self.geocoder = Geocoder(gazetteer)
        self.public_url = public_url

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
    def record(self, code: str, *, as_of: str | None = None) -> dict[str, Any]:
        """A standard address record with its canonical text and QR URL."""
        rec = self.book.get(code, as_of=as_of)
        comp = Components(road=rec["road"], number=rec["number"], sub_number=rec.get("sub_number"),
                          district=self.gazetteer.district_name.get(rec.get("district_code")))
        return {**rec, "address": canonical_text(comp, self.gazetteer.locality),
                "url": record_url(self.public_url, code), "crs": "wgs84"}

    def qr(self, code: str, *, kind: str = "png") -> bytes:
        """QR code (PNG or SVG) of the record's URL."""
        self.book.sync()
        if self.gazetteer.door(code) is None:
            raise CodeNotFound(f"no standard address with code {code!r}")
        url = record_url(self.public_url, code)
        return qr_png(url) if kind == "png" else qr_svg(url)

    def create(self, **fields: Any) -> dict[str, Any]:
        """Create a door address (see :meth:`AddressBook.create`)."""
        return self.record(self.book.create(**fields)["code"])

    def update(self, code: str, *, expected_version: int, **fields: Any) -> dict[str, Any]:
        """Edit an address at a version."""
        self.book.update(code, expected_version=expected_version, **fields)
        return self.record(code)

    def retire(self, code: str, *, expected_version: int) -> dict[str, Any]:
        """Retire an address."""
        self.book.retire(code, expected_version=expected_version)
        return self.record(code)

    def merge(self, code: str, *, into: str, expected_version: int) -> dict[str, Any]:
        """Merge an address into another."""
        self.book.merge(code, into=into, expected_version=expected_version)
        return self.record(code)
