"""Shared fixtures: a fake clock, keyset documents, a canary secret and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from r2jwt.testing import FakeClock

#: A secret that must never appear in any output; tests grep for it (and for its halves).
CANARY = "CANARY-7f3a9c-secret-that-must-never-leak-0001"
CANARY_2 = "CANARY-b81e44-second-secret-never-leaks-0002"

# 2026-06-01T00:00:00Z, an instant the keysets below are written around.
T0 = 1_780_272_000.0


def leaked(text: str, *secrets: str) -> bool:
    """True when any secret, or a long piece of one, appears in ``text``."""
    for secret in secrets or (CANARY, CANARY_2):
        if secret in text or secret[:20] in text or secret[-20:] in text:
            return True
    return False


def keyset_doc(*keys: dict[str, Any], **top: Any) -> str:
    return json.dumps({"keys": list(keys), **top})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=T0)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("JWT_", "R2JWT_", "AWS_", "VAULT_")) or "_JWT_" in name:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch) -> Any:
    """Run ``r2jwt`` in-process: cli("token", "--mid", "1", stdin="...") -> Result."""
    from r2jwt.cli import main

    def run(*argv: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            import io

            clean_env.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors and --version
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_process(*argv: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    """Run ``python -m r2jwt`` in a real subprocess (for tracebacks and start-up behaviour)."""
    proc = subprocess.run(
        [sys.executable, "-m", "r2jwt", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        timeout=60,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def keyfile(tmp_path: Path) -> Any:
    """Write a keyset document to a 0600 file and return its file:// URL."""

    def write(document: str, mode: int = 0o600, name: str = "keys.json") -> str:
        path = tmp_path / name
        path.write_text(document)
        path.chmod(mode)
        return f"file://{path}"

    return write
