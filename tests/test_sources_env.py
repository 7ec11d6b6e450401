"""env:// (r2jwt.sources.env)."""

from __future__ import annotations

import json

import pytest

from r2jwt import KeySet, SourceNotFoundError, SourceURLError, open_source
from r2jwt.sources.env import EnvSource

from conftest import CANARY, CANARY_2, keyset_doc, leaked


def test_reads_r2s_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JWT_KID", "k1")
    clean_env.setenv("JWT_SECRET", CANARY)
    keyset = KeySet.parse(open_source("env://").read().data)
    assert keyset.require("k1").secret.reveal() == CANARY


def test_keyset_document_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JWT_KID", "k1")
    clean_env.setenv("JWT_SECRET", CANARY)
    clean_env.setenv("R2JWT_KEYS", keyset_doc({"kid": "doc", "secret": CANARY_2}))
    assert [k.kid for k in KeySet.parse(open_source("env://").read().data)] == ["doc"]


def test_prefix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAY_JWT_KID", "pay")
    clean_env.setenv("PAY_JWT_SECRET", CANARY)
    source = open_source("env://?prefix=PAY_")
    assert source.name == "env://?prefix=PAY_"
    assert KeySet.parse(source.read().data).require("pay")


@pytest.mark.parametrize(
    ("present", "missing"),
    [({"JWT_KID": "k"}, "JWT_SECRET"), ({"JWT_SECRET": CANARY}, "JWT_KID"), ({}, "JWT_KID")],
)
def test_missing_variable_is_named(
    clean_env: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    for name, value in present.items():
        clean_env.setenv(name, value)
    with pytest.raises(SourceNotFoundError) as info:
        open_source("env://").read()
    assert missing in str(info.value)
    assert not leaked(str(info.value))


def test_version_changes_with_the_values() -> None:
    env = {"JWT_KID": "k", "JWT_SECRET": CANARY}
    source = EnvSource(environ=env)
    first = source.read()
    assert source.read().version == first.version
    env["JWT_SECRET"] = CANARY_2
    assert source.read().version != first.version
    assert json.loads(source.read().data)["secret"] == CANARY_2


@pytest.mark.parametrize("url", ["env://something", "env://?prefix=a-b", "env://?color=red"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(SourceURLError):
        open_source(url)


def test_read_only() -> None:
    from r2jwt import ConfigurationError

    source = EnvSource(environ={})
    assert not source.writable
    with pytest.raises(ConfigurationError, match="read-only"):
        source.write(b"{}", expected_version=None)
