"""Signer: the object most users touch. Source -> key cache -> active key -> token cache.

The hot path (:meth:`Signer.token` on a cache hit) reads two clocks, one snapshot attribute and
one dict entry, and takes no lock. Everything that can change the signing key — a refreshed
keyset, or the instant a key's window opens or closes — goes through :meth:`Signer._select`,
which builds a new immutable snapshot; readers switch to it by reading one attribute.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from operator import itemgetter
from types import TracebackType
from typing import Any, Self

from r2jwt.claims import (
    DEFAULT_TTL,
    RESERVED_CLAIMS,
    check_claims,
    check_extra,
)
from r2jwt.clock import Clock, SystemClock
from r2jwt.errors import NoActiveKeyError
from r2jwt.jws import HS256Key
from r2jwt.key_cache import FORCED_REFRESH_REUSE, Incident, KeyCache, Spawn
from r2jwt.keys import Key, KeySet
from r2jwt.sources import open_source
from r2jwt.sources.base import Source
from r2jwt.token_cache import DEFAULT_TOKEN_CACHE_SIZE, TokenCache

__all__ = ["Signer", "SignerStats"]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What the hot path needs, valid until ``select_until`` (wall) and ``refresh_due``
    (monotonic)."""

    signing_key: HS256Key
    not_after: float  # the active key's end, Unix seconds (inf when open)
    select_until: float
    refresh_due: float


# Before the first selection: every deadline has passed, so the first call selects.
_NOTHING_YET = _Snapshot(HS256Key("", b""), math.inf, -math.inf, -math.inf)


@dataclass(frozen=True, slots=True)
class SignerStats:
    """What :meth:`Signer.stats` reports. Ages and delays in seconds."""

    source: str
    active_kid: str | None
    keyset_age: float | None  # since the last successful fetch; None before the first
    next_refresh_in: float | None
    fetches: int
    failures: int
    incident: Incident | None  # refreshes are failing: since when, how often, the last error
    token_cache_hits: int
    token_cache_misses: int
    token_cache_size: int
    tokens_minted: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


# A cached token: (token, the HS256Key that signed it, wall time until which it is reused).
_Entry = tuple[str, HS256Key, float]


