"""RequestsAuth: bearer auth for requests. Import it from :mod:`r2jwt.http`."""

from __future__ import annotations

from typing import Any, Self

import requests
from requests.cookies import extract_cookies_to_jar
from requests.exceptions import UnrewindableBodyError
from requests.utils import rewind_body

from r2jwt.claims import DEFAULT_TTL
from r2jwt.http import _Bearer, _bearer_token
from r2jwt.signer import Signer

__all__ = ["RequestsAuth"]


class RequestsAuth(requests.auth.AuthBase):
    """Signs requests made with requests; retries once on 401 after a key rotation.

    ``session.auth = RequestsAuth(signer, mid="123456", country="MX")``, or ``auth=`` per call.
    ``mid``, ``country`` and ``ttl`` (seconds) are the claims of every token, as in
    :meth:`Signer.token`. See :mod:`r2jwt.http` for what happens on 401.

    Thread-safe: one instance may serve every thread of a process.
    """

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

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = "Bearer " + self._bearer.token()
        r.register_hook("response", self._handle_401)
        return r

    def _handle_401(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        """Response hook: on 401, refresh and re-send once when the kid changed.

        Re-sends through the adapter (as ``requests.auth.HTTPDigestAuth`` does), which runs no
        response hooks, so the retry cannot trigger another: one retry per request at most.
        """
        if r.status_code != 401:
            return r
        header = r.request.headers.get("Authorization")
        sent = _bearer_token(header.decode("latin-1") if isinstance(header, bytes) else header)
        if sent is None:
            return r  # our header was replaced after we set it
        # Refreshed even when the body cannot be sent again: the next request gets the new kid.
        token = self._bearer.retry_token(sent)
        if token is None:
            return r

        prep = r.request.copy()
        # Bytes and text (JSON, forms and multipart are encoded in memory) can be sent again; a
        # stream only if it is a file that told requests where it started, so it can be rewound.
        if not isinstance(prep.body, bytes | bytearray | str | None):
            try:
                rewind_body(prep)
            except UnrewindableBodyError:
                return r  # a generator, an iterator or a pipe: sent once, gone
        # Read and release the 401 so the retry can reuse its connection.
        r.content  # noqa: B018
        r.close()
        # Cookies the 401 set go along, as with requests' own retrying auth (HTTPDigestAuth).
        if prep._cookies is not None:
            extract_cookies_to_jar(prep._cookies, r.request, r.raw)
            prep.prepare_cookies(prep._cookies)
        prep.headers["Authorization"] = "Bearer " + token

        retried = r.connection.send(prep, **kwargs)
        retried.history.append(r)
        retried.request = prep
        return retried

    def __repr__(self) -> str:
        return f"RequestsAuth({self._bearer!r})"
