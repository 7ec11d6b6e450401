"""Signer: selection, token cache, claims, refresh (r2jwt.signer, r2jwt.key_cache)."""

from __future__ import annotations

import json
import threading
import time
import warnings
from typing import Any

import jwt
import pytest

from r2jwt import (
    ClaimsError,
    KeySetError,
    NoActiveKeyError,
    Signer,
    SourceError,
    SourceNotFoundError,
    StaleKeySetError,
)
from r2jwt.jws import decode_unverified
from r2jwt.keys import format_time
from r2jwt.testing import FakeClock, MemorySource, run_now

from conftest import CANARY, CANARY_2, T0, keyset_doc, leaked


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return format_time(datetime.fromtimestamp(t, UTC))


def verify(token: str, secret: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})


def kid_of(token: str) -> str:
    return str(decode_unverified(token)[0]["kid"])


SINGLE = json.dumps({"kid": "k1", "secret": CANARY})
ROTATION = keyset_doc(
    {"kid": "old", "secret": CANARY, "not_after": iso(T0 + 7200)},
    {"kid": "new", "secret": CANARY_2, "not_before": iso(T0 + 3600)},
)


@pytest.fixture
def source() -> MemorySource:
    return MemorySource(SINGLE)


@pytest.fixture
def signer(source: MemorySource, clock: FakeClock) -> Signer:
    return Signer(source, clock=clock, spawn=run_now)


class TestTokens:
    def test_claims_and_header(self, signer: Signer) -> None:
        token = signer.token(mid="123456", country="mx")
        assert verify(token, CANARY) == {"exp": int(T0) + 600, "mid": "123456", "country": "MX"}
        assert decode_unverified(token)[0] == {"alg": "HS256", "kid": "k1", "typ": "JWT"}

    def test_omitted_claims(self, signer: Signer) -> None:
        for mid, country in ((None, None), ("", ""), (None, "")):
            assert verify(signer.mint(mid=mid, country=country), CANARY) == {"exp": int(T0) + 600}

    def test_int_mid_is_sent_as_string(self, signer: Signer) -> None:
        assert verify(signer.token(mid=42), CANARY)["mid"] == "42"
        assert verify(signer.mint(mid=42), CANARY)["mid"] == "42"

    def test_ttl_and_extra(self, signer: Signer) -> None:
        claims = verify(signer.token(ttl=60, extra={"scope": "read"}), CANARY)
        assert claims == {"exp": int(T0) + 60, "scope": "read"}

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"country": "ZZ"}, "country"),
            ({"ttl": 0}, "ttl"),
            ({"ttl": 600.0}, "ttl"),
            ({"ttl": True}, "ttl"),
            ({"mid": 1.0}, "mid"),
            ({"mid": True}, "mid"),
            ({"extra": {"exp": 1}}, "exp"),
        ],
    )
    def test_bad_claims_even_after_a_valid_twin_is_cached(
        self, signer: Signer, kwargs: dict[str, Any], field: str
    ) -> None:
        # Warm the cache with the valid call each bad one equals (600.0 == 600, True == 1 ...).
        signer.token(mid=1, ttl=600)
        signer.token(ttl=1)
        signer.token()
        for method in (signer.token, signer.mint):
            with pytest.raises(ClaimsError) as info:
                method(**kwargs)
            assert info.value.field == field

    def test_exp_never_outlives_the_key(self, clock: FakeClock) -> None:
        doc = keyset_doc({"kid": "k", "secret": CANARY, "not_after": iso(T0 + 100)})
        signer = Signer(MemorySource(doc), clock=clock, spawn=run_now)
        assert verify(signer.token(ttl=600), CANARY)["exp"] == int(T0) + 100
        assert verify(signer.mint(ttl=60), CANARY)["exp"] == int(T0) + 60


