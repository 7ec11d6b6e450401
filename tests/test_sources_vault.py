"""vault:// (r2jwt.sources.vault), over real HTTP through hvac.

Every test runs against our FakeVault (tests/support/vault_server.py), or, when VAULT_ADDR and
VAULT_TOKEN are set as pytest starts, against that real Vault, in mounts made for the run and
removed after it (tests/support/vault_target.py). Tests that need what only the fake offers
(fault injection, server-side request counts, its clock, Kubernetes, namespaces) take the
``fake`` fixture and are skipped on a real Vault.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from r2jwt import (
    ConfigurationError,
    KeySet,
    R2JWTError,
    Signer,
    SourceError,
    SourceNotFoundError,
    SourceURLError,
    WriteConflictError,
    open_source,
)
from r2jwt.keys import Key, Secret
from r2jwt.sources.base import Source
from r2jwt.sources.vault import VaultSource
from r2jwt.testing import FakeClock, SourceContract
from support.vault_server import FakeVault
from support.vault_target import USE_REAL_VAULT, FakeTarget, RealTarget, Target

from conftest import CANARY, CANARY_2, leaked, run_process

REPO = Path(__file__).resolve().parent.parent
ONE_KEY = {"keys": [{"kid": "k1", "secret": CANARY}]}

# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_vault() -> Iterator[RealTarget | None]:
    if not USE_REAL_VAULT:
        yield None
        return
    target = RealTarget()
    yield target
    target.close()


@pytest.fixture
def vault(real_vault: RealTarget | None, clock: FakeClock) -> Iterator[Target]:
    """The Vault under test; a fresh FakeVault per test, whose token clock is ``clock``."""
    if real_vault is not None:
        yield real_vault
        return
    target = FakeTarget(clock=clock.monotonic)
    yield target
    target.close()


@pytest.fixture
def fake(vault: Target) -> FakeVault:
    if vault.fake is None:
        pytest.skip("needs FakeVault: fault injection, request counts, its clock or namespaces")
    return vault.fake


@pytest.fixture
def path() -> str:
    return f"r2/jwt-{secrets.token_hex(3)}"


@pytest.fixture
def venv(clean_env: pytest.MonkeyPatch, vault: Target, tmp_path: Path) -> pytest.MonkeyPatch:
    """The environment r2jwt reads: VAULT_ADDR (and CA) of the Vault under test, no token,
    and a HOME of its own (so no ~/.vault-token of the person running the tests)."""
    for name, value in vault.env.items():
        clean_env.setenv(name, value)
    clean_env.setenv("HOME", str(tmp_path))
    return clean_env


@pytest.fixture
def sources() -> Iterator[list[Source]]:
    """Sources a test opens; closed at the end (an open HTTP session fails the test)."""
    opened: list[Source] = []
    yield opened
    for source in opened:
        source.close()


def url(vault: Target, path: str, query: str = "", *, kv: int = 2) -> str:
    mount = vault.kv2 if kv == 2 else vault.kv1
    return f"vault://{mount}/{path}" + (f"?{query}" if query else "")


def verified(token: str, secret: str = CANARY) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
    return claims


def module_policy(kind: str, mount: str, path: str) -> dict[str, list[str]]:
    """The reader or rotator policy of terraform/modules/vault, for this mount and path."""
    import hcl2

    options = hcl2.SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, preserve_heredocs=False
    )
    with (REPO / "terraform/modules/vault/main.tf").open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle, serialization_options=options)
    (document,) = [
        entry["vault_policy_document"][kind]
        for entry in parsed["data"]
        if kind in entry.get("vault_policy_document", {})
    ]
    paths = {
        "${local.data_path}": f"{mount}/data/{path}",
        "${local.metadata_path}": f"{mount}/metadata/{path}",
    }
    return {paths[rule["path"]]: rule["capabilities"] for rule in document["rule"]}


# -- URL and configuration -------------------------------------------------------------------------


def test_url_options(clean_env: pytest.MonkeyPatch) -> None:
    source = open_source("vault://secret/r2/jwt")
    assert isinstance(source, VaultSource)
    assert (source.mount, source.path, source.kv, source.auth) == ("secret", "r2/jwt", 2, "token")
    assert source.api_path == "secret/data/r2/jwt"
    assert source.addr == "https://127.0.0.1:8200"  # the Vault CLI's default
    nested = open_source("vault://team%2Fkv/r2/jwt?kv=1&auth=approle&auth_mount=team/approle")
    assert isinstance(nested, VaultSource)
    assert (nested.mount, nested.path, nested.kv) == ("team/kv", "r2/jwt", 1)
    assert (nested.auth, nested.auth_mount, nested.api_path) == (
        "approle",
        "team/approle",
        "team/kv/r2/jwt",
    )
    k8s = open_source("vault://secret/r2/jwt?auth=kubernetes&role=payments&version=3")
    assert isinstance(k8s, VaultSource)
    assert (k8s.auth_mount, k8s.role, k8s.version) == ("kubernetes", "payments", 3)
    built = VaultSource("secret", "r2/jwt", auth="approle", environ={})
    assert built.name == "vault://secret/r2/jwt?kv=2&auth=approle"
    assert repr(built) == "VaultSource('vault://secret/r2/jwt?kv=2&auth=approle')"


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("vault://secret", "MOUNT/PATH"),
        ("vault:///r2/jwt", "MOUNT/PATH"),
        ("vault://secret/r2/jwt?kv=3", "kv must be 1 or 2"),
        ("vault://secret/r2/jwt?auth=ldap", "auth 'ldap'"),
        ("vault://secret/r2/jwt?version=latest", "whole number"),
        ("vault://kv/r2/jwt?kv=1&version=2", "KV v2 version"),
        ("vault://secret/r2/jwt?allow_unsafe_v1_writes=1", "kv=1 only"),
        ("vault://kv/r2/jwt?kv=1&allow_unsafe_v1_writes=maybe", "must be 1 or 0"),
        ("vault://secret/r2/jwt?role=x", "auth=approle or kubernetes"),
        ("vault://secret/r2/jwt?auth=approle&role=x", "VAULT_ROLE_ID"),
        ("vault://secret/r2/jwt?namespace=x", "unknown option 'namespace'"),
    ],
)
def test_bad_urls_are_usage_errors(clean_env: pytest.MonkeyPatch, target: str, match: str) -> None:
    with pytest.raises(SourceURLError, match=match) as info:
        open_source(target)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("VAULT_ADDR", "vault.example.com:8200", "VAULT_ADDR"),
        ("VAULT_SKIP_VERIFY", "sometimes", "VAULT_SKIP_VERIFY"),
        ("VAULT_CLIENT_CERT", "/etc/vault/client.pem", "VAULT_CLIENT_KEY"),
        ("VAULT_CLIENT_TIMEOUT", "soon", "VAULT_CLIENT_TIMEOUT"),
    ],
)
def test_bad_environment_is_a_configuration_error(
    clean_env: pytest.MonkeyPatch, name: str, value: str, match: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigurationError, match=match):
        open_source("vault://secret/r2/jwt")


def test_missing_hvac_names_the_extra(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import contextlib, io, sys
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"hvac", "requests"}:
                    raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
        sys.meta_path.insert(0, Blocker())
        import r2jwt.sources.vault  # the module itself imports no SDK
        from r2jwt import MissingExtraError
        from r2jwt.sources import open_source
        try:
            open_source("vault://secret/r2/jwt")
        except MissingExtraError as exc:
            print("library:", exc)
        from r2jwt.cli import main
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["token", "--source", "vault://secret/r2/jwt"])
        print("cli:", code, err.getvalue().strip())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    assert "library: hvac is not installed; install it with: pip install 'r2jwt[vault]'" in (
        proc.stdout
    )
    assert "cli: 1 r2jwt: error: hvac is not installed" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_skip_verify_is_allowed_with_a_warning(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean_env.setenv("VAULT_SKIP_VERIFY", "1")
    with caplog.at_level(logging.WARNING, logger="r2jwt"):
        source = open_source("vault://secret/r2/jwt")
    assert "VAULT_SKIP_VERIFY" in caplog.text and "not checked" in caplog.text
    source.close()


# -- reading with a token: CLI and Signer ----------------------------------------------------------


def test_kv2_token_auth_through_the_cli(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    reader = vault.policy({f"{vault.kv2}/data/{path}": ["read"]})
    venv.setenv("VAULT_TOKEN", vault.token(reader))
    source = url(vault, path)

    result = cli("token", "--source", source, "--mid", "123456", "--country", "MX")
    assert result.code == 0, result.err
    token = result.out.strip()
    assert verified(token)["mid"] == "123456"
    assert jwt.get_unverified_header(token)["kid"] == "k1"

    listed = cli("keys", "list", "--json", "--source", source)
    assert listed.code == 0 and json.loads(listed.out)[0]["state"] == "active"
    decoded = cli("decode", token, "--verify", "--source", source)
    assert decoded.code == 0 and json.loads(decoded.out)["verified"] is True


def test_kv2_token_auth_through_the_signer(
    vault: Target, venv: pytest.MonkeyPatch, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.token(vault.policy({f"{vault.kv2}/data/{path}": ["read"]})))
    with Signer(url(vault, path)) as signer:
        assert verified(signer.token(mid="1", country="MX"))["country"] == "MX"
        assert [key.kid for key in signer.keyset()] == ["k1"]


def test_reset_after_fork_starts_a_new_session(
    vault: Target, venv: pytest.MonkeyPatch, path: str, sources: list[Source]
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    source = open_source(url(vault, path))
    sources.append(source)
    source.read()
    assert isinstance(source, VaultSource)
    before = source._client
    source.reset()  # what the key cache calls in a forked child
    assert source.read().data
    assert source._client is not None and source._client is not before
    before.adapter.close()  # the parent's session: still the parent's, not revoked


def test_token_from_the_vault_token_file(
    vault: Target, venv: pytest.MonkeyPatch, path: str, tmp_path: Path
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    (tmp_path / ".vault-token").write_text(vault.root_token + "\n")  # as `vault login` leaves it
    with Signer(url(vault, path)) as signer:
        assert verified(signer.token())


def test_no_token_at_all(vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str) -> None:
    result = cli("token", "--source", url(vault, path))
    assert result.code == 1
    assert "no Vault token; set VAULT_TOKEN, run 'vault login'" in result.err


def test_sixteen_threads_make_at_most_two_reads(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    tokens: set[str] = set()
    with Signer(url(vault, path)) as signer:
        barrier = threading.Barrier(16)

        def work() -> None:
            barrier.wait()
            for _ in range(200):
                tokens.add(signer.token(mid="42"))

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(tokens) >= 1 and all(verified(t)["mid"] == "42" for t in tokens)
    assert fake.count(method="GET", path=f"{vault.kv2}/data/{path}") <= 2


# -- the keyset document in the secret -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(ONE_KEY, id="fields-keys"),
        pytest.param({"kid": "k1", "secret": CANARY}, id="fields-shorthand"),
        pytest.param({"keyset": json.dumps(ONE_KEY)}, id="keyset-field"),
    ],
)
def test_keyset_layouts_are_read(
    vault: Target, venv: pytest.MonkeyPatch, path: str, data: dict[str, Any]
) -> None:
    vault.put(vault.kv2, path, data)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    with Signer(url(vault, path)) as signer:
        assert jwt.get_unverified_header(signer.token())["kid"] == "k1"


def test_a_write_keeps_the_keyset_field_layout_and_other_fields(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, {"keyset": json.dumps(ONE_KEY), "owner": "payments"})
    venv.setenv("VAULT_TOKEN", vault.root_token)
    result = cli(
        "keys", "add", "--kid", "k2", "--secret-stdin", "--source", url(vault, path), stdin=CANARY_2
    )
    assert result.code == 0, result.err
    stored = vault.get(vault.kv2, path)
    assert stored is not None and set(stored) == {"keyset", "owner"}
    assert stored["owner"] == "payments"
    assert [k.kid for k in KeySet.parse(stored["keyset"])] == ["k1", "k2"]


def test_a_write_keeps_the_fields_layout_and_unknown_fields(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, {**ONE_KEY, "comment": "kept"})
    venv.setenv("VAULT_TOKEN", vault.root_token)
    result = cli(
        "keys", "add", "--kid", "k2", "--secret-stdin", "--source", url(vault, path), stdin=CANARY_2
    )
    assert result.code == 0, result.err
    stored = vault.get(vault.kv2, path)
    assert stored is not None and stored["comment"] == "kept"
    assert [k["kid"] for k in stored["keys"]] == ["k1", "k2"]


def test_pinned_version_reads_that_version_and_refuses_writes(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    vault.put(vault.kv2, path, {"kid": "k-new", "secret": CANARY_2})
    venv.setenv("VAULT_TOKEN", vault.root_token)
    pinned = url(vault, path, "version=1")
    listed = cli("keys", "list", "--json", "--source", pinned)
    assert [row["kid"] for row in json.loads(listed.out)] == ["k1"]
    refused = cli("keys", "retire", "--kid", "k1", "--source", pinned)
    assert refused.code == 1 and "pinned to version 1" in refused.err
    assert vault.version(path) == 2


# -- KV v1 -----------------------------------------------------------------------------------------


def test_kv1_reads_and_refuses_unchecked_writes_unless_allowed(
    vault: Target,
    venv: pytest.MonkeyPatch,
    cli: Any,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vault.put(vault.kv1, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    source = url(vault, path, "kv=1", kv=1)
    token = cli("token", "--source", source)
    assert token.code == 0 and verified(token.out.strip())

    refused = cli(
        "keys", "add", "--kid", "k2", "--secret-stdin", "--source", source, stdin=CANARY_2
    )
    assert refused.code == 1
    assert "KV v1 has no check-and-set" in refused.err
    assert "allow_unsafe_v1_writes=1" in refused.err
    assert vault.get(vault.kv1, path) == ONE_KEY

    allowed = source + "&allow_unsafe_v1_writes=1"
    done = cli("keys", "add", "--kid", "k2", "--secret-stdin", "--source", allowed, stdin=CANARY_2)
    assert done.code == 0, done.err
    assert "writing" in caplog.text and "without check-and-set" in caplog.text  # every time
    stored = vault.get(vault.kv1, path)
    assert stored is not None and [k["kid"] for k in stored["keys"]] == ["k1", "k2"]


# -- AppRole and Kubernetes ------------------------------------------------------------------------


def test_approle_login(vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    role_id, secret_id = vault.approle(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}))
    venv.setenv("VAULT_ROLE_ID", role_id)
    venv.setenv("VAULT_SECRET_ID", secret_id)
    source = url(vault, path, f"auth=approle&auth_mount={vault.approle_mount}")
    result = cli("token", "--source", source)
    assert result.code == 0, result.err
    assert verified(result.out.strip())


def test_approle_secret_id_from_a_file(
    vault: Target, venv: pytest.MonkeyPatch, path: str, tmp_path: Path
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    role_id, secret_id = vault.approle(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}))
    (tmp_path / "secret-id").write_text(secret_id + "\n")
    venv.setenv("VAULT_ROLE_ID", role_id)
    venv.setenv("VAULT_SECRET_ID_FILE", str(tmp_path / "secret-id"))
    with Signer(url(vault, path, f"auth=approle&auth_mount={vault.approle_mount}")) as signer:
        assert verified(signer.token())


def test_approle_wrong_secret_id_exits_1_without_a_traceback(vault: Target, path: str) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    role_id, secret_id = vault.approle(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}))
    source = url(vault, path, f"auth=approle&auth_mount={vault.approle_mount}")
    env = {**vault.env, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": "wrong-" + secret_id}
    result = run_process("token", "--source", source, env=env)
    assert result.code == 1
    assert result.out == ""
    assert "Traceback" not in result.err
    assert f"approle login at auth/{vault.approle_mount}/login failed" in result.err
    assert "check VAULT_ROLE_ID and VAULT_SECRET_ID" in result.err
    assert secret_id not in result.err and role_id not in result.err


def test_approle_needs_its_variables(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    source = url(vault, path, "auth=approle")
    assert "needs VAULT_ROLE_ID" in cli("token", "--source", source).err
    venv.setenv("VAULT_ROLE_ID", "some-role")
    assert "needs VAULT_SECRET_ID or VAULT_SECRET_ID_FILE" in cli("token", "--source", source).err


def test_approle_at_the_wrong_mount_says_so(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    role_id, secret_id = vault.approle(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}))
    venv.setenv("VAULT_ROLE_ID", role_id)
    venv.setenv("VAULT_SECRET_ID", secret_id)
    result = cli("token", "--source", url(vault, path, "auth=approle&auth_mount=not-approle"))
    assert result.code == 1
    assert "auth/not-approle/login" in result.err and "?auth_mount=" in result.err


def test_kubernetes_login(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, cli: Any, path: str, tmp_path: Path
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    reader = vault.policy({f"{vault.kv2}/data/{path}": ["read"]})
    service_account_jwt = "eyJhbGciOiJSUzI1NiJ9.sa-" + secrets.token_hex(16)
    fake.add_kubernetes_role("payments", jwt=service_account_jwt, policies=[reader])
    fake.add_kubernetes_role(
        "payments", jwt=service_account_jwt, policies=[reader], mount="k8s-prod"
    )
    token_file = tmp_path / "sa-token"
    token_file.write_text(service_account_jwt)
    venv.setenv("VAULT_K8S_TOKEN_PATH", str(token_file))

    by_url = cli("token", "--source", url(vault, path, "auth=kubernetes&role=payments"))
    assert by_url.code == 0, by_url.err
    venv.setenv("VAULT_K8S_ROLE", "payments")
    by_env = cli("token", "--source", url(vault, path, "auth=kubernetes&auth_mount=k8s-prod"))
    assert by_env.code == 0, by_env.err
    assert fake.count(method="POST", path="auth/kubernetes/login", status=200) == 1
    assert fake.count(method="POST", path="auth/k8s-prod/login", status=200) == 1

    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.someone-else")
    denied = cli("token", "--source", url(vault, path, "auth=kubernetes"))
    assert denied.code == 1
    assert "kubernetes login at auth/kubernetes/login failed" in denied.err
    assert "role 'payments'" in denied.err
    assert service_account_jwt not in denied.err


def test_kubernetes_needs_a_role_and_a_token_file(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str, tmp_path: Path
) -> None:
    result = cli("token", "--source", url(vault, path, "auth=kubernetes"))
    assert (
        result.code == 1 and "add ?role=NAME to the source URL or set VAULT_K8S_ROLE" in result.err
    )
    venv.setenv("VAULT_K8S_TOKEN_PATH", str(tmp_path / "absent"))
    result = cli("token", "--source", url(vault, path, "auth=kubernetes&role=x"))
    assert result.code == 1 and "cannot read the Kubernetes service-account token" in result.err


# -- the token's lifetime --------------------------------------------------------------------------


def test_a_renewable_token_is_renewed_before_it_expires(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, clock: FakeClock, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    token = vault.token(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}), ttl=900)
    venv.setenv("VAULT_TOKEN", token)
    source = VaultSource(vault.kv2, path, clock=clock)
    try:
        source.read()
        for _ in range(6):  # 30 minutes of reads 5 minutes apart: twice the token's TTL
            clock.advance(301)
            source.read()
    finally:
        source.close()
    assert fake.count(path="auth/token/renew-self", status=200) == 6
    assert fake.count(method="GET", path=f"{vault.kv2}/data/{path}", status=200) == 7
    assert (fake.token_ttl(token) or 0) > 600


def test_a_long_lived_token_is_not_renewed_on_every_read(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, clock: FakeClock, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.token(vault.policy({f"{vault.kv2}/*": ["read"]}), ttl=7200))
    source = VaultSource(vault.kv2, path, clock=clock)
    try:
        for _ in range(12):  # renewed once a third (2400 s) or less is left: at 5000 s
            source.read()
            clock.advance(500)
    finally:
        source.close()
    assert fake.count(path="auth/token/renew-self") == 1
    assert fake.count(path="auth/token/lookup-self") == 1


def test_a_token_that_cannot_be_renewed_is_reported_once(
    vault: Target,
    fake: FakeVault,
    venv: pytest.MonkeyPatch,
    clock: FakeClock,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    reader = vault.policy({f"{vault.kv2}/*": ["read"]})
    venv.setenv("VAULT_TOKEN", fake.create_token(policies=[reader], ttl=900, renewable=False))
    source = VaultSource(vault.kv2, path, clock=clock)
    try:
        source.read()
        with caplog.at_level(logging.WARNING, logger="r2jwt"):
            clock.advance(400)
            source.read()
            clock.advance(400)
            source.read()
            clock.advance(400)
            with pytest.raises(SourceError, match="invalid token"):
                source.read()
    finally:
        source.close()
    assert caplog.text.count("cannot be renewed") == 1


def test_approle_logs_in_again_when_the_token_cannot_be_renewed(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, clock: FakeClock, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    reader = vault.policy({f"{vault.kv2}/data/{path}": ["read"]})
    fake.add_approle(
        "r", role_id="rid", secret_id="sid", policies=[reader], token_ttl=900, renewable=False
    )
    venv.setenv("VAULT_ROLE_ID", "rid")
    venv.setenv("VAULT_SECRET_ID", "sid")
    source = VaultSource(vault.kv2, path, auth="approle", clock=clock)
    try:
        for _ in range(4):
            source.read()
            clock.advance(400)
    finally:
        source.close()
    assert fake.count(path="auth/approle/login") == 4  # every read after the first finds < 600 s
    assert fake.count(method="GET", path=f"{vault.kv2}/data/{path}", status=200) == 4
    assert fake.count(path="auth/token/revoke-self") == 1  # close() revokes our last token


def test_approle_logs_in_again_once_on_403(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    role_id, secret_id = vault.approle(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}))
    venv.setenv("VAULT_ROLE_ID", role_id)
    venv.setenv("VAULT_SECRET_ID", secret_id)
    fake.inject(403, path=f"{vault.kv2}/data/{path}")  # e.g. the token was revoked meanwhile
    with Signer(url(vault, path, "auth=approle")) as signer:
        assert verified(signer.token())
    assert fake.count(path="auth/approle/login") == 2


def test_approle_reports_a_403_that_logging_in_again_does_not_fix(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    role_id, secret_id = vault.approle(vault.policy({f"{vault.kv2}/data/other": ["read"]}))
    venv.setenv("VAULT_ROLE_ID", role_id)
    venv.setenv("VAULT_SECRET_ID", secret_id)
    result = cli(
        "token", "--source", url(vault, path, f"auth=approle&auth_mount={vault.approle_mount}")
    )
    assert result.code == 1
    assert (
        f"(403 permission denied, after logging in again): the token's policies need 'read' "
        f"on {vault.kv2}/data/{path}" in result.err
    )
    if vault.fake is not None:
        assert vault.fake.count(path=f"auth/{vault.approle_mount}/login") == 2


# -- errors ----------------------------------------------------------------------------------------


def test_permission_denied_names_the_path_and_capability(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.token(vault.policy({f"{vault.kv2}/data/elsewhere": ["read"]})))
    result = cli("keys", "list", "--source", url(vault, path))
    assert result.code == 1
    assert f"Vault denied read of {vault.kv2}/{path} (403 permission denied)" in result.err
    assert f"need 'read' on {vault.kv2}/data/{path}" in result.err
    assert "Traceback" not in result.err


def test_an_invalid_token_says_so(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    venv.setenv("VAULT_TOKEN", "hvs.not-a-real-token")
    result = cli("keys", "list", "--source", url(vault, path))
    assert result.code == 1
    assert "Vault rejected the token" in result.err and "VAULT_TOKEN" in result.err
    assert "hvs.not-a-real-token" not in result.err


def test_missing_secret_names_mount_and_path(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    venv.setenv("VAULT_TOKEN", vault.root_token)
    result = cli("keys", "list", "--source", url(vault, path))
    assert result.code == 1
    assert f"no secret at path '{path}' in mount '{vault.kv2}'" in result.err
    assert f"create it with 'r2jwt keys add --source {url(vault, path)}'" in result.err


def test_missing_secret_hints_at_the_kv_version_and_the_mount(
    vault: Target, venv: pytest.MonkeyPatch, path: str, sources: list[Source]
) -> None:
    venv.setenv("VAULT_TOKEN", vault.root_token)
    cases = {
        url(vault, path, kv=1): f"'{vault.kv1}' is a KV v1 mount: use ?kv=1",
        url(vault, path, "kv=1"): f"'{vault.kv2}' is a KV v2 mount: drop ?kv=1",
        f"vault://no-such-mount-{path[-6:]}/{path}": "is there a KV mount named",
    }
    for target, hint in cases.items():
        sources.append(source := open_source(target))
        with pytest.raises(SourceNotFoundError) as info:
            source.read()
        assert hint in str(info.value), target


def test_a_deleted_latest_version_is_named_and_can_be_replaced(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    vault.delete_latest(path)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    source = url(vault, path)
    listed = cli("keys", "list", "--source", source)
    assert listed.code == 1
    assert f"the latest version (1) of {vault.kv2}/{path} in Vault is deleted" in listed.err
    assert "vault kv undelete" in listed.err
    added = cli("keys", "add", "--kid", "k2", "--secret-stdin", "--source", source, stdin=CANARY_2)
    assert added.code == 0, added.err
    assert vault.version(path) == 2


def test_sealed_vault_is_transient_and_says_sealed(
    vault: Target,
    fake: FakeVault,
    venv: pytest.MonkeyPatch,
    cli: Any,
    path: str,
    sources: list[Source],
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    fake.sealed = True
    result = cli("token", "--source", url(vault, path))
    assert result.code == 1 and "is sealed" in result.err and "503" in result.err
    sources.append(source := open_source(url(vault, path)))
    with pytest.raises(SourceError, match="sealed") as info:
        source.read()
    assert info.value.transient
    fake.sealed, fake.standby = False, True
    with pytest.raises(SourceError, match="standby with no active node") as info:
        source.read()
    assert info.value.transient


@pytest.mark.parametrize(
    ("status", "match"), [(429, "rate-limited"), (500, "failed the read"), (502, "failed the read")]
)
def test_throttling_and_server_errors_are_transient(
    vault: Target,
    fake: FakeVault,
    venv: pytest.MonkeyPatch,
    path: str,
    sources: list[Source],
    status: int,
    match: str,
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    sources.append(source := open_source(url(vault, path)))
    fake.inject(status, path=f"{vault.kv2}/data/{path}")
    with pytest.raises(SourceError, match=match) as info:
        source.read()
    assert info.value.transient
    assert source.read().version == "1"  # and the next read goes through


def test_unreachable_and_slow_vaults_are_transient(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, path: str, sources: list[Source]
) -> None:
    venv.setenv("VAULT_TOKEN", vault.root_token)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    venv.setenv("VAULT_ADDR", f"http://127.0.0.1:{closed_port}")
    sources.append(source := open_source(url(vault, path)))
    with pytest.raises(SourceError, match=r"cannot reach Vault at http://127\.0\.0\.1") as info:
        source.read()
    assert info.value.transient

    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_ADDR", fake.addr)
    venv.setenv("VAULT_CLIENT_TIMEOUT", "0.2")
    sources.append(slow := open_source(url(vault, path)))
    fake.inject(None, delay=0.6, path=f"{vault.kv2}/data/{path}")
    with pytest.raises(SourceError, match=r"did not answer within 0.2 s") as info:
        slow.read()
    assert info.value.transient


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_failures_point_at_vault_cacert(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, sources: list[Source]
) -> None:
    server = FakeVault()
    server.start(tls=True)
    try:
        assert server.ca_cert is not None
        server.put_secret("secret", "r2/jwt", ONE_KEY)
        clean_env.setenv("VAULT_ADDR", server.addr)
        clean_env.setenv("VAULT_TOKEN", server.root_token)
        clean_env.setenv("HOME", str(tmp_path))
        sources.append(untrusted := open_source("vault://secret/r2/jwt"))
        with pytest.raises(SourceError, match="point VAULT_CACERT") as info:
            untrusted.read()
        assert "certificate verify failed" in str(info.value) and not info.value.transient

        clean_env.setenv("VAULT_CACERT", server.ca_cert)
        sources.append(trusted := open_source("vault://secret/r2/jwt"))
        assert trusted.read().version == "1"

        clean_env.delenv("VAULT_CACERT")
        clean_env.setenv("VAULT_SKIP_VERIFY", "true")
        sources.append(unverified := open_source("vault://secret/r2/jwt"))
        assert unverified.read().version == "1"
    finally:
        for source in sources:
            source.close()
        server.stop()


def test_namespace_header_is_sent(
    vault: Target, fake: FakeVault, venv: pytest.MonkeyPatch, path: str
) -> None:
    fake.mount_kv("secret", namespace="team-a")
    fake.put_secret("secret", path, ONE_KEY, namespace="team-a")
    fake.add_policy("reader", {f"secret/data/{path}": ["read"]}, namespace="team-a")
    venv.setenv("VAULT_TOKEN", fake.create_token(policies=["reader"], namespace="team-a"))
    venv.setenv("VAULT_NAMESPACE", "team-a")
    with Signer(f"vault://secret/{path}") as signer:
        assert verified(signer.token())
    assert fake.count(method="GET", path=f"secret/data/{path}", namespace="team-a") == 1
    assert fake.count(namespace="") == 0


# -- writes: check-and-set -------------------------------------------------------------------------


def test_keys_add_writes_a_new_version_with_cas(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.require_cas()  # a write without cas would be refused
    venv.setenv("VAULT_TOKEN", vault.root_token)
    source = url(vault, path)
    first = cli("keys", "add", "--kid", "k1", "--secret-stdin", "--source", source, stdin=CANARY)
    assert first.code == 0, first.err
    assert vault.version(path) == 1
    second = cli(
        "keys",
        "add",
        "--kid",
        "k2",
        "--secret-stdin",
        "--not-before",
        "+1h",
        "--source",
        source,
        stdin=CANARY_2,
    )
    assert second.code == 0, second.err
    assert vault.version(path) == 2
    retired = cli("keys", "retire", "--kid", "k1", "--at", "+2h", "--source", source)
    assert retired.code == 0, retired.err
    assert vault.version(path) == 3
    stored = vault.get(vault.kv2, path)
    assert stored is not None and [k["kid"] for k in stored["keys"]] == ["k1", "k2"]
    assert "not_after" in stored["keys"][0]


def test_a_lost_race_is_reported_and_nothing_is_lost(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.put(vault.kv2, path, ONE_KEY)
    venv.setenv("VAULT_TOKEN", vault.root_token)
    winner = {"keys": [{"kid": "winner", "secret": CANARY_2}]}
    read = VaultSource.read

    def read_then_someone_else_writes(self: VaultSource) -> Any:
        document = read(self)
        vault.put(vault.kv2, path, winner)  # between our read and our write
        return document

    venv.setattr(VaultSource, "read", read_then_someone_else_writes)
    result = cli(
        "keys", "add", "--kid", "k2", "--secret-stdin", "--source", url(vault, path), stdin=CANARY
    )
    assert result.code == 1
    assert "the secret changed since it was read (it is no longer at version 1)" in result.err
    assert "run again" in result.err
    assert vault.get(vault.kv2, path) == winner and vault.version(path) == 2


def test_two_creators_one_wins(
    vault: Target, venv: pytest.MonkeyPatch, path: str, sources: list[Source]
) -> None:
    venv.setenv("VAULT_TOKEN", vault.root_token)
    sources.extend(
        [first := open_source(url(vault, path)), second := open_source(url(vault, path))]
    )
    key = Key("k1", Secret(CANARY), datetime.now(UTC), None)
    for source in (first, second):
        with pytest.raises(SourceNotFoundError):
            source.read()
    first.write(KeySet.of([key]).to_document(), expected_version=None)
    with pytest.raises(WriteConflictError, match="created by someone else meanwhile"):
        second.write(KeySet.of([key]).to_document(), expected_version=None)


# -- the Terraform module's policies and URLs ------------------------------------------------------


def test_the_module_reader_policy_reads_and_the_rotator_policy_writes(
    vault: Target, venv: pytest.MonkeyPatch, cli: Any, path: str
) -> None:
    vault.require_cas()  # as the module configures the mount
    reader = vault.policy(module_policy("reader", vault.kv2, path))
    rotator = vault.policy(module_policy("rotator", vault.kv2, path))
    source = url(vault, path)
    venv.setenv("VAULT_TOKEN", vault.token(rotator))
    created = cli("keys", "add", "--kid", "k1", "--secret-stdin", "--source", source, stdin=CANARY)
    assert created.code == 0, created.err
    updated = cli("keys", "retire", "--kid", "k1", "--at", "+1d", "--source", source)
    assert updated.code == 0, updated.err

    if vault.fake is not None:
        vault.fake.clear_requests()
    venv.setenv("VAULT_TOKEN", vault.token(reader))
    with Signer(source) as signer:
        assert verified(signer.token())
    refused = cli(
        "keys",
        "add",
        "--kid",
        "k2",
        "--secret-stdin",
        "--not-before",
        "+1h",
        "--source",
        source,
        stdin=CANARY_2,
    )
    assert refused.code == 1
    assert f"need 'create' and 'update' (and 'read') on {vault.kv2}/data/{path}" in refused.err
    if vault.fake is not None:  # the reader asked for nothing its policy lacks
        asked = {(r.path, r.status) for r in vault.fake.requests if r.method == "GET"}
        assert asked == {("auth/token/lookup-self", 200), (f"{vault.kv2}/data/{path}", 200)}


def test_the_module_source_urls_open_as_vault_sources(clean_env: pytest.MonkeyPatch) -> None:
    import hcl2

    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with (REPO / "terraform/modules/vault/main.tf").open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle, serialization_options=options)
    locals_ = {k: v for entry in parsed["locals"] for k, v in entry.items()}
    rendered = (
        locals_["url_base"]
        .replace('${replace(local.mount_path, "/", "%2F")}', "team%2Fr2jwt")
        .replace("${var.secret_path}", "payments/r2-jwt")
    )
    queries = {
        name: query.replace("${var.approle_backend}", "approle-ci").replace(
            "${var.kubernetes_backend}", "k8s-prod"
        )
        for name, query in locals_["auth_query"].items()
    }
    assert set(queries) == {"token", "approle", "kubernetes"}
    for name, query in queries.items():
        source = open_source(
            f"{rendered}&{query}&role=payments" if name == "kubernetes" else f"{rendered}&{query}"
        )
        assert isinstance(source, VaultSource)
        assert (source.mount, source.path, source.kv, source.auth) == (
            "team/r2jwt",
            "payments/r2-jwt",
            2,
            name,
        )
        assert (
            source.auth_mount
            == {"token": "", "approle": "approle-ci", "kubernetes": "k8s-prod"}[name]
        )


# -- nothing secret in any output ------------------------------------------------------------------


def test_no_secret_or_vault_token_in_any_output(
    vault: Target,
    venv: pytest.MonkeyPatch,
    cli: Any,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vault.put(vault.kv2, path, {"keys": [{"kid": "k1", "secret": CANARY}]})
    reader = vault.token(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}))
    role_id, secret_id = vault.approle(vault.policy({f"{vault.kv2}/data/{path}": ["read"]}))
    source, approle = (
        url(vault, path),
        url(vault, path, f"auth=approle&auth_mount={vault.approle_mount}"),
    )
    seen: list[str] = []

    def run(*argv: str, stdin: str | None = None) -> None:
        for debug in ((), ("--debug",)):
            try:
                result = cli(*argv, *debug, stdin=stdin)
            except R2JWTError as exc:  # --debug lets it out: keep the whole traceback
                seen.append("".join(traceback.format_exception(exc)))
            else:
                seen.extend((result.out, result.err))

    with caplog.at_level(logging.DEBUG):
        venv.setenv("VAULT_TOKEN", vault.root_token)
        run("keys", "list", "--source", source)
        run("keys", "add", "--kid", "k2", "--secret-stdin", "--source", source, stdin=CANARY_2)
        run("keys", "list", "--source", url(vault, path + "-missing"))
        run("keys", "list", "--source", url(vault, path, kv=1))
        venv.setenv("VAULT_TOKEN", reader)
        run("keys", "check", "--source", source)
        run("keys", "add", "--kid", "k3", "--secret-stdin", "--source", source, stdin=CANARY_2)
        venv.delenv("VAULT_TOKEN")
        venv.setenv("VAULT_ROLE_ID", role_id)
        venv.setenv("VAULT_SECRET_ID", secret_id)
        run("keys", "list", "--source", approle)
        venv.setenv("VAULT_SECRET_ID", secret_id + "-wrong")
        run("keys", "list", "--source", approle)
    seen.append(caplog.text)
    everything = "\n".join(seen)
    assert "k1" in everything and "k2" in everything  # the outputs were captured
    assert not leaked(everything)
    for credential in (vault.root_token, reader, role_id, secret_id):
        assert credential not in everything


# -- the contract every source passes --------------------------------------------------------------


class TestVaultSourceContract(SourceContract):
    @pytest.fixture(autouse=True)
    def _vault(self, vault: Target, venv: pytest.MonkeyPatch, sources: list[Source]) -> None:
        venv.setenv("VAULT_TOKEN", vault.root_token)
        self.target, self.opened = vault, sources

    def make_source(self, document: bytes | None) -> Source:
        path = f"contract/{secrets.token_hex(4)}"
        if document is not None:
            self.target.put(self.target.kv2, path, json.loads(document))
        source = open_source(f"vault://{self.target.kv2}/{path}")
        self.opened.append(source)
        return source
