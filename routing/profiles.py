"""Speed profiles: free flow, time of day, emergency vehicles.

The default profile per road class is documented here and overridable with observed
speeds (``observed_kph`` per edge). Factors multiply the free-flow speed of the edge
(OSM ``maxspeed`` or the class default from the twin's road model).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = [
    "PEAK_FACTOR",
    "OFFPEAK_FACTOR",
    "EMERGENCY_FACTOR",
    "EMERGENCY_MAX_KPH",
    "VEHICLES",
    "Profile",
    "is_peak",
    "clock_seconds",
]

#: Share of free-flow speed reached at peak hours (07–09, 17–19), by road class.
PEAK_FACTOR: dict[str, float] = {
    "motorway": 0.55, "trunk": 0.5, "primary": 0.45, "secondary": 0.5, "tertiary": 0.55,
    "unclassified": 0.65, "residential": 0.7, "living_street": 0.8, "service": 0.8,
}
#: Share of free-flow speed reached off-peak.
OFFPEAK_FACTOR: dict[str, float] = {
    "motorway": 0.85, "trunk": 0.8, "primary": 0.75, "secondary": 0.8, "tertiary": 0.8,
    "unclassified": 0.85, "residential": 0.85, "living_street": 0.9, "service": 0.9,
}
#: Emergency vehicles with sirens: traffic yields, so they run above the traffic speed
#: (a share of free flow, by class), capped at :data:`EMERGENCY_MAX_KPH`.
EMERGENCY_FACTOR: dict[str, float] = {
    "motorway": 1.0, "trunk": 1.0, "primary": 0.95, "secondary": 0.95, "tertiary": 0.9,
    "unclassified": 0.85, "residential": 0.8, "living_street": 0.7, "service": 0.7,
}
EMERGENCY_MAX_KPH = 70.0
#: Vehicle types for emergency routing.
VEHICLES = ("fire", "ambulance")


def clock_seconds(when: dt.datetime, tz: dt.tzinfo) -> float:
    """Seconds since local midnight in ``tz`` (the signal plans' clock)."""
    local = when.astimezone(tz)
    return local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6


def is_peak(hour: float) -> bool:
    """True during the morning (07–09) and evening (17–19) peaks."""
    return 7 <= hour < 9 or 17 <= hour < 19


@dataclass(frozen=True)
class Profile:
    """How fast each road class runs for one kind of vehicle at one time of day.

    Attributes
    ----------
    name : str
        ``"car"``, ``"fire"`` or ``"ambulance"``.
    factors : dict
        Road class -> share of free-flow speed.
    max_kph : float or None
        Speed cap.
    signal_delay : bool
        Pay the expected delay at signalized intersections (normal traffic: yes;
        emergency vehicles under a green wave: no).
    """

    name: str
    factors: dict[str, float] = field(default_factory=dict)
    max_kph: float | None = None
    signal_delay: bool = True

    @classmethod
    def car(cls, hour: float = 10.0) -> Profile:
        """Normal traffic at ``hour`` (peak or off-peak factors)."""
        return cls("car", PEAK_FACTOR if is_peak(hour) else OFFPEAK_FACTOR)

    @classmethod
    def emergency(cls, vehicle: str = "fire", *, green_wave: bool = True) -> Profile:
        """An emergency vehicle, with or without signal priority."""
        return cls(vehicle, EMERGENCY_FACTOR, EMERGENCY_MAX_KPH, signal_delay=not green_wave)

    def speed(self, road_class: str, free_flow_kph: float) -> float:
        """Speed (km/h) on a road of ``road_class`` with free-flow ``free_flow_kph``."""
        kph = free_flow_kph * self.factors.get(road_class, 0.8)
        return min(kph, self.max_kph) if self.max_kph else kph
