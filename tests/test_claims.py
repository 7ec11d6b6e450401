"""Claim rules (r2jwt.claims)."""

from __future__ import annotations

import pytest

from r2jwt.claims import COUNTRY_CODES, check_country, check_extra, check_mid, check_ttl
from r2jwt.errors import ClaimsError


def test_the_table_holds_every_assigned_code() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"MX", "CO", "US", "GB", "SS", "BQ", "CW", "SX", "AX"} <= COUNTRY_CODES
    # Reserved or withdrawn codes are not assigned.
    assert not {"UK", "EU", "XK", "AN", "YU", "CS", "EL"} & COUNTRY_CODES


@pytest.mark.parametrize(("given", "sent"), [("MX", "MX"), ("mx", "MX"), ("Co", "CO")])
def test_country_is_upper_cased(given: str, sent: str) -> None:
    assert check_country(given) == sent


@pytest.mark.parametrize("given", [None, ""])
def test_empty_country_omits_the_claim(given: str | None) -> None:
    assert check_country(given) is None


@pytest.mark.parametrize("given", ["ZZ", "MEX", "M", "UK", 52, "M X"])
def test_bad_country_names_the_field(given: object) -> None:
    with pytest.raises(ClaimsError) as info:
        check_country(given)
    assert info.value.field == "country"
    assert info.value.exit_code == 2


def test_uk_hints_at_gb() -> None:
    with pytest.raises(ClaimsError, match="GB"):
        check_country("uk")


@pytest.mark.parametrize(("given", "sent"), [("123456", "123456"), (123456, "123456"), (0, "0")])
def test_mid_is_a_string(given: object, sent: str) -> None:
    assert check_mid(given) == sent


@pytest.mark.parametrize("given", [None, ""])
def test_empty_mid_omits_the_claim(given: object) -> None:
    assert check_mid(given) is None


@pytest.mark.parametrize("given", [True, 1.5, b"12", ["1"], " 12", "12\n", "a\x00b"])
def test_bad_mid(given: object) -> None:
    with pytest.raises(ClaimsError) as info:
        check_mid(given)
    assert info.value.field == "mid"


@pytest.mark.parametrize("given", [1, 600, 86_400])
def test_ttl_in_range(given: int) -> None:
    assert check_ttl(given) == given


@pytest.mark.parametrize("given", [0, -1, 86_401, 600.0, "600", True, None])
def test_bad_ttl(given: object) -> None:
    with pytest.raises(ClaimsError) as info:
        check_ttl(given)
    assert info.value.field == "ttl"


def test_extra_claims_are_kept_in_order() -> None:
    assert check_extra({"scope": "read", "n": [1, {"a": None}]}) == {
        "scope": "read",
        "n": [1, {"a": None}],
    }
    assert check_extra(None) is None
    assert check_extra({}) is None


@pytest.mark.parametrize("name", ["exp", "mid", "country"])
def test_extra_claims_never_override(name: str) -> None:
    with pytest.raises(ClaimsError) as info:
        check_extra({name: "x"})
    assert info.value.field == name


@pytest.mark.parametrize(
    "extra", [{"n": float("nan")}, {"s": {1, 2}}, {"o": object()}, {"": 1}, {"d": {1: 2}}]
)
def test_extra_claims_must_be_json(extra: dict[str, object]) -> None:
    with pytest.raises(ClaimsError):
        check_extra(extra)
