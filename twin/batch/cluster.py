"""The Dask side of the batch jobs: a client from the command-line options, the city
shipped to the workers, and an ordered, bounded map over partitions.

How the workers get the city (no shared disk assumed): the client packs the parts of the
bundle a job needs into one deterministic tarball (:func:`pack_city`), and registers a
:class:`BundlePlugin` holding its bytes. The scheduler keeps the plugin and runs it once on
every worker, including workers that join later; it unpacks the tarball into the worker's
own ``local_directory``. A task then opens the city (or only its gazetteer) from there,
once per worker process (:func:`open_city`, :func:`open_address`), and keeps it for the
next partitions. A task never sees a path of the client's file system, only the
:class:`CityRef` (a content hash and a name).

Workers need the same Python environment as the client (this package installed); the
bundle and the input data come through Dask.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from distributed.diagnostics.plugin import WorkerPlugin
from tqdm.auto import tqdm

from twin.batch.errors import BundleNotShippable, ClusterUnavailable, InvalidBatchInput

if TYPE_CHECKING:
    from distributed import Client

    from address.service import AddressService
    from twin.city import City

__all__ = ["CityRef", "BundlePlugin", "batch_client", "default_workers", "pack_city", "ship_city",
           "open_city", "open_address", "map_ordered", "ParquetSink", "ADDRESS_EDITS_FILE"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: The address edits (the client's book history), replayed on the shipped gazetteer.
ADDRESS_EDITS_FILE = "address-edits.jsonl"
_META_FILE = "citytwin-batch.json"
#: Bundle directories a routing what-if does not read (large, or other domains' inputs).
_SKIP_DIRS = {"rasters", "bikes"}
_CACHE: dict[tuple[str, str], Any] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class CityRef:
    """What a task is told about the city: no path, only the shipped tarball's identity.

    Attributes
    ----------
    key : str
        Content hash of the tarball (the worker's directory name).
    name : str
        The city (bundle) name.
    parts : str
        ``"address"`` (the gazetteer and its edits) or ``"city"`` (the bundle).
    """

    key: str
    name: str
    parts: str


def default_workers() -> int:
    """One worker process per core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextmanager
def batch_client(*, scheduler: str | None = None, workers: int | None = None,
                 threads_per_worker: int = 1, timeout: float = 30.0,
                 dashboard: bool = True) -> Iterator[Client | None]:
    """A Dask client from the batch options, closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``): the job scales out to
        its workers.
    workers : int, optional
        Without ``scheduler``: worker processes of a :class:`~distributed.LocalCluster`
        (default :func:`default_workers`); ``0`` runs in this process, without Dask
        (the client is then ``None``).
    threads_per_worker : int
        Threads of each local worker (1: the jobs are CPU-bound Python).
    timeout : float
        Seconds to wait for the scheduler.
    dashboard : bool
        Serve the Dask dashboard of a local cluster (a free port).

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    ClusterUnavailable
        The scheduler cannot be reached.
    InvalidBatchInput
        A negative number of workers.
    """
    if workers is not None and workers < 0:
        raise InvalidBatchInput(f"--dask-workers must be 0 or more, got {workers}")
    if scheduler is None and workers == 0:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") \
                from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else default_workers()
    cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                           dashboard_address=":0" if dashboard else None,
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


# -- shipping ---------------------------------------------------------------------------
def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_tree(tar: tarfile.TarFile, root: Path, arcroot: str, *, skip: set[str] = frozenset()
              ) -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0] in skip or path.suffix == ".lock":
            continue
        _add_bytes(tar, f"{arcroot}/{rel.as_posix()}", path.read_bytes())


