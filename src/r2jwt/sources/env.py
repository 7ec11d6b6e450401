"""``env://``: R2's own variables ``JWT_KID`` and ``JWT_SECRET``, or a keyset in ``R2JWT_KEYS``.

``env://?prefix=PAYMENTS_`` reads ``PAYMENTS_JWT_KID``, ``PAYMENTS_JWT_SECRET`` and
``PAYMENTS_R2JWT_KEYS`` instead, for a process that holds credentials for several R2 clients.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Self

from r2jwt.errors import SourceNotFoundError, SourceURLError
from r2jwt.sources.base import Document, Source, SourceURL

__all__ = ["EnvSource"]


class EnvSource(Source):
    """Read the keyset from environment variables (read-only)."""

    scheme = "env"

    def __init__(self, *, prefix: str = "", environ: Mapping[str, str] | None = None) -> None:
        if prefix and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
            raise SourceURLError(
                f"env:// prefix {prefix!r} must be letters, digits and underscores",
                url=f"env://?prefix={prefix}",
            )
        self.prefix = prefix
        self._environ = os.environ if environ is None else environ
        self.name = f"env://?prefix={prefix}" if prefix else "env://"

    @classmethod
    def from_url(cls, url: SourceURL) -> Self:
        options = url.options("prefix")
        if url.target:
            raise SourceURLError(
                f"source {url.display!r}: env:// takes no path, only ?prefix=", url=url.display
            )
        return cls(prefix=options.get("prefix", ""))

    def read(self) -> Document:
        keys_var = f"{self.prefix}R2JWT_KEYS"
        document = self._environ.get(keys_var)
        if document:
            data = document.encode("utf-8")
        else:
            kid_var, secret_var = f"{self.prefix}JWT_KID", f"{self.prefix}JWT_SECRET"
            kid, secret = self._environ.get(kid_var), self._environ.get(secret_var)
            missing = [name for name, value in ((kid_var, kid), (secret_var, secret)) if not value]
            if missing:
                raise SourceNotFoundError(
                    f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                    f"export {kid_var} and {secret_var} with the values R2 gave you, "
                    f"or a keyset document in {keys_var}",
                    source=self.name,
                )
            data = json.dumps({"kid": kid, "secret": secret}).encode("utf-8")
        return Document(data, hashlib.sha256(data).hexdigest())
