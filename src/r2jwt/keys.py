"""Keys and keysets: parse and validate the keyset document, select the active key.

The document (DESIGN.md, "The keyset document")::

    {"keys": [{"kid": "...", "secret": "...", "not_before": "...", "not_after": "..."}, ...]}

or the single-key shorthand ``{"kid": "...", "secret": "..."}``. Times are RFC 3339 with a zone;
internally they are Unix seconds (floats) so that selection on the signing path is a few float
comparisons. Unknown fields, on a key or at the top level, are kept and written back unchanged.
"""

from __future__ import annotations

import enum
import hmac
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from r2jwt.errors import KeySetError

__all__ = ["MIN_SECRET_BYTES", "Key", "KeySet", "KeyState", "Secret", "format_time", "parse_time"]

#: RFC 7518 section 3.2: an HS256 key should be at least as long as the hash output.
MIN_SECRET_BYTES = 32

_KNOWN_KEY_FIELDS = frozenset({"kid", "secret", "not_before", "not_after", "disabled"})
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


class Secret:
    """A shared secret that never shows itself in ``repr``, ``str``, f-strings or logs.

    Use :meth:`reveal` (text) or :meth:`encode` (UTF-8 bytes, what HS256 signs with) when the
    value itself is needed.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret text. Keep the result out of logs and messages."""
        return self._value

    def encode(self) -> bytes:
        """Return the secret as UTF-8 bytes, the HMAC key R2 expects."""
        return self._value.encode("utf-8")

    def __len__(self) -> int:
        return len(self.encode())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.encode(), other.encode())

    def __hash__(self) -> int:
        # Equal secrets must hash alike; the hash never leaves the process, but hash a digest
        # rather than the value so even a hash table dump reveals nothing useful.
        return hash(hmac.digest(b"r2jwt.Secret", self.encode(), "sha256"))

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class KeyState(enum.StrEnum):
    """A key's state at an instant, as ``r2jwt keys list`` shows it."""

    ACTIVE = "active"  # eligible, and the one that signs
    STANDBY = "standby"  # eligible but superseded by a key with a later not_before
    SCHEDULED = "scheduled"  # not_before still in the future
    EXPIRED = "expired"  # not_after reached
    DISABLED = "disabled"  # "disabled": true


def parse_time(value: str, *, kid: str | None = None, field: str = "time") -> datetime:
    """Parse an RFC 3339 timestamp that carries a zone; raise :class:`KeySetError` otherwise."""
    match = _RFC3339.match(value)
    if match is None:
        raise KeySetError(
            f"{_where(kid)}field {field!r} must be an RFC 3339 timestamp with a zone, "
            f"like 2026-12-15T00:00:00Z",
            kid=kid,
            field=field,
        )
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # datetime keeps microseconds: "." + 6 digits
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}")
    except ValueError:
        raise KeySetError(
            f"{_where(kid)}field {field!r} is not a valid date and time",
            kid=kid,
            field=field,
        ) from None


def format_time(moment: datetime) -> str:
    """Format a datetime as RFC 3339, using ``Z`` for UTC and no fraction when it is zero."""
    if moment.utcoffset() == UTC.utcoffset(None):
        text = moment.replace(tzinfo=None).isoformat(timespec="auto")
        return text + "Z"
    return moment.isoformat(timespec="auto")


def _where(kid: str | None) -> str:
    return f"key {kid!r}: " if kid is not None else ""


