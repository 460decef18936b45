"""Where scenarios are kept: beside the edit logs of an embedded bundle, or in PostGIS.

Every worker and every host of one twin reads the same store, so a scenario made through
one answers ``?scenario=ID`` on all. A record is ``{"id", "edits", "created_at",
"expires_at", "created_by", "name"}``; expired records are not returned and are removed
when the next scenario is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from twin.errors import ScenarioNotFound

__all__ = ["ScenarioStore", "FileScenarioStore", "PostgisScenarioStore", "SCENARIOS_TABLE"]

SCENARIOS_TABLE = "_scenarios"
_ID = re.compile(r"^[0-9a-f]{16}$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expired(record: dict[str, Any], now: dt.datetime) -> bool:
    return dt.datetime.fromisoformat(record["expires_at"]) <= now


def _check_id(scenario_id: str) -> str:
    if not isinstance(scenario_id, str) or not _ID.match(scenario_id):
        raise ScenarioNotFound(f"no scenario {scenario_id!r} (ids are 16 hex digits)")
    return scenario_id


class ScenarioStore(Protocol):
    """Stored scenarios (see the module docstring for the record)."""

    def put(self, record: dict[str, Any]) -> None:
        """Store a new record."""

    def get(self, scenario_id: str) -> dict[str, Any]:
        """The record (:class:`ScenarioNotFound` if absent or expired)."""

    def delete(self, scenario_id: str) -> None:
        """Remove a record (:class:`ScenarioNotFound` if absent)."""


class FileScenarioStore:
    """One JSON file per scenario in a directory (written whole, then renamed: atomic).

    Parameters
    ----------
    directory : Path
        E.g. ``<bundle>.edits/scenarios``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, scenario_id: str) -> Path:
        return self.directory / f"{_check_id(scenario_id)}.json"

    def put(self, record: dict[str, Any]) -> None:
        """Write the record durably (fsync, then rename), after purging expired ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._purge()
        target = self._path(record["id"])
        tmp = target.with_suffix(f".tmp-{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(record, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)

    def get(self, scenario_id: str) -> dict[str, Any]:
        """The record, unless absent or expired."""
        try:
            record = json.loads(self._path(scenario_id).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            raise ScenarioNotFound(f"no scenario {scenario_id!r}") from None
        if _expired(record, _now()):
            raise ScenarioNotFound(f"scenario {scenario_id!r} expired at {record['expires_at']}")
        return record

    def delete(self, scenario_id: str) -> None:
        """Remove the record."""
        try:
            self._path(scenario_id).unlink()
        except FileNotFoundError:
            raise ScenarioNotFound(f"no scenario {scenario_id!r}") from None

    def _purge(self) -> None:
        now = _now()
        for path in self.directory.glob("*.json"):
            try:
                if _expired(json.loads(path.read_text(encoding="utf-8")), now):
                    path.unlink(missing_ok=True)
            except (OSError, ValueError, KeyError):
                continue


class PostgisScenarioStore:
    """Scenarios in the ``_scenarios`` table of the twin's schema.

    Parameters
    ----------
    engine : Engine
        The twin's connection pool.
    schema : str
        The twin's schema.
    """

    def __init__(self, engine: Engine, schema: str) -> None:
        self.engine = engine
        self.table = f'"{schema}"."{SCENARIOS_TABLE}"'
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                         {"k": f"{schema}.ddl"})
            conn.execute(sa.text(
                f"CREATE TABLE IF NOT EXISTS {self.table} (id text PRIMARY KEY,"
                " record jsonb NOT NULL, expires_at timestamptz NOT NULL)"))

    def put(self, record: dict[str, Any]) -> None:
        """Insert the record (and drop expired ones) in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {self.table} WHERE expires_at <= now()"))
            conn.execute(sa.text(
                f"INSERT INTO {self.table} (id, record, expires_at)"
                " VALUES (:id, CAST(:record AS jsonb), :expires)"),
                {"id": record["id"], "record": json.dumps(record, ensure_ascii=False),
                 "expires": record["expires_at"]})

    def get(self, scenario_id: str) -> dict[str, Any]:
        """The record, unless absent or expired."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.text(
                f"SELECT record FROM {self.table} WHERE id = :id AND expires_at > now()"),
                {"id": _check_id(scenario_id)}).scalar_one_or_none()
        if found is None:
            raise ScenarioNotFound(f"no scenario {scenario_id!r} (or it expired)")
        return found if isinstance(found, dict) else json.loads(found)

    def delete(self, scenario_id: str) -> None:
        """Remove the record."""
        with self.engine.begin() as conn:
            gone = conn.execute(sa.text(f"DELETE FROM {self.table} WHERE id = :id"),
                                {"id": _check_id(scenario_id)}).rowcount
        if not gone:
            raise ScenarioNotFound(f"no scenario {scenario_id!r}")
