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
:func:`diff_requests`) is documented in ``docs/controller.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from routing.engine import Path
from routing.network import RoadNetwork, SignalPlan
from routing.signals import PED_WALK_S

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


@dataclass(frozen=True)
class Limits:
    """A controller's limits on priority.

    Attributes
    ----------
    min_green_s : float
        Minimum green of any phase once started (the plan's ``min_green_s`` wins when
        larger).
    ped_walk_s : float
        Walk interval before the pedestrian clearance.
    max_preempt_s : float
        Longest time a junction leaves its fixed-time plan for one request.
    lengthen_share : float
        Share of the cycle a recovery may add per cycle when it lengthens.
    ped_clearance_in_green : bool
        The pedestrian clearance runs inside the green (default: a cut phase keeps walk +
        clearance of green). False: it may overlap the yellow and all-red, as the plan's
        ``min_green_s`` assumes (the minimum service is then the minimum green).
    """

    min_green_s: float = 10.0
    ped_walk_s: float = PED_WALK_S
    max_preempt_s: float = 60.0
    lengthen_share: float = 0.2
    ped_clearance_in_green: bool = True


@dataclass(frozen=True)
class PriorityWindow:
    """A run's wish for green at one junction.

    Attributes
    ----------
    run_id : str
    node : int
        Junction (graph node id of the signal plan).
    phase : int
        Index of the plan phase serving the run's approach.
    start, end : datetime.datetime
        Green wanted from ``start`` (queue cleared by the arrival) to ``end`` (cleared).
    arrival : datetime.datetime
        Expected arrival at the stop line.
    """

    run_id: str
    node: int
    phase: int
    start: dt.datetime
    end: dt.datetime
    arrival: dt.datetime


@dataclass(frozen=True)
class Interval:
    """One phase of a temporary timing: green, then its yellow and all-red."""

    phase: int
    green_start: dt.datetime
    green_end: dt.datetime
    yellow_s: float
    all_red_s: float

    @property
    def end(self) -> dt.datetime:
        """End of the all-red."""
        return self.green_end + dt.timedelta(seconds=self.yellow_s + self.all_red_s)

    @property
    def green_s(self) -> float:
        """Green length."""
        return (self.green_end - self.green_start).total_seconds()


@dataclass(frozen=True)
class Recovery:
    """The transition back to coordination after a priority green.

    Attributes
    ----------
    method : str
        ``none`` (already in step), ``shorten`` or ``lengthen``.
    offset_error_s : float
        Seconds the junction is out of step when the priority green ends.
    cycles : int
        Cycles the transition takes.
    green_change_s : dict
        Phase name -> seconds each of its greens changes by during the transition
        (negative: shortened).
    resume_at : datetime.datetime
        When the fixed-time plan runs again.
    """

    method: str
    offset_error_s: float
    cycles: int
    green_change_s: dict[str, float]
    resume_at: dt.datetime


