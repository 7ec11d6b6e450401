"""KeyCache: the last good keyset of a source, refreshed ahead of need, stale-if-error.

Behaviour (DESIGN.md, "Caching and failure"):

- **First load blocks**, single-flight: however many threads ask at once, one fetch runs and the
  others wait for its result.
- **Refresh-ahead in the background.** Once the keyset is older than ``refresh_interval`` (less
  up to 10 % jitter, so a fleet started together spreads out), the first caller to notice starts
  a fetch on a daemon thread and goes on with the keyset it has. Callers never wait for the
  network again, and only one fetch runs at a time.
- **Stale-if-error.** A failed fetch, or a new document that does not parse, never replaces the
  good keyset. Transient failures are retried with exponential backoff and full jitter, capped at
  ``refresh_interval``; permanent ones (not found, denied, invalid document) at the normal
  interval. Each incident is logged once when it starts and once when it ends.
- **Fail closed.** A keyset older than ``max_stale`` is never used: if refreshing it keeps
  failing, :meth:`KeyCache.get` raises :class:`~r2jwt.errors.StaleKeySetError` naming the source,
  the last error and since when. (After a quiet spell with no failure, the caller that finds the
  keyset too old fetches synchronously instead.)
- **Forced refresh** (:meth:`KeyCache.refresh`) is coalesced: a caller that arrives while a fetch
  is in flight waits for that fetch, and a forced fetch that completed less than a second ago is
  reused. The first load and background refreshes do not count toward that second.
- **Fork-safe.** After ``os.fork`` the child gets fresh locks, no in-flight fetch, and a source
  whose connections were reset (:meth:`Source.reset`); it refreshes on its own schedule.

Ages use the monotonic clock, so setting the system time never triggers or delays a refresh.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from r2jwt.clock import Clock
from r2jwt.errors import (
    ConfigurationError,
    KeySetError,
    R2JWTError,
    SourceError,
    StaleKeySetError,
)
from r2jwt.keys import KeySet, format_time
from r2jwt.sources.base import Source

__all__ = ["FORCED_REFRESH_REUSE", "Incident", "KeyCache"]

log = logging.getLogger("r2jwt")

#: A forced refresh that completed less than this many seconds ago is reused, not repeated.
FORCED_REFRESH_REUSE = 1.0
#: First retry after a transient failure waits up to this long (seconds); it doubles each time.
BACKOFF_BASE = 1.0
#: Refresh times are drawn from [refresh_interval * (1 - JITTER), refresh_interval], so that
#: instances started together spread out while refresh_interval stays the longest a keyset goes
#: unrefreshed: a key scheduled one interval ahead reaches every healthy instance in time.
JITTER = 0.1

Spawn = Callable[[Callable[[], None]], None]


def spawn_daemon(work: Callable[[], None]) -> None:
    """Run ``work`` on a new daemon thread (the default way background fetches run)."""
    threading.Thread(target=work, name="r2jwt-refresh", daemon=True).start()


@dataclass(frozen=True, slots=True)
class Incident:
    """Refreshes are failing: since when (Unix seconds), how often, and the last error."""

    since: float
    failures: int
    error_type: str
    error: str
    transient: bool


class KeyCache:
    """Holds the last good :class:`KeySet` of one source; see the module docstring."""

    def __init__(
        self,
        source: Source,
        *,
        refresh_interval: float,
        max_stale: float,
        clock: Clock,
        on_update: Callable[[], None] | None = None,
        spawn: Spawn | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not refresh_interval > 0 or not math.isfinite(refresh_interval):
            raise ConfigurationError("refresh_interval must be a positive number of seconds")
        if not math.isfinite(max_stale) or not max_stale >= refresh_interval:
            raise ConfigurationError("max_stale must be at least refresh_interval (seconds)")
        self.source = source
        self.refresh_interval = float(refresh_interval)
        self.max_stale = float(max_stale)
        self._clock = clock
        self._on_update = on_update
        self._spawn = spawn or spawn_daemon
        self._random = rng or random.Random()  # noqa: S311 - spreads refresh times, not crypto

        self._keyset: KeySet | None = None
        self._version: str | None = None
        self._good_at = -math.inf  # monotonic time of the last successful fetch
        self._due_at = -math.inf  # monotonic time the next fetch is due (inf while one runs)
        self._error: R2JWTError | None = None
        self._incident_since: float | None = None  # monotonic
        self._failures_in_row = 0
        self._failing_closed = False
        self._completed = 0  # fetches completed, successful or not
        self._forced_done_at = -math.inf
        self._closed = False
        self.fetches = 0
        self.failures = 0
        #: Bumped after every completed fetch; lets the signer notice it raced with one.
        self.generation = 0
        self._init_locks()
        _live_caches.add(self)

    def _init_locks(self) -> None:
        self._fetch_lock = threading.Lock()  # one fetch at a time
        self._state_lock = threading.Lock()  # guards _due_at / _fetching transitions
        self._fetching = False

    # -- the read path ---------------------------------------------------------------------------

    @property
    def check_at(self) -> float:
        """Monotonic time by which :meth:`get` must be called again: the next refresh, or the
        instant the keyset becomes too old to use, whichever comes first."""
        return min(self._due_at, self._good_at + self.max_stale)

    def get(self) -> KeySet:
        """The current keyset. Blocks only for the first load (or a keyset past ``max_stale``
        after a quiet spell); otherwise starts a background refresh when one is due."""
        if self._closed:
            raise ConfigurationError("this signer is closed; create a new one")
        now = self._clock.monotonic()
        keyset = self._keyset
        if keyset is not None and now - self._good_at <= self.max_stale:
            if now >= self._due_at:
                self._start_background()
                keyset = self._keyset or keyset  # fresher if the refresh ran in this thread
            return keyset
        # No usable keyset: none loaded yet, or the one we have is too old.
        if self._error is not None and now < self._due_at:
            raise self._unusable(now)  # backing off: fail fast instead of hammering the source
        return self._fetch_blocking()

    def refresh(self, *, reuse_within: float = FORCED_REFRESH_REUSE) -> KeySet:
        """Fetch now, coalesced with a fetch in flight or a forced one completed less than
        ``reuse_within`` seconds ago.

        Raises the fetch's error when it fails (the last good keyset stays in the cache).
        """
        completed_before = self._completed
        with self._fetch_lock:
            # A fetch that completed while we waited for the lock was in flight when we arrived.
            joined = self._completed > completed_before
            recent = self._clock.monotonic() - self._forced_done_at < reuse_within
            if not (joined or recent):
                self._fetch(forced=True)
            if joined and self._error is not None:
                raise self._error
        return self.get()

    def _fetch_blocking(self) -> KeySet:
        completed_before = self._completed
        with self._fetch_lock:
            if self._completed == completed_before:
                try:
                    self._fetch(forced=False)
                except R2JWTError:
                    if self._keyset is None:
                        raise  # never loaded: the source's own error says what to fix
        # Our fetch, or one that completed while we waited for the lock.
        now = self._clock.monotonic()
        keyset = self._keyset
        if keyset is not None and now - self._good_at <= self.max_stale:
            return keyset
        raise self._unusable(now)

    def _unusable(self, now: float) -> R2JWTError:
        """The error for "no keyset may be used now"."""
        error = self._error
        assert error is not None  # callers check: without an error the keyset is usable
        if self._keyset is None:
            return error  # never loaded: the source's own error says what to fix
        since = self._wall(self._incident_since if self._incident_since is not None else now)
        stale = StaleKeySetError(
            f"keys from {self.source.name} could not be refreshed since {format_time(since)} "
            f"and the last good keyset is older than max_stale ({self.max_stale:.0f} s), so "
            f"signing stops until a refresh succeeds; last error: {type(error).__name__}: {error}",
            source=self.source.name,
            since=since.timestamp(),
            last_error=f"{type(error).__name__}: {error}",
        )
        if not self._failing_closed:
            self._failing_closed = True
            log.error("%s", stale)
        return stale

    # -- fetching --------------------------------------------------------------------------------

    def _start_background(self) -> None:
        with self._state_lock:
            if self._fetching or self._closed:
                return
            self._fetching = True
            self._due_at = math.inf  # nobody else starts one while this runs
        try:
            self._spawn(self._background_fetch)
        except RuntimeError:  # cannot start a thread (interpreter shutting down)
            with self._state_lock:
                self._fetching = False
                self._due_at = self._clock.monotonic() + self.refresh_interval

    def _background_fetch(self) -> None:
        try:
            with self._fetch_lock:
                try:
                    self._fetch(forced=False)
                except R2JWTError:
                    pass  # recorded and logged by _fetch; the last good keyset keeps serving
        finally:
            with self._state_lock:
                self._fetching = False

    def _fetch(self, *, forced: bool) -> None:
        """Read the source once and record the outcome. Call with ``_fetch_lock`` held."""
        self.fetches += 1
        try:
            document = self.source.read()
            if (
                self._keyset is not None
                and document.version is not None
                and (document.version == self._version)
            ):
                keyset = self._keyset  # unchanged: skip parsing
            else:
                keyset = _parse(document.data, self.source.name)
        except R2JWTError as exc:
            self._failed(exc, forced=forced)
            raise
        now = self._clock.monotonic()
        if self._error is not None:
            assert self._incident_since is not None
            log.warning(
                "keys from %s are fresh again after %d failed refreshes over %.0f s",
                self.source.name,
                self._failures_in_row,
                now - self._incident_since,
            )
        self._keyset, self._version = keyset, document.version
        self._good_at = now
        self._error, self._incident_since = None, None
        self._failures_in_row, self._failing_closed = 0, False
        self._finish(now, delay=self._jittered(self.refresh_interval), forced=forced)

    def _failed(self, exc: R2JWTError, *, forced: bool) -> None:
        now = self._clock.monotonic()
        self.failures += 1
        self._failures_in_row += 1
        if self._error is None:
            self._incident_since = now
            if self._keyset is not None:
                log.warning(
                    "refreshing keys from %s failed (%s: %s); serving the last good "
                    "keyset and retrying%s",
                    self.source.name,
                    type(exc).__name__,
                    exc,
                    " with backoff" if _transient(exc) else " every refresh interval",
                )
            else:
                log.warning(
                    "loading keys from %s failed (%s: %s)",
                    self.source.name,
                    type(exc).__name__,
                    exc,
                )
        self._error = exc
        if _transient(exc):
            # Full jitter: anywhere up to base * 2^n, capped, so a fleet does not retry in step.
            # (The exponent is capped: a days-long outage must not overflow the float.)
            doubling = 2.0 ** min(self._failures_in_row, 32)
            ceiling = min(self.refresh_interval, BACKOFF_BASE * doubling)
            delay = self._random.uniform(0, ceiling)
        else:
            delay = self._jittered(self.refresh_interval)
        self._finish(now, delay=delay, forced=forced)

    def _finish(self, now: float, *, delay: float, forced: bool) -> None:
        self._due_at = now + delay
        self._completed += 1
        if forced:
            self._forced_done_at = now
        self.generation += 1
        if self._on_update is not None:
            self._on_update()

    def _jittered(self, seconds: float) -> float:
        return seconds * self._random.uniform(1 - JITTER, 1)

    def _wall(self, monotonic: float) -> datetime:
        """A monotonic instant as a wall-clock datetime (for messages and stats)."""
        wall = self._clock.time() - (self._clock.monotonic() - monotonic)
        return datetime.fromtimestamp(math.floor(wall), UTC)

    # -- observability ---------------------------------------------------------------------------

    @property
    def current(self) -> KeySet | None:
        """The last good keyset as it is, without fetching; None before the first load."""
        return self._keyset

    @property
    def keyset_age(self) -> float | None:
        """Seconds since the last successful fetch, or None before the first one."""
        return None if self._keyset is None else self._clock.monotonic() - self._good_at

    @property
    def next_refresh_in(self) -> float | None:
        """Seconds until the next fetch is due (0 while one runs or is overdue)."""
        if self._keyset is None and self._error is None:
            return None
        if self._fetching:
            return 0.0
        return max(0.0, self._due_at - self._clock.monotonic())

    @property
    def last_error(self) -> R2JWTError | None:
        """The error of the current incident, or None."""
        return self._error

    @property
    def incident(self) -> Incident | None:
        """The current incident (refreshes failing), or None when the last fetch succeeded."""
        error, since = self._error, self._incident_since
        if error is None or since is None:
            return None
        return Incident(
            since=self._wall(since).timestamp(),
            failures=self._failures_in_row,
            error_type=type(error).__name__,
            error=str(error),
            transient=_transient(error),
        )

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop refreshing and release the source. A fetch in flight finishes on its own."""
        self._closed = True
        self.source.close()

    def _after_fork_in_child(self) -> None:
        # The parent's threads do not exist here: a lock one of them held would stay held and a
        # fetch "in flight" would never finish. Start clean, and refresh promptly.
        self._init_locks()
        if self._due_at == math.inf:
            self._due_at = self._clock.monotonic()
        self.source.reset()


def _parse(data: bytes, source: str) -> KeySet:
    """Parse a fetched document; an error names the source as well as the kid and field."""
    try:
        return KeySet.parse(data)
    except KeySetError as exc:
        raise KeySetError(f"{source}: {exc}", kid=exc.kid, field=exc.field) from None


def _transient(error: R2JWTError) -> bool:
    return isinstance(error, SourceError) and error.transient


_live_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for cache in list(_live_caches):
        cache._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_reinit_after_fork)
