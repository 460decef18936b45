"""The controller interface of the twin: the priority requests of the active runs.

A signal controller (or the signal system above it) executes these and nothing else:
per junction, the phase to serve, the window as absolute times, the hold limit, what is
cut and how the junction recovers to coordination (:mod:`routing.controller`, message
format in ``docs/controller.md``). They are derived from the green windows the shared
emergency runs hold (:mod:`twin.runs`), in dispatch order, on the current signal plans,
under the controller limits (minimum green, pedestrian clearance, yellow and all-red,
maximum pre-emption).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import TYPE_CHECKING, Any

from routing.controller import Limits, PriorityRequest, PriorityWindow, current_requests, diff_requests
from routing.greenwave import HOLD_S

if TYPE_CHECKING:
    from twin.city import City
    from twin.runs import EmergencyRuns

__all__ = ["SignalRequests", "PLANNING_HORIZON_S"]

#: Requests further ahead than this are announced (``pending``), planned when nearer.
PLANNING_HORIZON_S = 40.0


class SignalRequests:
    """The current priority requests of a city's active runs, and their changes.

    Parameters
    ----------
    city : City
        The twin (its runs, routing model and clock).
    limits : Limits, optional
        Controller limits (default :class:`routing.controller.Limits`, as the runs'
        ETAs assume).
    runs : EmergencyRuns, optional
        The runs to serve (default ``city.runs``).
    horizon_s : float
        Windows starting further ahead are announced (``pending``), planned when nearer.
    """

    def __init__(self, city: City, limits: Limits | None = None, *,
                 runs: EmergencyRuns | None = None,
                 horizon_s: float = PLANNING_HORIZON_S) -> None:
        self.city = city
        self.runs = runs or city.runs
        self.horizon_s = horizon_s
        self.limits = limits or Limits()
        self._held: dict[str, PriorityRequest] = {}
        self._lock = threading.Lock()

    def _windows(self, now: dt.datetime) -> list[PriorityWindow]:
        service = self.city.routing
        windows = []
        with self.runs.store.reading(now) as book:
            runs = sorted(book.runs.values(), key=lambda r: r.dispatched_at)
        for run in runs:
            for w in run.windows:
                plan = service.network.plans.get(int(w.node))
                if plan is None:  # a signal removed since the run was planned
                    continue
                phase = plan.phase_index(w.phase)
                if phase is None:
                    continue
                arrival = w.arrival if math.isfinite(w.arrival) else w.end - HOLD_S
                windows.append(PriorityWindow(
                    run.id, int(w.node), phase, dt.datetime.fromtimestamp(w.start, dt.UTC),
                    dt.datetime.fromtimestamp(w.end, dt.UTC),
                    dt.datetime.fromtimestamp(arrival, dt.UTC)))
        return windows

    def current(self, now: dt.datetime | None = None) -> tuple[list[PriorityRequest], list[dict]]:
        """The requests now and the change events since the previous call.

        Returns
        -------
        requests : list of PriorityRequest
        events : list of dict
            ``{"event": "added" | "changed" | "removed", "id", "request"}``.
        """
        now = now or self.runs.now()
        service = self.city.routing
        with self._lock:
            requests = current_requests(service.network.plans, self._windows(now), now=now,
                                        tz=service.tz, limits=self.limits, active=self._held,
                                        horizon_s=self.horizon_s)
            events = diff_requests(self._held.values(), requests)
            self._held = {r.key: r for r in requests}
        return requests, events

    def answer(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """``GET /signals/requests``: ``time``, ``requests`` (JSON) and ``versions``."""
        now = now or self.runs.now()
        requests, _ = self.current(now)
        return {"time": now.isoformat(timespec="milliseconds"),
                "requests": [r.to_json() for r in requests],
                "versions": self.city.routing.versions}
