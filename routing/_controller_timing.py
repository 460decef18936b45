"""One junction's temporary timing for a priority request, within the controller's limits.

:func:`plan_request` turns one run's window into the request a junction's controller
executes: on the junction's fixed-time plan (or the schedule of the request it already
runs), it weighs holding the approach's green (``extend``), cutting the phase running at
its minimum service (``early``) or a short cycle, keeps every limit
(:func:`min_service_s`, yellow and all-red, the maximum pre-emption), and adds the
recovery back to coordination. :func:`release_request` ends a priority green once the
vehicle has passed; :func:`state_at` is what a schedule shows at a moment.

Internally times are seconds on the plan clock (since local midnight of the window's
day, in ``tz``); the requests carry aware datetimes. The rules are documented in
:mod:`routing.controller` and ``docs/controller.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from routing._controller_types import Interval, Limits, PriorityRequest, PriorityWindow, Recovery
from routing.network import SignalPlan

__all__ = ["min_service_s", "plan_request", "plan_window", "release_request", "state_at"]


# -- the plan clock ------------------------------------------------------------------
@dataclass(frozen=True)
class _Clock:
    """Converts aware datetimes to the plan clock (seconds since local midnight)."""

    day0: dt.datetime

    @classmethod
    def of(cls, when: dt.datetime, tz: dt.tzinfo) -> _Clock:
        """The clock of ``when``'s local day in ``tz``."""
        local = when.astimezone(tz)
        return cls(local.replace(hour=0, minute=0, second=0, microsecond=0))

    def s(self, when: dt.datetime) -> float:
        """Seconds on the plan clock."""
        return (when - self.day0).total_seconds()

    def t(self, seconds: float) -> dt.datetime:
        """The aware datetime of plan-clock ``seconds``."""
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
        """End of the all-red."""
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
    phases = plan.timing
    out: list[_Iv] = []
    while True:
        base = plan.offset_s + k * c
        for i, start, green, yellow, all_red in phases:
            gs = base + start
            if gs + green + yellow + all_red > t0 - c:
                out.append(_Iv(i, gs, gs + green, yellow, all_red))
        if base > t1:
            return out
        k += 1


def _to_iv(iv: Interval, clock: _Clock) -> _Iv:
    """A scheduled interval on the plan clock."""
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


def plan_window(plan: SignalPlan, w: PriorityWindow, *, now: dt.datetime, tz: dt.tzinfo,
                limits: Limits, active: PriorityRequest | None,
                after: PriorityRequest | None = None) -> PriorityRequest:
    """:func:`plan_request`, optionally planned on the timing of an earlier request.

    Parameters
    ----------
    plan, w, now, tz, limits, active
        As in :func:`plan_request` (``w`` is its ``window``).
    after : PriorityRequest, optional
        A request the junction runs before this one (another phase's, or one finishing
        its recovery): the new request is planned on its schedule, instead of on the
        fixed-time plan or on the schedule of ``active`` once that has taken over (pass
        it only when ``active`` has not).

    Returns
    -------
    PriorityRequest
    """
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
    if nxt_k is not None:
        # the normal green comes anyway: a takeover must beat it (else it only reshuffles
        # the phases); hold it if it ends too soon
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
    return plan_window(plan, window, now=now, tz=tz, limits=limits, active=active)


def release_request(plan: SignalPlan, request: PriorityRequest, *, now: dt.datetime,
                    tz: dt.tzinfo, limits: Limits = Limits()) -> PriorityRequest:
    """The vehicle has passed: end the priority green now (after the served phase's
    minimum) and recover from there. A request not yet taken over is returned as is."""
    if request.takeover_at is None or now < request.takeover_at or now >= request.green_end:
        return request
    w = PriorityWindow(request.runs[0], request.junction, request.phase, request.window_start,
                       now, request.arrival)
    return plan_window(plan, w, now=now, tz=tz, limits=limits, active=request)


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


