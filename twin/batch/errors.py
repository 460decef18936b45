"""Errors of the batch jobs (:mod:`twin.batch`)."""

from __future__ import annotations

from twin.errors import TwinError

__all__ = ["BatchError", "InvalidBatchInput", "ClusterUnavailable", "BundleNotShippable"]


class BatchError(TwinError):
    """Base class of every batch-job error."""


class InvalidBatchInput(BatchError, ValueError):
    """The input file of a batch job is unreadable, of an unknown type or lacks a column,
    or an option is out of range."""


class ClusterUnavailable(BatchError, ConnectionError):
    """The Dask scheduler cannot be reached, or the cluster has no worker."""


class BundleNotShippable(BatchError, RuntimeError):
    """The city cannot be shipped to the workers (e.g. a twin on PostGIS has no bundle
    for the routing what-ifs)."""