@dataclass(frozen=True)
class PriorityRequest:
    """What one junction's controller is asked to do for one or more runs.

    Attributes
    ----------
    junction : int
        Junction (graph node id).
    runs : tuple of str
        The runs served (one phase).
    phase, phase_name : int, str
        The phase to serve.
    action : str
        ``none`` (the fixed-time green covers the window), ``extend``, ``early``, or
        ``pending`` (announced, planned when the run comes within the planning horizon).
    window_start, window_end : datetime.datetime
        The window asked for.
    arrival : datetime.datetime
        The first run's expected arrival.
    green_start, green_end : datetime.datetime
        The green the phase gets (its fixed-time green for ``none``).
    takeover_at : datetime.datetime or None
        When the controller leaves its fixed-time plan (None for ``none``).
    hold_limit : datetime.datetime or None
        ``takeover_at`` + the maximum pre-emption: the green never extends past it.
    residual_wait_s : float
        Seconds the limits (or an earlier run's window) leave the vehicle waiting.
    cut : tuple of dict
        Phases cut or skipped: ``{"phase", "name", "green_s", "normal_green_s",
        "min_service_s"}``.
    recovery : Recovery or None
    schedule : tuple of Interval
        The temporary timing, from the takeover to ``recovery.resume_at``.
    conflicts : tuple of dict
        Earlier windows on another phase this request waits for.
    """

    junction: int
    runs: tuple[str, ...]
    phase: int
    phase_name: str
    action: str
    window_start: dt.datetime
    window_end: dt.datetime
    arrival: dt.datetime
    green_start: dt.datetime
    green_end: dt.datetime
    takeover_at: dt.datetime | None
    hold_limit: dt.datetime | None
    residual_wait_s: float
    cut: tuple[dict, ...] = ()
    recovery: Recovery | None = None
    schedule: tuple[Interval, ...] = ()
    conflicts: tuple[dict, ...] = ()

    @property
    def key(self) -> str:
        """Stable id of the request: junction, first run and phase."""
        return f"{self.junction}:{self.runs[0]}:{self.phase}"

    @property
    def ends_at(self) -> dt.datetime:
        """When the junction is back on its fixed-time plan (or the window ends)."""
        return self.recovery.resume_at if self.recovery is not None else self.window_end

    def to_json(self) -> dict:
        """The message served at ``GET /signals/requests`` (see ``docs/controller.md``)."""
        def iso(t: dt.datetime | None) -> str | None:
            return None if t is None else t.isoformat(timespec="milliseconds")

        rec = None
        if self.recovery is not None:
            r = self.recovery
            rec = {"method": r.method, "offset_error_s": round(r.offset_error_s, 1),
                   "cycles": r.cycles,
                   "green_change_s": {k: round(v, 1) for k, v in r.green_change_s.items()},
                   "resume_at": iso(r.resume_at)}
        return {
            "id": self.key, "junction": self.junction, "runs": list(self.runs),
            "phase": self.phase, "phase_name": self.phase_name, "action": self.action,
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "arrival": iso(self.arrival),
            "green": {"start": iso(self.green_start), "end": iso(self.green_end)},
            "takeover_at": iso(self.takeover_at), "hold_limit": iso(self.hold_limit),
            "residual_wait_s": round(self.residual_wait_s, 1),
            "cut": [dict(c) for c in self.cut], "recovery": rec,
            "schedule": [{"phase": iv.phase, "green_start": iso(iv.green_start),
                          "green_end": iso(iv.green_end), "yellow_s": iv.yellow_s,
                          "all_red_s": iv.all_red_s} for iv in self.schedule],
            "conflicts": [dict(c) for c in self.conflicts],
        }


# -- clock -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Clock:
    """Converts aware datetimes to the plan clock (seconds since local midnight)."""

    day0: dt.datetime

    @classmethod
    def of(cls, when: dt.datetime, tz: dt.tzinfo) -> _Clock:
        local = when.astimezone(tz)
        return cls(local.replace(hour=0, minute=0, second=0, microsecond=0))

    def s(self, when: dt.datetime) -> float:
        return (when - self.day0).total_seconds()

    def t(self, seconds: float) -> dt.datetime:
        return self.day0 + dt.timedelta(seconds=seconds)


@dataclass
class _Iv:
    """An interval in plan-clock seconds."""

    phase: int
    gs: float
    ge: float
    y: float
    ar: float
    normal: bool = True

    @property
    def end(self) -> float:
        return self.ge + self.y + self.ar


def min_service_s(plan: SignalPlan, phase: int, limits: Limits = Limits()) -> float:
    """Shortest green a started phase may get: ``max(min green, walk + ped clearance)``.

    Parameters
    ----------
    plan : SignalPlan
    phase : int
    limits : Limits

    Returns
    -------
    float
        Seconds; never more than the phase's normal green when that is shorter (a plan
        is not asked for more than it gives).
    """
    p = plan.phases[phase]
    ped = float(p.get("ped_clearance_s", 0.0) or 0.0)
    walk = limits.ped_walk_s + ped if ped > 0 else 0.0
    if not limits.ped_clearance_in_green:
        walk -= float(p["yellow_s"]) + float(p["all_red_s"])
    need = max(limits.min_green_s, float(p.get("min_green_s", 0.0) or 0.0), walk)
    return min(need, float(p["green_s"])) if float(p["green_s"]) > 0 else need


