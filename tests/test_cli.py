"""The r2jwt command (r2jwt.cli): output, exit codes, key management through file://."""

from __future__ import annotations

import json
import stat
import time
import warnings
from pathlib import Path
from typing import Any

import jwt
import pytest

from r2jwt.jws import HS256Key

from conftest import CANARY, CANARY_2, keyset_doc, leaked, run_process


def decode(token: str, secret: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.decode(token, secret, algorithms=["HS256"])


@pytest.fixture
def r2_env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setenv("JWT_KID", "k1")
    clean_env.setenv("JWT_SECRET", CANARY)
    return clean_env


class TestToken:
    def test_prints_the_token_alone(self, cli: Any, r2_env: pytest.MonkeyPatch) -> None:
        result = cli("token", "--mid", "123456", "--country", "mx", "--ttl", "60")
        assert result.code == 0 and result.err == ""
        token = result.out.strip()
        assert result.out == token + "\n"
        claims = decode(token, CANARY)
        assert (claims["mid"], claims["country"]) == ("123456", "MX")
        assert claims["exp"] <= time.time() + 61

    def test_claims(self, cli: Any, r2_env: pytest.MonkeyPatch) -> None:
        result = cli("token", "--claim", "scope=read", "--claim", "n:=[1,2]", "--claim", 's:="x"')
        assert decode(result.out.strip(), CANARY) | {"exp": 0} == {
            "exp": 0,
            "scope": "read",
            "n": [1, 2],
            "s": "x",
        }

    def test_source_after_the_subcommand(self, cli: Any, keyfile: Any) -> None:
        url = keyfile(json.dumps({"kid": "f", "secret": CANARY_2}))
        for argv in (("--source", url, "token"), ("token", "--source", url)):
            result = cli(*argv)
            assert result.code == 0, result.err
            assert jwt.get_unverified_header(result.out.strip())["kid"] == "f"

    def test_r2jwt_source_variable(
        self, cli: Any, keyfile: Any, clean_env: pytest.MonkeyPatch
    ) -> None:
        clean_env.setenv("R2JWT_SOURCE", keyfile(json.dumps({"kid": "f", "secret": CANARY_2})))
        assert jwt.get_unverified_header(cli("token").out.strip())["kid"] == "f"

    @pytest.mark.parametrize(
        ("argv", "code", "words"),
        [
            (("token", "--country", "ZZ"), 2, "country"),
            (("token", "--ttl", "0"), 2, "ttl"),
            (("token", "--ttl", "ten"), 2, "--ttl"),
            (("token", "--claim", "exp=1"), 2, "exp"),
            (("token", "--claim", "novalue"), 2, "--claim"),
            (("token", "--claim", "x:={bad"), 2, "--claim x"),
            (("--source", "nope://x", "token"), 2, "nope://"),
            (("--source", "file://relative.json", "token"), 2, "absolute"),
            (("token", "--bogus"), 2, "--bogus"),
            ((), 2, "COMMAND"),
        ],
    )
    def test_usage_errors(
        self, cli: Any, r2_env: pytest.MonkeyPatch, argv: tuple[str, ...], code: int, words: str
    ) -> None:
        result = cli(*argv)
        assert result.code == code
        assert result.out == ""
        assert words in result.err
        assert "Traceback" not in result.err and not leaked(result.err)

    def test_missing_secret_is_operational(self, cli: Any, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("JWT_KID", "k1")
        result = cli("token")
        assert (result.code, result.out) == (1, "")
        assert "JWT_SECRET" in result.err


class TestKeys:
    def test_list(self, cli: Any, keyfile: Any) -> None:
        url = keyfile(
            keyset_doc(
                {"kid": "old", "secret": CANARY, "not_after": "2000-01-01T00:00:00Z"},
                {"kid": "cur", "secret": CANARY, "not_before": "2001-01-01T00:00:00Z"},
                {"kid": "next", "secret": CANARY_2, "not_before": "2999-01-01T00:00:00Z"},
                {
                    "kid": "off",
                    "secret": CANARY_2,
                    "not_before": "2002-01-01T00:00:00Z",
                    "disabled": True,
                },
            )
        )
        text = cli("keys", "list", "--source", url)
        assert text.code == 0
        lines = text.out.splitlines()
        assert lines[0].split() == ["KID", "STATE", "NOT_BEFORE", "NOT_AFTER"]
        assert [line.split()[:2] for line in lines[1:]] == [
            ["old", "expired"],
            ["cur", "active"],
            ["next", "scheduled"],
            ["off", "disabled"],
        ]
        rows = json.loads(cli("keys", "list", "--json", "--source", url).out)
        assert rows[0] == {
            "kid": "old",
            "state": "expired",
            "not_before": None,
            "not_after": "2000-01-01T00:00:00Z",
        }
        assert not leaked(text.out + json.dumps(rows))

    def test_add_retire_remove_cycle(self, cli: Any, tmp_path: Path) -> None:
        path = tmp_path / "keys.json"
        url = f"file://{path}"
        added = cli(
            "keys",
            "add",
            "--kid",
            "a",
            "--secret-stdin",
            "--not-before",
            "-1h",
            "--source",
            url,
            stdin=CANARY + "\n",
        )
        assert added.code == 0, added.err
        assert added.out == "" and "added key 'a'" in added.err
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        secret_file = tmp_path / "b.secret"
        secret_file.write_text(CANARY_2)
        assert (
            cli(
                "keys",
                "add",
                "--kid",
                "b",
                "--secret-file",
                str(secret_file),
                "--not-before",
                "+1h",
                "--source",
                url,
            ).code
            == 0
        )
        doc = json.loads(path.read_text())
        assert {k["kid"]: k["secret"] for k in doc["keys"]} == {"a": CANARY, "b": CANARY_2}

        assert "note: signers refresh every 300 s" not in added.err  # nothing to replace yet
        soon = cli(
            "keys",
            "add",
            "--kid",
            "c",
            "--secret-stdin",
            "--not-before",
            "+1m",
            "--source",
            url,
            stdin=CANARY_2,
        )
        assert "schedule it at least one refresh interval ahead" in soon.err
        assert cli("keys", "remove", "--kid", "c", "--source", url).code == 1  # scheduled
        refused = cli("keys", "remove", "--kid", "a", "--source", url)
        assert refused.code == 1 and "active" in refused.err and "retire" in refused.err

        retired = cli("keys", "retire", "--kid", "a", "--at", "-1m", "--source", url)
        assert retired.code == 0
        assert "no key will be active" in retired.err  # b starts in an hour
        assert cli("keys", "remove", "--kid", "a", "--source", url).code == 0
        assert [k["kid"] for k in json.loads(path.read_text())["keys"]] == ["b", "c"]
        assert not leaked(added.err + retired.err + refused.err)

    @pytest.mark.parametrize(
        ("argv", "stdin", "code", "words"),
        [
            (("keys", "add", "--kid", "a", "--secret-stdin"), "", 2, "empty"),
            (("keys", "add", "--kid", "a"), CANARY, 2, "--secret-stdin"),
            (
                ("keys", "add", "--kid", "a", "--secret-stdin", "--secret-file", "x"),
                CANARY,
                2,
                "not allowed",
            ),
            (
                ("keys", "add", "--kid", "a", "--secret-file", "/nonexistent/s"),
                "",
                2,
                "--secret-file",
            ),
            (
                ("keys", "add", "--kid", "a", "--secret-stdin", "--not-before", "tomorrow"),
                CANARY,
                2,
                "--not-before",
            ),
            (
                ("keys", "add", "--kid", "a", "--secret-stdin", "--not-after", "-1h"),
                CANARY,
                2,
                "--not-after",
            ),
            (("keys", "add", "--kid", " ", "--secret-stdin"), CANARY, 2, "--kid"),
            (
                ("keys", "add", "--kid", "k1", "--secret-stdin", "--not-before", "+2h"),
                CANARY_2,
                1,
                "already exists",
            ),
            (
                (
                    "keys",
                    "add",
                    "--kid",
                    "k2",
                    "--secret-stdin",
                    "--not-before",
                    "2026-01-01T00:00:00Z",
                ),
                CANARY_2,
                1,
                "the same not_before",
            ),
            (("keys", "retire", "--kid", "zz"), "", 1, "'zz'"),
            (("keys", "retire", "--kid", "k1", "--at", "1 hour"), "", 2, "--at"),
            (("keys", "remove", "--kid", "k1"), "", 1, "active"),
        ],
    )
    def test_errors(
        self, cli: Any, keyfile: Any, argv: tuple[str, ...], stdin: str, code: int, words: str
    ) -> None:
        url = keyfile(
            keyset_doc({"kid": "k1", "secret": CANARY, "not_before": "2026-01-01T00:00:00Z"})
        )
        before = Path(url.removeprefix("file://")).read_text()
        result = cli(*argv, "--source", url, stdin=stdin)
        assert result.code == code, result.err
        assert words in result.err
        assert "Traceback" not in result.err
        assert not leaked(result.out + result.err)
        assert Path(url.removeprefix("file://")).read_text() == before  # nothing written

    def test_writes_to_a_read_only_source_are_refused(
        self, cli: Any, r2_env: pytest.MonkeyPatch
    ) -> None:
        result = cli("keys", "add", "--kid", "x", "--secret-stdin", "--source", "env://", stdin="s")
        assert result.code == 1 and "read-only" in result.err


class TestCheck:
    @pytest.mark.parametrize(
        ("keys", "code", "words"),
        [
            ([{"kid": "a", "secret": "s" * 32}], 0, "OK: key 'a' is active"),
            ([{"kid": "a", "secret": "s" * 32, "not_after": "+3d"}], 1, "no key is scheduled"),
            ([{"kid": "a", "secret": "s" * 32, "not_after": "+30d"}], 0, "OK"),
            (
                [
                    {"kid": "a", "secret": "s" * 32, "not_after": "+3d"},
                    {"kid": "b", "secret": "t" * 32, "not_before": "+2d"},
                ],
                0,
                "OK: key 'a'",
            ),
            (
                [
                    {"kid": "a", "secret": "s" * 32, "not_after": "+3d"},
                    {"kid": "b", "secret": "t" * 32, "not_before": "+4d"},
                ],
                1,
                "CRITICAL",
            ),
            ([{"kid": "a", "secret": "s" * 32, "not_after": "-1d"}], 1, "no key is active"),
            ([{"kid": "a", "secret": "short"}], 0, "shorter than 32 bytes"),
        ],
    )
    def test_check(
        self, cli: Any, keyfile: Any, keys: list[dict[str, str]], code: int, words: str
    ) -> None:
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC).replace(microsecond=0)
        for key in keys:
            for field in ("not_before", "not_after"):
                if field in key:
                    sign = 1 if key[field][0] == "+" else -1
                    moment = now + sign * timedelta(days=int(key[field][1:-1]))
                    key[field] = moment.isoformat()
        url = keyfile(keyset_doc(*keys))
        result = cli("keys", "check", "--source", url)
        assert result.code == code
        assert words in result.out
        assert len(result.out.splitlines()) == 1
        as_json = json.loads(cli("keys", "check", "--json", "--source", url).out)
        assert as_json["ok"] is (code == 0)

    def test_invalid_keyset_and_missing_source(
        self, cli: Any, keyfile: Any, tmp_path: Path
    ) -> None:
        bad = cli("keys", "check", "--source", keyfile("{}"))
        assert bad.code == 1 and "CRITICAL: cannot load the keyset" in bad.out
        missing = cli("keys", "check", "--source", f"file://{tmp_path}/none.json")
        assert missing.code == 1 and "does not exist" in missing.out

    def test_warn_before_must_be_a_duration(self, cli: Any, r2_env: pytest.MonkeyPatch) -> None:
        result = cli("keys", "check", "--warn-before", "soon")
        assert result.code == 2 and "--warn-before" in result.err


class TestDecode:
    def test_decode_and_verify(self, cli: Any, r2_env: pytest.MonkeyPatch) -> None:
        token = cli("token", "--mid", "7").out.strip()
        shown = json.loads(cli("decode", token).out)
        assert shown["header"]["kid"] == "k1" and shown["claims"]["mid"] == "7"
        assert "verified" not in shown
        verified = json.loads(cli("decode", token, "--verify").out)
        assert verified["verified"] is True
        from_stdin = json.loads(cli("decode", "-", "--verify", stdin=token + "\n").out)
        assert from_stdin["claims"] == shown["claims"]

    def test_forged_and_alg_none_are_rejected(self, cli: Any, r2_env: pytest.MonkeyPatch) -> None:
        forged = HS256Key("k1", b"attacker-secret-0123456789abcdef").sign(int(time.time()) + 60)
        unsigned = jwt.encode(
            {"exp": int(time.time()) + 60}, None, algorithm="none", headers={"kid": "k1"}
        )
        unknown = HS256Key("nope", CANARY.encode()).sign(int(time.time()) + 60)
        expired = HS256Key("k1", CANARY.encode()).sign(int(time.time()) - 60)
        for token, words in (
            (forged, "Signature"),
            (unsigned, "alg 'none'"),
            (unknown, "'nope'"),
            (expired, "expired"),
        ):
            result = cli("decode", token, "--verify")
            assert result.code == 1, words
            assert words in result.err and result.out == ""
            assert not leaked(result.err)

    def test_not_a_token(self, cli: Any) -> None:
        result = cli("decode", "hello")
        assert result.code == 2 and "not a JWT" in result.err


def test_version_and_help(cli: Any) -> None:
    from r2jwt import __version__

    assert cli("--version").out.strip() == f"r2jwt {__version__}"
    helped = cli("--help")
    assert helped.code == 0 and "examples:" in helped.out and "keys add" in helped.out


def test_real_process_has_no_traceback_and_debug_shows_one() -> None:
    env = {"JWT_KID": "k1"}
    plain = run_process("token", env=env)
    assert plain.code == 1 and "JWT_SECRET" in plain.err and "Traceback" not in plain.err
    debug = run_process("--debug", "token", env=env)
    assert debug.code == 1 and "Traceback" in debug.err
