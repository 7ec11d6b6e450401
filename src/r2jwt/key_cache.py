"""KeyCache: the last good keyset from a source, refreshed periodically.

- The first load blocks, single-flight: however many threads ask at once, one fetch runs and the
  others wait for its result.
- After that, when the keyset is older than ``refresh_interval`` the first caller to notice
  fetches again while every other caller keeps using the keyset it has (never a second fetch at
  the same time).
- A failed refresh keeps the last good keyset serving until it is older than ``max_stale``; then
  :meth:`KeyCache.get` raises :class:`~r2jwt.errors.StaleKeySetError`. An invalid new document
  never replaces a good one.
- :meth:`KeyCache.refresh` forces a fetch, coalesced: callers that arrive while a fetch runs wait
  for it, and a forced fetch that completed less than a second ago is reused.

Ages use the monotonic clock, so setting the system time never triggers or delays a refresh.
"""

from __future__ import annotations

import logging
import math
import threading

from r2jwt.clock import Clock
from r2jwt.errors import ConfigurationError, R2JWTError, StaleKeySetError
from r2jwt.keys import KeySet
from r2jwt.sources.base import Source

__all__ = ["FORCED_REFRESH_REUSE", "KeyCache"]

log = logging.getLogger("r2jwt")

#: A forced refresh that completed less than this many seconds ago is reused, not repeated.
FORCED_REFRESH_REUSE = 1.0


class KeyCache:
    """Holds the last good :class:`KeySet` of one source."""

    def __init__(
        self,
        source: Source,
        *,
        refresh_interval: float,
        max_stale: float,
        clock: Clock,
    ) -> None:
        if not refresh_interval > 0 or not math.isfinite(refresh_interval):
            raise ConfigurationError("refresh_interval must be a positive number of seconds")
        if not max_stale >= refresh_interval:
            raise ConfigurationError("max_stale must be at least refresh_interval (seconds)")
        self.source = source
        self.refresh_interval = float(refresh_interval)
        self.max_stale = float(max_stale)
        self._monotonic = clock.monotonic
        self._fetch_lock = threading.Lock()

        self._keyset: KeySet | None = None
        self._version: str | None = None
        self._good_at = -math.inf  # monotonic time of the last successful fetch
        self._due_at = -math.inf  # monotonic time at which the next refresh is due
        self._completed = 0  # fetches completed, successful or not
        self._forced_done_at = -math.inf  # monotonic time the last forced fetch completed
        self._error: R2JWTError | None = None
        self._failing_since: float | None = None

        self.fetches = 0
        self.failures = 0

    # -- the read path ---------------------------------------------------------------------------

    @property
    def due_at(self) -> float:
        """Monotonic time after which :meth:`get` will fetch again."""
        return self._due_at

    def get(self) -> KeySet:
        """The current keyset; fetches first when none is loaded yet or a refresh is due."""
        keyset = self._keyset
        now = self._monotonic()
        if keyset is None:
            with self._fetch_lock:
                if self._keyset is None:
                    self._fetch(forced=False)
            keyset = self._keyset
            assert keyset is not None  # _fetch either set it or raised
        elif now >= self._due_at and self._fetch_lock.acquire(blocking=False):
            # One caller refreshes; the others go on with the keyset they have.
            try:
                if self._monotonic() >= self._due_at:
                    try:
                        self._fetch(forced=False)
                    except R2JWTError:
                        pass  # recorded; the last good keyset keeps serving (checked below)
            finally:
                self._fetch_lock.release()
            keyset = self._keyset
            assert keyset is not None
        self._check_stale(now)
        return keyset

    def refresh(self) -> KeySet:
        """Fetch now, coalesced with a fetch in flight or a forced one under a second old.

        Raises the fetch's error when it fails (the last good keyset stays in the cache).
        """
        completed_before = self._completed
        with self._fetch_lock:
            # A fetch that completed while we waited for the lock was in flight when we arrived.
            joined = self._completed > completed_before
            recent = self._monotonic() - self._forced_done_at < FORCED_REFRESH_REUSE
            if not (joined or recent):
                self._fetch(forced=True)
            elif joined and self._error is not None:
                raise self._error
        keyset = self._keyset
        assert keyset is not None
        return keyset

    # -- fetching (always under _fetch_lock) -----------------------------------------------------

    def _fetch(self, *, forced: bool) -> None:
        self.fetches += 1
        try:
            document = self.source.read()
            if (
                self._keyset is not None
                and document.version is not None
                and (document.version == self._version)
            ):
                keyset = self._keyset
            else:
                keyset = KeySet.parse(document.data)
        except R2JWTError as exc:
            self._failed(exc)
            raise
        finally:
            self._completed += 1
            if forced:
                self._forced_done_at = self._monotonic()
        if self._error is not None:
            log.info("r2jwt: %s is readable again", self.source.name)
        self._keyset, self._version = keyset, document.version
        self._good_at = self._monotonic()
        self._due_at = self._good_at + self.refresh_interval
        self._error, self._failing_since = None, None

    def _failed(self, exc: R2JWTError) -> None:
        self.failures += 1
        now = self._monotonic()
        if self._error is None:
            self._failing_since = now
            if self._keyset is not None:
                log.warning(
                    "r2jwt: refreshing keys from %s failed (%s); serving the last good keyset",
                    self.source.name,
                    exc,
                )
        self._error = exc
        self._due_at = now + self.refresh_interval

    def _check_stale(self, now: float) -> None:
        if self._error is not None and now - self._good_at > self.max_stale:
            since = self._failing_since if self._failing_since is not None else now
            raise StaleKeySetError(
                f"keys from {self.source.name} could not be refreshed for "
                f"{now - since:.0f} s and the last good keyset is older than max_stale "
                f"({self.max_stale:.0f} s); last error: {self._error}",
                source=self.source.name,
                since=since,
                last_error=str(self._error),
            )

    # -- observability ---------------------------------------------------------------------------

    @property
    def keyset_age(self) -> float | None:
        """Seconds since the last successful fetch, or None before the first one."""
        return None if self._keyset is None else self._monotonic() - self._good_at

    @property
    def last_error(self) -> R2JWTError | None:
        """The error of the current incident (refreshes failing), or None."""
        return self._error

    def close(self) -> None:
        """Release the source."""
        self.source.close()
