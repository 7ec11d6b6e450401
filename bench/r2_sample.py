"""R2's published Python sample, as a user would paste it into their code.

Source: R2's API documentation, "JWT Token Generation" (captured in the project's shared
reference folder). The statements are R2's; the capture lost the docstring's quotes, so the
docstring is omitted here, and the ``__main__`` block is left out. The benchmark times it exactly
as written: a datetime per call, then ``jwt.encode``.
"""

# ruff: noqa: I001, UP017, RET504 - kept as R2 wrote it

from datetime import datetime, timezone, timedelta
import os

import jwt  # pip install pyjwt


def generate_jwt_token(
    merchant_id: int | None, country: str | None, expiration_seconds: int = 600
) -> str:
    secret = os.environ.get("JWT_SECRET")  # Provided by R2
    kid = os.environ.get("JWT_KID")  # Provided by R2

    now = datetime.now(timezone.utc)
    expiration = now + timedelta(seconds=expiration_seconds)

    payload = {"exp": expiration}

    if merchant_id is not None:
        payload["mid"] = merchant_id

    if country is not None:
        payload["country"] = country

    token = jwt.encode(payload, secret, algorithm="HS256", headers={"kid": kid})
    return token