class Signer:
    """Signs R2 tokens with the active key of a source.

    :param source: a source URL (``env://``, ``file:///…``, ``aws-sm://…``, ``vault://…``), a
        :class:`~r2jwt.sources.Source`, or None for ``$R2JWT_SOURCE`` (else ``env://``).
    :param refresh_interval: seconds between fetches of the keyset (default 300).
    :param max_stale: seconds the last good keyset keeps serving while fetches fail (default
        3600); after that signing fails closed.
    :param clock: wall and monotonic clocks (tests inject a fake one).
    :param token_cache_size: how many distinct tokens :meth:`token` keeps (default 10,000;
        0 turns the cache off).
    :param spawn: how a background refresh runs (default: a daemon thread). Tests pass a
        function that runs it when they choose.

    Thread-safe. Use it as a context manager, or call :meth:`close` when done.
    """

    def __init__(
        self,
        source: str | Source | None = None,
        *,
        refresh_interval: float = 300.0,
        max_stale: float = 3600.0,
        clock: Clock | None = None,
        token_cache_size: int = DEFAULT_TOKEN_CACHE_SIZE,
        spawn: Spawn | None = None,
    ) -> None:
        clock = clock or SystemClock()
        self._source = open_source(source)
        self._cache = KeyCache(
            self._source,
            refresh_interval=refresh_interval,
            max_stale=max_stale,
            clock=clock,
            on_update=self._invalidate,
            spawn=spawn,
        )
        self._tokens: TokenCache[_Entry] = TokenCache(token_cache_size)
        self._wall = clock.time
        self._monotonic = clock.monotonic
        self._snapshot = _NOTHING_YET
        self._signing_key_of: dict[str, tuple[bytes, HS256Key]] = {}
        self.minted = 0

    # -- signing ---------------------------------------------------------------------------------

    def token(
        self,
        mid: str | int | None = None,
        country: str | None = None,
        ttl: int = DEFAULT_TTL,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A token for these claims, reused from the cache while >= 1/4 of its life remains.

        ``mid`` (merchant id; an int is sent as its decimal string) and ``country`` (ISO 3166-1
        alpha-2) are omitted when None or ""; ``ttl`` is the lifetime in seconds (1..86400);
        ``extra`` adds claims other than exp / mid / country.
        """
        now = self._wall()
        snap = self._snapshot
        if now >= snap.select_until or self._monotonic() >= snap.refresh_due:
            snap = self._select(now)
        if type(mid) is int:
            # An int mid is looked up, cached and sent as its decimal string, so 42 and "42" share
            # a token (and 42 hits the cache at all: it is stored under "42").
            mid = str(mid)
        cache_key: tuple[Any, ...] = (
            (mid, country, ttl) if extra is None else (mid, country, ttl, _freeze(extra))
        )
        entry = self._tokens.get(cache_key)
        # type(ttl) is int: 600.0 and True compare equal to valid ints but are not valid ttls.
        if (
            entry is not None
            and entry[1] is snap.signing_key
            and now < entry[2]
            and type(ttl) is int
        ):
            self._tokens.hits += 1
            return entry[0]
        self._tokens.misses += 1

        mid_claim, country_claim, lifetime = check_claims(mid, country, ttl)
        token, exp = self._sign(snap, now, mid_claim, country_claim, lifetime, extra)
        if not (mid is None or type(mid) is str):
            # Only str and None mids key the cache (an int 1 would equal True and 1.0, which are
            # not valid mids); a str subclass is keyed by what check_mid returned.
            cache_key = (mid_claim, *cache_key[1:])
        self._tokens.put(cache_key, (token, snap.signing_key, exp - (exp - now) / 4))
        return token

    def mint(
        self,
        mid: str | int | None = None,
        country: str | None = None,
        ttl: int = DEFAULT_TTL,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A freshly signed token; same arguments as :meth:`token`, never cached."""
        now = self._wall()
        snap = self._snapshot
        if now >= snap.select_until or self._monotonic() >= snap.refresh_due:
            snap = self._select(now)
        mid_claim, country_claim, lifetime = check_claims(mid, country, ttl)
        return self._sign(snap, now, mid_claim, country_claim, lifetime, extra)[0]

    def _sign(
        self,
        snap: _Snapshot,
        now: float,
        mid: str | None,
        country: str | None,
        lifetime: int,
        extra: Mapping[str, Any] | None,
    ) -> tuple[str, int]:
        """Sign checked claims (see :func:`check_claims`) with the snapshot's key."""
        extra_claims = None if extra is None else check_extra(extra)
        # A token never outlives its key.
        exp = int(now) + lifetime
        if exp > snap.not_after:
            exp = math.floor(snap.not_after)
        token = snap.signing_key.sign(exp, mid, country, extra_claims)
        self.minted += 1
        return token, exp

    # -- choosing the key ------------------------------------------------------------------------

    def _select(self, now: float) -> _Snapshot:
        """Fetch (when due) and choose the active key at ``now``; publish a new snapshot."""
        cache = self._cache
        generation = cache.generation
        keyset = cache.get()
        key = keyset.active_at(now)
        if key is None:
            raise NoActiveKeyError(_no_active_key_message(keyset, now, self._source.name))
        change = keyset.next_change_after(now)
        snap = _Snapshot(
            signing_key=self._signing_key(key),
            not_after=key.ends,
            select_until=math.inf if change is None else change,
            refresh_due=cache.check_at,
        )
        self._snapshot = snap
        if cache.generation != generation:
            # A fetch completed while we built this snapshot from the older state; its
            # _invalidate may have run before our store, so look again on the next call.
            self._snapshot = _NOTHING_YET
        return snap

    def _invalidate(self) -> None:
        """Called by the key cache after every fetch: the next call re-selects."""
        self._snapshot = _NOTHING_YET

    def _signing_key(self, key: Key) -> HS256Key:
        """The HS256Key for ``key``, reused while kid and secret are unchanged so a refresh that
        brings the same key does not empty the token cache."""
        secret = key.secret.encode()
        cached = self._signing_key_of.get(key.kid)
        if cached is not None and cached[0] == secret:
            return cached[1]
        signing_key = HS256Key(key.kid, secret)
        self._signing_key_of = {key.kid: (secret, signing_key)}  # only the active key is needed
        return signing_key

    # -- keys --------------------------------------------------------------------------------------

    def refresh(self, *, reuse_within: float = FORCED_REFRESH_REUSE) -> KeySet:
        """Fetch the keyset now and re-select the active key.

        Coalesced: a caller that arrives while a fetch is in flight waits for it, and a forced
        fetch that completed less than ``reuse_within`` seconds ago (default 1) is reused, so a
        burst of callers (say, HTTP clients that all got 401) causes one fetch. Raises the
        fetch's error when it fails; the last good keyset keeps serving.
        """
        return self._cache.refresh(reuse_within=reuse_within)

    def keyset(self) -> KeySet:
        """The current keyset (loading it first if needed)."""
        return self._cache.get()

    @property
    def source(self) -> Source:
        """Where the keys come from."""
        return self._source

    def stats(self) -> SignerStats:
        """Counters and state for monitoring (``.as_dict()`` for JSON); never key material."""
        cache = self._cache
        keyset = cache.current
        active = None if keyset is None else keyset.active_at(self._wall())
        return SignerStats(
            source=self._source.name,
            active_kid=None if active is None else active.kid,
            keyset_age=cache.keyset_age,
            next_refresh_in=cache.next_refresh_in,
            fetches=cache.fetches,
            failures=cache.failures,
            incident=cache.incident,
            token_cache_hits=self._tokens.hits,
            token_cache_misses=self._tokens.misses,
            token_cache_size=len(self._tokens),
            tokens_minted=self.minted,
        )

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop refreshing, drop cached tokens and release the source. Signing afterwards
        raises :class:`~r2jwt.errors.ConfigurationError`."""
        self._cache.close()
        self._snapshot = _NOTHING_YET
        self._tokens.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Signer({self._source.name!r})"


# Value types whose equal values always encode to the same JSON (unlike 0.0 and -0.0).
_FLAT_CLAIM_TYPES = frozenset({str, int, bool, type(None)})
_by_name = itemgetter(0)


def _freeze(extra: Mapping[str, Any]) -> tuple[tuple[str, type, object], ...] | str:
    """A hashable cache key for extra claims; only valid claims get one (anything else raises).

    The common case, a dict of str / int / bool / None values, is keyed by its sorted
    (name, type, value) triples: no JSON encoding on a cache hit, and the type keeps 1, True and
    1.0 apart. Anything else is checked in full and keyed by its canonical JSON.
    """
    if type(extra) is dict:
        triples = []
        for name, value in extra.items():
            kind = type(value)
            if type(name) is not str or not name or name in RESERVED_CLAIMS:
                break
            if kind not in _FLAT_CLAIM_TYPES:
                break
            triples.append((name, kind, value))
        else:
            triples.sort(key=_by_name)
            return tuple(triples)
    check_extra(extra)
    return json.dumps(extra, sort_keys=True, separators=(",", ":"))


def _no_active_key_message(keyset: KeySet, now: float, source: str) -> str:
    states = ", ".join(f"{k.kid} {keyset.state_of(k.kid, now)}" for k in keyset)
    return (
        f"no key in {source} is active now ({states}); add one with 'r2jwt keys add' "
        f"or fix the not_before / not_after times"
    )
