"""r2jwt.http: RequestsAuth and HTTPXAuth against a stand-in of R2's API on 127.0.0.1.

Most tests run three times, once per client path: requests, httpx.Client and httpx.AsyncClient
(driven by asyncio.run inside the test, so no async pytest plugin is needed). The signer's
monotonic clock stands still, so "a forced refresh under a second old is reused" holds for the
whole test however slow the machine; its wall clock is the real time, because the server checks
``exp`` against it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter

from r2jwt import ClaimsError, Signer, SourceError
from r2jwt.http import HTTPXAuth, RequestsAuth
from r2jwt.sources.base import Document
from r2jwt.testing import FakeClock, FaultySource, MemorySource, run_now
from support.r2_server import R2Server

from conftest import CANARY, CANARY_2, leaked

OLD, NEW = "r2-old", "r2-new"
OLD_DOC = json.dumps({"kid": OLD, "secret": CANARY})
# The store after a rotation: both keys, the new one active (it has the later not_before).
ROTATED_DOC = json.dumps(
    {
        "keys": [
            {"kid": OLD, "secret": CANARY, "not_before": "2020-01-01T00:00:00Z"},
            {"kid": NEW, "secret": CANARY_2, "not_before": "2020-02-01T00:00:00Z"},
        ]
    }
)


# -- the three client paths, behind one small interface -------------------------------------------


@dataclass
class Sent:
    status: int
    retried: bool  # the client saw a 401 first and re-sent
    json: Any


def _stream() -> Iterator[bytes]:
    yield b"chunk-1;"
    yield b"chunk-2"


async def _astream() -> AsyncIterator[bytes]:
    yield b"chunk-1;"
    yield b"chunk-2"


class RequestsPath:
    name = "requests"

    def __init__(self) -> None:
        self.session = requests.Session()
        # 20 threads at once: enough pooled connections that none is discarded with a warning.
        self.session.mount("http://", HTTPAdapter(pool_maxsize=32))

    def auth(self, signer: Signer, **kwargs: Any) -> RequestsAuth:
        return RequestsAuth(signer, **kwargs)

    def send(self, auth: Any, url: str, body: str = "none") -> Sent:
        kwargs: dict[str, Any] = {
            "none": {},
            "bytes": {"data": b"raw-bytes-body"},
            "json": {"json": {"amount": 100, "currency": "MXN"}},
            "stream": {"data": _stream()},
        }[body]
        method = "GET" if body == "none" else "POST"
        r = self.session.request(method, url, auth=auth, timeout=10, **kwargs)
        return Sent(r.status_code, bool(r.history), r.json())

    def send_many(self, auth: Any, url: str, n: int) -> list[Sent]:
        return _in_threads(lambda: self.send(auth, url), n)

    def close(self) -> None:
        self.session.close()


class HTTPXPath:
    name = "httpx"

    def __init__(self) -> None:
        self.client = httpx.Client(timeout=10)

    def auth(self, signer: Signer, **kwargs: Any) -> HTTPXAuth:
        return HTTPXAuth(signer, **kwargs)

    def send(self, auth: Any, url: str, body: str = "none") -> Sent:
        kwargs: dict[str, Any] = {
            "none": {},
            "bytes": {"content": b"raw-bytes-body"},
            "json": {"json": {"amount": 100, "currency": "MXN"}},
            "stream": {"content": _stream()},
        }[body]
        method = "GET" if body == "none" else "POST"
        r = self.client.request(method, url, auth=auth, **kwargs)
        return Sent(r.status_code, bool(r.history), r.json())

    def send_many(self, auth: Any, url: str, n: int) -> list[Sent]:
        return _in_threads(lambda: self.send(auth, url), n)

    def close(self) -> None:
        self.client.close()


class AsyncHTTPXPath(HTTPXPath):
    name = "httpx-async"

    def __init__(self) -> None:
        pass

    def send(self, auth: Any, url: str, body: str = "none") -> Sent:
        return asyncio.run(self._send_many(auth, url, 1, body))[0]

    def send_many(self, auth: Any, url: str, n: int) -> list[Sent]:
        return asyncio.run(self._send_many(auth, url, n, "none"))

    async def _send_many(self, auth: Any, url: str, n: int, body: str) -> list[Sent]:
        async with httpx.AsyncClient(timeout=10) as client:

            async def one() -> Sent:
                kwargs: dict[str, Any] = {
                    "none": {},
                    "bytes": {"content": b"raw-bytes-body"},
                    "json": {"json": {"amount": 100, "currency": "MXN"}},
                    "stream": {"content": _astream()},
                }[body]
                method = "GET" if body == "none" else "POST"
                r = await client.request(method, url, auth=auth, **kwargs)
                return Sent(r.status_code, bool(r.history), r.json())

            return list(await asyncio.gather(*(one() for _ in range(n))))

    def close(self) -> None:
        pass


def _in_threads(call: Any, n: int) -> list[Sent]:
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = call()
        except Exception as exc:  # surfaced below, in the test's thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(params=[RequestsPath, HTTPXPath, AsyncHTTPXPath], ids=lambda p: p.name)
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    path = request.param()
    yield path
    path.close()


@pytest.fixture
def r2() -> Iterator[R2Server]:
    """R2, which still knows only the old key."""
    with R2Server({OLD: CANARY}) as server:
        yield server


@pytest.fixture
def store() -> MemorySource:
    return MemorySource(OLD_DOC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(wall=time.time())


@pytest.fixture
def signer(store: MemorySource, fake_clock: FakeClock) -> Iterator[Signer]:
    with Signer(store, clock=fake_clock, spawn=run_now) as signer:
        signer.token()  # loaded: one read
        yield signer


def rotate(store: MemorySource, r2: R2Server) -> None:
    """R2 issued a new key and ops stored it; our signer has not refreshed yet."""
    store.set(ROTATED_DOC)
    r2.keys = {NEW: CANARY_2}


def statuses(r2: R2Server) -> list[tuple[str | None, int]]:
    return [(r.kid, r.status) for r in r2.received]


# -- the header ----------------------------------------------------------------------------------


def test_header_is_set_and_r2_accepts_it(client: Any, r2: R2Server, signer: Signer) -> None:
    auth = client.auth(signer, mid=123456, country="mx", ttl=60)
    sent = client.send(auth, r2.url + "/v1/payments")

    assert (sent.status, sent.retried) == (200, False)
    [received] = r2.received
    assert received.kid == OLD
    assert received.path == "/v1/payments"
    assert received.claims is not None
    assert received.claims["mid"] == "123456"
    assert received.claims["country"] == "MX"
    assert received.claims["exp"] - time.time() <= 61


def test_for_merchant_shares_the_signer(client: Any, r2: R2Server, signer: Signer) -> None:
    auth = client.auth(signer, mid="1", ttl=120)
    merchant = auth.for_merchant("42", "mx")
    assert merchant.signer is auth.signer
    assert type(merchant) is type(auth)

    client.send(merchant, r2.url)
    client.send(auth.for_merchant(7), r2.url)

    claims = [r.claims for r in r2.received]
    assert [(c["mid"], c.get("country")) for c in claims if c] == [("42", "MX"), ("7", None)]


def test_bad_claims_fail_where_the_auth_is_built(client: Any, signer: Signer) -> None:
    with pytest.raises(ClaimsError, match="GB"):
        client.auth(signer, country="uk")
    with pytest.raises(ClaimsError):
        client.auth(signer, ttl=0)
    with pytest.raises(ClaimsError):
        client.auth(signer).for_merchant("1", "XX")
    with pytest.raises(TypeError, match=r"r2jwt\.Signer"):
        client.auth("env://")


def test_repr_names_the_claims_not_the_secret(signer: Signer) -> None:
    for auth in (RequestsAuth(signer, mid="1"), HTTPXAuth(signer, country="MX")):
        assert "memory://" in repr(auth)
        assert not leaked(repr(auth))


# -- 401 -----------------------------------------------------------------------------------------


def test_rotation_one_401_one_refresh_one_retry(
    client: Any,
    r2: R2Server,
    store: MemorySource,
    signer: Signer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="r2jwt")
    rotate(store, r2)

    sent = client.send(client.auth(signer, mid="1"), r2.url)

    assert (sent.status, sent.retried) == (200, True)
    assert sent.json["kid"] == NEW
    assert statuses(r2) == [(OLD, 401), (NEW, 200)]
    assert store.reads == 2  # the first load, and one refresh
    assert f"retrying once with kid {NEW}" in caplog.text
    assert not leaked(caplog.text)
    assert "eyJ" not in caplog.text  # no token either

    # The next request signs with the new kid at once.
    assert client.send(client.auth(signer, mid="1"), r2.url).retried is False
    assert store.reads == 2


def test_401_with_the_kid_unchanged_is_returned(
    client: Any, r2: R2Server, store: MemorySource, signer: Signer
) -> None:
    r2.deny = True  # say, a merchant R2 does not know: no key would help

    sent = client.send(client.auth(signer), r2.url)

    assert (sent.status, sent.retried) == (401, False)
    assert sent.json == {"error": "invalid_token"}
    assert statuses(r2) == [(OLD, 401)]
    assert store.reads == 2  # refreshed once to find out


def test_a_stream_of_401s_the_keys_cannot_fix_costs_one_fetch_per_holdoff(
    client: Any, r2: R2Server, store: MemorySource, signer: Signer, fake_clock: FakeClock
) -> None:
    from r2jwt.http import REFRESH_HOLDOFF

    r2.deny = True
    for _ in range(20):  # one 401 every half second
        assert client.send(client.auth(signer), r2.url).status == 401
        fake_clock.advance(REFRESH_HOLDOFF / 20)
    assert store.reads == 2  # the first load, and one refresh for the whole hold-off
    fake_clock.advance(0.01)
    assert client.send(client.auth(signer), r2.url).status == 401
    assert store.reads == 3


def test_never_more_than_one_retry(
    client: Any, r2: R2Server, store: MemorySource, signer: Signer
) -> None:
    rotate(store, r2)
    r2.keys = {"r2-someone-else": CANARY}  # the new kid does not help either

    sent = client.send(client.auth(signer), r2.url)

    assert (sent.status, sent.retried) == (401, True)
    assert statuses(r2) == [(OLD, 401), (NEW, 401)]
    assert store.reads == 2


def test_kid_that_already_switched_is_retried_without_a_fetch(
    client: Any, r2: R2Server, fake_clock: FakeClock
) -> None:
    # The new key's window opens 5 s from now; R2 already refuses the old one. By the time the
    # 401 arrives the signer's clock has passed the switch: no fetch is needed to retry.
    switch = datetime.fromtimestamp(int(fake_clock.time()) + 5, UTC).isoformat()
    store = MemorySource(
        json.dumps(
            {
                "keys": [
                    {"kid": OLD, "secret": CANARY, "not_before": "2020-01-01T00:00:00Z"},
                    {"kid": NEW, "secret": CANARY_2, "not_before": switch},
                ]
            }
        )
    )
    r2.keys = {NEW: CANARY_2}
    r2.before_answer = lambda: fake_clock.advance(10)

    with Signer(store, clock=fake_clock, spawn=run_now) as signer:
        sent = client.send(client.auth(signer), r2.url)

    assert (sent.status, sent.retried) == (200, True)
    assert statuses(r2) == [(OLD, 401), (NEW, 200)]
    assert store.reads == 1  # the first load only


def test_a_failed_refresh_returns_the_401(
    client: Any, r2: R2Server, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="r2jwt")
    faulty = FaultySource(MemorySource(OLD_DOC))
    with Signer(faulty, clock=fake_clock, spawn=run_now) as signer:
        signer.token()
        faulty.fail(SourceError("the store is down", source=faulty.name, transient=True))
        r2.keys = {NEW: CANARY_2}

        sent = client.send(client.auth(signer), r2.url)

        assert (sent.status, sent.retried) == (401, False)
        assert statuses(r2) == [(OLD, 401)]
        assert faulty.calls == 2
        assert "could not be refreshed (SourceError)" in caplog.text
        assert not leaked(caplog.text)
        assert "eyJ" not in caplog.text
        # The last good keyset keeps signing.
        assert client.send(client.auth(signer), r2.url).status == 401
        assert signer.stats().active_kid == OLD


def test_twenty_concurrent_401s_cause_one_refresh(
    client: Any, r2: R2Server, store: MemorySource, signer: Signer
) -> None:
    rotate(store, r2)
    r2.hold_401s(20)  # every client is refused before any of them refreshes

    results = client.send_many(client.auth(signer), r2.url, 20)

    assert [(s.status, s.retried) for s in results] == [(200, True)] * 20
    assert store.reads == 2  # the first load, and one refresh for all twenty
    assert sorted(statuses(r2)) == sorted([(OLD, 401)] * 20 + [(NEW, 200)] * 20)


# -- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["bytes", "json"])
def test_in_memory_bodies_are_sent_again(
    client: Any, r2: R2Server, store: MemorySource, signer: Signer, body: str
) -> None:
    rotate(store, r2)

    sent = client.send(client.auth(signer), r2.url, body=body)

    assert (sent.status, sent.retried) == (200, True)
    first, second = r2.received
    assert first.body == second.body
    if body == "bytes":
        assert first.body == b"raw-bytes-body"
    else:
        assert json.loads(first.body) == {"amount": 100, "currency": "MXN"}


def test_streamed_bodies_are_not_retried_but_keys_are_refreshed(
    client: Any, r2: R2Server, store: MemorySource, signer: Signer
) -> None:
    rotate(store, r2)

    sent = client.send(client.auth(signer), r2.url, body="stream")

    assert (sent.status, sent.retried) == (401, False)
    [received] = r2.received
    assert received.body == b"chunk-1;chunk-2"
    assert store.reads == 2
    # The keys were refreshed all the same: the caller's own retry goes through.
    assert client.send(client.auth(signer), r2.url, body="stream").status == 200


def test_requests_rewinds_a_file_body(r2: R2Server, store: MemorySource, signer: Signer) -> None:
    rotate(store, r2)
    body = io.BytesIO(b"header-we-skip|the-file-body")
    body.seek(len(b"header-we-skip|"))

    with requests.Session() as session:
        r = session.post(r2.url, data=body, auth=RequestsAuth(signer), timeout=10)

    assert (r.status_code, len(r.history)) == (200, 1)
    assert [x.body for x in r2.received] == [b"the-file-body"] * 2


def test_requests_does_not_retry_an_unseekable_file(
    r2: R2Server, store: MemorySource, signer: Signer
) -> None:
    class Pipe(io.RawIOBase):
        """A readable stream without tell() or seek(), like a pipe."""

        def __init__(self) -> None:
            self._data = io.BytesIO(b"once-only")

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return self._data.readinto(buffer)

    rotate(store, r2)
    with requests.Session() as session:
        r = session.post(r2.url, data=Pipe(), auth=RequestsAuth(signer), timeout=10)

    assert (r.status_code, r.history) == (401, [])
    assert [x.body for x in r2.received] == [b"once-only"]


# -- the async path stays off the event loop ------------------------------------------------------


class ThreadRecordingSource(MemorySource):
    """Records the thread of every read."""

    def __init__(self, document: str) -> None:
        super().__init__(document)
        self.threads: list[int] = []

    def read(self) -> Document:
        self.threads.append(threading.get_ident())
        return super().read()


class ThreadRecordingSigner(Signer):
    """Records the thread of every token() call."""

    threads: list[int]

    def token(self, *args: Any, **kwargs: Any) -> str:
        self.threads.append(threading.get_ident())
        return super().token(*args, **kwargs)


def test_async_client_reads_the_store_only_in_worker_threads(
    r2: R2Server, fake_clock: FakeClock
) -> None:
    source = ThreadRecordingSource(OLD_DOC)
    signer = ThreadRecordingSigner(source, clock=fake_clock, spawn=run_now)
    signer.threads = []
    auth = HTTPXAuth(signer, mid="1")

    async def calls() -> tuple[int, list[int]]:
        loop_thread = threading.get_ident()
        async with httpx.AsyncClient(timeout=10) as client:
            statuses = [(await client.get(r2.url, auth=auth)).status_code]  # first load
            statuses.append((await client.get(r2.url, auth=auth)).status_code)  # in memory
            rotate(source, r2)
            statuses.append((await client.get(r2.url, auth=auth)).status_code)  # 401, refresh
        assert statuses == [200, 200, 200]
        return loop_thread, list(signer.threads)

    with signer:
        loop_thread, token_threads = asyncio.run(calls())

    assert len(source.threads) == 2
    assert loop_thread not in source.threads
    # The first token was signed in a worker thread, the next ones on the loop (no thread hop
    # once the keys are in memory), and the retry's token in the worker that refreshed.
    assert token_threads[0] != loop_thread
    assert token_threads[1] == loop_thread
    assert token_threads[-1] != loop_thread


# -- optional extras -----------------------------------------------------------------------------

BLOCKED_IMPORT = textwrap.dedent(
    """
    import sys
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == sys.argv[1]:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Blocker())
    import r2jwt.http
    assert "requests" not in sys.modules and "httpx" not in sys.modules
    try:
        from r2jwt.http import RequestsAuth, HTTPXAuth
    except Exception as exc:
        print(type(exc).__name__, exc)
    """
)


@pytest.mark.parametrize("extra", ["requests", "httpx"])
def test_a_missing_client_names_its_extra(extra: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT, extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    expected = f"{extra} is not installed; install it with: pip install 'r2jwt[{extra}]'"
    assert proc.stdout.strip() == f"MissingExtraError {expected}"


def test_unknown_names_are_attribute_errors() -> None:
    import r2jwt.http

    with pytest.raises(AttributeError, match="Nope"):
        r2jwt.http.Nope  # noqa: B018
    assert {"RequestsAuth", "HTTPXAuth"} <= set(dir(r2jwt.http))


def test_the_example_runs() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "call_r2.py"
    proc = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, check=True, timeout=60
    )
    lines = proc.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["requests", "200"],
        ["httpx", "200"],
        ["after", "rotation"],
    ]
    assert lines[2].endswith("200 example-rotated - refused first: [401]")
