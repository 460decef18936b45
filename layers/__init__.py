"""Map-layer service: registry, stores (embedded files, PostGIS), tiles and queries."""

from layers.errors import LayerError, LayerNotFound
from layers.registry import OSM_ATTRIBUTION, Layer, LayerInfo, LayerRegistry

__all__ = ["Layer", "LayerError", "LayerInfo", "LayerNotFound", "LayerRegistry", "OSM_ATTRIBUTION"]
