"""``generate_jwt_token``: R2's published Python sample, as a drop-in.

Same name, arguments and defaults, and it reads the same variables (``JWT_KID``, ``JWT_SECRET``)
on every call, so changing them takes effect at once, as in the sample. The differences are the
ones DESIGN.md asks for: inputs are checked (an int merchant id is sent as its decimal string,
``country`` must be an assigned ISO code, "" omits a claim), a missing variable is an error that
names it, and signing reuses the precomputed header of the kid instead of going through PyJWT.
"""

from __future__ import annotations

import os
import time

from r2jwt.claims import check_claims
from r2jwt.errors import ConfigurationError
from r2jwt.jws import HS256Key

__all__ = ["generate_jwt_token"]

# (kid, secret) -> HS256Key for the pair last seen in the environment.
_last: tuple[str, str, HS256Key] | None = None


def generate_jwt_token(
    merchant_id: int | str | None = None,
    country: str | None = None,
    expiration_seconds: int = 600,
) -> str:
    """A token signed with ``$JWT_SECRET`` under ``$JWT_KID``, valid for ``expiration_seconds``.

    For keys from a secrets manager, with rotation, use :class:`r2jwt.Signer` instead.
    """
    global _last
    kid, secret = os.environ.get("JWT_KID"), os.environ.get("JWT_SECRET")
    if not kid or not secret:
        missing = " and ".join(n for n, v in (("JWT_KID", kid), ("JWT_SECRET", secret)) if not v)
        raise ConfigurationError(
            f"{missing} not set; export JWT_KID and JWT_SECRET with the values R2 gave you"
        )
    cached = _last
    if cached is None or cached[0] != kid or cached[1] != secret:
        cached = _last = (kid, secret, HS256Key(kid, secret.encode("utf-8")))
    mid, country, ttl = check_claims(merchant_id, country, expiration_seconds)
    return cached[2].sign(int(time.time()) + ttl, mid, country)