class TestTokenCache:
    def test_reused_while_a_quarter_of_life_remains(self, signer: Signer, clock: FakeClock) -> None:
        first = signer.token(mid="m")
        clock.advance(449)  # 151 s of 600 left: more than a quarter
        assert signer.token(mid="m") == first
        clock.advance(1)  # exactly a quarter left: re-sign
        second = signer.token(mid="m")
        assert second != first
        assert verify(second, CANARY)["exp"] == int(T0) + 450 + 600
        stats = signer.stats()
        assert (stats.token_cache_hits, stats.token_cache_misses) == (1, 2)

    def test_mint_is_never_cached(self, signer: Signer, clock: FakeClock) -> None:
        first = signer.mint()
        clock.advance(1)
        assert signer.mint() != first

    def test_keyed_by_every_argument(self, signer: Signer) -> None:
        tokens = {
            signer.token(),
            signer.token(mid="a"),
            signer.token(mid="b"),
            signer.token(mid="a", country="MX"),
            signer.token(mid="a", ttl=60),
            signer.token(mid="a", extra={"x": 1}),
            signer.token(mid="a", extra={"x": 2}),
        }
        assert len(tokens) == 7
        assert signer.token(mid="a", extra={"x": 1}) in tokens

    def test_extra_claims_of_equal_value_and_other_type_get_their_own_tokens(
        self, signer: Signer
    ) -> None:
        values: list[Any] = [1, True, 1.0, "1", 0.0, -0.0, None, [1], {"a": 1}]
        for _ in range(2):  # the second pass hits the cache: still each its own token
            for value in values:
                claims = verify(signer.token(extra={"x": value, "y": "z"}), CANARY)
                assert claims["x"] == value and type(claims["x"]) is type(value)
                assert json.dumps(claims["x"]) == json.dumps(value)
        assert signer.stats().token_cache_misses == len(values)
        assert signer.token(extra={"y": "z", "x": 1}) == signer.token(extra={"x": 1, "y": "z"})

    def test_int_mid_is_cached_under_its_decimal_string(self, signer: Signer) -> None:
        first = signer.token(mid=42)
        assert signer.token(mid=42) == first
        assert signer.token(mid="42") == first
        stats = signer.stats()
        assert (stats.token_cache_hits, stats.token_cache_misses) == (2, 1)

    def test_bounded(self, source: MemorySource, clock: FakeClock) -> None:
        signer = Signer(source, clock=clock, spawn=run_now, token_cache_size=10)
        for mid in range(50):
            signer.token(mid=str(mid))
        assert signer.stats().token_cache_size == 10

    def test_never_serves_a_token_of_a_superseded_kid(self, clock: FakeClock) -> None:
        signer = Signer(MemorySource(ROTATION), clock=clock, spawn=run_now)
        before = signer.token(mid="m", ttl=86_400)
        assert kid_of(before) == "old"
        clock.advance(3600)  # new.not_before: the switch instant, no refresh due yet
        after = signer.token(mid="m", ttl=86_400)
        assert kid_of(after) == "new"
        assert verify(after, CANARY_2)["mid"] == "m"

    def test_token_of_a_capped_key_is_not_reused_past_the_key(self, clock: FakeClock) -> None:
        doc = keyset_doc(
            {"kid": "a", "secret": CANARY, "not_after": iso(T0 + 1000)},
            {"kid": "b", "secret": CANARY_2, "not_before": iso(T0 - 10)},
        )
        # b is active (later not_before); a is standby and capped. Nothing to reuse past 1000 s.
        signer = Signer(MemorySource(doc), clock=clock, spawn=run_now)
        assert kid_of(signer.token()) == "b"

    def test_refresh_with_the_same_key_keeps_cached_tokens(
        self, source: MemorySource, clock: FakeClock
    ) -> None:
        signer = Signer(source, clock=clock, spawn=run_now, refresh_interval=10, max_stale=100)
        first = signer.token()
        source.set(SINGLE)  # a new version with the same key
        clock.advance(11)
        assert signer.token() == first
        assert source.reads == 2

    def test_changed_secret_under_the_same_kid_re_signs(
        self, source: MemorySource, clock: FakeClock
    ) -> None:
        signer = Signer(source, clock=clock, spawn=run_now, refresh_interval=10, max_stale=100)
        signer.token()
        source.set(json.dumps({"kid": "k1", "secret": CANARY_2}))
        clock.advance(11)
        verify(signer.token(), CANARY_2)


class TestSelection:
    def test_switches_at_not_before_without_a_refresh(self, clock: FakeClock) -> None:
        source = MemorySource(ROTATION)
        signer = Signer(
            source, clock=clock, spawn=run_now, refresh_interval=86_400, max_stale=86_400
        )
        assert kid_of(signer.mint()) == "old"
        clock.advance(3599.999)
        assert kid_of(signer.mint()) == "old"
        clock.advance(0.001)
        assert kid_of(signer.mint()) == "new"
        assert source.reads == 1

    def test_switches_at_not_before_while_the_backend_is_down(self, clock: FakeClock) -> None:
        source = MemorySource(ROTATION)
        signer = Signer(source, clock=clock, spawn=run_now, refresh_interval=300, max_stale=7200)
        assert kid_of(signer.mint()) == "old"
        source.set("{broken")
        clock.advance(3600)
        token = signer.mint()
        assert kid_of(token) == "new"
        verify(token, CANARY_2)
        assert signer.stats().failures >= 1

    def test_no_active_key(self, clock: FakeClock) -> None:
        doc = keyset_doc({"kid": "later", "secret": CANARY, "not_before": iso(T0 + 60)})
        signer = Signer(MemorySource(doc), clock=clock, spawn=run_now)
        with pytest.raises(NoActiveKeyError) as info:
            signer.token()
        assert "later scheduled" in str(info.value)
        assert not leaked(str(info.value))
        clock.advance(60)
        assert kid_of(signer.token()) == "later"

    def test_disabled_key_does_not_sign(self, clock: FakeClock) -> None:
        doc = keyset_doc(
            {"kid": "old", "secret": CANARY},
            {"kid": "off", "secret": CANARY_2, "not_before": iso(T0 - 1), "disabled": True},
        )
        assert kid_of(Signer(MemorySource(doc), clock=clock, spawn=run_now).token()) == "old"


