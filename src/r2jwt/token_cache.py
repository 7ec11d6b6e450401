"""A bounded LRU of signed tokens, safe to share between threads without a lock.

Each operation is one C-level ``OrderedDict`` call, atomic under the GIL; the only race — two
threads evicting or touching the same entry — shows up as a ``KeyError`` that is harmless to
ignore. Readers therefore never wait for each other or for a writer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["DEFAULT_TOKEN_CACHE_SIZE", "TokenCache"]

DEFAULT_TOKEN_CACHE_SIZE = 10_000

V = TypeVar("V")


class TokenCache(Generic[V]):
    """At most ``max_size`` entries; the least recently used one is dropped first."""

    __slots__ = ("_data", "hits", "max_size", "misses")

    def __init__(self, max_size: int = DEFAULT_TOKEN_CACHE_SIZE) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
            raise ValueError("token_cache_size must be a whole number >= 0 (0 turns caching off)")
        self.max_size = max_size
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """The entry for ``key``, marked as recently used; None when absent."""
        entry = self._data.get(key)
        if entry is not None:
            try:
                self._data.move_to_end(key)
            except KeyError:  # evicted by another thread in between: still a valid answer
                pass
        return entry

    def put(self, key: Hashable, entry: V) -> None:
        """Store ``entry``, evicting the least recently used entries beyond the bound."""
        if not self.max_size:
            return
        data = self._data
        data[key] = entry
        while len(data) > self.max_size:
            try:
                data.popitem(last=False)
            except KeyError:  # another thread emptied it first
                break

    def clear(self) -> None:
        """Drop every entry."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
