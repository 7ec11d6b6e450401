"""The HS256 encoder (r2jwt.jws) against PyJWT, byte for byte."""

from __future__ import annotations

import hmac
import warnings
from typing import Any

import jwt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from r2jwt.claims import COUNTRY_CODES, check_extra
from r2jwt.jws import HS256Key, b64url_decode, b64url_encode, decode_unverified


def pyjwt_encode(claims: dict[str, Any], secret: str, kid: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})


def pyjwt_decode(token: str, secret: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400)
@given(
    kid=st.text(min_size=1, max_size=40),
    secret=st.text(min_size=1, max_size=80),
    exp=st.integers(min_value=0, max_value=2**40),
    mid=st.none() | st.text(min_size=1, max_size=30),
    country=st.none() | st.sampled_from(sorted(COUNTRY_CODES)),
    extra=st.none() | st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=3),
)
def test_byte_identical_to_pyjwt(
    kid: str, secret: str, exp: int, mid: str | None, country: str | None, extra: Any
) -> None:
    if extra:
        extra = {k: v for k, v in extra.items() if k not in ("exp", "mid", "country")}
        check_extra(extra)
    claims: dict[str, Any] = {"exp": exp}
    if mid is not None:
        claims["mid"] = mid
    if country is not None:
        claims["country"] = country
    claims.update(extra or {})
    try:
        expected = pyjwt_encode(claims, secret, kid)
    except jwt.exceptions.InvalidKeyError:
        assume(False)  # PyJWT refuses secrets that look like PEM / JSON keys; we sign them
    ours = HS256Key(kid, secret.encode("utf-8")).sign(exp, mid, country, extra)
    assert ours == expected
    assert pyjwt_decode(ours, secret) == claims


def test_header_is_exactly_alg_kid_typ() -> None:
    token = HS256Key("r2-2026-11", b"k" * 32).sign(1_800_000_000, "123456", "MX")
    header_segment = token.split(".")[0]
    assert b64url_decode(header_segment) == b'{"alg":"HS256","kid":"r2-2026-11","typ":"JWT"}'
    assert "=" not in token


@pytest.mark.parametrize("length", [0, 1, 31, 32, 63, 64, 65, 128, 300])
def test_signature_is_hmac_sha256_for_every_key_length(length: int) -> None:
    # The keyed HMAC states are precomputed; keys longer than SHA-256's 64-byte block are hashed
    # first (RFC 2104), exactly at the boundary too.
    secret = bytes((7 * i + length) % 256 for i in range(length))
    token = HS256Key("k", secret).sign(1_800_000_000, "m", "MX", {"x": 1})
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.digest(secret, signing_input.encode("ascii"), "sha256")
    assert b64url_decode(signature) == expected


def test_repr_shows_only_the_kid() -> None:
    assert repr(HS256Key("k", b"CANARY-secret")) == "HS256Key(kid='k')"


def test_b64url_round_trip() -> None:
    for data in (b"", b"\xff", b"\xfb\xff", b"abc", bytes(range(256))):
        assert b64url_decode(b64url_encode(data)) == data
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode("a")


@pytest.mark.parametrize(
    "token", ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.bm90anNvbg.x", "W10.e30.x"]
)
def test_decode_unverified_rejects_non_jwts(token: str) -> None:
    with pytest.raises(ValueError, match=r"JWT|JSON|base64url"):
        decode_unverified(token)


def test_decode_unverified() -> None:
    token = HS256Key("k", b"s" * 32).sign(5, "m", None, {"x": [1]})
    header, claims = decode_unverified(token)
    assert header == {"alg": "HS256", "kid": "k", "typ": "JWT"}
    assert claims == {"exp": 5, "mid": "m", "x": [1]}
