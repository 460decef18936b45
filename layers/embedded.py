"""The embedded layer store: one GeoParquet file per layer plus ``layers.json``.

The store is a plain directory, so a bundle can be copied, versioned and opened without
a server.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import pyarrow

from layers.errors import BundleError
from layers.registry import Layer, LayerInfo, LayerRegistry

__all__ = ["write_layers", "read_layers", "METADATA_FILE"]

logger = logging.getLogger(__name__)

METADATA_FILE = "layers.json"


def write_layers(directory: str | Path, registry: LayerRegistry) -> Path:
    """Write every layer of ``registry`` to ``directory``.

    Parameters
    ----------
    directory : str or Path
        Target directory, created if missing.
    registry : LayerRegistry
        Layers to write.

    Returns
    -------
    Path
        The metadata file written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = []
    for name, layer in registry.items():
        path = directory / f"{name}.parquet"
        layer.data.to_parquet(path, index=True, compression="zstd")
        meta.append(layer.info.to_dict())
        logger.debug("wrote layer %s (%d features) to %s", name, len(layer.data), path)
    target = directory / METADATA_FILE
    target.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return target


def read_layers(directory: str | Path) -> LayerRegistry:
    """Read a store written by :func:`write_layers`.

    Parameters
    ----------
    directory : str or Path
        The store directory.

    Returns
    -------
    LayerRegistry

    Raises
    ------
    BundleError
        The directory, its metadata or a layer file is missing or unreadable.
    """
    directory = Path(directory)
    meta_path = directory / METADATA_FILE
    if not meta_path.is_file():
        raise BundleError(f"no layer store at {directory} (missing {METADATA_FILE})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"corrupt layer metadata {meta_path}: {exc}") from exc
    registry = LayerRegistry()
    for entry in meta:
        info = LayerInfo.from_dict(entry)
        path = directory / f"{info.name}.parquet"
        try:
            data = gpd.read_parquet(path)
        except (OSError, ValueError, pyarrow.ArrowException) as exc:
            raise BundleError(f"layer {info.name!r}: cannot read {path}: {exc}") from exc
        registry.put(Layer(info=info, data=data))
    return registry
