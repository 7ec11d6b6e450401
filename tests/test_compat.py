"""generate_jwt_token, R2's sample signature (r2jwt.compat)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from r2jwt import ClaimsError, ConfigurationError, generate_jwt_token

from conftest import CANARY, CANARY_2, leaked


def r2_sample(merchant_id: object, country: object, expiration_seconds: int = 600) -> str:
    """R2's published Python sample, as a user would paste it (reference/ in shared)."""
    import os

    secret = os.environ.get("JWT_SECRET")
    kid = os.environ.get("JWT_KID")
    now = datetime.now(UTC)
    payload: dict[str, object] = {"exp": now + timedelta(seconds=expiration_seconds)}
    if merchant_id is not None:
        payload["mid"] = merchant_id
    if country is not None:
        payload["country"] = country
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": kid})


@pytest.fixture
def r2_env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setenv("JWT_KID", "kid-from-r2")
    clean_env.setenv("JWT_SECRET", CANARY)
    return clean_env


def test_same_token_as_r2s_sample(r2_env: pytest.MonkeyPatch) -> None:
    for _ in range(3):  # retry if a second boundary falls between the two calls
        ours = generate_jwt_token(merchant_id="123456", country="CO")
        theirs = r2_sample("123456", "CO")
        if ours == theirs:
            break
    assert ours == theirs
    claims = jwt.decode(ours, CANARY, algorithms=["HS256"])
    assert claims["mid"] == "123456" and claims["country"] == "CO"
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "kid": "kid-from-r2", "typ": "JWT"}


def test_defaults_and_expiry(r2_env: pytest.MonkeyPatch) -> None:
    before = int(datetime.now(UTC).timestamp())
    claims = jwt.decode(generate_jwt_token(), CANARY, algorithms=["HS256"])
    assert set(claims) == {"exp"}
    assert before + 600 <= claims["exp"] <= before + 601
    claims = jwt.decode(generate_jwt_token(expiration_seconds=60), CANARY, algorithms=["HS256"])
    assert claims["exp"] <= before + 61


def test_int_merchant_is_a_string(r2_env: pytest.MonkeyPatch) -> None:
    assert jwt.decode(generate_jwt_token(123456), CANARY, algorithms=["HS256"])["mid"] == "123456"


def test_environment_changes_take_effect_at_once(r2_env: pytest.MonkeyPatch) -> None:
    generate_jwt_token()
    r2_env.setenv("JWT_SECRET", CANARY_2)
    r2_env.setenv("JWT_KID", "rotated")
    token = generate_jwt_token()
    assert jwt.get_unverified_header(token)["kid"] == "rotated"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jwt.decode(token, CANARY_2, algorithms=["HS256"])


@pytest.mark.parametrize("missing", ["JWT_KID", "JWT_SECRET"])
def test_missing_variable(r2_env: pytest.MonkeyPatch, missing: str) -> None:
    r2_env.delenv(missing)
    with pytest.raises(ConfigurationError, match=missing) as info:
        generate_jwt_token()
    assert not leaked(str(info.value))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"expiration_seconds": 0}, "ttl"),
        ({"merchant_id": 1.5}, "mid"),
    ],
)
def test_checks(r2_env: pytest.MonkeyPatch, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ClaimsError) as info:
        generate_jwt_token(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
