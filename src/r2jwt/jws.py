"""HS256 compact serialization (RFC 7515), pure and without I/O.

The output is byte-identical to ``jwt.encode(claims, secret, algorithm="HS256",
headers={"kid": kid})`` for the claims r2jwt builds: the header PyJWT writes is
``{"alg":"HS256","kid":…,"typ":"JWT"}`` (sorted, compact) and the payload is compact JSON in
insertion order. Everything that depends only on the key (the header segment, the secret bytes)
is computed once per key, so a signature costs one ``hmac.digest`` and two base64 encodings.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

__all__ = ["HS256Key", "b64url_decode", "b64url_encode", "decode_unverified"]

_urlsafe_b64encode = base64.urlsafe_b64encode
_hmac_digest = hmac.digest


def b64url_encode(data: bytes) -> bytes:
    """Base64url without padding."""
    return _urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(data: str | bytes) -> bytes:
    """Decode base64url with or without padding; ValueError on bad input."""
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class HS256Key:
    """A kid and its secret, ready to sign: the header segment is precomputed.

    ``__slots__`` and no ``__repr__`` of the secret: an instance shows only its kid.
    """

    __slots__ = ("_prefix", "_secret", "kid")

    def __init__(self, kid: str, secret: bytes) -> None:
        self.kid = kid
        self._secret = secret
        header = '{"alg":"HS256","kid":' + _json_string(kid) + ',"typ":"JWT"}'
        self._prefix = b64url_encode(header.encode("utf-8")) + b"."

    def __repr__(self) -> str:
        return f"HS256Key(kid={self.kid!r})"

    def sign(
        self,
        exp: int,
        mid: str | None = None,
        country: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign the claims ``exp``, ``mid``, ``country`` and ``extra``, in that order.

        The arguments must already be checked (see :mod:`r2jwt.claims`); this is the hot path.
        """
        # Payload: the same bytes json.dumps(claims, separators=(",", ":")) would write.
        payload = '{"exp":' + str(exp)
        if mid is not None:
            payload += ',"mid":' + _json_string(mid)
        if country is not None:
            payload += ',"country":' + _json_string(country)
        if extra:
            for name, value in extra.items():
                payload += "," + _json_string(name) + ":" + _compact(value)
        payload += "}"

        # Signing input and signature.
        signing_input = self._prefix + _urlsafe_b64encode(payload.encode("utf-8")).rstrip(b"=")
        signature = _hmac_digest(self._secret, signing_input, "sha256")
        return (signing_input + b"." + _urlsafe_b64encode(signature).rstrip(b"=")).decode("ascii")


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a compact JWS into its header and claims without checking the signature.

    Raises ValueError when the token is not three base64url segments of JSON objects.
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three parts separated by '.'")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, RecursionError):
        raise ValueError("the token's header or claims are not base64url-encoded JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("the token's header and claims must be JSON objects")
    return header, claims
