"""Durations as plugin configs write them: seconds, or number-unit pairs ("90d", "72h",
"1h30m", "10m", "5s"). One parser, so every plugin reads "72h" the same way."""

from __future__ import annotations

import re

__all__ = ["Duration", "UNIT_SECONDS", "parse_duration"]

Duration = float | str
UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")


def parse_duration(value: Duration) -> float:
    """Seconds in `value`, never negative; ValueError says what is wrong."""
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip().lower()
        parts = _PART.findall(text)
        if not parts or _PART.sub("", text).strip():
            raise ValueError(f"duration {value!r} is not seconds or number-unit pairs such as 90d, 12h, 30m, 5s")
        seconds = sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"duration {value!r} is negative")
    return seconds
