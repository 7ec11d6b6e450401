"""Test helpers for r2jwt users and plug-in authors.

- :class:`FakeClock`: wall and monotonic time that move only when told to.
- :class:`MemorySource`: a writable in-memory source that counts reads.
- :class:`FaultySource`: wraps a source and fails, stalls or corrupts reads on command.
- :func:`run_now` and :class:`Deferred`: ``Signer(spawn=...)`` values that run a background
  refresh in the calling thread, or hold it until the test says so.
- :class:`SourceContract`: pytest tests every source must pass; subclass it in your plug-in's
  tests and implement :meth:`SourceContract.make_source`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Self

from r2jwt.errors import R2JWTError, SourceNotFoundError, WriteConflictError
from r2jwt.keys import KeySet
from r2jwt.sources.base import Document, Source, SourceURL

__all__ = ["Deferred", "FakeClock", "FaultySource", "MemorySource", "SourceContract", "run_now"]


class FakeClock:
    """A clock for tests: ``advance(seconds)`` moves both wall and monotonic time."""

    def __init__(self, wall: float = 1_780_000_000.0, monotonic: float = 1_000.0) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._wall += seconds
            self._monotonic += seconds

    def set_wall(self, wall: float) -> None:
        """Jump the wall clock (as an NTP step would); monotonic time is unaffected."""
        self._wall = wall


def run_now(work: Callable[[], None]) -> None:
    """Run a background refresh at once, in the caller's thread (deterministic tests)."""
    work()


class Deferred:
    """Queue background refreshes until :meth:`run_all`, to observe what callers see while a
    fetch is pending."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.pending.append(work)

    def run_all(self) -> int:
        """Run what is queued; returns how many ran."""
        ran = 0
        while self.pending:
            self.pending.pop(0)()
            ran += 1
        return ran


class MemorySource(Source):
    """A keyset document in memory; writable, with optimistic concurrency like real stores."""

    scheme = "memory"

    def __init__(self, document: bytes | str | None = None, *, name: str = "memory://") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._data: bytes | None = None
        self._serial = 0
        self.reads = 0
        if document is not None:
            self.set(document)

    @classmethod
    def from_url(cls, url: SourceURL) -> Self:
        url.options()
        return cls(name=url.display)

    def set(self, document: bytes | str) -> None:
        """Replace the document (as an operator editing the store would)."""
        with self._lock:
            self._data = document.encode() if isinstance(document, str) else document
            self._serial += 1

    def read(self) -> Document:
        with self._lock:
            self.reads += 1
            if self._data is None:
                raise SourceNotFoundError(f"{self.name} is empty", source=self.name)
            return Document(self._data, str(self._serial))

    def write(self, data: bytes, *, expected_version: str | None) -> Document:
        with self._lock:
            current = None if self._data is None else str(self._serial)
            if current != expected_version:
                raise WriteConflictError(
                    f"{self.name} changed since it was read; run again", source=self.name
                )
            self._data = data
            self._serial += 1
            return Document(data, str(self._serial))


class FaultySource(Source):
    """Wrap a source and make its reads fail, stall or return garbage, on command.

    Faults queued with :meth:`fail`, :meth:`corrupt` and :meth:`stall` are used up one read
    each, in order; :meth:`go_down` fails every read until :meth:`come_back`. ``calls`` counts
    every read attempt, ``reads`` the ones that reached the wrapped source.
    """

    scheme = "faulty"

    def __init__(self, inner: Source, *, clock: FakeClock | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self._clock = clock
        self._queue: list[R2JWTError | Document | float] = []
        self._down: R2JWTError | None = None
        self.calls = 0
        self.reads = 0

    @classmethod
    def from_url(cls, url: SourceURL) -> Self:
        raise NotImplementedError("FaultySource wraps a source object")

    def fail(self, error: R2JWTError, times: int = 1) -> None:
        """The next ``times`` reads raise ``error``."""
        self._queue.extend([error] * times)

    def corrupt(self, data: bytes, times: int = 1) -> None:
        """The next ``times`` reads return ``data`` (an invalid or empty document)."""
        self._queue.extend(Document(data, f"corrupt-{i}") for i in range(times))

    def stall(self, seconds: float) -> None:
        """The next read takes ``seconds`` of the fake clock before it proceeds."""
        self._queue.append(seconds)

    def go_down(self, error: R2JWTError) -> None:
        """Every read raises ``error`` until :meth:`come_back`."""
        self._down = error

    def come_back(self) -> None:
        self._down = None

    def read(self) -> Document:
        self.calls += 1
        while self._queue:
            fault = self._queue.pop(0)
            if isinstance(fault, float | int):
                if self._clock is not None:
                    self._clock.advance(fault)
                continue
            if isinstance(fault, Document):
                return fault
            raise fault
        if self._down is not None:
            raise self._down
        self.reads += 1
        return self.inner.read()

    def write(self, data: bytes, *, expected_version: str | None) -> Document:
        return self.inner.write(data, expected_version=expected_version)


SAMPLE_DOCUMENT = (
    b'{"keys": [{"kid": "contract-1", "secret": "contract-secret-0123456789abcdefghij"}]}'
)


class SourceContract:
    """What every r2jwt source must do. Subclass in a pytest module::

    class TestMySource(SourceContract):
        def make_source(self, document):
            ...  # store `document` (bytes, or None for "nothing stored") and return a Source
    """

    writable = True

    def make_source(self, document: bytes | None) -> Source:
        raise NotImplementedError

    def test_read_returns_the_document(self) -> None:
        source = self.make_source(SAMPLE_DOCUMENT)
        keyset = KeySet.parse(source.read().data)
        assert [k.kid for k in keyset] == ["contract-1"]

    def test_version_is_stable_while_unchanged(self) -> None:
        source = self.make_source(SAMPLE_DOCUMENT)
        assert source.read().version == source.read().version

    def test_missing_document_is_source_not_found(self) -> None:
        import pytest

        with pytest.raises(SourceNotFoundError):
            self.make_source(None).read()

    def test_name_and_repr_hold_no_secret(self) -> None:
        source = self.make_source(SAMPLE_DOCUMENT)
        assert "contract-secret" not in source.name
        assert "contract-secret" not in repr(source)

    def test_write_then_read(self) -> None:
        if not self.writable:
            return
        source = self.make_source(SAMPLE_DOCUMENT)
        before = source.read()
        new = SAMPLE_DOCUMENT.replace(b"contract-1", b"contract-2")
        after = source.write(new, expected_version=before.version)
        assert after.version != before.version
        assert KeySet.parse(source.read().data).get("contract-2") is not None

    def test_stale_write_is_refused_and_nothing_is_lost(self) -> None:
        import pytest

        if not self.writable:
            return
        source = self.make_source(SAMPLE_DOCUMENT)
        stale = source.read().version
        winner = SAMPLE_DOCUMENT.replace(b"contract-1", b"winner")
        source.write(winner, expected_version=stale)
        with pytest.raises(WriteConflictError):
            source.write(SAMPLE_DOCUMENT.replace(b"contract-1", b"loser"), expected_version=stale)
        assert KeySet.parse(source.read().data).get("winner") is not None

    def test_create_when_empty(self) -> None:
        import pytest

        if not self.writable:
            return
        source = self.make_source(None)
        source.write(SAMPLE_DOCUMENT, expected_version=None)
        assert KeySet.parse(source.read().data).get("contract-1") is not None
        with pytest.raises(WriteConflictError):
            source.write(SAMPLE_DOCUMENT, expected_version=None)
