"""Changing the keys in a store: read, modify, write back with optimistic concurrency.

Every change reads the document and its version, applies the change to the parsed keyset
(which validates the result), and writes it back only if the store still holds that version;
otherwise the source raises :class:`~r2jwt.errors.WriteConflictError` and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from r2jwt.errors import ConfigurationError, KeySetError, SourceNotFoundError
from r2jwt.keys import Key, KeySet, KeyState
from r2jwt.sources.base import Source

__all__ = ["add_key", "remove_key", "retire_key", "update_keyset"]


def update_keyset(source: Source, change: Callable[[KeySet | None], KeySet]) -> KeySet:
    """Apply ``change`` to the stored keyset (None when the store is empty) and write it back."""
    if not source.writable:
        raise ConfigurationError(
            f"source {source.name!r} is read-only; change keys in a file://, aws-sm:// "
            f"or vault:// source"
        )
    try:
        document = source.read()
    except SourceNotFoundError:
        current, version = None, None
    else:
        current, version = KeySet.parse(document.data), document.version
    updated = change(current)
    source.write(updated.to_document(), expected_version=version)
    return updated


def add_key(source: Source, key: Key) -> KeySet:
    """Add ``key``; its kid must be new and its not_before unlike every other key's."""
    return update_keyset(source, lambda ks: KeySet.of([key]) if ks is None else ks.with_key(key))


def retire_key(source: Source, kid: str, at: datetime) -> KeySet:
    """Set key ``kid``'s not_after to ``at``: it stops signing at that instant."""
    return update_keyset(source, lambda ks: _require(ks, source).replace_key(kid, not_after=at))


def remove_key(source: Source, kid: str, now: float) -> KeySet:
    """Delete key ``kid``, which must already be expired or disabled."""

    def change(keyset: KeySet | None) -> KeySet:
        keyset = _require(keyset, source)
        state = keyset.state_of(kid, now)
        if state not in (KeyState.EXPIRED, KeyState.DISABLED):
            raise KeySetError(
                f"key {kid!r} is {state}; only an expired or disabled key can be removed "
                f"(retire it first: r2jwt keys retire --kid {kid})",
                kid=kid,
                field="kid",
            )
        return keyset.without(kid)

    return update_keyset(source, change)


def _require(keyset: KeySet | None, source: Source) -> KeySet:
    if keyset is None:
        raise SourceNotFoundError(f"{source.name} holds no keyset yet", source=source.name)
    return keyset