def _normal(plan: SignalPlan, t0: float, t1: float) -> list[_Iv]:
    """The fixed-time intervals overlapping ``[t0, t1]``."""
    c = plan.cycle_s
    k = math.floor((t0 - plan.offset_s) / c) - 1
    out: list[_Iv] = []
    while True:
        base = plan.offset_s + k * c
        for i, p in enumerate(plan.phases):
            gs = base + plan.phase_start(i)
            iv = _Iv(i, gs, gs + float(p["green_s"]), float(p["yellow_s"]), float(p["all_red_s"]))
            if iv.end > t0 - c:
                out.append(iv)
        if base > t1:
            return out
        k += 1


def _to_iv(iv: Interval, clock: _Clock) -> _Iv:
    return _Iv(iv.phase, clock.s(iv.green_start), clock.s(iv.green_end), iv.yellow_s,
               iv.all_red_s, normal=False)


def _base(plan: SignalPlan, active: PriorityRequest | None, clock: _Clock, t0: float,
          t1: float) -> list[_Iv]:
    """What the junction runs without the new request: the active schedule, then the plan."""
    if active is None or not active.schedule:
        return _normal(plan, t0, t1)
    sched = [_to_iv(iv, clock) for iv in active.schedule]
    first, resume = sched[0].gs, sched[-1].end
    before = [iv for iv in _normal(plan, t0, first) if iv.end <= first + 1e-6]
    after = [iv for iv in _normal(plan, resume, t1) if iv.gs >= resume - 1e-6]
    return before + sched + after


def _recovery(plan: SignalPlan, k: int, green_end: float, limits: Limits,
              serve: Sequence[float]) -> tuple[list[_Iv], str, float, int, dict[int, float]]:
    """Intervals from the end of the priority green of ``k`` until the plan is in step."""
    c = plan.cycle_s
    n_ph = len(plan.phases)
    pk = plan.phases[k]
    nxt = (k + 1) % n_ph
    t = green_end + float(pk["yellow_s"]) + float(pk["all_red_s"])
    normal_start = plan.offset_s + plan.phase_start(nxt)
    lag = (t - normal_start) % c
    if lag < 1e-6 or c - lag < 1e-6:
        return [], "none", 0.0, 0, {}
    greens = [float(p["green_s"]) for p in plan.phases]
    slack = [max(0.0, g - s) for g, s in zip(greens, serve, strict=True)]
    cap_short = sum(slack)
    cap_long = limits.lengthen_share * c
    n_short = math.ceil(lag / cap_short - 1e-9) if cap_short > 0 else math.inf
    n_long = math.ceil((c - lag) / cap_long - 1e-9) if cap_long > 0 else math.inf
    if n_short <= n_long:
        method, cycles, total = "shorten", int(n_short), -lag
        weights = slack
    else:
        method, cycles, total = "lengthen", int(n_long), c - lag
        weights = greens
    wsum = sum(weights) or 1.0
    change = {i: total / cycles * w / wsum for i, w in enumerate(weights)}
    ivs = []
    for _ in range(cycles):
        for j in range(n_ph):
            i = (nxt + j) % n_ph
            p = plan.phases[i]
            g = greens[i] + change[i]
            ivs.append(_Iv(i, t, t + g, float(p["yellow_s"]), float(p["all_red_s"]), False))
            t = ivs[-1].end
    return ivs, method, lag if method == "shorten" else -(c - lag), cycles, change


def _wait_for(ivs: Sequence[_Iv], k: int, t: float) -> float:
    """Seconds from ``t`` to green on phase ``k`` in ``ivs`` (0 when green at ``t``)."""
    for iv in ivs:
        if iv.phase == k and iv.ge > t:
            return max(0.0, iv.gs - t)
    return math.inf


