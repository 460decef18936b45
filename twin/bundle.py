"""City bundles: the build context, the manifest and the on-disk layout.

A bundle is a directory::

    <bundle>/manifest.json        name, build time, versions, source hashes, layer counts
    <bundle>/layers/*.parquet     GeoParquet per layer + layers.json (layers.embedded)
    <bundle>/<domain>/...         indexes built by the domain steps (address, rasters, ...)

Bundles are built in a sibling temporary directory and moved into place only when
complete, so a build killed half-way leaves the previous bundle usable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from layers.registry import LayerRegistry
from twin.errors import BundleError

__all__ = [
    "BUNDLE_FORMAT",
    "BuildContext",
    "Manifest",
    "file_sha256",
    "code_fingerprint",
    "read_manifest",
    "check_bundle",
    "replace_directory",
]

BUNDLE_FORMAT = 1
MANIFEST_FILE = "manifest.json"
_CODE_PACKAGES = ("twin", "layers", "address", "routing")


@dataclass
class BuildContext:
    """What a build step sees and extends.

    Attributes
    ----------
    name : str
        City name.
    layers : LayerRegistry
        Layers built so far; steps add theirs.
    graph : networkx.MultiDiGraph
        The road graph.
    bundle_dir : Path
        The (temporary) bundle directory being written.
    sources_dir : Path
        Directory of the source files.
    seed : int
        Seed for every random draw.
    progress : bool
        Show progress bars.
    extras : dict
        Free-form values steps share (e.g. ``"embedded": True``).
    """

    name: str
    layers: LayerRegistry
    graph: nx.MultiDiGraph
    bundle_dir: Path
    sources_dir: Path
    seed: int = 42
    progress: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    """The bundle's manifest (``manifest.json``)."""

    name: str
    built_at: str
    format: int
    cache_key: str
    sources: dict[str, str]
    layers: dict[str, int]
    settings: dict[str, Any]
    build_seconds: float = 0.0

    def write(self, bundle_dir: Path) -> None:
        """Write the manifest into ``bundle_dir``."""
        (bundle_dir / MANIFEST_FILE).write_text(
            json.dumps(self.__dict__, ensure_ascii=False, indent=1), encoding="utf-8"
        )


def read_manifest(bundle_dir: str | Path) -> Manifest:
    """Read a bundle's manifest.

    Raises
    ------
    BundleError
        Missing or corrupt manifest.
    """
    path = Path(bundle_dir) / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(f"no city bundle at {bundle_dir} (missing {MANIFEST_FILE}); "
                          "run `twin build` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"corrupt bundle manifest {path}: {exc}") from exc


def check_bundle(bundle_dir: str | Path) -> Manifest:
    """Check, without loading it, that a bundle is complete and readable.

    Reads the manifest, the layer metadata and the footer of every GeoParquet file, so a
    server can refuse to start with one clear message instead of failing in each worker.

    Returns
    -------
    Manifest

    Raises
    ------
    BundleError
        Missing or corrupt manifest, layer metadata or layer file.
    """
    import pyarrow
    import pyarrow.parquet as pq

    from layers.embedded import METADATA_FILE

    manifest = read_manifest(bundle_dir)
    layers_dir = Path(bundle_dir) / "layers"
    meta_path = layers_dir / METADATA_FILE
    try:
        entries = json.loads(meta_path.read_text(encoding="utf-8"))
        names = [entry["name"] for entry in entries]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise BundleError(f"corrupt or missing layer metadata {meta_path}: {exc}") from None
    for name in names:
        path = layers_dir / f"{name}.parquet"
        try:
            pq.read_metadata(path)
        except (OSError, ValueError, pyarrow.ArrowException) as exc:
            raise BundleError(f"layer {name!r}: cannot read {path}: {exc}; "
                              "rebuild with `twin build --force`") from None
    return manifest


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def code_fingerprint(packages: Iterable[str] = _CODE_PACKAGES) -> str:
    """Hash of the build code, so a bundle is rebuilt when the code that made it changes."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def replace_directory(new: Path, target: Path) -> None:
    """Move the finished ``new`` directory to ``target``, replacing it atomically enough.

    The old bundle is renamed aside first and removed only after the new one is in place.
    """
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
