"""The Source interface: where a keyset document comes from, and how it is written back.

A source does I/O and nothing else. It does not parse, cache, retry or back off: the key cache
does that, once, for every source. A source implements :meth:`Source.read`; a source that can be
written also implements :meth:`Source.write` with optimistic concurrency.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from typing import ClassVar, Self
from urllib.parse import parse_qsl

from r2jwt.errors import ConfigurationError, SourceURLError

__all__ = ["Document", "Source", "SourceURL"]


@dataclass(frozen=True, slots=True)
class Document:
    """A keyset document as stored, and the store's version tag for it.

    ``version`` is opaque to everyone but the source that made it (a content hash, a Secrets
    Manager VersionId, a Vault KV version). The key cache skips parsing when it has not changed;
    :meth:`Source.write` takes it back as ``expected_version``.
    """

    data: bytes = field(repr=False)
    version: str | None = None


@dataclass(frozen=True, slots=True)
class SourceURL:
    """A source URL split once: ``scheme://target?name=value&...``.

    ``target`` is everything between ``://`` and ``?``, left as written, because a Secrets
    Manager ARN or a Vault path contains characters a generic URL parser would take apart.
    """

    url: str
    scheme: str
    target: str
    params: dict[str, str]

    @classmethod
    def parse(cls, url: str) -> SourceURL:
        scheme, sep, rest = url.partition("://")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
            raise SourceURLError(
                f"source {redact(url)!r} is not a URL like env://, file:///path/keys.json, "
                f"aws-sm://SECRET_ID or vault://MOUNT/PATH",
                url=redact(url),
            )
        target, _, query = rest.partition("?")
        params: dict[str, str] = {}
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError:
            raise SourceURLError(
                f"source {redact(url)!r}: the query string is malformed", url=redact(url)
            ) from None
        for name, value in pairs:
            if name in params:
                raise SourceURLError(
                    f"source {redact(url)!r}: option {name!r} is given twice", url=redact(url)
                )
            params[name] = value
        return cls(url, scheme, target, params)

    def options(self, *allowed: str) -> dict[str, str]:
        """The query options, after checking every name is one the source knows."""
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            known = ", ".join(allowed) or "none"
            raise SourceURLError(
                f"source {self.display!r}: unknown option {unknown[0]!r} (known: {known})",
                url=self.display,
            )
        return dict(self.params)

    def flag(self, name: str) -> bool:
        """A boolean option: 1/true/yes or 0/false/no (absent is false)."""
        value = self.params.get(name, "0").lower()
        if value in ("1", "true", "yes"):
            return True
        if value in ("0", "false", "no", ""):
            return False
        raise SourceURLError(
            f"source {self.display!r}: option {name!r} must be 1 or 0", url=self.display
        )

    @property
    def display(self) -> str:
        """The URL with any user:password@ part masked; safe for messages and logs."""
        return redact(self.url)


def redact(url: str) -> str:
    """Mask credentials a plug-in URL might carry (``scheme://user:pass@host``)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@?]*@", r"\1***@", url)


class Source(abc.ABC):
    """Where a keyset document lives.

    Subclasses override :meth:`read`, and :meth:`write` when the store can be written, and
    :meth:`from_url` so the registry can build them from a URL. They register under the
    entry-point group ``r2jwt.sources``, keyed by URL scheme.
    """

    #: The URL scheme this source answers to, e.g. ``"file"``.
    scheme: ClassVar[str]

    #: A name safe to show in messages and logs (a URL without credentials, never a secret).
    name: str

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: SourceURL) -> Self:
        """Build the source from its parsed URL; :class:`SourceURLError` for a bad one."""

    @abc.abstractmethod
    def read(self) -> Document:
        """Fetch the current document.

        Raise :class:`~r2jwt.errors.SourceNotFoundError` when it does not exist and
        :class:`~r2jwt.errors.SourceError` (with ``transient=True`` when a retry may succeed) for
        other failures, wrapping the SDK's exception with ``raise ... from exc``.
        """

    def write(self, data: bytes, *, expected_version: str | None) -> Document:
        """Replace the document, but only if it is still at ``expected_version``.

        ``expected_version`` is the version :meth:`read` returned, or None to create a document
        that must not exist yet. When the store holds something else, raise
        :class:`~r2jwt.errors.WriteConflictError` and write nothing. Returns the new document.
        """
        raise ConfigurationError(f"source {self.name!r} is read-only; keys cannot be changed there")

    @property
    def writable(self) -> bool:
        """True when this source implements :meth:`write`."""
        return type(self).write is not Source.write

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release clients and connections. The default has nothing to release."""

    def reset(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Forget connections inherited from a parent process (called in a child after
        ``os.fork``); the next read opens new ones. The default has nothing to forget."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
