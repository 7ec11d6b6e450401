"""HS256 compact serialization (RFC 7515), pure and without I/O.

The output is byte-identical to ``jwt.encode(claims, secret, algorithm="HS256",
headers={"kid": kid})`` for the claims r2jwt builds: the header PyJWT writes is
``{"alg":"HS256","kid":…,"typ":"JWT"}`` (sorted, compact) and the payload is compact JSON in
insertion order. Everything that depends only on the key is computed once per key: the header
segment, and the HMAC-SHA256 state after the key's inner and outer pad blocks (RFC 2104 §4, as
the standard library's pure-Python ``hmac.HMAC`` does). A signature then costs two SHA-256 state
copies and the hashing of the message itself, instead of the key set-up (two pad blocks, and
OpenSSL's per-call context) that ``hmac.digest`` redoes on every call: about half the time, the
same bytes, and no GIL release per call (which made threads convoy on ``hmac.digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

__all__ = ["HS256Key", "b64url_decode", "b64url_encode", "decode_unverified"]

_urlsafe_b64encode = base64.urlsafe_b64encode
# base64url by hand: binascii's standard alphabet, then "+/" -> "-_" (what base64.urlsafe_b64encode
# does, without its two Python-level calls on the signing path).
_b2a_base64 = binascii.b2a_base64
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_SHA256_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


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
    """A kid and its secret, ready to sign: the header segment and the keyed HMAC states are
    precomputed.

    ``__slots__`` and no ``__repr__`` of the secret: an instance shows only its kid.
    """

    __slots__ = ("_inner", "_outer", "_prefix", "kid")

    def __init__(self, kid: str, secret: bytes) -> None:
        self.kid = kid
        header = '{"alg":"HS256","kid":' + _json_string(kid) + ',"typ":"JWT"}'
        self._prefix = b64url_encode(header.encode("utf-8")) + b"."
        # HMAC's key schedule (RFC 2104): a key longer than a block is hashed first, then
        # zero-padded to a block; the inner and outer hashes start from key XOR ipad / opad.
        if len(secret) > _SHA256_BLOCK:
            secret = hashlib.sha256(secret).digest()
        block = secret.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

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
        # Payload: the same bytes json.dumps(claims, separators=(",", ":")) would write. One
        # f-string per shape builds it in a single allocation.
        if mid is None:
            tail = "" if country is None else f',"country":{_json_string(country)}'
        elif country is None:
            tail = f',"mid":{_json_string(mid)}'
        else:
            tail = f',"mid":{_json_string(mid)},"country":{_json_string(country)}'
        if extra:
            tail += "".join(f",{_json_string(k)}:{_compact(v)}" for k, v in extra.items())
        payload = f'{{"exp":{exp}{tail}}}'.encode()

        # Signing input: header segment (precomputed) "." payload segment, unpadded.
        signing_input = self._prefix + _b2a_base64(payload, newline=False).translate(
            _URLSAFE
        ).rstrip(b"=")

        # HMAC-SHA256 from the precomputed keyed states.
        inner = self._inner.copy()
        inner.update(signing_input)
        outer = self._outer.copy()
        outer.update(inner.digest())
        # 32 bytes encode to 43 characters and one "=" of padding: slice it off.
        signature = _b2a_base64(outer.digest(), newline=False).translate(_URLSAFE)[:43]
        return (signing_input + b"." + signature).decode("ascii")


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