@dataclass(frozen=True, slots=True)
class Key:
    """One key R2 issued: its id, its secret and the window in which it may sign."""

    kid: str
    secret: Secret
    not_before: datetime | None = None
    not_after: datetime | None = None
    disabled: bool = False
    #: Fields of the key object r2jwt does not know; written back as they were.
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Checked here, not only when parsing, so that an edit (replace_key) obeys it too.
        if self.not_after is not None and self.ends <= self.starts:
            raise KeySetError(
                f"key {self.kid!r}: field 'not_after' must be later than 'not_before'",
                kid=self.kid,
                field="not_after",
            )

    @property
    def starts(self) -> float:
        """``not_before`` as Unix seconds; minus infinity when open."""
        return -math.inf if self.not_before is None else self.not_before.timestamp()

    @property
    def ends(self) -> float:
        """``not_after`` as Unix seconds; plus infinity when open."""
        return math.inf if self.not_after is None else self.not_after.timestamp()

    def eligible_at(self, t: float) -> bool:
        """True when the key may sign at ``t`` (Unix seconds): enabled and inside its window."""
        return not self.disabled and self.starts <= t < self.ends

    @property
    def short_secret(self) -> bool:
        """True when the secret is shorter than RFC 7518 recommends for HS256 (32 bytes)."""
        return len(self.secret) < MIN_SECRET_BYTES

    def to_json(self) -> dict[str, Any]:
        """The key as a JSON object, unknown fields included, ready to be written back."""
        obj: dict[str, Any] = {"kid": self.kid, "secret": self.secret.reveal()}
        if self.not_before is not None:
            obj["not_before"] = format_time(self.not_before)
        if self.not_after is not None:
            obj["not_after"] = format_time(self.not_after)
        if self.disabled:
            obj["disabled"] = True
        obj.update((k, v) for k, v in self.extra.items() if k not in obj)
        return obj

    @classmethod
    def from_json(cls, obj: object, *, index: int | None = None) -> Key:
        """Build a key from one JSON object of the document, validating every field."""
        where = f"keys[{index}]: " if index is not None else ""
        if not isinstance(obj, dict):
            raise KeySetError(f"{where}each key must be a JSON object", field="keys")
        kid = obj.get("kid")
        if not isinstance(kid, str) or not kid.strip():
            raise KeySetError(f"{where}field 'kid' must be a non-empty string", field="kid")
        secret = obj.get("secret")
        if not isinstance(secret, str) or secret == "":
            raise KeySetError(
                f"key {kid!r}: field 'secret' must be a non-empty string", kid=kid, field="secret"
            )
        times: dict[str, datetime | None] = {}
        for name in ("not_before", "not_after"):
            raw = obj.get(name)
            if raw is None:
                times[name] = None
            elif isinstance(raw, str):
                times[name] = parse_time(raw, kid=kid, field=name)
            else:
                raise KeySetError(
                    f"key {kid!r}: field {name!r} must be an RFC 3339 string or null",
                    kid=kid,
                    field=name,
                )
        not_before, not_after = times["not_before"], times["not_after"]
        disabled = obj.get("disabled", False)
        if disabled is None:
            disabled = False
        if not isinstance(disabled, bool):
            raise KeySetError(
                f"key {kid!r}: field 'disabled' must be true or false", kid=kid, field="disabled"
            )
        extra = {k: v for k, v in obj.items() if k not in _KNOWN_KEY_FIELDS}
        return cls(kid, Secret(secret), not_before, not_after, disabled, extra)


