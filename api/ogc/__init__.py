"""Helpers of the OGC API router (:mod:`api.routers.ogc`)."""

from api.ogc.oas30 import ogc_openapi30, to_oas30

__all__ = ["ogc_openapi30", "to_oas30"]
