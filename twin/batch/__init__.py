"""Batch jobs on a Dask cluster (``twin batch …``): geocoding a file, aggregating bike
trips to H3 quotas, the station-removal coverage sweep.

Each job reads its input in partitions, runs them on ``dask.distributed`` workers (a
:class:`~distributed.LocalCluster` by default, an existing scheduler to scale out, or in
this process) and writes results equal to the in-process path. The workers get the city
from the client (:mod:`twin.batch.cluster`), never from a shared disk.

The names below are imported on first use, so that ``twin --help`` does not load Dask.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["batch_client", "ship_city", "geocode_file", "aggregate_file", "coverage_sweep",
           "BatchError", "InvalidBatchInput", "ClusterUnavailable", "BundleNotShippable"]

_WHERE = {"batch_client": "cluster", "ship_city": "cluster", "geocode_file": "geocode",
          "aggregate_file": "bikes", "coverage_sweep": "coverage", "BatchError": "errors",
          "InvalidBatchInput": "errors", "ClusterUnavailable": "errors",
          "BundleNotShippable": "errors"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"twin.batch.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
