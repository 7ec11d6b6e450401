"""The source registry: a URL scheme names the class that reads it.

Built-in sources are registered under the entry-point group ``r2jwt.sources`` in r2jwt's own
``pyproject.toml``, exactly as a plug-in registers in its own. They are also listed in
``BUILTIN_SOURCES`` so that resolving a built-in never scans installed distributions (which costs
milliseconds at start-up) and works from a source checkout; a test keeps the two lists equal.
A plug-in cannot take over a built-in scheme.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from r2jwt.errors import SourceURLError
from r2jwt.sources.base import Document, Source, SourceURL

__all__ = ["BUILTIN_SOURCES", "ENTRY_POINT_GROUP", "Document", "Source", "SourceURL", "open_source"]

ENTRY_POINT_GROUP = "r2jwt.sources"
DEFAULT_SOURCE = "env://"

BUILTIN_SOURCES: dict[str, str] = {
    "aws-sm": "r2jwt.sources.aws:AwsSecretsManagerSource",
    "env": "r2jwt.sources.env:EnvSource",
    "file": "r2jwt.sources.file:FileSource",
    "vault": "r2jwt.sources.vault:VaultSource",
}

log = logging.getLogger("r2jwt")


def entry_points(*, group: str, name: str | None = None) -> Any:
    """Installed entry points of ``group`` (named ``name``). importlib.metadata is imported
    here, not at start-up: it costs ~20 ms and only plug-in schemes need it."""
    from importlib.metadata import entry_points as installed

    return installed(group=group) if name is None else installed(group=group, name=name)


def open_source(source: str | Source | None = None) -> Source:
    """Turn what a user passed into a :class:`Source`: a URL, a source object, or None for
    ``$R2JWT_SOURCE`` (else ``env://``). This is the only place that converts."""
    if isinstance(source, Source):
        return source
    if source is None:
        source = os.environ.get("R2JWT_SOURCE") or DEFAULT_SOURCE
    if not isinstance(source, str):
        raise TypeError(f"source must be a URL string or a Source, not {type(source).__name__}")
    url = SourceURL.parse(source)
    return _source_class(url).from_url(url)


def _source_class(url: SourceURL) -> type[Source]:
    target = BUILTIN_SOURCES.get(url.scheme)
    if target is not None:
        module, _, attr = target.partition(":")
        cls: type[Source] = getattr(importlib.import_module(module), attr)
        return cls
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=url.scheme):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plug-in must not take the others down
            log.warning("r2jwt source plug-in %r (%s) failed to load: %r", ep.name, ep.value, exc)
            raise SourceURLError(
                f"the plug-in for {url.scheme}:// failed to load ({type(exc).__name__}); "
                f"reinstall the package that provides it",
                url=url.display,
            ) from exc
        if not (isinstance(loaded, type) and issubclass(loaded, Source)):
            raise SourceURLError(
                f"the plug-in for {url.scheme}:// ({ep.value}) is not an r2jwt Source",
                url=url.display,
            )
        return loaded
    known = ", ".join(f"{s}://" for s in sorted(available_schemes()))
    raise SourceURLError(f"no source for {url.scheme}:// (available: {known})", url=url.display)


def available_schemes() -> set[str]:
    """Every scheme a URL may use: the built-ins and the installed plug-ins."""
    return set(BUILTIN_SOURCES) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
