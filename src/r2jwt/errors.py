"""The r2jwt exception tree.

Every error r2jwt raises on purpose derives from :class:`R2JWTError`::

    R2JWTError
     ├── ConfigurationError        the environment or the arguments are wrong
     │    ├── SourceURLError       a source URL that cannot be used
     │    └── MissingExtraError    an optional dependency (boto3, hvac, ...) is not installed
     ├── ClaimsError               mid / country / ttl / extra claims rejected
     ├── KeySetError               the keyset document is invalid
     ├── NoActiveKeyError          no key is eligible at the signing instant
     ├── StaleKeySetError          refreshes kept failing for longer than max_stale
     └── SourceError               reading or writing the store failed
          ├── SourceNotFoundError  the secret / file / path does not exist
          └── WriteConflictError   the document changed between our read and our write

Errors keep their data as attributes (``field``, ``kid``, ``source``) so callers need not parse
messages. No message ever contains key material: secrets are held in :class:`r2jwt.keys.Secret`,
whose ``repr`` and ``str`` are masked, and error texts are built from names only.

``exit_code`` is what the CLI exits with: 2 for input the user can fix on the command line,
1 for operational failures.
"""

from __future__ import annotations

__all__ = [
    "ClaimsError",
    "ConfigurationError",
    "KeySetError",
    "MissingExtraError",
    "NoActiveKeyError",
    "R2JWTError",
    "SourceError",
    "SourceNotFoundError",
    "SourceURLError",
    "StaleKeySetError",
    "WriteConflictError",
]


class R2JWTError(Exception):
    """Raised for every failure r2jwt reports on purpose; the root of the tree."""

    exit_code: int = 1


class ConfigurationError(R2JWTError):
    """Raised when the environment or a setting is wrong (a variable missing, a bad option)."""


class SourceURLError(ConfigurationError):
    """Raised when a source URL has an unknown scheme, a bad path or an unknown option."""

    exit_code = 2

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class MissingExtraError(ConfigurationError):
    """Raised when a source needs an optional dependency that is not installed."""

    def __init__(self, *, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed; install it with: pip install 'r2jwt[{extra}]'"
        )
        self.module = module
        self.extra = extra


class ClaimsError(R2JWTError):
    """Raised when a claim or the ttl is invalid; ``field`` names it."""

    exit_code = 2

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class KeySetError(R2JWTError):
    """Raised when a keyset document is invalid; ``kid`` and ``field`` say where."""

    def __init__(self, message: str, *, kid: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.kid = kid
        self.field = field


class NoActiveKeyError(R2JWTError):
    """Raised when no key in the keyset is eligible at the signing instant."""


class StaleKeySetError(R2JWTError):
    """Raised when the last good keyset is older than ``max_stale`` and refreshes still fail."""

    def __init__(self, message: str, *, source: str, since: float, last_error: str) -> None:
        super().__init__(message)
        self.source = source
        self.since = since
        self.last_error = last_error


class SourceError(R2JWTError):
    """Raised when a source cannot be read or written.

    ``transient`` is True for failures worth retrying (throttling, 5xx, timeouts, a sealed
    Vault); the key cache then keeps serving the last good keyset and backs off.
    """

    def __init__(self, message: str, *, source: str, transient: bool = False) -> None:
        super().__init__(message)
        self.source = source
        self.transient = transient


class SourceNotFoundError(SourceError):
    """Raised when the document a source points at does not exist."""


class WriteConflictError(SourceError):
    """Raised when the document changed between the read and the write; nothing was written."""


def shown(value: object) -> str:
    """How a message quotes a bad input: short values as they are, long ones by length only,
    in case a secret was pasted into the wrong argument."""
    text = repr(value)
    return text if len(text) <= 24 else f"(a {len(str(value))}-character value)"
