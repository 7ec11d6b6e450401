"""No secret in any message, log line, repr or traceback, across the error paths.

Every path here handles a keyset that holds CANARY / CANARY_2, fails, and the test collects all
that a user or a log pipeline could see: stdout, stderr, log records, str / repr of the exception
and its formatted traceback (with --debug too).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from r2jwt import R2JWTError, Signer
from r2jwt.jws import HS256Key
from r2jwt.testing import FakeClock, MemorySource, run_now

from conftest import CANARY, CANARY_2, T0, keyset_doc, leaked

GOOD = keyset_doc(
    {"kid": "k1", "secret": CANARY},
    {"kid": "k2", "secret": CANARY_2, "not_before": "2020-01-01T00:00:00Z"},
)

# Documents that are invalid in every way the parser checks, each holding the canaries.
BAD_DOCUMENTS = [
    CANARY,
    f'{{"kid": "k", "secret": "{CANARY}"',  # truncated JSON
    f'["{CANARY}"]',
    f'{{"keys": [{{"kid": "a", "secret": "{CANARY}", "not_before": "{CANARY}"}}]}}',
    f'{{"keys": [{{"kid": "a", "secret": "{CANARY}", "not_after": "2020-01-01"}}]}}',
    f'{{"keys": [{{"kid": "a", "secret": "{CANARY}", "disabled": "{CANARY}"}}]}}',
    f'{{"keys": [{{"kid": "a", "secret": "{CANARY}"}}, {{"kid": "a", "secret": "{CANARY_2}"}}]}}',
    f'{{"keys": [{{"kid": "a", "secret": "{CANARY}"}}, {{"kid": "b", "secret": "{CANARY_2}"}}]}}',
    f'{{"keys": [{{"kid": "a", "secret": "{CANARY}", "not_before": "2026-01-02T00:00:00Z", '
    f'"not_after": "2026-01-01T00:00:00Z"}}]}}',
    f'{{"keys": [{{"secret": "{CANARY}"}}]}}',
    f'{{"keys": [{{"kid": "", "secret": "{CANARY}"}}]}}',
    f'{{"secrets": "{CANARY}"}}',
]


def exposed(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + str(exc) + repr(exc)


def api_failures(clock: FakeClock) -> list[tuple[str, Callable[[], Any]]]:
    expired = keyset_doc({"kid": "k", "secret": CANARY, "not_after": "2020-01-01T00:00:00Z"})
    stale_source = MemorySource(GOOD)
    stale = Signer(stale_source, clock=clock, spawn=run_now, refresh_interval=10, max_stale=20)
    stale.token()
    stale_source.set(BAD_DOCUMENTS[3])
    clock.advance(30)
    ok = Signer(MemorySource(GOOD), clock=clock, spawn=run_now)
    cases: list[tuple[str, Callable[[], Any]]] = [
        (
            f"bad document {i}",
            lambda doc=doc: Signer(MemorySource(doc), clock=clock, spawn=run_now).token(),
        )
        for i, doc in enumerate(BAD_DOCUMENTS)
    ]
    cases += [
        (
            "no active key",
            lambda: Signer(MemorySource(expired), clock=clock, spawn=run_now).token(),
        ),
        ("stale", stale.token),
        ("bad country", lambda: ok.token(country="??")),
        ("bad ttl", lambda: ok.mint(ttl=-1)),
        ("bad extra", lambda: ok.token(extra={"exp": CANARY})),
        ("stale write", lambda: MemorySource(GOOD).write(b"{}", expected_version="0")),
    ]
    return cases


def test_api_error_paths(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    seen = 0
    with caplog.at_level(logging.DEBUG, logger="r2jwt"):
        for name, call in api_failures(clock):
            with pytest.raises(R2JWTError) as info:
                call()
            assert not leaked(exposed(info.value)), name
            seen += 1
    assert seen == len(BAD_DOCUMENTS) + 6
    assert not leaked(caplog.text)
    assert "serving the last good keyset" in caplog.text  # the stale path logged


def test_objects_never_show_secrets(clock: FakeClock) -> None:
    signer = Signer(MemorySource(GOOD), clock=clock, spawn=run_now)
    keyset = signer.keyset()
    things: list[object] = [
        signer,
        keyset,
        *keyset,
        signer.stats().as_dict(),
        HS256Key("k", CANARY.encode()),
        MemorySource(GOOD),
        MemorySource(GOOD).read(),
    ]
    text = "".join(repr(t) + str(t) for t in things)
    assert not leaked(text)


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, str]:
    def put(name: str, text: str, mode: int = 0o600) -> str:
        path = tmp_path / name
        path.write_text(text)
        path.chmod(mode)
        return f"file://{path}"

    urls = {f"bad{i}": put(f"bad{i}.json", doc) for i, doc in enumerate(BAD_DOCUMENTS)}
    urls["good"] = put("good.json", GOOD)
    urls["shared"] = put("shared.json", GOOD, 0o644)
    urls["expired"] = put(
        "expired.json",
        keyset_doc({"kid": "k", "secret": CANARY, "not_after": "2020-01-01T00:00:00Z"}),
    )
    (tmp_path / "secret.txt").write_text(CANARY_2)
    return urls


def cli_failures(urls: dict[str, str], tmp_path: Path) -> list[tuple[tuple[str, ...], str]]:
    forged = HS256Key("k1", b"forged-secret-0123456789abcdef01").sign(T0 + 10**9)
    cases: list[tuple[tuple[str, ...], str]] = []
    for name, url in urls.items():
        if name.startswith("bad"):
            cases += [
                (("token", "--source", url), ""),
                (("keys", "list", "--source", url), ""),
                (("keys", "check", "--source", url), ""),
                (("keys", "add", "--kid", "n", "--secret-stdin", "--source", url), CANARY_2),
            ]
    good = urls["good"]
    cases += [
        (("token", "--source", urls["shared"]), ""),
        (("token", "--source", urls["expired"]), ""),
        (("keys", "check", "--source", urls["expired"]), ""),
        (("token", "--country", CANARY, "--source", good), ""),
        (("token", "--claim", f"exp={CANARY}", "--source", good), ""),
        (("keys", "add", "--kid", "k1", "--secret-stdin", "--source", good), CANARY_2),
        (
            (
                "keys",
                "add",
                "--kid",
                "k3",
                "--secret-file",
                str(tmp_path / "secret.txt"),
                "--not-before",
                "2020-01-01T00:00:00Z",
                "--source",
                good,
            ),
            "",
        ),
        (
            (
                "keys",
                "add",
                "--kid",
                "k3",
                "--secret-stdin",
                "--not-before",
                CANARY,
                "--source",
                good,
            ),
            CANARY_2,
        ),
        (("keys", "remove", "--kid", "k2", "--source", good), ""),
        (("keys", "retire", "--kid", "k9", "--source", good), ""),
        (("decode", forged, "--verify", "--source", good), ""),
        (("decode", CANARY, "--source", good), ""),
    ]
    return cases


@pytest.mark.parametrize("debug", [False, True])
def test_cli_error_paths(cli: Any, sources: dict[str, str], tmp_path: Path, debug: bool) -> None:
    failures = 0
    for argv, stdin in cli_failures(sources, tmp_path):
        full = ("--debug", *argv) if debug else argv
        try:
            result = cli(*full, stdin=stdin)
        except R2JWTError as exc:  # --debug re-raises instead of printing one line
            assert debug
            assert not leaked(exposed(exc)), argv
            failures += 1
            continue
        assert result.code in (1, 2), (argv, result)
        assert not leaked(result.out + result.err), argv
        failures += 1
    assert failures == len(cli_failures(sources, tmp_path))
    # Nothing above may have changed the good file.
    assert json.loads(Path(sources["good"].removeprefix("file://")).read_text()) == json.loads(GOOD)
