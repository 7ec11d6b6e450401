"""Bearer auth for HTTP clients: sign each request, and recover from a rotation on 401.

- :class:`RequestsAuth` — a ``requests.auth.AuthBase`` (``pip install 'r2jwt[requests]'``).
- :class:`HTTPXAuth` — an ``httpx.Auth`` for ``httpx.Client`` and ``httpx.AsyncClient``
  (``pip install 'r2jwt[httpx]'``).

Both set ``Authorization: Bearer <token>`` from :meth:`Signer.token` (cached), and both react to
a 401 the same way (:meth:`_Bearer.retry_token`):

1. If the kid the request was signed with is no longer the active one (the signer switched since
   it signed), retry at once with a new token; nothing is fetched (DESIGN.md, "Caching and
   failure").
2. Otherwise call :meth:`Signer.refresh` — coalesced, so twenty 401s at once cause one fetch,
   and reusing a forced fetch under ``REFRESH_HOLDOFF`` seconds old, so that a steady stream of
   401s a new key would not fix (a merchant R2 does not know, say) costs one fetch per 10 s per
   signer, not one per second — and if the active kid changed, retry with a token of the new
   kid.
3. Otherwise (the kid is still the active one, or the refresh failed) the caller gets the 401
   as it came. A request is retried at most once, and only when its body can be sent again:
   bytes, text, JSON and form bodies can; generators, iterators and unseekable streams cannot
   (the keys are refreshed anyway, so the next request uses the new kid).

requests and httpx are optional: this module imports neither until :class:`RequestsAuth` or
:class:`HTTPXAuth` is first looked up, and a missing one raises
:class:`~r2jwt.errors.MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from r2jwt.claims import check_country, check_mid, check_ttl
from r2jwt.errors import MissingExtraError, R2JWTError
from r2jwt.jws import decode_unverified
from r2jwt.signer import Signer

if TYPE_CHECKING:
    from r2jwt._http_httpx import HTTPXAuth
    from r2jwt._http_requests import RequestsAuth

__all__ = ["HTTPXAuth", "RequestsAuth"]

log = logging.getLogger("r2jwt.http")

#: A 401 reuses a forced refresh this recent (seconds) instead of fetching again.
REFRESH_HOLDOFF = 10.0

# Public name -> (module that defines it, the third-party package it needs, the extra).
_LAZY = {
    "RequestsAuth": ("r2jwt._http_requests", "requests", "requests"),
    "HTTPXAuth": ("r2jwt._http_httpx", "httpx", "httpx"),
}


def __getattr__(name: str) -> Any:
    """Import a client's auth class, and its client library, on first use."""
    try:
        module_name, package, extra = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as exc:
        if exc.name != package:
            raise  # the package is there but broken: show its own error
        raise MissingExtraError(module=package, extra=extra) from None
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def _bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header value, else None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _kid_of(token: str) -> str | None:
    """The ``kid`` in a token's header (unverified), or None when there is none."""
    try:
        kid = decode_unverified(token)[0].get("kid")
    except ValueError:
        return None
    return kid if isinstance(kid, str) else None


class _Bearer:
    """What both clients share: the signer, the claims of one merchant, and the 401 decision.

    Holds no state of its own beyond its arguments, so one instance serves any number of threads
    and requests.
    """

    __slots__ = ("country", "mid", "signer", "ttl")

    def __init__(
        self, signer: Signer, mid: str | int | None, country: str | None, ttl: int
    ) -> None:
        if not isinstance(signer, Signer):
            raise TypeError(f"signer must be an r2jwt.Signer, not {type(signer).__name__}")
        # Checked here so a bad merchant id fails where the auth is built, not on the first call.
        self.signer = signer
        self.mid = check_mid(mid)
        self.country = check_country(country)
        self.ttl = check_ttl(ttl)

    def token(self) -> str:
        return self.signer.token(self.mid, self.country, self.ttl)

    def retry_token(self, sent: str) -> str | None:
        """After R2 answered 401 to ``sent``: the token to retry with, or None not to retry.

        Blocks while a refresh runs (call it from a worker thread on an event loop). Raises
        nothing r2jwt-specific: a failed refresh means "no retry", and the key cache has
        already logged the incident.
        """
        sent_kid = _kid_of(sent)
        if sent_kid is None:
            return None  # not a token of ours: nothing we can do better
        try:
            token = self.token()
            if _kid_of(token) == sent_kid:
                # Still the active kid as far as we know: only the store can say otherwise.
                self.signer.refresh(reuse_within=REFRESH_HOLDOFF)
                token = self.token()
        except R2JWTError as exc:
            log.debug(
                "R2 answered 401 to kid %s and the keys could not be refreshed "
                "(%s); returning the 401",
                sent_kid,
                type(exc).__name__,
            )
            return None
        kid = _kid_of(token)
        if kid == sent_kid:
            log.debug(
                "R2 answered 401 to kid %s, which is still the active kid after a "
                "refresh; returning the 401",
                sent_kid,
            )
            return None
        log.info("R2 answered 401 to kid %s; retrying once with kid %s", sent_kid, kid)
        return token

    def __repr__(self) -> str:
        return f"signer={self.signer!r}, mid={self.mid!r}, country={self.country!r}, ttl={self.ttl}"