def pack_city(city: City, parts: str = "city") -> tuple[CityRef, bytes]:
    """Pack what the workers need into a deterministic tarball.

    Parameters
    ----------
    city : City
        The city, as the client opened it.
    parts : str
        ``"address"``: the gazetteer (``<bundle>/address``, or for a twin on PostGIS its
        gazetteer saved on the fly) with the address edits of the client's book replayed on
        the worker; ``"city"``: the bundle (without rasters and trip files) and its edit logs.

    Returns
    -------
    CityRef, bytes
        The reference the tasks get, and the tarball.

    Raises
    ------
    BundleNotShippable
        ``"city"`` of a twin without a bundle on disk (a twin on PostGIS).
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if parts == "address":
            service = city.address
            service.book.sync()
            source = city.bundle_dir / "address"
            if (source / "doors.parquet").is_file():
                _add_tree(tar, source, "address")
            else:  # a twin on PostGIS: its gazetteer was built from the layers
                with tempfile.TemporaryDirectory() as tmp:
                    service.gazetteer.save(Path(tmp))
                    _add_tree(tar, Path(tmp), "address")
            edits = "".join(json.dumps(c, ensure_ascii=False, default=str) + "\n"
                            for c in service.book.history)
            _add_bytes(tar, ADDRESS_EDITS_FILE, edits.encode())
            locality = city.division.locality()
            meta = {"locality": locality.to_dict() if locality is not None else None,
                    "public_url": service.public_url}
        elif parts == "city":
            if not (city.bundle_dir / "manifest.json").is_file():
                raise BundleNotShippable(
                    f"{city.name} has no bundle at {city.bundle_dir} (a twin on PostGIS?): the "
                    "routing batch jobs ship a bundle to the workers; build one with `twin build`")
            _add_tree(tar, city.bundle_dir, city.bundle_dir.name, skip=_SKIP_DIRS)
            if city.edits_dir.is_dir():
                _add_tree(tar, city.edits_dir, f"{city.bundle_dir.name}.edits")
            meta = {"bundle": city.bundle_dir.name}
        else:
            raise InvalidBatchInput(f"parts must be 'address' or 'city', got {parts!r}")
        _add_bytes(tar, _META_FILE, json.dumps(meta, ensure_ascii=False).encode())
    data = buffer.getvalue()
    key = hashlib.sha256(data).hexdigest()[:16]
    return CityRef(key=key, name=city.name, parts=parts), data


class BundlePlugin(WorkerPlugin):
    """Worker plugin unpacking the shipped tarball into the worker's local directory once.

    Parameters
    ----------
    key : str
        :attr:`CityRef.key`.
    payload : bytes
        The tarball of :func:`pack_city`.
    """

    idempotent = True

    def __init__(self, key: str, payload: bytes) -> None:
        self.key = key
        self.payload = payload

    def setup(self, worker: Any) -> None:
        """Unpack into ``<local_directory>/citytwin/<key>`` (skipped when already there)."""
        _unpack(Path(worker.local_directory), self.key, self.payload)


def _unpack(local: Path, key: str, payload: bytes) -> Path:
    target = local / "citytwin" / key
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r") as tar:
        tar.extractall(staging, filter="data")
    try:
        staging.rename(target)
    except OSError:  # another process of this worker's host won the race
        pass
    logger.info("unpacked the city (%s, %d bytes) into %s", key, len(payload), target)
    return target


def ship_city(client: Client, city: City, parts: str = "city") -> CityRef:
    """Pack the city and register it on the cluster: every worker (also later ones) gets
    it once.

    Returns
    -------
    CityRef
        What the tasks get.
    """
    ref, payload = pack_city(city, parts)
    client.register_plugin(BundlePlugin(ref.key, payload), name=f"citytwin-{ref.parts}-{ref.key}")
    logger.info("shipped %s (%s, %.1f MB) to the workers", city.name, ref.parts, len(payload) / 1e6)
    return ref


def _local_root(ref: CityRef) -> Path:
    from distributed import get_worker

    root = Path(get_worker().local_directory) / "citytwin" / ref.key
    if not root.is_dir():
        raise BundleNotShippable(f"the city {ref.name} ({ref.key}) was not shipped to this worker")
    return root


def _cached(ref: CityRef, kind: str, make: Callable[[Path], T]) -> T:
    with _CACHE_LOCK:
        key = (ref.key, kind)
        if key not in _CACHE:
            _CACHE[key] = make(_local_root(ref))
        return _CACHE[key]


def open_city(ref: CityRef) -> City:
    """The shipped city, opened once per worker process (inside a task)."""
    from twin.city import City

    def make(root: Path) -> City:
        meta = json.loads((root / _META_FILE).read_text(encoding="utf-8"))
        return City.load(root / meta["bundle"], build=False)

    return _cached(ref, "city", make)


class _ReplayLog:
    """A read-only address log: the client's edits, replayed once on open."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self._entries = entries

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        yield

    def read_new(self) -> list[dict[str, Any]]:
        entries, self._entries = self._entries, []
        return entries

    def append(self, entry: dict[str, Any]) -> None:
        raise BundleNotShippable("a batch worker's address book is a read-only snapshot")

    def has_new(self) -> bool:
        return bool(self._entries)


