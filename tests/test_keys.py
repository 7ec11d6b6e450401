"""Keyset parsing, validation, selection and key states (r2jwt.keys)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from r2jwt.errors import KeySetError
from r2jwt.keys import Key, KeySet, KeyState, Secret, format_time, parse_time

from conftest import CANARY, CANARY_2, T0, keyset_doc, leaked

HOUR = 3600.0


def iso(t: float) -> str:
    return format_time(datetime.fromtimestamp(t, UTC))


def rotation() -> KeySet:
    """old: open start, ends T0+2h; new: starts T0+1h; future: starts T0+10h."""
    return KeySet.parse(
        keyset_doc(
            {"kid": "old", "secret": CANARY, "not_after": iso(T0 + 2 * HOUR)},
            {"kid": "new", "secret": CANARY_2, "not_before": iso(T0 + HOUR)},
            {"kid": "future", "secret": CANARY_2 + "x", "not_before": iso(T0 + 10 * HOUR)},
        )
    )


class TestSecret:
    def test_never_shows_itself(self) -> None:
        secret = Secret(CANARY)
        for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret}"):
            assert not leaked(text)
        key = Key("k", secret)
        assert not leaked(repr(key)) and not leaked(str(key))

    def test_reveal_and_encode(self) -> None:
        assert Secret("é").reveal() == "é"
        assert Secret("é").encode() == b"\xc3\xa9"
        assert len(Secret("é")) == 2

    def test_equality_is_by_value(self) -> None:
        assert Secret("a") == Secret("a")
        assert Secret("a") != Secret("b")
        assert hash(Secret("a")) == hash(Secret("a"))


class TestParse:
    def test_single_key_shorthand(self) -> None:
        keyset = KeySet.parse(json.dumps({"kid": "k1", "secret": CANARY}))
        assert [k.kid for k in keyset] == ["k1"]
        assert keyset.active_at(T0).kid == "k1"

    def test_full_document(self) -> None:
        keyset = rotation()
        assert [k.kid for k in keyset] == ["old", "new", "future"]
        assert keyset.require("new").not_before == datetime.fromtimestamp(T0 + HOUR, UTC)

    def test_accepts_bytes_str_and_mapping(self) -> None:
        doc = {"kid": "k", "secret": CANARY}
        for form in (json.dumps(doc), json.dumps(doc).encode(), doc):
            assert KeySet.parse(form).require("k").secret.reveal() == CANARY

    def test_timestamps_with_offsets_and_fractions(self) -> None:
        moment = parse_time("2026-12-15T01:00:00.123456789+01:00")
        assert moment == datetime(2026, 12, 15, 0, 0, 0, 123456, tzinfo=UTC)
        assert parse_time("2026-12-15t00:00:00z") == datetime(2026, 12, 15, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("document", "field", "kid"),
        [
            ("[]", "document", None),
            ('"keys"', "document", None),
            ("{not json", "document", None),
            ("{}", "keys", None),
            ('{"keys": {}}', "keys", None),
            ('{"keys": []}', "keys", None),
            ('{"keys": ["k"]}', "keys", None),
            ('{"keys": [{"secret": "CANARY"}]}', "kid", None),
            ('{"keys": [{"kid": "", "secret": "CANARY"}]}', "kid", None),
            ('{"keys": [{"kid": 7, "secret": "CANARY"}]}', "kid", None),
            ('{"keys": [{"kid": "a"}]}', "secret", "a"),
            ('{"keys": [{"kid": "a", "secret": ""}]}', "secret", "a"),
            ('{"keys": [{"kid": "a", "secret": 12345}]}', "secret", "a"),
            ('{"kid": "a", "secret": null}', "secret", "a"),
        ],
    )
    def test_invalid_documents_name_the_field(
        self, document: str, field: str, kid: str | None
    ) -> None:
        with pytest.raises(KeySetError) as info:
            KeySet.parse(document.replace("CANARY", CANARY))
        assert info.value.field == field
        assert info.value.kid == kid
        assert field in str(info.value)
        assert not leaked(str(info.value))

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("2026-12-15T00:00:00", "zone"),
            ("2026-12-15", "zone"),
            ("20261215T000000Z", "zone"),
            ("2026-13-15T00:00:00Z", "valid"),
            ("2026-12-15T24:00:00Z", "valid"),
            ("yesterday", "zone"),
        ],
    )
    def test_bad_timestamps(self, value: str, problem: str) -> None:
        doc = keyset_doc({"kid": "a", "secret": CANARY, "not_before": value})
        with pytest.raises(KeySetError) as info:
            KeySet.parse(doc)
        assert (info.value.kid, info.value.field) == ("a", "not_before")
        assert problem in str(info.value)

    def test_timestamp_must_be_a_string(self) -> None:
        with pytest.raises(KeySetError) as info:
            KeySet.parse(keyset_doc({"kid": "a", "secret": CANARY, "not_after": 1780000000}))
        assert info.value.field == "not_after"

    def test_not_after_must_follow_not_before(self) -> None:
        doc = keyset_doc(
            {"kid": "a", "secret": CANARY, "not_before": iso(T0), "not_after": iso(T0)}
        )
        with pytest.raises(KeySetError) as info:
            KeySet.parse(doc)
        assert (info.value.kid, info.value.field) == ("a", "not_after")

    def test_disabled_must_be_boolean(self) -> None:
        with pytest.raises(KeySetError) as info:
            KeySet.parse(keyset_doc({"kid": "a", "secret": CANARY, "disabled": "yes"}))
        assert info.value.field == "disabled"

    def test_duplicate_kid(self) -> None:
        doc = keyset_doc(
            {"kid": "a", "secret": CANARY, "not_before": iso(T0)},
            {"kid": "a", "secret": CANARY_2, "not_before": iso(T0 + 1)},
        )
        with pytest.raises(KeySetError) as info:
            KeySet.parse(doc)
        assert (info.value.kid, info.value.field) == ("a", "kid")
        assert not leaked(str(info.value))

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            (None, None),
            ("2026-12-15T00:00:00Z", "2026-12-15T00:00:00Z"),
            ("2026-12-15T00:00:00Z", "2026-12-15T01:00:00+01:00"),  # same instant
        ],
    )
    def test_same_not_before_is_ambiguous_and_names_both(
        self, first: str | None, second: str | None
    ) -> None:
        doc = keyset_doc(
            {"kid": "blue", "secret": CANARY, "not_before": first},
            {"kid": "green", "secret": CANARY_2, "not_before": second},
        )
        with pytest.raises(KeySetError) as info:
            KeySet.parse(doc)
        assert "blue" in str(info.value) and "green" in str(info.value)
        assert info.value.field == "not_before"
        assert not leaked(str(info.value))


class TestRoundTrip:
    def test_unknown_fields_survive_a_rewrite(self) -> None:
        doc = {
            "version_note": {"by": "ops"},
            "keys": [
                {
                    "kid": "a",
                    "secret": CANARY,
                    "issued_by": "R2",
                    "not_before": "2026-01-01T00:00:00Z",
                }
            ],
        }
        keyset = KeySet.parse(json.dumps(doc)).with_key(Key("b", Secret(CANARY_2)))
        rewritten = json.loads(keyset.to_document())
        assert rewritten["version_note"] == {"by": "ops"}
        assert rewritten["keys"][0] == doc["keys"][0]
        assert rewritten["keys"][1] == {"kid": "b", "secret": CANARY_2}

    def test_shorthand_is_written_in_keys_form(self) -> None:
        keyset = KeySet.parse(json.dumps({"kid": "a", "secret": CANARY, "note": 1}))
        assert json.loads(keyset.to_document()) == {
            "keys": [{"kid": "a", "secret": CANARY, "note": 1}]
        }

    def test_offsets_are_kept_as_instants(self) -> None:
        doc = keyset_doc({"kid": "a", "secret": CANARY, "not_after": "2026-12-15T01:30:00+01:30"})
        again = KeySet.parse(KeySet.parse(doc).to_document())
        assert again.require("a").ends == KeySet.parse(doc).require("a").ends


class TestSelection:
    @pytest.mark.parametrize(
        ("t", "active"),
        [
            (T0, "old"),
            (T0 + HOUR - 0.001, "old"),
            (T0 + HOUR, "new"),  # the new key's not_before: switch at that instant
            (T0 + 5 * HOUR, "new"),
            (T0 + 10 * HOUR, "future"),
        ],
    )
    def test_active_is_the_latest_not_before(self, t: float, active: str) -> None:
        assert rotation().active_at(t).kid == active

    def test_states(self) -> None:
        keyset = rotation()
        at = {kid: keyset.state_of(kid, T0 + 1.5 * HOUR) for kid in ("old", "new", "future")}
        assert at == {
            "old": KeyState.STANDBY,
            "new": KeyState.ACTIVE,
            "future": KeyState.SCHEDULED,
        }
        assert keyset.state_of("old", T0 + 2 * HOUR) == KeyState.EXPIRED
        assert keyset.state_of("old", T0) == KeyState.ACTIVE

    def test_disabled_key_is_never_selected(self) -> None:
        keyset = KeySet.parse(
            keyset_doc(
                {"kid": "old", "secret": CANARY},
                {"kid": "new", "secret": CANARY_2, "not_before": iso(T0 - HOUR), "disabled": True},
            )
        )
        assert keyset.active_at(T0).kid == "old"
        assert keyset.state_of("new", T0) == KeyState.DISABLED

    def test_no_eligible_key(self) -> None:
        keyset = KeySet.parse(keyset_doc({"kid": "a", "secret": CANARY, "not_after": iso(T0)}))
        assert keyset.active_at(T0) is None
        assert keyset.state_of("a", T0) == KeyState.EXPIRED

    def test_next_change(self) -> None:
        keyset = rotation()
        assert keyset.next_change_after(T0) == T0 + HOUR
        assert keyset.next_change_after(T0 + HOUR) == T0 + 2 * HOUR
        assert keyset.next_change_after(T0 + 2 * HOUR) == T0 + 10 * HOUR
        assert keyset.next_change_after(T0 + 10 * HOUR) is None

    def test_unknown_kid(self) -> None:
        with pytest.raises(KeySetError) as info:
            rotation().state_of("nope", T0)
        assert info.value.kid == "nope"
        assert "old" in str(info.value)


class TestEditing:
    def test_with_key_refuses_duplicate(self) -> None:
        with pytest.raises(KeySetError):
            rotation().with_key(Key("new", Secret("x"), parse_time("2030-01-01T00:00:00Z")))

    def test_replace_and_without(self) -> None:
        keyset = rotation().replace_key("new", disabled=True).without("old")
        assert [k.kid for k in keyset] == ["new", "future"]
        assert keyset.require("new").disabled

    def test_an_edit_that_breaks_the_rules_is_refused(self) -> None:
        with pytest.raises(KeySetError):
            rotation().replace_key("new", not_after=parse_time(iso(T0)))


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_parser_never_raises_anything_else(data: bytes | str) -> None:
    try:
        KeySet.parse(data)
    except KeySetError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
key_objects = st.fixed_dictionaries(
    {},
    optional={
        "kid": st.sampled_from(["a", "b", ""]) | json_values,
        "secret": st.just(CANARY) | json_values,
        "not_before": st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", None]) | json_values,
        "not_after": st.sampled_from(["2025-01-01T00:00:00Z", "2027-01-01T00:00:00+02:00"]),
        "disabled": st.booleans() | json_values,
    },
)


@given(st.lists(key_objects, max_size=4) | json_values)
def test_structured_fuzz_yields_keyset_or_keyset_error_without_the_secret(keys: object) -> None:
    document = {"keys": keys} if isinstance(keys, list) else keys
    try:
        keyset = KeySet.parse(json.dumps(document))
    except KeySetError as exc:
        assert not leaked(str(exc), CANARY)
    else:
        assert not leaked(repr(keyset), CANARY)
