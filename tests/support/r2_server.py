"""A stand-in for R2's API on 127.0.0.1: it checks bearer tokens as R2 does, and records what
it received.

A request is answered 200 when its ``Authorization: Bearer`` token verifies with PyJWT
(``algorithms=["HS256"]``, ``exp`` required) under the secret of the kid in its header, among
the keys the server knows (:attr:`R2Server.keys`, which a test may change at any time, as R2 does
when it rotates a client's credentials); 401 otherwise. :attr:`R2Server.deny` makes it refuse
every token anyway (a 401 that no new key would cure); :meth:`R2Server.hold_401s` keeps 401
answers back until a number of them are ready, so that many clients see their 401 at once; and
:attr:`R2Server.before_answer` runs just before each answer (a test moves its clock there).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import jwt


@dataclass(frozen=True)
class Received:
    """One request the server answered."""

    method: str
    path: str
    kid: str | None  # from the token's header, verified or not
    claims: dict[str, Any] | None  # None unless the token verified
    status: int
    body: bytes


class R2Server:
    """``with R2Server({"kid": "secret"}) as r2:`` — then call :attr:`url`."""

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys: dict[str, str] = dict(keys or {})
        self.deny = False
        self.before_answer: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._barrier: threading.Barrier | None = None
        self._http = _HTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.02},  # how long stop() waits for the loop to notice
            name="r2-stand-in",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._barrier is not None:
            self._barrier.abort()  # release any handler still waiting
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def hold_401s(self, parties: int, timeout: float = 10.0) -> None:
        """Hold back each 401 until ``parties`` requests have been refused (or ``timeout``
        seconds passed, when the waiting handlers answer anyway)."""
        self._barrier = threading.Barrier(parties, timeout=timeout)

    @property
    def received(self) -> list[Received]:
        """What the server answered so far, in order."""
        with self._lock:
            return list(self._received)

    # -- answering -------------------------------------------------------------------------------

    def _verify(self, authorization: str | None) -> tuple[str | None, dict[str, Any] | None]:
        """The token's kid, and its claims when it verifies."""
        if authorization is None or not authorization.startswith("Bearer "):
            return None, None
        token = authorization[len("Bearer ") :]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None, None
        secret = self.keys.get(kid) if isinstance(kid, str) else None
        if secret is None or self.deny:
            return kid, None
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
        except jwt.PyJWTError:
            return kid, None
        return kid, claims

    def _answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, bytes]:
        kid, claims = self._verify(headers.get("Authorization"))
        status = 200 if claims is not None else 401
        with self._lock:
            self._received.append(Received(method, path, kid, claims, status, body))
        barrier = self._barrier
        if status == 401 and barrier is not None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            self._barrier = None  # one round only: later 401s are answered at once
        if self.before_answer is not None:
            self.before_answer()
        if claims is None:
            return 401, b'{"error": "invalid_token"}'
        return 200, json.dumps({"ok": True, "kid": kid, "claims": claims}).encode()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops the SYNs of 20 clients connecting at once, and each dropped
    # one costs a second before the kernel retries it.
    request_queue_size = 64


def _handler_for(server: R2Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a client's connection pool expects

        def _handle(self) -> None:
            body = self._read_body()
            status, payload = server._answer(self.command, self.path, self.headers, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def _read_body(self) -> bytes:
            # The whole body is read before answering, 401 or not, so the connection stays
            # usable for the client's next request.
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after each chunk
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # no access log: it would carry request lines into the test output

    return Handler
