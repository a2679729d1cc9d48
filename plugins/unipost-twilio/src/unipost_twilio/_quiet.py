"""Quiet hours: no marketing SMS at night in the recipient's own time zone."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import attrs

__all__ = ["QuietHours", "zone"]

_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def zone(name: str, where: str) -> zoneinfo.ZoneInfo:
    """An IANA zone, or a ValueError that says where the bad name came from."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{where}: {name!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York)"
        ) from exc


@attrs.frozen(kw_only=True)
class QuietHours:
    """A nightly window such as ``21:00-08:00`` (it may wrap past midnight)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, value: str) -> QuietHours:
        match = _SPAN.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"quiet_hours must look like '21:00-08:00', not {value!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            start, end = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError as exc:
            raise ValueError(f"quiet_hours {value!r}: {exc}") from exc
        if start == end:
            raise ValueError("quiet_hours start and end are equal; leave quiet_hours unset instead")
        return cls(start=start, end=end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def _inside(self, moment: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def ends_at(self, now: float, tz: zoneinfo.ZoneInfo) -> float | None:
        """Epoch seconds when the window that ``now`` lies in ends there; None outside it."""
        local = dt.datetime.fromtimestamp(now, tz)
        if not self._inside(local.time()):
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        return end.timestamp()  # zoneinfo applies the offset of that wall-clock time (DST)
