"""Rotation without downtime: refresh-ahead, stale-if-error, backoff, fail closed, fork.

The fault matrix drives a Signer second by second on a fake clock (no real sleeping), with
background refreshes run in the calling thread (``spawn=run_now``) so every fetch is counted
deterministically; a few tests use real threads to show that callers never wait.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import warnings
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2jwt import (
    ConfigurationError,
    R2JWTError,
    Signer,
    SourceError,
    SourceNotFoundError,
    StaleKeySetError,
)
from r2jwt.jws import decode_unverified
from r2jwt.key_cache import KeyCache
from r2jwt.keys import format_time
from r2jwt.testing import Deferred, FakeClock, FaultySource, MemorySource, run_now

from conftest import CANARY, CANARY_2, T0, keyset_doc, leaked

ONE = json.dumps({"kid": "k1", "secret": CANARY})
INTERVAL, MAX_STALE = 300.0, 3600.0


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return format_time(datetime.fromtimestamp(t, UTC))


def kid_of(token: str) -> str:
    return str(decode_unverified(token)[0]["kid"])


def transient() -> SourceError:
    return SourceError("503 from the backend", source="memory://", transient=True)


def permanent() -> SourceError:
    return SourceNotFoundError("secret r2/jwt not found", source="memory://")


class Harness:
    """A signer over a FaultySource, stepped one fake second at a time."""

    def __init__(self, clock: FakeClock, document: str = ONE) -> None:
        self.clock = clock
        self.memory = MemorySource(document)
        self.source = FaultySource(self.memory, clock=clock)
        self.signer = Signer(
            self.source,
            clock=clock,
            spawn=run_now,
            refresh_interval=INTERVAL,
            max_stale=MAX_STALE,
        )
        self.signer.token()

    def run(self, seconds: int) -> tuple[int, int, R2JWTError | None]:
        """Sign once a second; returns (tokens signed, calls to the source, first error)."""
        signed, calls_before, first_error = 0, self.source.calls, None
        for _ in range(seconds):
            self.clock.advance(1)
            try:
                self.signer.mint()
                signed += 1
            except R2JWTError as exc:
                first_error = first_error or exc
        return signed, self.source.calls - calls_before, first_error


@pytest.fixture
def harness(clock: FakeClock) -> Harness:
    return Harness(clock)


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name == "r2jwt"]


class TestFaultMatrix:
    def test_transient_outage_backs_off_serves_stale_then_fails_closed_then_recovers(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="r2jwt")
        harness.run(int(INTERVAL * 1.2))  # a healthy refresh first
        harness.source.go_down(transient())
        # Keeps serving from the last good keyset for up to max_stale ...
        signed, calls, error = harness.run(int(MAX_STALE * 0.8))
        assert signed == int(MAX_STALE * 0.8) and error is None
        # ... with backoff: a naive retry-per-call loop would have made 2,880 calls.
        assert 8 <= calls <= 60
        # Then fails closed, with an error that says why and since when.
        signed, calls, error = harness.run(int(MAX_STALE * 0.4))
        assert isinstance(error, StaleKeySetError)
        assert signed < MAX_STALE * 0.4
        assert "memory://" in str(error) and "503 from the backend" in str(error)
        assert "max_stale" in str(error) and "since 20" in str(error)
        assert calls <= 20  # failing closed does not hammer the source either
        incident = harness.signer.stats().incident
        assert incident is not None and incident.transient and incident.failures >= 8
        # Recovery is picked up within one backoff step (capped at the refresh interval).
        harness.source.come_back()
        signed, _, _ = harness.run(int(INTERVAL) + 1)
        assert signed >= 1
        _, _, error = harness.run(5)
        assert error is None and harness.signer.stats().incident is None
        # Logged once per incident, once when failing closed, once on recovery; never per call.
        warnings_ = records(caplog, logging.WARNING)
        assert len([m for m in warnings_ if "failed (" in m]) == 1
        assert len([m for m in warnings_ if "fresh again" in m]) == 1
        assert len(records(caplog, logging.ERROR)) == 1

    def test_permanent_error_is_retried_at_the_normal_interval(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        harness.source.go_down(permanent())
        signed, calls, error = harness.run(int(MAX_STALE * 0.9))
        assert error is None and signed == int(MAX_STALE * 0.9)
        assert 9 <= calls <= 13  # about one per refresh interval
        incident = harness.signer.stats().incident
        assert incident is not None and not incident.transient
        assert incident.error_type == "SourceNotFoundError"
        assert len([m for m in records(caplog, logging.WARNING) if "failed (" in m]) == 1

    @pytest.mark.parametrize(
        "bad", [b"", b"{not json", b"{}", b'{"keys": []}', b'{"kid": "k9"}'], ids=repr
    )
    def test_corrupt_or_empty_document_never_replaces_the_good_keyset(
        self, harness: Harness, bad: bytes
    ) -> None:
        harness.source.corrupt(bad, times=3)
        signed, calls, error = harness.run(int(INTERVAL * 3.5))
        assert error is None and signed == int(INTERVAL * 3.5)
        assert calls >= 3
        assert kid_of(harness.signer.mint()) == "k1"
        incident = harness.signer.stats().incident
        assert incident is None or incident.error_type == "KeySetError"

    def test_flapping_backend_logs_each_incident_once(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        for _ in range(3):
            harness.source.fail(transient(), times=2)
            harness.run(int(INTERVAL * 2.5))
        assert harness.signer.stats().incident is None
        messages = records(caplog, logging.WARNING)
        assert len([m for m in messages if "failed (" in m]) == 3
        assert len([m for m in messages if "fresh again" in m]) == 3

    def test_slow_source_never_blocks_callers(self, clock: FakeClock) -> None:
        deferred = Deferred()
        source = FaultySource(MemorySource(ONE), clock=clock)
        signer = Signer(source, clock=clock, spawn=deferred, refresh_interval=INTERVAL)
        signer.token()  # the first load is the only one that blocks
        clock.advance(INTERVAL * 1.2)
        source.stall(30.0)
        for mid in range(100):  # a refresh is due; every caller goes on at once
            signer.token(mid=str(mid))
        assert len(deferred.pending) == 1  # one fetch, however many callers
        assert source.calls == 1
        assert deferred.run_all() == 1
        assert source.calls == 2
        assert signer.stats().keyset_age == 0.0

    def test_first_load_failures_back_off_too(self, clock: FakeClock) -> None:
        source = FaultySource(MemorySource(ONE), clock=clock)
        source.go_down(transient())
        signer = Signer(source, clock=clock, spawn=run_now)
        errors = 0
        for _ in range(600):
            clock.advance(0.1)
            try:
                signer.token()
            except SourceError:
                errors += 1
        assert errors == 600
        assert source.calls <= 12  # not one per call
        source.come_back()
        clock.advance(INTERVAL)
        assert kid_of(signer.token()) == "k1"

    def test_quiet_spell_longer_than_max_stale_fetches_before_signing(
        self, harness: Harness
    ) -> None:
        harness.memory.set(json.dumps({"kid": "k2", "secret": CANARY_2}))
        harness.clock.advance(MAX_STALE + 1)  # nobody signed for over an hour
        assert kid_of(harness.signer.mint()) == "k2"  # never a keyset older than max_stale


class TestSchedule:
    def test_refresh_times_are_jittered(self, clock: FakeClock) -> None:
        due = []
        for seed in range(200):
            cache = KeyCache(
                MemorySource(ONE),
                refresh_interval=INTERVAL,
                max_stale=MAX_STALE,
                clock=clock,
                rng=random.Random(seed),
            )
            cache.get()
            due.append(cache.next_refresh_in)
        # Never later than the interval (so a key scheduled one interval ahead arrives in
        # time), and spread over its last tenth so instances started together do not align.
        assert min(due) >= INTERVAL * 0.9 and max(due) <= INTERVAL
        assert max(due) - min(due) > INTERVAL * 0.08

    def test_transient_backoff_is_capped_at_the_refresh_interval(self, clock: FakeClock) -> None:
        source = FaultySource(MemorySource(ONE), clock=clock)
        cache = KeyCache(source, refresh_interval=60, max_stale=3600, clock=clock, spawn=run_now)
        cache.get()
        source.go_down(transient())
        delays = []
        for _ in range(30):
            clock.advance(cache.next_refresh_in or 0)
            cache.get()
            delays.append(cache.next_refresh_in)
        assert all(d is not None and 0 <= d <= 60 for d in delays)
        assert max(d for d in delays if d is not None) > 30  # it did grow toward the cap

    def test_a_days_long_outage_keeps_retrying(self, clock: FakeClock) -> None:
        source = FaultySource(MemorySource(ONE), clock=clock)
        cache = KeyCache(source, refresh_interval=60, max_stale=3600, clock=clock, spawn=run_now)
        cache.get()
        source.go_down(transient())
        for _ in range(3000):  # 2^3000 overflows a float; the backoff must not
            clock.advance(cache.next_refresh_in or 0)
            with contextlib.suppress(R2JWTError):
                cache.get()
        source.come_back()
        clock.advance(61)
        with contextlib.suppress(R2JWTError):
            cache.get()  # the retry that finds the source back
        assert cache.incident is None and source.calls > 3000


class TestSwitchOver:
    def test_scheduled_key_takes_over_at_not_before_while_the_backend_is_down(
        self, clock: FakeClock
    ) -> None:
        doc = keyset_doc(
            {"kid": "old", "secret": CANARY},
            {"kid": "new", "secret": CANARY_2, "not_before": iso(T0 + 1800)},
        )
        harness = Harness(clock, doc)
        harness.source.go_down(transient())
        clock.advance(1799)
        assert kid_of(harness.signer.token(ttl=3600)) == "old"
        clock.advance(1)
        token = harness.signer.token(ttl=3600)  # the cached "old" token is not served
        assert kid_of(token) == "new"
        jwt.decode(token, CANARY_2, algorithms=["HS256"], options={"verify_exp": False})

    def test_eight_threads_through_a_rotation_never_sign_with_a_wrong_secret(
        self, clock: FakeClock
    ) -> None:
        memory = MemorySource(ONE)
        signer = Signer(memory, clock=clock, refresh_interval=INTERVAL, max_stale=MAX_STALE)
        secrets = {"k1": CANARY, "k2": CANARY_2}
        signer.token()
        memory.set(
            keyset_doc(
                {"kid": "k1", "secret": CANARY},
                {"kid": "k2", "secret": CANARY_2, "not_before": iso(T0 + INTERVAL * 2)},
            )
        )
        stop = threading.Event()
        samples: list[str] = []
        failures: list[BaseException] = []

        def sign(n: int) -> None:
            try:
                while not stop.is_set():
                    token = signer.token(mid=str(n % 3))
                    if len(samples) < 20_000:
                        samples.append(token)
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=sign, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for _ in range(int(INTERVAL * 3)):  # ten minutes of fake time, a second per step
            clock.advance(1)
        stop.set()
        for t in threads:
            t.join()
        assert failures == []
        for token in set(samples):
            jwt.decode(
                token, secrets[kid_of(token)], algorithms=["HS256"], options={"verify_exp": False}
            )
        assert {kid_of(t) for t in samples} <= {"k1", "k2"}
        assert kid_of(signer.token()) == "k2"


class TestForcedRefresh:
    def test_a_burst_of_forced_refreshes_causes_one_fetch(self, clock: FakeClock) -> None:
        gate, arrived = threading.Event(), threading.Event()

        class Gated(MemorySource):
            def read(self) -> Any:
                arrived.set()
                gate.wait(10)
                return super().read()

        source = Gated(ONE)
        gate.set()
        signer = Signer(source, clock=clock)
        signer.token()
        clock.advance(5)
        gate.clear()
        arrived.clear()
        first = threading.Thread(target=signer.refresh)
        first.start()
        assert arrived.wait(10)  # the first refresh is in flight, holding the fetch
        others = [threading.Thread(target=signer.refresh) for _ in range(19)]
        for t in others:
            t.start()
        gate.set()
        for t in [first, *others]:
            t.join()
        assert source.reads == 2

    def test_forced_refresh_error_is_raised_and_keeps_serving(self, harness: Harness) -> None:
        harness.clock.advance(2)
        harness.source.fail(transient())
        with pytest.raises(SourceError, match="503"):
            harness.signer.refresh()
        assert kid_of(harness.signer.mint()) == "k1"


class TestBackgroundThreads:
    def test_refresh_runs_on_a_daemon_thread_and_the_caller_does_not_wait(
        self, clock: FakeClock
    ) -> None:
        release = threading.Event()
        started = threading.Event()
        names: list[str] = []

        class Blocking(MemorySource):
            def read(self) -> Any:
                if self.reads:  # the first load passes; the refresh blocks
                    names.append(threading.current_thread().name)
                    started.set()
                    release.wait(10)
                return super().read()

        source = Blocking(ONE)
        signer = Signer(source, clock=clock)
        first = signer.token()
        source.set(json.dumps({"kid": "k2", "secret": CANARY_2}))
        clock.advance(INTERVAL * 1.2)
        assert signer.token() == first  # returned while the refresh is blocked
        assert started.wait(10)
        assert names == ["r2jwt-refresh"]
        release.set()
        for _ in range(1000):
            if signer.stats().fetches == 2 and kid_of(signer.token()) == "k2":
                break
            threading.Event().wait(0.01)
        assert kid_of(signer.token()) == "k2"

    def test_close_stops_refreshing(self, clock: FakeClock) -> None:
        source = MemorySource(ONE)
        signer = Signer(source, clock=clock, spawn=run_now)
        signer.token()
        signer.close()
        clock.advance(INTERVAL * 2)
        with pytest.raises(ConfigurationError, match="closed"):
            signer.token()
        assert source.reads == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_fork_child_gets_fresh_locks_and_refreshes_on_its_own(clock: FakeClock) -> None:
    source = MemorySource(ONE)
    signer = Signer(source, clock=clock, refresh_interval=INTERVAL, max_stale=MAX_STALE)
    signer.token()
    cache = signer._cache
    # A parent thread holds the fetch lock at the moment of fork (a refresh in flight).
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cache._fetch_lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, on purpose
        pid = os.fork()
    if pid == 0:  # child: must not deadlock on the inherited lock
        code = 1
        try:
            source.set(json.dumps({"kid": "child", "secret": CANARY_2}))
            signer.refresh()
            code = 0 if kid_of(signer.token()) == "child" else 2
        finally:
            os._exit(code)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert kid_of(signer.token()) == "k1"  # the parent is unaffected


def test_invalid_settings() -> None:
    for kwargs in (
        {"refresh_interval": -1},
        {"refresh_interval": float("inf")},
        {"max_stale": float("nan")},
    ):
        with pytest.raises(ConfigurationError):
            Signer(MemorySource(ONE), **kwargs)  # type: ignore[arg-type]


def test_errors_and_logs_hold_no_secret(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="r2jwt")
    harness.source.corrupt(f'{{"kid": "x", "secret": "{CANARY_2}", "not_before": 5}}'.encode())
    harness.source.go_down(SourceError("backend down", source="memory://", transient=True))
    _, _, error = harness.run(int(MAX_STALE * 1.2))
    assert isinstance(error, StaleKeySetError)
    stats = json.dumps(harness.signer.stats().as_dict())
    assert not leaked(caplog.text + str(error) + repr(error) + stats)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_whatever_a_refresh_returns_the_good_keyset_keeps_serving(data: bytes) -> None:
    clock = FakeClock(wall=T0)
    source = FaultySource(MemorySource(ONE), clock=clock)
    signer = Signer(source, clock=clock, spawn=run_now)
    signer.token()
    source.corrupt(data)
    clock.advance(INTERVAL * 1.2)
    assert kid_of(signer.mint()) == "k1"
    assert source.calls == 2


def test_file_source_picks_up_a_kubernetes_symlink_swap_within_the_interval(
    clock: FakeClock, tmp_path: Any
) -> None:
    for version, doc in (("..v1", ONE), ("..v2", json.dumps({"kid": "k2", "secret": CANARY_2}))):
        (tmp_path / version).mkdir()
        (tmp_path / version / "keys.json").write_text(doc)
        (tmp_path / version / "keys.json").chmod(0o400)
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "keys.json").symlink_to("..data/keys.json")
    signer = Signer(f"file://{tmp_path}/keys.json", clock=clock, spawn=run_now)
    assert kid_of(signer.token()) == "k1"
    (tmp_path / "..data_tmp").symlink_to("..v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")  # what the kubelet does
    clock.advance(INTERVAL * 1.1)
    assert kid_of(signer.token()) == "k2"
