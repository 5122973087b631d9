"""Support hours (data/support.yml, overridable by environment): is a person there now, and when next."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Mapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.paths import DATA

SUPPORT_FILE = DATA / "support.yml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class SupportHoursError(ValueError):
    """data/support.yml or a SUPPORT_* setting is not valid."""


def _days(spec: str, where: str) -> FrozenSet[int]:
    """Weekday numbers (Monday 0) of "mon-fri", "mon,wed,fri" or "sat-sun"."""
    found: set[int] = set()
    for item in str(spec).lower().replace(" ", "").split(","):
        first, _, last = item.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise SupportHoursError(
                f"{where}: days {spec!r} must name days as {', '.join(DAYS)} "
                "(a range like mon-fri or a list like mon,wed,fri)."
            )
        start, end = DAYS.index(first), DAYS.index(last or first)
        found.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)])
    return frozenset(found)


@dataclass(frozen=True)
class SupportHours:
    """The team's weekly hours in one time zone, how replies write them, and a contact for outside them."""

    zone: ZoneInfo
    days: FrozenSet[int]
    opens: dt.time
    closes: dt.time
    label: Dict[str, str]
    contact: str = ""

    @classmethod
    def load(cls, env: Optional[Mapping[str, str]] = None, path: Optional[str] = None) -> "SupportHours":
        """The hours of data/support.yml with the SUPPORT_* settings of `env` (default os.environ) on top."""
        env = os.environ if env is None else env
        where = str(path or SUPPORT_FILE)
        data = yaml.safe_load(open(path or SUPPORT_FILE, encoding="utf-8")) or {}
        zone_name = env.get("SUPPORT_TIMEZONE") or data.get("timezone") or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise SupportHoursError(
                f"{where}: time zone {zone_name!r} is unknown; use an IANA name such as "
                "Asia/Hong_Kong (SUPPORT_TIMEZONE)."
            ) from None
        hours = env.get("SUPPORT_HOURS") or data.get("hours") or ""
        match = _HOURS.match(str(hours))
        if not match:
            raise SupportHoursError(f"{where}: hours {hours!r} must look like 09:00-18:00 (SUPPORT_HOURS).")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (0 <= h1 < 24 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60 and (h1, m1) < (h2, m2)):
            raise SupportHoursError(f"{where}: hours {hours!r} must open before they close, within one day.")
        label = data.get("label") or {}
        if not isinstance(label, dict) or not label.get("zh") or not label.get("en"):
            raise SupportHoursError(f"{where}: 'label' needs the hours written in zh and en.")
        return cls(
            zone=zone,
            days=_days(env.get("SUPPORT_DAYS") or data.get("days") or "mon-fri", where),
            opens=dt.time(h1, m1),
            closes=dt.time(23, 59, 59) if h2 == 24 else dt.time(h2, m2),
            label={"zh": str(label["zh"]), "en": str(label["en"])},
            contact=str(env.get("SUPPORT_CONTACT") or data.get("contact") or ""),
        )

    def is_open(self, now: Optional[dt.datetime] = None) -> bool:
        """True when a person is there at `now` (default: the current time)."""
        local = (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes
