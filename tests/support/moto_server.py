"""moto's Secrets Manager on 127.0.0.1, with a server-side log of the calls it answered and
injectable AWS errors.

The log and the faults live in a WSGI layer between moto's HTTP server and moto's app, so the
tests count what reached the endpoint (not what a client believes it sent), and an injected error
travels over HTTP and through botocore's parser and retries like a real one.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.server import ThreadedMotoServer

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Call:
    """One Secrets Manager request the server received."""

    operation: str  # e.g. "GetSecretValue"
    secret_id: str | None  # SecretId (or Name for CreateSecret)


@dataclass
class Fault:
    status: int
    code: str
    message: str
    secret_id: str | None
    times: int | None  # None: every matching call
    after: bool  # let moto act on the call first, as when a response is lost on the way back


class MotoServer:
    """``start()`` once, point boto3 at :attr:`endpoint`, read :meth:`calls`."""

    def __init__(self) -> None:
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: dict[str, list[Fault]] = {}
        self.endpoint = ""

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
        self._moto.start()
        # ThreadedMotoServer has no hook for middleware; its werkzeug server serves whatever
        # `.app` holds, per request, so the layer goes in right after start and before any call.
        wsgi_server = self._moto._server
        assert wsgi_server is not None
        wsgi_server.app = self._layer(wsgi_server.app)
        host, port = self._moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self._moto.stop()

    # -- the log -------------------------------------------------------------------------------

    def mark(self) -> int:
        """A position in the log, for :meth:`calls` ``since=``."""
        with self._lock:
            return len(self._calls)

    def calls(self, secret_id: str | None = None, *, since: int = 0) -> list[Call]:
        with self._lock:
            calls = self._calls[since:]
        return [c for c in calls if secret_id is None or c.secret_id == secret_id]

    def count(self, operation: str, secret_id: str, *, since: int = 0) -> int:
        return sum(c.operation == operation for c in self.calls(secret_id, since=since))

    # -- faults --------------------------------------------------------------------------------

    def fail(
        self,
        operation: str,
        code: str,
        *,
        status: int = 400,
        message: str = "",
        secret_id: str | None = None,
        times: int | None = None,
        after: bool = False,
    ) -> None:
        """Answer ``operation`` (on ``secret_id``, or on any secret) with an AWS error; with
        ``after``, moto carries the call out first and only its answer is replaced."""
        with self._lock:
            fault = Fault(status, code, message, secret_id, times, after)
            self._faults.setdefault(operation, []).append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _fault_for(self, call: Call) -> Fault | None:
        with self._lock:
            for fault in self._faults.get(call.operation, []):
                if fault.secret_id not in (None, call.secret_id):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None

    def _layer(self, app: WSGIApp) -> WSGIApp:
        def layer(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if not target.startswith("secretsmanager."):
                return app(environ, start_response)
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {}
            call = Call(target.partition(".")[2], params.get("SecretId") or params.get("Name"))
            with self._lock:
                self._calls.append(call)
            fault = self._fault_for(call)
            if fault is None:
                return app(environ, start_response)
            if fault.after:
                b"".join(app(environ, lambda *_: None))
            payload = json.dumps({"__type": fault.code, "message": fault.message}).encode()
            start_response(
                f"{fault.status} Injected",
                [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("Content-Length", str(len(payload))),
                    ("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000"),
                ],
            )
            return [payload]

        return layer
