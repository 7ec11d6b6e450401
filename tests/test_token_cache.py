"""The bounded LRU (r2jwt.token_cache)."""

from __future__ import annotations

import threading

import pytest

from r2jwt.token_cache import TokenCache


def test_lru_order_and_bound() -> None:
    cache: TokenCache[str] = TokenCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")  # evicts b, the least recently used
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == ("A", "C")
    assert len(cache) == 2


def test_zero_turns_caching_off() -> None:
    cache: TokenCache[str] = TokenCache(0)
    cache.put("a", "A")
    assert cache.get("a") is None


@pytest.mark.parametrize("size", [-1, 1.5, True, "10"])
def test_bad_size(size: object) -> None:
    with pytest.raises(ValueError, match="token_cache_size"):
        TokenCache(size)  # type: ignore[arg-type]


def test_bound_holds_under_concurrent_writers() -> None:
    cache: TokenCache[int] = TokenCache(100)

    def work(offset: int) -> None:
        for i in range(5_000):
            cache.put((offset, i), i)
            cache.get((offset, i // 2))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) <= 100
