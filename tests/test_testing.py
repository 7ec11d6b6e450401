"""The helpers r2jwt ships for tests (r2jwt.testing), and its contract suite on MemorySource."""

from __future__ import annotations

from r2jwt.testing import FakeClock, MemorySource, SourceContract


class TestMemorySourceContract(SourceContract):
    def make_source(self, document: bytes | None) -> MemorySource:
        return MemorySource(document)


def test_fake_clock() -> None:
    clock = FakeClock(wall=100.0, monotonic=5.0)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic()) == (102.5, 7.5)
    clock.set_wall(50.0)
    assert (clock.time(), clock.monotonic()) == (50.0, 7.5)


def test_memory_source_counts_reads() -> None:
    source = MemorySource(b'{"kid": "k", "secret": "s"}')
    source.read()
    source.read()
    assert source.reads == 2
