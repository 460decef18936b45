"""HTTP API of the twin: ``create_app(settings)`` wires the City to FastAPI routers."""

from api.app import create_app

__all__ = ["create_app"]