@dataclass(frozen=True, slots=True)
class KeySet:
    """A validated set of keys, with the selection rule of DESIGN.md.

    Build one with :meth:`parse` (from the document) or :meth:`of` (from keys). Every instance is
    valid: non-empty, kids unique, and no two keys sharing a ``not_before`` (the rule that makes a
    fleet of signers agree on the active key at every instant).
    """

    keys: tuple[Key, ...]
    #: Top-level fields r2jwt does not know; written back as they were.
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Enabled keys, latest not_before first: the active key is the first eligible one.
    _by_start: tuple[Key, ...] = field(init=False, repr=False, compare=False)
    _by_kid: Mapping[str, Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeySetError("the keyset has no keys; add one with 'r2jwt keys add'", field="keys")
        by_kid: dict[str, Key] = {}
        by_start: dict[float, str] = {}
        for key in self.keys:
            if key.kid in by_kid:
                raise KeySetError(
                    f"key {key.kid!r}: field 'kid' appears more than once", kid=key.kid, field="kid"
                )
            by_kid[key.kid] = key
            other = by_start.setdefault(key.starts, key.kid)
            if other != key.kid:
                when = "no not_before" if key.not_before is None else "the same not_before"
                raise KeySetError(
                    f"keys {other!r} and {key.kid!r} both have {when}, so neither can be chosen "
                    f"as the active key; give the newer one a later not_before",
                    kid=key.kid,
                    field="not_before",
                )
        enabled = sorted((k for k in self.keys if not k.disabled), key=lambda k: -k.starts)
        object.__setattr__(self, "_by_start", tuple(enabled))
        object.__setattr__(self, "_by_kid", by_kid)

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def of(cls, keys: Iterable[Key], *, extra: Mapping[str, Any] | None = None) -> KeySet:
        """A keyset of these keys (validated)."""
        return cls(tuple(keys), dict(extra or {}))

    @classmethod
    def parse(cls, document: bytes | str | Mapping[str, Any]) -> KeySet:
        """Parse a keyset document (JSON text or an already decoded object).

        Raises :class:`KeySetError` naming the kid and the field for every invalid input, and
        never includes the document's text in the message (it holds secrets).
        """
        if isinstance(document, bytes | str):
            try:
                obj: object = json.loads(document)
            except (ValueError, RecursionError):
                # from None: the decoder's exception keeps the whole document in ``.doc``.
                raise KeySetError(
                    "the keyset document is not valid JSON", field="document"
                ) from None
        else:
            obj = document
        if not isinstance(obj, Mapping):
            raise KeySetError("the keyset document must be a JSON object", field="document")
        if "keys" in obj:
            raw_keys = obj["keys"]
            if not isinstance(raw_keys, list):
                raise KeySetError("field 'keys' must be a list of key objects", field="keys")
            keys = [Key.from_json(item, index=i) for i, item in enumerate(raw_keys)]
            extra = {k: v for k, v in obj.items() if k != "keys"}
            return cls.of(keys, extra=extra)
        if "kid" in obj or "secret" in obj:
            return cls.of([Key.from_json(dict(obj))])
        raise KeySetError(
            "the keyset document needs a 'keys' list, or 'kid' and 'secret' for a single key",
            field="keys",
        )

    def to_document(self) -> bytes:
        """Serialize as a keyset document (always the ``keys`` form), unknown fields kept."""
        doc: dict[str, Any] = {"keys": [key.to_json() for key in self.keys]}
        doc.update((k, v) for k, v in self.extra.items() if k != "keys")
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    # -- editing (each returns a new, validated keyset) ------------------------------------------

    def with_key(self, key: Key) -> KeySet:
        """A keyset with ``key`` added; the kid must be new."""
        if key.kid in self._by_kid:
            raise KeySetError(
                f"key {key.kid!r} already exists; pick a new kid or retire the old one",
                kid=key.kid,
                field="kid",
            )
        return KeySet.of([*self.keys, key], extra=self.extra)

    def replace_key(self, kid: str, **changes: Any) -> KeySet:
        """A keyset where key ``kid`` has ``changes`` applied (e.g. ``not_after=...``)."""
        self.require(kid)
        return KeySet.of(
            [replace(k, **changes) if k.kid == kid else k for k in self.keys], extra=self.extra
        )

    def without(self, kid: str) -> KeySet:
        """A keyset without key ``kid``."""
        self.require(kid)
        return KeySet.of([k for k in self.keys if k.kid != kid], extra=self.extra)

    # -- reading ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def get(self, kid: str) -> Key | None:
        """The key with this kid, or None."""
        return self._by_kid.get(kid)

    def require(self, kid: str) -> Key:
        """The key with this kid; :class:`KeySetError` naming the known kids otherwise."""
        key = self._by_kid.get(kid)
        if key is None:
            known = ", ".join(sorted(self._by_kid))
            raise KeySetError(f"no key {kid!r} in the keyset (keys: {known})", kid=kid, field="kid")
        return key

    def active_at(self, t: float) -> Key | None:
        """The key that signs at ``t`` (Unix seconds): the eligible key with the latest
        ``not_before``; None when no key is eligible."""
        for key in self._by_start:
            if key.starts <= t < key.ends:
                return key
        return None

    def state_of(self, kid: str, t: float) -> KeyState:
        """The state of key ``kid`` at ``t``."""
        key = self.require(kid)
        if key.disabled:
            return KeyState.DISABLED
        if t >= key.ends:
            return KeyState.EXPIRED
        if t < key.starts:
            return KeyState.SCHEDULED
        active = self.active_at(t)
        return KeyState.ACTIVE if active is key else KeyState.STANDBY

    def next_change_after(self, t: float) -> float | None:
        """The first instant after ``t`` at which the active key may change, or None.

        Selection only changes where an enabled key's window opens or closes, so a signer can
        keep its choice until this instant without looking at the keyset again.
        """
        edges = [
            edge for key in self._by_start for edge in (key.starts, key.ends) if t < edge < math.inf
        ]
        return min(edges, default=None)
