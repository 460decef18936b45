"""citytwin: the city twin (composition root), bundle build and load, CLI."""

from twin.city import City
from twin.settings import Settings

__all__ = ["City", "Settings"]
