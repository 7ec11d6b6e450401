"""HTTPXAuth: bearer auth for httpx. Import it from :mod:`r2jwt.http`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Self

import anyio.to_thread
import httpx

from r2jwt.claims import DEFAULT_TTL
from r2jwt.http import _Bearer
from r2jwt.signer import Signer

__all__ = ["HTTPXAuth"]


class HTTPXAuth(httpx.Auth):
    """Signs requests made with ``httpx.Client`` or ``httpx.AsyncClient``; retries once on 401
    after a key rotation.

    ``httpx.Client(auth=HTTPXAuth(signer, mid="123456", country="MX"))``, or ``auth=`` per
    call. ``mid``, ``country`` and ``ttl`` (seconds) are the claims of every token, as in
    :meth:`Signer.token`. See :mod:`r2jwt.http` for what happens on 401.

    :meth:`auth_flow` drives ``httpx.Client`` and blocks while keys load or refresh.
    :meth:`async_auth_flow` drives ``httpx.AsyncClient``: whatever may wait for the key store
    (the first load, a refresh after 401) runs in a worker thread through anyio, so the event
    loop never waits on the network, under asyncio or trio alike.
    """

    # The flow reads neither body: R2's 401 says all we need in its status code.
    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        signer: Signer,
        mid: str | int | None = None,
        country: str | None = None,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self._bearer = _Bearer(signer, mid, country, ttl)

    @property
    def signer(self) -> Signer:
        return self._bearer.signer

    def for_merchant(self, mid: str | int | None, country: str | None = None) -> Self:
        """An auth for another merchant that shares this one's signer, ttl and 401 handling;
        cheap enough to build per request (``auth=auth.for_merchant(mid, "MX")``)."""
        return type(self)(self._bearer.signer, mid, country, self._bearer.ttl)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """The synchronous flow (``httpx.Client``): sign, send, and on 401 maybe retry once."""
        sent = self._bearer.token()
        request.headers["Authorization"] = "Bearer " + sent
        response = yield request
        if response.status_code != 401:
            return
        token = self._bearer.retry_token(sent)
        if token is not None and _replayable(request):
            request.headers["Authorization"] = "Bearer " + token
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The asynchronous flow (``httpx.AsyncClient``): :meth:`auth_flow`, with the calls that
        may wait for the key store moved to a worker thread."""
        bearer = self._bearer
        if _may_fetch(bearer.signer):
            sent = await anyio.to_thread.run_sync(bearer.token)
        else:
            sent = bearer.token()  # the common case: a dict lookup, no thread hop
        request.headers["Authorization"] = "Bearer " + sent
        response = yield request
        if response.status_code != 401:
            return
        token = await anyio.to_thread.run_sync(bearer.retry_token, sent)
        if token is not None and _replayable(request):
            request.headers["Authorization"] = "Bearer " + token
            yield request

    def __repr__(self) -> str:
        return f"HTTPXAuth({self._bearer!r})"


def _may_fetch(signer: Signer) -> bool:
    """Whether :meth:`Signer.token` could wait for the key store now.

    Only a signer with no keyset yet, or one whose next fetch is due (when the keyset may also
    be too old to use, so the fetch would block), reads the store in the caller's thread. While
    the next fetch lies ahead, signing touches memory only.
    """
    return not signer.stats().next_refresh_in


def _replayable(request: httpx.Request) -> bool:
    """Whether the body can be sent a second time: it is held in memory (bytes, text, JSON,
    form data), not a generator, an async iterator, a file or a multipart stream."""
    try:
        request.content  # noqa: B018
    except httpx.RequestNotRead:
        return False
    return True
