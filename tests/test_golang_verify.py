"""r2jwt tokens verify with golang-jwt, the library R2's own Go sample uses.

Needs a Go toolchain and golang-jwt in GOPATH mode (Debian: ``apt-get install golang-go
golang-github-golang-jwt-jwt-dev``); skipped otherwise. CI machines have no Go, so there this test
is skipped and tests/test_jws.py (byte-identical to PyJWT) is what guards the wire format.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from r2jwt import Signer
from r2jwt.testing import FakeClock, MemorySource

from conftest import CANARY, CANARY_2

GOPATHS = [p for p in (os.environ.get("GOPATH"), "/usr/share/gocode") if p]
GO = shutil.which("go")
HAVE_GOLANG_JWT = any((Path(p) / "src/github.com/golang-jwt/jwt").is_dir() for p in GOPATHS)

pytestmark = pytest.mark.skipif(
    GO is None or not HAVE_GOLANG_JWT,
    reason="no Go toolchain with golang-jwt (apt-get install golang-go "
    "golang-github-golang-jwt-jwt-dev); CI has none",
)

# Reads "kid<TAB>secret<TAB>token" lines on stdin; prints the verified claims as JSON, or
# "error: ..." per line. Only HS256 is accepted, and the header's kid must be the expected one.
VERIFIER = """\
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/golang-jwt/jwt"
)

func main() {
	parser := jwt.Parser{ValidMethods: []string{"HS256"}, UseJSONNumber: true}
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.SplitN(scanner.Text(), "\\t", 3)
		kid, secret, raw := fields[0], fields[1], fields[2]
		token, err := parser.Parse(raw, func(t *jwt.Token) (interface{}, error) {
			if t.Header["kid"] != kid {
				return nil, fmt.Errorf("kid %v, expected %s", t.Header["kid"], kid)
			}
			return []byte(secret), nil
		})
		if err != nil || !token.Valid {
			fmt.Println("error:", err)
			continue
		}
		out, _ := json.Marshal(token.Claims)
		fmt.Println(string(out))
	}
}
"""


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert GO is not None
    work = tmp_path_factory.mktemp("golang")
    (work / "verify.go").write_text(VERIFIER)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": os.pathsep.join(GOPATHS),
        "GOFLAGS": "",
    }
    if "HOME" not in env and "GOCACHE" not in env:
        env["GOCACHE"] = str(work / "cache")
    binary = work / "verify"
    subprocess.run(
        [GO, "build", "-o", str(binary), str(work / "verify.go")],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return binary


def go_verify(binary: Path, cases: list[tuple[str, str, str]]) -> list[Any]:
    lines = "".join(f"{kid}\t{secret}\t{token}\n" for kid, secret, token in cases)
    proc = subprocess.run(
        [str(binary)], input=lines, capture_output=True, text=True, check=True, timeout=60
    )
    return [
        line if line.startswith("error:") else json.loads(line) for line in proc.stdout.splitlines()
    ]


def test_signer_tokens_verify_with_golang_jwt(verifier: Path) -> None:
    clock = FakeClock(wall=time.time())  # exp must lie ahead: golang-jwt checks it
    signer = Signer(MemorySource(json.dumps({"kid": "r2-2026-11", "secret": CANARY})), clock=clock)
    exp = int(clock.time()) + 600
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({}, {"exp": exp}),
        ({"mid": "123456", "country": "mx"}, {"exp": exp, "mid": "123456", "country": "MX"}),
        ({"mid": 42, "ttl": 60}, {"exp": exp - 540, "mid": "42"}),
        ({"mid": "Mérchant ü 商户"}, {"exp": exp, "mid": "Mérchant ü 商户"}),
        (
            {"extra": {"scope": "read", "n": [1, 2.5, None], "nested": {"ok": True}}},
            {"exp": exp, "scope": "read", "n": [1, 2.5, None], "nested": {"ok": True}},
        ),
    ]
    tokens = [signer.token(**kwargs) for kwargs, _ in calls]
    tokens += [signer.mint(**kwargs) for kwargs, _ in calls]
    results = go_verify(verifier, [("r2-2026-11", CANARY, t) for t in tokens])
    assert results == [claims for _, claims in calls] * 2


def test_golang_jwt_rejects_a_wrong_secret_or_kid(verifier: Path) -> None:
    clock = FakeClock(wall=time.time())
    signer = Signer(MemorySource(json.dumps({"kid": "k1", "secret": CANARY})), clock=clock)
    token = signer.token(mid="1")
    results = go_verify(verifier, [("k1", CANARY_2, token), ("k2", CANARY, token)])
    assert all(isinstance(r, str) and r.startswith("error:") for r in results)


def test_unicode_kid_verifies(verifier: Path) -> None:
    clock = FakeClock(wall=time.time())
    kid = "r2-ключ-2026"
    signer = Signer(MemorySource(json.dumps({"kid": kid, "secret": CANARY})), clock=clock)
    assert go_verify(verifier, [(kid, CANARY, signer.mint(country="co"))]) == [
        {"exp": int(clock.time()) + 600, "country": "CO"}
    ]