def _request(plan: SignalPlan, w: PriorityWindow, *, now: dt.datetime, tz: dt.tzinfo,
             limits: Limits, active: PriorityRequest | None,
             after: PriorityRequest | None = None) -> PriorityRequest:
    clock = _Clock.of(w.start, tz)
    S, E, A, t_now = clock.s(w.start), clock.s(w.end), clock.s(w.arrival), clock.s(now)
    E = max(E, S)
    k = w.phase
    c = plan.cycle_s
    serve = [min_service_s(plan, i, limits) for i in range(len(plan.phases))]
    running = (active if active is not None and active.takeover_at is not None
               and clock.s(active.takeover_at) <= t_now else None)
    base = _base(plan, after or running, clock, min(S, t_now) - 2 * c, E + 4 * c)
    names = [str(p.get("name", i)) for i, p in enumerate(plan.phases)]

    def _normal_end(gs: float) -> float:
        return gs + float(plan.phases[k]["green_s"])

    def build(action: str, takeover: float | None, kstart: float, kend: float,
              head: list[_Iv], cut: list[dict], residual: float,
              back_on_plan: float | None = None, held_from: float | None = None
              ) -> PriorityRequest:
        if takeover is None:
            return PriorityRequest(plan.node, (w.run_id,), k, names[k], action, w.start, w.end,
                                   w.arrival, clock.t(kstart), clock.t(kend), None, None,
                                   residual)
        limit = (takeover if held_from is None else held_from) + limits.max_preempt_s
        if back_on_plan is not None and back_on_plan <= limit:  # the plan's own green follows
            limit = max(limit, kend if kend <= _normal_end(back_on_plan) else _normal_end(back_on_plan))
        kend = min(kend, limit)
        kend = max(kend, kstart + serve[k])
        rec, method, err, cycles, change = _recovery(plan, k, kend, limits, serve)
        k_iv = _Iv(k, kstart, kend, float(plan.phases[k]["yellow_s"]),
                   float(plan.phases[k]["all_red_s"]), False)
        sched = head + [k_iv] + rec
        resume = sched[-1].end
        after = [iv for iv in _normal(plan, resume, resume + 3 * c) if iv.gs >= resume - 1e-6]
        wait_arrival = _wait_for([k_iv] + rec + after, k, A) if A >= kend else 0.0
        residual = max(residual, kstart - S, wait_arrival)
        recovery = Recovery(method, err, cycles, {names[i]: v for i, v in change.items()},
                            clock.t(resume))
        return PriorityRequest(
            plan.node, (w.run_id,), k, names[k], action, w.start, w.end, w.arrival,
            clock.t(kstart), clock.t(kend), clock.t(takeover), clock.t(limit),
            max(0.0, residual), tuple(cut), recovery,
            tuple(Interval(iv.phase, clock.t(iv.gs), clock.t(iv.ge), iv.y, iv.ar)
                  for iv in sched))

    # the junction already runs this request's priority green: move its end only
    if (active is not None and active.takeover_at is not None and active.phase == k
            and clock.s(active.takeover_at) <= t_now < clock.s(active.green_end)):
        sched = [_to_iv(iv, clock) for iv in active.schedule]
        i = next((j for j, iv in enumerate(sched) if iv.phase == k
                  and abs(iv.gs - clock.s(active.green_start)) < 1e-6), None)
        if i is not None:
            kend = max(E, t_now, sched[i].gs + serve[k])
            req = build(active.action, clock.s(active.takeover_at), sched[i].gs, kend, sched[:i],
                        list(active.cut), 0.0)
            runs = active.runs if w.run_id in active.runs else (*active.runs, w.run_id)
            return replace(req, runs=runs)

    cur = next((iv for iv in base if iv.phase == k and iv.gs <= S < iv.ge), None)
    if cur is not None and cur.ge >= E:
        return build("none", None, cur.gs, cur.ge, [], [], 0.0)
    options: list[tuple[float, float, PriorityRequest]] = []
    # extend: the phase's green that runs at S, or the last one before S, held until E
    prev = cur or next((iv for iv in reversed(base) if iv.phase == k and iv.ge <= S), None)
    if prev is not None and prev.ge >= t_now:
        skipped = [iv for iv in base if prev.ge <= iv.gs < E and iv.phase != k]
        cut = [{"phase": iv.phase, "name": names[iv.phase], "how": "delayed", "green_s": None,
                "normal_green_s": round(iv.ge - iv.gs, 1), "min_service_s": serve[iv.phase]}
               for iv in skipped]
        req = build("extend", prev.ge, prev.gs, max(E, prev.ge), [], cut, 0.0)
        options.append((req.residual_wait_s, E - prev.ge, req))
    # short cycle: end k's last green early and serve the phases in between at their minimum
    # service, so that k is green again at S (when the phase after k starts too late to
    # be cut in time)
    if cur is None and prev is not None:
        n_ph = len(plan.phases)
        between = [(k + j) % n_ph for j in range(1, n_ph)]
        pk = plan.phases[k]
        need = float(pk["yellow_s"]) + float(pk["all_red_s"]) + sum(
            serve[j] + float(plan.phases[j]["yellow_s"]) + float(plan.phases[j]["all_red_s"])
            for j in between)
        t1 = S - need
        if max(t_now, prev.gs + serve[k]) <= t1 < prev.ge:
            head = [_Iv(k, prev.gs, t1, prev.y, prev.ar, False)]
            cut = [{"phase": k, "name": names[k], "how": "cut", "green_s": round(t1 - prev.gs, 1),
                    "normal_green_s": round(prev.ge - prev.gs, 1), "min_service_s": serve[k]}]
            for j in between:
                p = plan.phases[j]
                head.append(_Iv(j, head[-1].end, head[-1].end + serve[j], float(p["yellow_s"]),
                                float(p["all_red_s"]), False))
                cut.append({"phase": j, "name": names[j], "how": "cut", "green_s": serve[j],
                            "normal_green_s": float(p["green_s"]), "min_service_s": serve[j]})
            # the conflicting phases are served (at their minimum): the hold is k's own
            req = build("early", t1, head[-1].end, E, head, cut, 0.0,
                        held_from=head[-1].ge)
            options.append((req.residual_wait_s, E - t1, req))
    # early: cut the phase running when the change to k must begin
    nxt_k = next((iv for iv in base if iv.phase == k and iv.gs > S), None)
    y_c = max(float(p["yellow_s"]) + float(p["all_red_s"]) for p in plan.phases)
    tau = max(t_now, S - y_c)
    run = next((iv for iv in base if iv.gs <= tau < iv.end), None)
    if run is not None and run.phase != k:
        if tau < run.ge:  # in its green: cut it at its minimum service
            cut_at = max(tau, run.gs + serve[run.phase])
            cut_at = min(cut_at, run.ge)
            kstart = cut_at + run.y + run.ar
            cut = [{"phase": run.phase, "name": names[run.phase], "how": "cut",
                    "green_s": round(cut_at - run.gs, 1), "normal_green_s": round(run.ge - run.gs, 1),
                    "min_service_s": serve[run.phase]}]
            head = [_Iv(run.phase, run.gs, cut_at, run.y, run.ar, False)]
            takeover = cut_at
        else:  # already in its yellow / all-red: k follows it
            kstart = run.end
            cut, head, takeover = [], [_Iv(run.phase, run.gs, run.ge, run.y, run.ar, False)], run.ge
        if nxt_k is None or kstart < nxt_k.gs:
            skipped = [iv for iv in base if run.end <= iv.gs < (nxt_k.gs if nxt_k else E)
                       and iv.phase != k]
            cut += [{"phase": iv.phase, "name": names[iv.phase], "how": "skipped", "green_s": 0.0,
                     "normal_green_s": round(iv.ge - iv.gs, 1), "min_service_s": serve[iv.phase]}
                    for iv in skipped]
            join_at = nxt_k.gs if nxt_k is not None and nxt_k.gs <= E else None
            kend = max(E, nxt_k.ge) if nxt_k is not None and join_at is not None else E
            req = build("early", takeover, kstart, kend, head, cut, 0.0, back_on_plan=join_at)
            options.append((req.residual_wait_s, kend - takeover, req))
    if nxt_k is not None and (not options or nxt_k.gs <= S):
        # the normal green comes anyway (no takeover helps): hold it if it ends too soon
        if nxt_k.ge >= E:
            wait = max(0.0, nxt_k.gs - S)
            options.append((wait, 0.0, build("none", None, nxt_k.gs, nxt_k.ge, [], [], wait)))
        else:
            req = build("extend", nxt_k.ge, nxt_k.gs, E, [], [], max(0.0, nxt_k.gs - S))
            options.append((req.residual_wait_s, E - nxt_k.ge, req))
    if not options:  # e.g. k itself is in its yellow: wait for its next green
        iv = nxt_k or _normal(plan, S, S + 2 * c)[-1]
        wait = max(0.0, iv.gs - S)
        return build("none", None, iv.gs, iv.ge, [], [], wait)
    return min(options, key=lambda o: (round(o[0], 3), o[1]))[2]


