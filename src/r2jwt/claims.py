"""The claims R2 reads: ``exp`` always, ``mid`` and ``country`` when given, extras on request.

Each ``check_*`` function converts one friendly input to the one type the encoder takes, or
raises :class:`~r2jwt.errors.ClaimsError` naming the field. They run once per distinct input:
the signer caches their results with the token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from r2jwt.errors import ClaimsError, shown

__all__ = [
    "COUNTRY_CODES",
    "DEFAULT_TTL",
    "MAX_TTL",
    "RESERVED_CLAIMS",
    "check_claims",
    "check_country",
    "check_extra",
    "check_mid",
    "check_ttl",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DEFAULT_TTL = 600
MAX_TTL = 86_400
RESERVED_CLAIMS = frozenset({"exp", "mid", "country"})

#: The 249 officially assigned ISO 3166-1 alpha-2 codes (ISO 3166 Maintenance Agency).
COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ  EC EE EG EH ER ES ET  FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY  HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT  JE JM JO JP  KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ  OM  PA PE PF PG PH PK PL PM PN PR PS PT PW PY  QA
    RE RO RS RU RW  SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ  UA UG UM US UY UZ  VA VC VE VG VI VN VU
    WF WS  YE YT  ZA ZM ZW
    """.split()  # noqa: SIM905 - a table is easier to check against ISO's than a list
)

# Codes people reach for that ISO reserves but does not assign, with the assigned one.
_HINTS = {"UK": "GB", "EL": "GR", "EU": "a member state's code", "XK": "RS"}


def check_claims(mid: object, country: object, ttl: object) -> tuple[str | None, str | None, int]:
    """``mid``, ``country`` and ``ttl`` checked together, as the signing paths need them.

    The common valid inputs (an alphanumeric mid, an upper-case assigned code, an int ttl in
    range) pass without a further call; anything else gets the full check and its error.
    """
    if not (mid is None or (type(mid) is str and mid.isalnum())):
        mid = check_mid(mid)
    if not (country is None or (type(country) is str and country in COUNTRY_CODES)):
        country = check_country(country)
    if not (type(ttl) is int and 0 < ttl <= MAX_TTL):
        ttl = check_ttl(ttl)
    return mid, country, ttl


def check_ttl(ttl: object) -> int:
    """A token lifetime in whole seconds, 1..86400."""
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise ClaimsError("ttl must be a whole number of seconds", field="ttl")
    if not 1 <= ttl <= MAX_TTL:
        raise ClaimsError(f"ttl must be between 1 and {MAX_TTL} seconds, got {ttl}", field="ttl")
    return ttl


def check_mid(mid: object) -> str | None:
    """The merchant id as a string; None (omit the claim) for None or ""."""
    if mid is None or mid == "":
        return None
    if isinstance(mid, str):
        if mid.strip() != mid or _CONTROL.search(mid):
            raise ClaimsError(
                "mid must not have surrounding spaces or control characters", field="mid"
            )
        return mid
    if isinstance(mid, int) and not isinstance(mid, bool):
        return str(mid)
    raise ClaimsError(f"mid must be a string or an int, not {type(mid).__name__}", field="mid")


def check_country(country: object) -> str | None:
    """An assigned ISO 3166-1 alpha-2 code, upper-cased; None (omit) for None or ""."""
    if country is None or country == "":
        return None
    if not isinstance(country, str):
        raise ClaimsError(
            f"country must be a string, not {type(country).__name__}", field="country"
        )
    code = country.upper()
    if code in COUNTRY_CODES:
        return code
    hint = f" (did you mean {_HINTS[code]}?)" if code in _HINTS else ""
    raise ClaimsError(
        f"country {shown(country)} is not an assigned ISO 3166-1 alpha-2 code{hint}",
        field="country",
    )


def check_extra(extra: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Extra claims: string names, JSON values, never one of exp / mid / country."""
    if not extra:
        return None
    if not isinstance(extra, Mapping):
        raise ClaimsError("extra claims must be a mapping of name to value", field="extra")
    checked: dict[str, Any] = {}
    for name, value in extra.items():
        if not isinstance(name, str) or not name:
            raise ClaimsError("extra claim names must be non-empty strings", field="extra")
        if name in RESERVED_CLAIMS:
            raise ClaimsError(
                f"extra claim {name!r} would override a claim r2jwt sets; "
                f"pass it as its own argument",
                field=name,
            )
        _check_json_value(value, name)
        checked[name] = value
    return checked


def _check_json_value(value: object, name: str) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ClaimsError(f"extra claim {name!r} must be a finite number", field=name)
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json_value(item, name)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ClaimsError(f"extra claim {name!r} has a non-string key", field=name)
            _check_json_value(item, name)
        return
    raise ClaimsError(
        f"extra claim {name!r} must be a JSON value, not {type(value).__name__}", field=name
    )
