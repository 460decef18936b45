"""QR codes (地址二维码) encoding the URL of an address record."""

from __future__ import annotations

import io

import segno

__all__ = ["record_url", "qr_png", "qr_svg"]


def record_url(base_url: str, code: str) -> str:
    """URL of an address record: ``{base}/addresses/{code}``."""
    return f"{base_url.rstrip('/')}/addresses/{code}"


def qr_png(url: str, *, scale: int = 6) -> bytes:
    """PNG of a QR code (error correction M) for ``url``."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def qr_svg(url: str, *, scale: int = 6) -> bytes:
    """SVG of a QR code (error correction M) for ``url``."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=scale, border=2, xmldecl=False)
    return buf.getvalue()