def plan_request(plan: SignalPlan, window: PriorityWindow, *, now: dt.datetime,
                 tz: dt.tzinfo, limits: Limits = Limits(),
                 active: PriorityRequest | None = None) -> PriorityRequest:
    """The request a junction's controller executes for one window.

    Parameters
    ----------
    plan : SignalPlan
        The junction's fixed-time plan.
    window : PriorityWindow
        The green the run wants.
    now : datetime.datetime
        Current time: nothing before it can change.
    tz : datetime.tzinfo
        The time zone of the plan clock.
    limits : Limits
    active : PriorityRequest, optional
        The request the junction runs now for this run (an update moves its green's end,
        within the hold limit, and keeps its takeover).

    Returns
    -------
    PriorityRequest
    """
    return _request(plan, window, now=now, tz=tz, limits=limits, active=active)


def release_request(plan: SignalPlan, request: PriorityRequest, *, now: dt.datetime,
                    tz: dt.tzinfo, limits: Limits = Limits()) -> PriorityRequest:
    """The vehicle has passed: end the priority green now (after the served phase's
    minimum) and recover from there. A request not yet taken over is returned as is."""
    if request.takeover_at is None or now < request.takeover_at or now >= request.green_end:
        return request
    w = PriorityWindow(request.runs[0], request.junction, request.phase, request.window_start,
                       now, request.arrival)
    return _request(plan, w, now=now, tz=tz, limits=limits, active=request)