def open_address(ref: CityRef) -> AddressService:
    """The shipped standard-address service, opened once per worker process (inside a
    task): the gazetteer with the client's address edits replayed."""
    from address.gazetteer import Gazetteer
    from address.model import Locality
    from address.service import AddressService

    def make(root: Path) -> AddressService:
        meta = json.loads((root / _META_FILE).read_text(encoding="utf-8"))
        locality = Locality.from_dict(meta["locality"]) if meta.get("locality") else None
        gazetteer = Gazetteer.load(root / "address", locality=locality)
        lines = (root / ADDRESS_EDITS_FILE).read_text(encoding="utf-8").splitlines()
        log = _ReplayLog([json.loads(line) for line in lines if line.strip()])
        return AddressService(gazetteer, log=log, public_url=meta["public_url"])

    return _cached(ref, "address", make)


# -- running partitions -------------------------------------------------------------------
def map_ordered(client: Client | None, func: Callable[[T], R], items: Iterable[T], *,
                max_in_flight: int | None = None, scatter: bool = True, total: int | None = None,
                progress: bool = True, desc: str = "partitions") -> Iterator[R]:
    """Apply ``func`` to each item on the cluster; yield the results in input order.

    At most ``max_in_flight`` items are read, sent or held (running, or done and waiting
    for an earlier one), so a large input streams through in bounded memory.

    Parameters
    ----------
    client : distributed.Client or None
        None: in this process, one item after the other.
    func : callable
        Picklable (a module-level function or a :func:`functools.partial` of one).
    items : iterable
        The partitions (read lazily).
    max_in_flight : int, optional
        Default: twice the workers' threads (at least 2).
    scatter : bool
        Send each item to a worker directly (large items), else inside the task.
    total : int, optional
        Number of items, for the progress bar.
    progress : bool
        Show a progress bar.
    desc : str
        Its label.

    Yields
    ------
    object
        ``func(item)``, in the order of ``items``. A task's exception is raised here (the
        other tasks are cancelled).
    """
    bar = tqdm(total=total, disable=not progress, desc=desc, unit="part")
    try:
        if client is None:
            for item in items:
                out = func(item)
                bar.update()
                yield out
            return
        yield from _map_cluster(client, func, items, max_in_flight, scatter, bar)
    finally:
        bar.close()


def _map_cluster(client: Client, func: Callable[[T], R], items: Iterable[T],
                 max_in_flight: int | None, scatter: bool, bar: tqdm) -> Iterator[R]:
    from distributed import as_completed

    if max_in_flight is None:
        threads = sum(client.nthreads().values())
        if not threads:
            raise ClusterUnavailable("the Dask cluster has no worker")
        max_in_flight = max(2, 2 * threads)
    source = enumerate(items)
    index: dict[str, int] = {}
    ready: dict[int, R] = {}
    running = as_completed()
    futures = []
    exhausted = False
    next_out = 0

    def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(index) + len(ready) < max_in_flight:
            try:
                i, item = next(source)
            except StopIteration:
                exhausted = True
                return
            arg = client.scatter(item, hash=False) if scatter else item
            future = client.submit(func, arg, pure=False)
            index[future.key] = i
            futures.append(future)
            running.add(future)

    try:
        fill()
        for future in running:
            i = index.pop(future.key)
            ready[i] = future.result()
            future.release()
            bar.update()
            while next_out in ready:
                yield ready.pop(next_out)
                next_out += 1
            fill()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)


class ParquetSink:
    """Write tables to a Parquet file partition by partition, atomically.

    The rows go to ``<out>.partial`` and are renamed to ``out`` on :meth:`close`; on an
    error the partial file is removed and an earlier ``out`` stays as it was.

    Parameters
    ----------
    path : Path
        The output file.
    schema : pyarrow.Schema
        Schema of every partition (one row group each).
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        self.schema = schema
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._writer = pq.ParquetWriter(self._partial, schema)

    def write(self, table: pa.Table) -> None:
        """Append one partition."""
        self._writer.write_table(table.cast(self.schema))
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file and move it into place."""
        self._writer.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        """Drop what was written."""
        self._writer.close()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
