"""The source registry (r2jwt.sources): URLs, built-ins, entry-point plug-ins."""

from __future__ import annotations

import logging
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import r2jwt.sources as registry
from r2jwt import Source, SourceURLError, open_source
from r2jwt.sources.base import SourceURL, redact
from r2jwt.testing import MemorySource

ROOT = Path(__file__).resolve().parent.parent


def test_builtins_are_registered_as_entry_points_too() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        "r2jwt.sources"
    ]
    assert declared == registry.BUILTIN_SOURCES


def test_default_is_env_then_r2jwt_source(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert open_source(None).name == "env://"
    clean_env.setenv("R2JWT_SOURCE", f"file://{tmp_path}/k.json")
    assert open_source(None).name == f"file://{tmp_path}/k.json"


def test_a_source_object_passes_through() -> None:
    source = MemorySource()
    assert open_source(source) is source


def test_wrong_type() -> None:
    with pytest.raises(TypeError, match="URL string or a Source"):
        open_source(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["", "keys.json", "/etc/keys.json", "Env://", "env:/", "nope://x", "env://?a=1&a=2"]
)
def test_bad_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(SourceURLError) as info:
        open_source(url)
    assert info.value.exit_code == 2


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(SourceURLError, match=r"env://, file://"):
        open_source("redis://x")


def test_target_keeps_arns_whole() -> None:
    url = SourceURL.parse(
        "aws-sm://arn:aws:secretsmanager:us-east-1:1:secret:r2/jwt-AbC?region=us-east-1"
    )
    assert url.target == "arn:aws:secretsmanager:us-east-1:1:secret:r2/jwt-AbC"
    assert url.params == {"region": "us-east-1"}


def test_credentials_in_plug_in_urls_are_masked() -> None:
    assert redact("redis://user:CANARY@host/0") == "redis://***@host/0"
    assert redact("file:///a@b.json") == "file:///a@b.json"


class PluginSource(MemorySource):
    scheme = "plug"


def _plugins(monkeypatch: pytest.MonkeyPatch, *eps: EntryPoint) -> None:
    def fake_entry_points(*, group: str, name: str | None = None) -> list[EntryPoint]:
        assert group == "r2jwt.sources"
        return [ep for ep in eps if name is None or ep.name == name]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)


def test_plug_in_by_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    module = type(sys)("fake_plugin")
    module.PluginSource = PluginSource  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_plugin", module)
    _plugins(monkeypatch, EntryPoint("plug", "fake_plugin:PluginSource", "r2jwt.sources"))
    source = open_source("plug://anything")
    assert isinstance(source, PluginSource)
    assert "plug" in registry.available_schemes()


def test_broken_plug_in_is_logged_not_fatal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _plugins(
        monkeypatch,
        EntryPoint("broken", "no_such_module_r2jwt:Thing", "r2jwt.sources"),
        EntryPoint("wrong", "json:dumps", "r2jwt.sources"),
    )
    with (
        caplog.at_level(logging.WARNING, logger="r2jwt"),
        pytest.raises(SourceURLError, match="failed to load"),
    ):
        open_source("broken://x")
    assert "broken" in caplog.text
    with pytest.raises(SourceURLError, match="not an r2jwt Source"):
        open_source("wrong://x")
    assert open_source("env://").name == "env://"  # the built-ins are unaffected


def test_source_base_class_defaults() -> None:
    class ReadOnly(Source):
        scheme = "ro"
        name = "ro://"

        @classmethod
        def from_url(cls, url: SourceURL) -> Any:
            return cls()

        def read(self) -> Any:
            raise NotImplementedError

    assert not ReadOnly().writable
    assert MemorySource().writable
    assert repr(ReadOnly()) == "ReadOnly('ro://')"