def state_at(request: PriorityRequest, when: dt.datetime) -> tuple[int, str] | None:
    """The phase and its state (``green``, ``yellow``, ``all_red``) the request's schedule
    shows at ``when``; None outside the schedule (the fixed-time plan runs)."""
    for iv in request.schedule:
        if iv.green_start <= when < iv.end:
            if when < iv.green_end:
                return iv.phase, "green"
            if when < iv.green_end + dt.timedelta(seconds=iv.yellow_s):
                return iv.phase, "yellow"
            return iv.phase, "all_red"
    return None


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
            held = active.get(f"{node}:{w.run_id}:{w.phase}")
            if horizon_s is not None and (w.start - now).total_seconds() > horizon_s \
                    and (held is None or held.takeover_at is None):
                granted.append(PriorityRequest(
                    node, (w.run_id,), w.phase, str(plan.phases[w.phase].get("name", w.phase)),
                    "pending", w.start, w.end, w.arrival, w.start, w.end, None, None, 0.0))
                continue
            mine = held
            running = mine is not None and mine.takeover_at is not None and mine.takeover_at <= now
            before = granted[-1] if granted and granted[-1].ends_at > w.start else None
            req = _request(plan, w, now=now, tz=tz, limits=limits, active=mine,
                           after=None if running else before)
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
    """
    passed = set(skip)
    t0 = now if now is not None else (arrivals[0] if len(arrivals) else dt.datetime.now(dt.UTC))
    out = []
    for i in range(1, len(path.nodes) - 1):
        node = int(network.node_ids[path.nodes[i]])
        plan = network.plans.get(node)
        if plan is None or node in passed:
            continue
        edge = path.edges[i - 1]
        phase = plan.phase_of(int(network.node_ids[path.nodes[i - 1]]),
                              int(network.edge_key[edge]))
        red = plan.cycle_s - float(plan.phases[phase]["green_s"])
        a = arrivals[i]
        ahead = max(0.0, (a - t0).total_seconds())
        out.append(PriorityWindow(
            run_id, node, phase, a - dt.timedelta(seconds=lead(red) + early_share * ahead),
            a + dt.timedelta(seconds=hold_s + late_share * ahead), a))
    return out


def windows_from_wave(network: RoadNetwork, wave: object, *, run_id: str,
                      depart_at: dt.datetime) -> list[PriorityWindow]:
    """The windows of a :class:`routing.greenwave.GreenWave` (signals whose times are
    seconds after ``depart_at``; a signal with ``held`` False holds no window)."""
    out = []
    for sig in getattr(wave, "signals", []):
        if not getattr(sig, "held", True):
            continue
        plan = network.plans.get(int(sig.node))
        if plan is None:
            continue
        names = [p.get("name") for p in plan.phases]
        phase = names.index(sig.phase) if sig.phase in names else 0
        t = depart_at + dt.timedelta(seconds=float(sig.arrival_s))
        out.append(PriorityWindow(run_id, int(sig.node), phase,
                                  depart_at + dt.timedelta(seconds=float(sig.green_start_s)),
                                  depart_at + dt.timedelta(seconds=float(sig.green_end_s)), t))
    return out
