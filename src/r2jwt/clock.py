"""Clocks: wall time for ``exp`` and key windows, monotonic time for cache ages.

Both are injectable (``Signer(clock=...)``) so tests move time instead of sleeping.
"""

from __future__ import annotations

import time as _time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What r2jwt asks of a clock."""

    def time(self) -> float:
        """Wall-clock time as Unix seconds (may jump when the system clock is set)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards."""
        ...


class SystemClock:
    """The process's real clocks."""

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)
