"""Priority windows of a run: where and when it wants green, from its route or its green wave.

:func:`windows_for_route` opens a window around the predicted arrival at every signal of
a route (for the live loop, from the ETAs of position updates); :func:`windows_from_wave`
takes the windows a :class:`routing.greenwave.GreenWave` planned at dispatch. Both give
:class:`routing.controller.PriorityWindow` for :func:`routing.controller.current_requests`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from routing._controller_types import PriorityWindow
from routing.engine import Path
from routing.network import RoadNetwork

__all__ = ["windows_for_route", "windows_from_wave"]


def windows_for_route(network: RoadNetwork, path: Path, arrivals: Sequence[dt.datetime], *,
                      run_id: str, lead: Callable[[float], float], hold_s: float,
                      skip: Iterable[int] = (), now: dt.datetime | None = None,
                      early_share: float = 0.0, late_share: float = 0.0
                      ) -> list[PriorityWindow]:
    """A window at every signal of ``path``: ``[arrival - lead(red), arrival + hold_s]``,
    widened by the ETA's uncertainty.

    Parameters
    ----------
    network : RoadNetwork
    path : Path
    arrivals : sequence of datetime
        Expected arrival at each node of ``path`` (e.g. from :func:`routing.eta.eta`).
    run_id : str
    lead : callable
        Red time of the approach's phase -> green needed before the arrival (the queue's
        discharge; :func:`routing.greenwave.queue_clearance_lead`).
    hold_s : float
        Green kept after the arrival.
    skip : iterable of int
        Signal nodes already passed.
    now : datetime, optional
        When the arrivals were predicted (default: the first arrival).
    early_share, late_share : float
        The window opens ``early_share`` × the time to the arrival earlier and closes
        ``late_share`` × it later (an ETA is less sure the farther the arrival; a release
        when the vehicle has passed ends a late green early).

    Returns
    -------
    list of PriorityWindow
        In the order of the path.
    """
    passed = set(skip)
    t0 = now if now is not None else (arrivals[0] if len(arrivals) else dt.datetime.now(dt.UTC))
    out = []
    for i in range(1, len(path.nodes) - 1):
        node = int(network.node_ids[path.nodes[i]])
        signal = network.signal_at(path, i)
        if signal is None or node in passed:
            continue
        plan, phase = signal
        red = plan.cycle_s - float(plan.phases[phase]["green_s"])
        a = arrivals[i]
        ahead = max(0.0, (a - t0).total_seconds())
        out.append(PriorityWindow(
            run_id, node, phase, a - dt.timedelta(seconds=lead(red) + early_share * ahead),
            a + dt.timedelta(seconds=hold_s + late_share * ahead), a))
    return out


def windows_from_wave(network: RoadNetwork, wave: object, *, run_id: str,
                      depart_at: dt.datetime) -> list[PriorityWindow]:
    """The windows of a :class:`routing.greenwave.GreenWave`.

    Parameters
    ----------
    network : RoadNetwork
    wave : GreenWave
        Its ``signals`` give node, phase name and times in seconds after ``depart_at``;
        a signal with ``held`` False holds no window, one without a plan in ``network``
        is left out, and an unknown phase name falls back to the plan's first phase.
    run_id : str
    depart_at : datetime.datetime
        The run's departure.

    Returns
    -------
    list of PriorityWindow
    """
    out = []
    for sig in getattr(wave, "signals", []):
        if not getattr(sig, "held", True):
            continue
        plan = network.plans.get(int(sig.node))
        if plan is None:
            continue
        phase = plan.phase_index(sig.phase) or 0
        t = depart_at + dt.timedelta(seconds=float(sig.arrival_s))
        out.append(PriorityWindow(run_id, int(sig.node), phase,
                                  depart_at + dt.timedelta(seconds=float(sig.green_start_s)),
                                  depart_at + dt.timedelta(seconds=float(sig.green_end_s)), t))
    return out