class TestLoading:
    def test_first_load_is_single_flight(self, clock: FakeClock) -> None:
        class SlowSource(MemorySource):
            def read(self) -> Any:
                time.sleep(0.05)  # real I/O takes time; the point is 16 threads overlap it
                return super().read()

        source = SlowSource(SINGLE)
        signer = Signer(source, clock=clock, spawn=run_now)
        barrier = threading.Barrier(16)
        tokens: list[str] = []

        def sign() -> None:
            barrier.wait()
            tokens.append(signer.token(mid="m"))

        threads = [threading.Thread(target=sign) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert source.reads == 1
        assert len(tokens) == 16 and len(set(tokens)) == 1

    def test_periodic_refresh_picks_up_a_new_key(
        self, source: MemorySource, clock: FakeClock
    ) -> None:
        signer = Signer(source, clock=clock, spawn=run_now, refresh_interval=300, max_stale=3600)
        signer.token()
        source.set(
            keyset_doc(
                {"kid": "k1", "secret": CANARY},
                {"kid": "k2", "secret": CANARY_2, "not_before": iso(T0 + 10)},
            )
        )
        clock.advance(300 * 0.89)  # refresh_interval minus more than its 10 % jitter
        assert kid_of(signer.token()) == "k1"
        assert source.reads == 1
        clock.advance(300 * 0.22)
        assert kid_of(signer.token()) == "k2"
        assert source.reads == 2

    def test_first_load_error_is_raised(self, clock: FakeClock) -> None:
        with pytest.raises(SourceNotFoundError):
            Signer(MemorySource(), clock=clock, spawn=run_now).token()
        with pytest.raises(KeySetError, match=r"^memory://: the keyset document needs"):
            Signer(MemorySource("{}"), clock=clock, spawn=run_now).token()

    def test_stale_if_error_then_fail_closed(self, source: MemorySource, clock: FakeClock) -> None:
        signer = Signer(source, clock=clock, spawn=run_now, refresh_interval=300, max_stale=1000)
        good = signer.mint()
        source.set("not json")  # an invalid document never replaces the good keyset
        clock.advance(331)  # past the refresh interval and its jitter
        assert kid_of(signer.mint()) == kid_of(good)
        assert signer.stats().failures == 1
        incident = signer.stats().incident
        assert incident is not None and incident.error_type == "KeySetError"
        assert not incident.transient
        clock.advance(670)  # the keyset is now 1001 s old
        with pytest.raises(StaleKeySetError) as info:
            signer.mint()
        assert "memory://" in str(info.value) and "not valid JSON" in str(info.value)
        source.set(SINGLE)
        clock.advance(331)
        assert kid_of(signer.mint()) == "k1"
        assert signer.stats().incident is None

    def test_settings_are_checked(self, source: MemorySource) -> None:
        from r2jwt import ConfigurationError

        with pytest.raises(ConfigurationError, match="refresh_interval"):
            Signer(source, refresh_interval=0)
        with pytest.raises(ConfigurationError, match="max_stale"):
            Signer(source, refresh_interval=300, max_stale=10)


class TestRefresh:
    def test_forced_refresh_fetches_and_reselects(
        self, source: MemorySource, clock: FakeClock
    ) -> None:
        signer = Signer(source, clock=clock, spawn=run_now)
        assert kid_of(signer.token()) == "k1"
        source.set(json.dumps({"kid": "k9", "secret": CANARY_2}))
        signer.refresh()
        assert kid_of(signer.token()) == "k9"
        assert source.reads == 2

    def test_forced_refreshes_within_a_second_are_coalesced(
        self, source: MemorySource, clock: FakeClock
    ) -> None:
        signer = Signer(source, clock=clock, spawn=run_now)
        signer.token()  # the first load does not count toward the second
        signer.refresh()
        assert source.reads == 2
        signer.refresh()
        clock.advance(0.999)
        signer.refresh()
        assert source.reads == 2
        clock.advance(0.001)
        signer.refresh()
        assert source.reads == 3

    def test_failed_forced_refresh_raises_and_keeps_serving(
        self, source: MemorySource, clock: FakeClock
    ) -> None:
        signer = Signer(source, clock=clock, spawn=run_now)
        signer.token()

        def broken() -> Any:
            raise SourceError("backend down", source="memory://", transient=True)

        source.read = broken  # type: ignore[method-assign]
        with pytest.raises(SourceError):
            signer.refresh()
        assert kid_of(signer.token()) == "k1"


def test_stats_and_repr_hold_no_secret(signer: Signer) -> None:
    signer.token()
    assert signer.stats().active_kid == "k1"
    assert not leaked(json.dumps(signer.stats().as_dict()) + repr(signer) + repr(signer.keyset()))


def test_context_manager_closes(source: MemorySource, clock: FakeClock) -> None:
    with Signer(source, clock=clock, spawn=run_now) as signer:
        signer.token()
    assert signer.stats().token_cache_size == 0
