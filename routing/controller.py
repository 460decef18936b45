"""Priority requests a signal controller executes, within its limits.

A green-wave plan says *when* a run wants green at each junction (a window
``[start, end]`` around its arrival). A controller can only give it within limits that
protect everyone else. This module turns windows into **priority requests** — per
junction: the phase to serve, the green it will really get (absolute, aware
datetimes), the action, the temporary timing it runs (``schedule``), the recovery back
to coordination, and the **residual wait** the limits leave to the vehicle:

* **minimum service of a phase that is cut** (:func:`min_service_s`): a phase that has
  started keeps its green for at least ``max(min green, walk + pedestrian clearance)``:
  the larger of :attr:`Limits.min_green_s` (default 10 s) and the plan's ``min_green_s``,
  and the pedestrians' walk interval (:attr:`Limits.ped_walk_s`) plus the plan's
  ``ped_clearance_s`` (crossing length ÷ 1.2 m/s, from lanes and road class). The phase
  that is *brought forward* gets the same minimum once it has started;
* every change of phase goes through the phase's **yellow and all-red**;
* a junction leaves its fixed-time plan for at most :attr:`Limits.max_preempt_s`
  (default 60 s, from the takeover to the end of the priority green): ``hold_limit``;
* the approach turns green either by **extending** its green (also across the phases
  between two of its greens, which then skip one service) or by an **early** green
  (the phase running is cut at its minimum service; phases in between are skipped),
  whichever leaves the smaller residual wait, then the shorter takeover;
* **recovery** (:class:`Recovery`): after the priority green the controller runs its
  phases in order and takes back the offset it lost by shortening every phase's green
  towards its minimum service (or lengthening it by at most
  :attr:`Limits.lengthen_share` of the cycle per cycle when that is shorter), over as
  many cycles as that needs; then the fixed-time plan runs again, in coordination.

The **residual wait** is what the vehicle still waits at the junction: the green that
starts late (the queue discharges late) or that ends before the vehicle arrives (the
hold limit), to be added to its ETA (:mod:`routing.eta`).

Several runs at one junction (:func:`current_requests`): windows on the same phase
share one request; windows on different phases that overlap are served in the order
given (dispatch order): the later one waits for the earlier to clear, and its request
names the conflict (an announced wait, not a surprise red).

Times: the fixed-time plans run on the local clock (seconds since local midnight of the
window's day, in ``tz``); runs across midnight are not handled specially.

The message format (:meth:`PriorityRequest.to_json`, change events of
:func:`diff_requests`) is documented in ``docs/controller.md``; a controller that only
receives the messages rebuilds the requests with :meth:`PriorityRequest.from_json`.

This module is the interface; the work is done in private modules, whose names it
re-exports: the message types (``routing._controller_types``, their JSON read with
``routing._controller_json``), one junction's timing (``routing._controller_timing``:
:func:`plan_request`, :func:`release_request`, :func:`state_at`, :func:`min_service_s`)
and the windows of a run (``routing._controller_windows``: :func:`windows_for_route`,
:func:`windows_from_wave`). The requests of all runs together (:func:`current_requests`)
and their change events (:func:`diff_requests`) are here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import replace

from routing._controller_timing import (
    min_service_s,
    plan_request,
    plan_window,
    release_request,
    state_at,
)
from routing._controller_types import Interval, Limits, PriorityRequest, PriorityWindow, Recovery
from routing._controller_windows import windows_for_route, windows_from_wave
from routing.network import SignalPlan

__all__ = [
    "Limits",
    "PriorityWindow",
    "Interval",
    "Recovery",
    "PriorityRequest",
    "min_service_s",
    "plan_request",
    "release_request",
    "current_requests",
    "diff_requests",
    "windows_for_route",
    "windows_from_wave",
    "state_at",
]


def _held_for(active: Mapping[str, PriorityRequest],
              w: PriorityWindow) -> PriorityRequest | None:
    """The request being executed for ``w``: its own, or one it shares with other runs on
    its phase (named after the first of them, which may have passed since)."""
    own = active.get(f"{w.node}:{w.run_id}:{w.phase}")
    if own is not None:
        return own
    return next((r for r in active.values()
                 if r.junction == w.node and r.phase == w.phase and w.run_id in r.runs), None)


def current_requests(plans: Mapping[int, SignalPlan], windows: Iterable[PriorityWindow], *,
                     now: dt.datetime, tz: dt.tzinfo, limits: Limits = Limits(),
                     active: Mapping[str, PriorityRequest] | None = None,
                     horizon_s: float | None = None) -> list[PriorityRequest]:
    """The requests of every active run's windows, junction by junction.

    Parameters
    ----------
    plans : mapping of node id to SignalPlan
    windows : iterable of PriorityWindow
        Every active run's windows not yet passed, in dispatch order (an earlier run's
        window is planned first).
    now, tz, limits
        As in :func:`plan_request`.
    active : mapping of request key to PriorityRequest, optional
        The requests being executed (from the previous call).
    horizon_s : float, optional
        Windows starting later than this after ``now`` are only announced (action
        ``pending``: no takeover yet); they are planned once they come within it, from
        the fresher arrival times of later position updates. None: plan every window
        now (open loop).

    Returns
    -------
    list of PriorityRequest
        Ordered by junction, then green start. Windows on one phase that overlap share one
        request; an overlapping window on another phase starts when the earlier one's
        green and change interval are over (its ``conflicts`` say so, its residual wait
        includes it). A request that has taken over and whose run no longer has a window
        there (it passed) is released (:func:`release_request`) and kept until it is back
        in coordination; later windows at its junction are planned on its timing. Where
        two requests' schedules overlap, the one that took over last rules from then on.
    """
    active = dict(active or {})
    by_node: dict[int, list[PriorityWindow]] = {}
    wanted = set()
    for w in windows:
        if w.node in plans:
            by_node.setdefault(w.node, []).append(w)
            wanted.add((w.node, w.run_id, w.phase))
    # requests running for runs whose window is gone (passed): released, they finish
    # their recovery, and the windows at their junction are planned after them
    finishing: dict[int, list[PriorityRequest]] = {}
    for r in active.values():
        if (r.junction in plans and r.takeover_at is not None and r.takeover_at <= now < r.ends_at
                and not any((r.junction, run, r.phase) in wanted for run in r.runs)):
            done = release_request(plans[r.junction], r, now=now, tz=tz, limits=limits)
            finishing.setdefault(r.junction, []).append(done)
            by_node.setdefault(r.junction, [])
    out: list[PriorityRequest] = []
    for node in sorted(by_node):
        plan = plans[node]
        granted: list[PriorityRequest] = sorted(finishing.get(node, []), key=lambda r: r.ends_at)
        for w in by_node[node]:
            same = next((r for r in granted if r.phase == w.phase
                         and (w.run_id in r.runs
                              or (w.start < r.window_end and r.window_start < w.end))), None)
            if same is not None:
                merged = PriorityWindow(same.runs[0], node, w.phase, min(same.window_start, w.start),
                                        max(same.window_end, w.end), min(same.arrival, w.arrival))
                req = plan_request(plan, merged, now=now, tz=tz, limits=limits,
                                   active=active.get(same.key))
                runs = same.runs if w.run_id in same.runs else (*same.runs, w.run_id)
                granted[granted.index(same)] = replace(req, runs=runs, conflicts=same.conflicts)
                continue
            conflicts: list[dict] = []
            for r in granted:
                if r.phase != w.phase and w.start < r.ends_at and r.window_start < w.end:
                    clear = r.green_end + dt.timedelta(
                        seconds=float(plan.phases[r.phase]["yellow_s"])
                        + float(plan.phases[r.phase]["all_red_s"]))
                    if clear > w.start:
                        shift = clear - w.start
                        conflicts.append({"with": list(r.runs), "wait_s":
                                          round(shift.total_seconds(), 1)})
                        w = replace(w, start=w.start + shift, end=w.end + shift)
            held = _held_for(active, w)
            if horizon_s is not None and (w.start - now).total_seconds() > horizon_s \
                    and (held is None or held.takeover_at is None):
                granted.append(PriorityRequest(
                    node, (w.run_id,), w.phase, str(plan.phases[w.phase].get("name", w.phase)),
                    "pending", w.start, w.end, w.arrival, w.start, w.end, None, None, 0.0))
                continue
            mine = held
            running = mine is not None and mine.takeover_at is not None and mine.takeover_at <= now
            before = granted[-1] if granted and granted[-1].ends_at > w.start else None
            req = plan_window(plan, w, now=now, tz=tz, limits=limits, active=mine,
                              after=None if running else before)
            if running and w.run_id in mine.runs:  # the junction's request goes on, by its id
                req = replace(req, runs=mine.runs)
            if conflicts:
                extra = sum(float(c["wait_s"]) for c in conflicts)
                req = replace(req, conflicts=tuple(conflicts),
                              residual_wait_s=req.residual_wait_s + extra)
            granted.append(req)
        out.extend(sorted(granted, key=lambda r: r.green_start))
    return out


def diff_requests(old: Iterable[PriorityRequest], new: Iterable[PriorityRequest]
                  ) -> list[dict]:
    """Change events between two sets of requests (the server-sent-events stream).

    Returns
    -------
    list of dict
        ``{"event": "added" | "changed" | "removed", "id": key, "request": json or
        None}``, removals first, then by key.
    """
    before = {r.key: r.to_json() for r in old}
    after = {r.key: r.to_json() for r in new}
    events: list[dict] = [{"event": "removed", "id": k, "request": None}
                          for k in sorted(before.keys() - after.keys())]
    for k in sorted(after):
        if k not in before:
            events.append({"event": "added", "id": k, "request": after[k]})
        elif before[k] != after[k]:
            events.append({"event": "changed", "id": k, "request": after[k]})
    return events
