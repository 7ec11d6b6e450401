"""aws-sm:// (r2jwt.sources.aws) against moto's Secrets Manager over real HTTP.

No boto3 call is patched: moto's server runs on 127.0.0.1 and boto3 finds it through
AWS_ENDPOINT_URL, exactly as it would find a VPC endpoint. Calls are counted on the server side,
and AWS errors moto cannot produce (access denied, KMS, throttling) are injected there too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore.config import Config

import r2jwt
from r2jwt import (
    ConfigurationError,
    KeySet,
    SourceError,
    SourceNotFoundError,
    SourceURLError,
    WriteConflictError,
    open_source,
)
from r2jwt.admin import add_key
from r2jwt.keys import Key, Secret, parse_time
from r2jwt.sources.aws import OPERATIONS, PENDING_LABEL, AwsSecretsManagerSource
from r2jwt.testing import SourceContract
from support.moto_server import MotoServer
from test_terraform import actions_of, aws_documents

from conftest import CANARY, CANARY_2, keyset_doc, leaked, run_process

REGION = "us-east-1"
KEYSET = keyset_doc(
    {"kid": "r2-old", "secret": CANARY, "not_before": "2020-01-01T00:00:00Z"},
    {"kid": "r2-new", "secret": CANARY_2, "not_before": "2021-01-01T00:00:00Z"},
)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def admin(moto: MotoServer) -> Iterator[Any]:
    """The test's own client, configured explicitly so that no test's environment affects it."""
    client = boto3.session.Session().client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=moto.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield client
    client.close()


@dataclass
class Aws:
    """The test's view of the account: an admin client, the server log, the environment."""

    server: MotoServer
    client: Any
    env: pytest.MonkeyPatch

    def secret(self, value: str | bytes | None = KEYSET) -> str:
        """Create a secret with a fresh name (with no value when ``value`` is None)."""
        name = f"r2jwt-test/{uuid.uuid4().hex[:12]}"
        if value is None:
            self.client.create_secret(Name=name)
        elif isinstance(value, bytes):
            self.client.create_secret(Name=name, SecretBinary=value)
        else:
            self.client.create_secret(Name=name, SecretString=value)
        return name

    def stages(self, name: str) -> dict[str, list[str]]:
        """VersionId -> labels, for versions that still have one."""
        described = self.client.describe_secret(SecretId=name)["VersionIdsToStages"]
        return {version: labels for version, labels in described.items() if labels}

    def kids(self, name: str, stage: str = "AWSCURRENT") -> list[str]:
        value = self.client.get_secret_value(SecretId=name, VersionStage=stage)["SecretString"]
        return [k.kid for k in KeySet.parse(value)]


@pytest.fixture
def aws(
    moto: MotoServer, admin: Any, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Aws]:
    # Only what the test sets: no ~/.aws files, no instance metadata lookups.
    for name, value in {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        clean_env.setenv(name, value)
    yield Aws(moto, admin, clean_env)
    moto.clear_faults()


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused


def rotator_actions() -> set[str]:
    return {
        action.removeprefix("secretsmanager:")
        for action in actions_of(aws_documents()["rotator"])
        if action.startswith("secretsmanager:")
    }


# -- reading --------------------------------------------------------------------------------------


def test_signer_reads_a_keyset_secret(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    with r2jwt.Signer(f"aws-sm://{name}") as signer:
        token = signer.token(mid="123456", country="MX")
    assert jwt.get_unverified_header(token)["kid"] == "r2-new"
    claims = jwt.decode(token, CANARY_2.encode(), algorithms=["HS256"])
    assert claims["mid"] == "123456"


def test_single_key_shorthand_and_cli(aws: Aws, cli: Any) -> None:
    name = aws.secret(json.dumps({"kid": "solo", "secret": CANARY}))
    result = cli("keys", "list", "--json", "--source", f"aws-sm://{name}")
    assert result.code == 0, result.err
    assert [row["kid"] for row in json.loads(result.out)] == ["solo"]
    assert not leaked(result.out + result.err)


def test_secret_binary_holding_the_same_json(aws: Aws) -> None:
    name = aws.secret(KEYSET.encode())
    document = open_source(f"aws-sm://{name}").read()
    assert [k.kid for k in KeySet.parse(document.data)] == ["r2-old", "r2-new"]


def test_version_tag_is_the_version_id(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    source = open_source(f"aws-sm://{name}")
    (current,) = aws.stages(name)
    assert source.read().version == source.read().version == current


def test_stages_and_pinned_versions(aws: Aws) -> None:
    name = aws.secret(json.dumps({"kid": "first", "secret": CANARY}))
    (first,) = aws.stages(name)
    aws.client.put_secret_value(
        SecretId=name, SecretString=json.dumps({"kid": "second", "secret": CANARY_2})
    )

    def kids(url: str) -> list[str]:
        return [k.kid for k in KeySet.parse(open_source(url).read().data)]

    assert kids(f"aws-sm://{name}") == ["second"]
    assert kids(f"aws-sm://{name}?stage=AWSCURRENT") == ["second"]
    assert kids(f"aws-sm://{name}?stage=AWSPREVIOUS") == ["first"]
    assert kids(f"aws-sm://{name}?version_id={first}") == ["first"]
    assert kids(f"aws-sm://{name}?version_id={first}&stage=AWSPREVIOUS") == ["first"]
    aws.client.update_secret_version_stage(
        SecretId=name, VersionStage="BLUE", MoveToVersionId=first
    )
    assert kids(f"aws-sm://{name}?stage=BLUE") == ["first"]
    with pytest.raises(SourceError, match="stage AWSCURRENT, version"):
        open_source(f"aws-sm://{name}?version_id={first}&stage=AWSCURRENT").read()
    with pytest.raises(SourceNotFoundError, match=r"stage NOPE, region us-east-1"):
        open_source(f"aws-sm://{name}?stage=NOPE").read()


def test_arn_brings_its_region(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    arn = aws.client.describe_secret(SecretId=name)["ARN"]
    aws.env.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the ARN's region wins over the default
    source = open_source(f"aws-sm://{arn}")
    assert source.region == REGION
    assert KeySet.parse(source.read().data).require("r2-new")


def test_url_options(aws: Aws) -> None:
    source = open_source("aws-sm://team/r2/jwt?region=eu-west-1&stage=AWSPREVIOUS")
    assert isinstance(source, AwsSecretsManagerSource)
    assert (source.secret_id, source.region, source.stage) == (
        "team/r2/jwt",
        "eu-west-1",
        "AWSPREVIOUS",
    )
    assert source.name == "aws-sm://team/r2/jwt?region=eu-west-1&stage=AWSPREVIOUS"
    assert repr(source) == f"AwsSecretsManagerSource({source.name!r})"
    for bad in (
        "aws-sm://",
        "aws-sm://x?regoin=eu-west-1",
        "aws-sm://x?stage=",
        "aws-sm://x?region=EU WEST",
    ):
        with pytest.raises(SourceURLError) as info:
            open_source(bad)
        assert info.value.exit_code == 2


def test_no_region_and_unknown_profile_say_what_to_do(aws: Aws) -> None:
    aws.env.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError, match=r"no AWS region; add \?region="):
        open_source("aws-sm://r2/jwt")
    with pytest.raises(ConfigurationError, match="AWS profile 'nope' is not in the AWS config"):
        open_source("aws-sm://r2/jwt?region=us-east-1&profile=nope")


def test_service_specific_endpoint_wins(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    aws.env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    aws.env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws.server.endpoint)
    assert KeySet.parse(open_source(f"aws-sm://{name}").read().data).require("r2-old")


def test_client_has_bounded_timeouts_and_retries(aws: Aws) -> None:
    config = open_source("aws-sm://r2/jwt")._client.meta.config  # type: ignore[attr-defined]
    assert (config.connect_timeout, config.read_timeout) == (2.0, 5.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_an_injected_client_is_used_and_left_open(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    source = AwsSecretsManagerSource(name, client=aws.client)
    assert KeySet.parse(source.read().data).require("r2-new")
    source.close()
    assert aws.client.describe_secret(SecretId=name)["Name"] == name  # still usable
    with pytest.raises(ConfigurationError, match="either client= or region="):
        AwsSecretsManagerSource(name, client=aws.client, region=REGION)


def test_reset_after_fork_opens_a_new_client(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    source = AwsSecretsManagerSource(name)
    before = source._client
    source.reset()  # what the key cache calls in a forked child
    assert source._client is not before
    assert KeySet.parse(source.read().data).require("r2-new")
    injected = AwsSecretsManagerSource(name, client=aws.client)
    injected.reset()
    assert injected._client is aws.client  # the caller's client is the caller's to manage


# -- errors ---------------------------------------------------------------------------------------


def test_missing_secret_names_the_id(aws: Aws, cli: Any) -> None:
    with pytest.raises(SourceNotFoundError, match=r"secret 'no/such-secret' \(region us-east-1\)"):
        open_source("aws-sm://no/such-secret").read()
    result = cli("token", "--source", "aws-sm://no/such-secret")
    assert result.code == 1
    assert "no/such-secret" in result.err
    assert "Traceback" not in result.err
    assert result.out == ""


def test_a_value_that_is_not_a_keyset_names_the_field(aws: Aws, cli: Any) -> None:
    name = aws.secret(json.dumps({"keys": [{"kid": "k1", "secret": CANARY, "not_before": 5}]}))
    result = cli("keys", "list", "--source", f"aws-sm://{name}")
    assert result.code == 1
    assert "field 'not_before'" in result.err
    assert not leaked(result.out + result.err)


def test_deleted_secret(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    aws.client.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    with pytest.raises(SourceError, match="scheduled for deletion") as info:
        open_source(f"aws-sm://{name}").read()
    assert f"restore-secret --secret-id {name}" in str(info.value)
    assert not info.value.transient


@pytest.mark.parametrize(
    ("code", "status", "expected", "transient"),
    [
        (
            "AccessDeniedException",
            400,
            r"may not call secretsmanager:GetSecretValue on secret .*kms:Decrypt",
            False,
        ),
        ("DecryptionFailure", 400, r"cannot decrypt .* KMS key.*kms:Decrypt", False),
        ("ExpiredTokenException", 400, "AWS rejected the credentials", False),
        ("InternalServiceError", 500, r"InternalServiceError, HTTP 500.*temporary", True),
        ("SomethingNewException", 400, "GetSecretValue on secret .* failed: SomethingNew", False),
    ],
)
def test_aws_errors_are_mapped(
    aws: Aws, code: str, status: int, expected: str, transient: bool
) -> None:
    name = aws.secret(KEYSET)
    aws.server.fail("GetSecretValue", code, status=status, message="as AWS says", secret_id=name)
    mark = aws.server.mark()
    with pytest.raises(SourceError, match=expected) as info:
        open_source(f"aws-sm://{name}").read()
    assert info.value.transient is transient
    assert name in str(info.value)
    assert "(AWS: as AWS says)" in str(info.value)
    assert isinstance(info.value.__cause__, Exception)  # raise ... from the SDK's exception
    # Throttling and 5xx are retried by the SDK (standard mode, 3 attempts); the rest are not.
    attempts = aws.server.count("GetSecretValue", name, since=mark)
    assert attempts == (3 if transient else 1)


def test_throttling_is_transient(aws: Aws) -> None:
    # One attempt: the SDK's throttling backoff would add seconds to the suite for nothing.
    name = aws.secret(KEYSET)
    aws.server.fail(
        "GetSecretValue", "ThrottlingException", message="Rate exceeded", secret_id=name
    )
    client = boto3.session.Session().client(
        "secretsmanager", config=Config(retries={"mode": "standard", "total_max_attempts": 1})
    )
    with pytest.raises(SourceError, match="ThrottlingException") as info:
        AwsSecretsManagerSource(name, client=client).read()
    assert info.value.transient
    client.close()


def test_timeouts_are_transient(aws: Aws) -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = boto3.session.Session().client(
            "secretsmanager",
            endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            config=Config(read_timeout=0.2, retries={"mode": "standard", "total_max_attempts": 1}),
        )
        with pytest.raises(
            SourceError, match=r"cannot reach Secrets Manager .*ReadTimeoutError"
        ) as info:
            AwsSecretsManagerSource("r2/jwt", client=client).read()
        client.close()
    assert info.value.transient


def test_unreachable_endpoint_fails_within_seconds(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "r2jwt", "token", "--source", "aws-sm://r2/jwt?region=us-east-1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert "Traceback" not in proc.stderr
    assert "cannot reach Secrets Manager at http://127.0.0.1:" in proc.stderr
    assert "EndpointConnectionError" in proc.stderr
    assert proc.stdout == ""


def test_without_boto3_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, io, contextlib
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"boto3", "botocore"}:
                    raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
                return None
        sys.meta_path.insert(0, Blocker())
        import r2jwt.sources.aws  # the module itself imports no SDK
        from r2jwt import MissingExtraError, open_source
        from r2jwt.cli import main
        try:
            open_source("aws-sm://r2/jwt?region=us-east-1")
        except MissingExtraError as exc:
            print("library:", exc)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["token", "--source", "aws-sm://r2/jwt?region=us-east-1"])
        print("cli:", code, err.getvalue().strip())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    library, cli_line = proc.stdout.strip().splitlines()
    assert library == "library: boto3 is not installed; install it with: pip install 'r2jwt[aws]'"
    assert cli_line.startswith("cli: 1 r2jwt: error: boto3 is not installed")
    assert "pip install 'r2jwt[aws]'" in cli_line


# -- writing --------------------------------------------------------------------------------------


def test_keys_add_makes_a_new_current_version_and_keeps_the_old_one(aws: Aws, cli: Any) -> None:
    name = aws.secret(keyset_doc({"kid": "r2-old", "secret": CANARY}))
    (old_version,) = aws.stages(name)
    mark = aws.server.mark()

    result = cli(
        "keys", "add", "--source", f"aws-sm://{name}", "--kid", "r2-next",
        "--secret-stdin", "--not-before", "+1h", stdin=CANARY_2 + "\n",
    )  # fmt: skip

    assert result.code == 0, result.err
    # The writer stayed within the Terraform module's rotator policy, as the server saw it.
    used = {call.operation for call in aws.server.calls(name, since=mark)}
    assert used == {"GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"}
    assert used <= OPERATIONS == rotator_actions()
    assert f"added key 'r2-next' to aws-sm://{name}" in result.err
    stages = aws.stages(name)
    assert stages[old_version] == ["AWSPREVIOUS"]
    (new_version,) = (v for v, labels in stages.items() if "AWSCURRENT" in labels)
    assert stages[new_version] == ["AWSCURRENT"]  # R2JWT_PENDING cleaned up
    assert aws.kids(name) == ["r2-old", "r2-next"]
    assert aws.kids(name, "AWSPREVIOUS") == ["r2-old"]
    assert not leaked(result.out + result.err)

    listed = cli("keys", "list", "--json", "--source", f"aws-sm://{name}")
    assert {row["kid"]: row["state"] for row in json.loads(listed.out)} == {
        "r2-old": "active",
        "r2-next": "scheduled",
    }
    retired = cli(
        "keys", "retire", "--source", f"aws-sm://{name}", "--kid", "r2-old", "--at", "+2h"
    )
    assert retired.code == 0, retired.err
    assert len(aws.stages(name)) == 2  # AWSCURRENT and AWSPREVIOUS only, no stray labels


def test_first_key_into_an_empty_secret(aws: Aws, cli: Any) -> None:
    name = aws.secret(None)
    result = cli(
        "keys", "add", "--source", f"aws-sm://{name}", "--kid", "r2-1", "--secret-stdin",
        stdin=CANARY,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert aws.kids(name) == ["r2-1"]
    assert list(aws.stages(name).values()) == [["AWSCURRENT"]]


def test_a_secret_that_does_not_exist_is_not_created(aws: Aws, cli: Any) -> None:
    mark = aws.server.mark()
    result = cli(
        "keys", "add", "--source", "aws-sm://r2jwt-test/absent", "--kid", "k", "--secret-stdin",
        stdin=CANARY,
    )  # fmt: skip
    assert result.code == 1
    assert "does not exist" in result.err
    assert "aws secretsmanager create-secret --name r2jwt-test/absent" in result.err
    assert "CreateSecret" not in {c.operation for c in aws.server.calls(since=mark)}
    assert not leaked(result.out + result.err)


class RacedSource(AwsSecretsManagerSource):
    """Another writer puts a new AWSCURRENT right after each read."""

    def __init__(self, secret_id: str, rival: Any) -> None:
        super().__init__(secret_id)
        self.rival = rival

    def read(self) -> Any:
        document = super().read()
        self.rival.put_secret_value(
            SecretId=self.secret_id, SecretString=keyset_doc({"kid": "winner", "secret": CANARY})
        )
        return document


def new_key(kid: str = "loser") -> Key:
    return Key(kid, Secret(CANARY_2), parse_time("2030-01-01T00:00:00Z"))


def test_lost_race_after_the_read_is_reported_not_overwritten(aws: Aws) -> None:
    name = aws.secret(keyset_doc({"kid": "k1", "secret": CANARY}))
    mark = aws.server.mark()
    with pytest.raises(WriteConflictError, match="changed since it was read; run again") as info:
        add_key(RacedSource(name, aws.client), new_key())
    assert aws.kids(name) == ["winner"]
    assert PENDING_LABEL not in {label for labels in aws.stages(name).values() for label in labels}
    assert not leaked(str(info.value))
    assert {c.operation for c in aws.server.calls(name, since=mark)} <= rotator_actions()


def test_lost_race_between_put_and_move_is_reported(aws: Aws) -> None:
    name = aws.secret(keyset_doc({"kid": "k1", "secret": CANARY}))
    source = AwsSecretsManagerSource(name)

    def rival_writes_first(**_: Any) -> None:
        aws.client.put_secret_value(
            SecretId=name, SecretString=keyset_doc({"kid": "winner", "secret": CANARY})
        )

    # A botocore event hook on the source's real client: the call still goes to the server.
    source._client.meta.events.register_first(
        "before-call.secrets-manager.PutSecretValue", rival_writes_first
    )
    with pytest.raises(WriteConflictError):
        add_key(source, new_key())
    assert aws.kids(name) == ["winner"]
    assert len(aws.stages(name)) == 2  # winner AWSCURRENT, k1 AWSPREVIOUS, no R2JWT_PENDING


def test_a_refused_move_that_is_no_race_is_not_called_a_conflict(aws: Aws) -> None:
    name = aws.secret(keyset_doc({"kid": "k1", "secret": CANARY}))
    aws.server.fail(
        "UpdateSecretVersionStage", "InvalidParameterException", secret_id=name, times=1
    )
    with pytest.raises(SourceError, match="UpdateSecretVersionStage on secret") as info:
        add_key(open_source(f"aws-sm://{name}"), new_key())
    assert not isinstance(info.value, WriteConflictError)
    assert aws.kids(name) == ["k1"]
    assert len(aws.stages(name)) == 1


def test_a_move_whose_answer_was_lost_is_a_success(aws: Aws) -> None:
    # The label moved, but the caller got an error back (a retry, a dropped response): asking
    # where AWSCURRENT is tells the write it succeeded.
    name = aws.secret(keyset_doc({"kid": "k1", "secret": CANARY}))
    aws.server.fail(
        "UpdateSecretVersionStage", "InvalidParameterException", secret_id=name, times=1, after=True
    )
    add_key(open_source(f"aws-sm://{name}"), new_key("k2"))
    assert aws.kids(name) == ["k1", "k2"]
    assert sorted(aws.stages(name).values()) == [["AWSCURRENT"], ["AWSPREVIOUS"]]


@pytest.mark.parametrize(
    ("operation", "kms"),
    [("PutSecretValue", "kms:GenerateDataKey"), ("UpdateSecretVersionStage", "kms:Decrypt")],
)
def test_access_denied_on_write_names_the_action(
    aws: Aws, cli: Any, caplog: pytest.LogCaptureFixture, operation: str, kms: str
) -> None:
    name = aws.secret(keyset_doc({"kid": "k1", "secret": CANARY}))
    aws.server.fail(operation, "AccessDeniedException", secret_id=name)
    result = cli(
        "keys", "add", "--source", f"aws-sm://{name}", "--kid", "k2", "--secret-stdin",
        "--not-before", "+1h", stdin=CANARY_2,
    )  # fmt: skip
    assert result.code == 1
    assert f"may not call secretsmanager:{operation}" in result.err
    assert kms in result.err
    assert aws.kids(name) == ["k1"]  # AWSCURRENT did not move
    assert not leaked(result.out + result.err + caplog.text)


def test_writes_go_through_awscurrent_only(aws: Aws, cli: Any) -> None:
    name = aws.secret(keyset_doc({"kid": "k1", "secret": CANARY}))
    (version,) = aws.stages(name)
    for query in ("stage=AWSPREVIOUS", f"version_id={version}"):
        result = cli(
            "keys", "add", "--source", f"aws-sm://{name}?{query}", "--kid", "k2",
            "--secret-stdin", stdin=CANARY_2,
        )  # fmt: skip
        assert result.code == 2
        assert "keys are changed through AWSCURRENT only" in result.err
    assert aws.kids(name) == ["k1"]


# -- the signer -----------------------------------------------------------------------------------


def test_sixteen_threads_share_one_fetch(aws: Aws) -> None:
    name = aws.secret(KEYSET)
    mark = aws.server.mark()
    tokens: set[str] = set()
    lock = threading.Lock()
    start = threading.Barrier(16)
    with r2jwt.Signer(f"aws-sm://{name}") as signer:

        def work() -> None:
            start.wait()
            mine = {signer.token(mid="123456", country="MX") for _ in range(200)}
            with lock:
                tokens.update(mine)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(tokens) >= 1
    assert aws.server.count("GetSecretValue", name, since=mark) <= 2
    assert {c.operation for c in aws.server.calls(name, since=mark)} == {"GetSecretValue"}


# -- the contract, and secrets in output -----------------------------------------------------------


class TestAwsContract(SourceContract):
    @pytest.fixture(autouse=True)
    def _account(self, aws: Aws) -> None:
        self.aws = aws

    def make_source(self, document: bytes | None) -> AwsSecretsManagerSource:
        name = self.aws.secret(None if document is None else document.decode())
        return AwsSecretsManagerSource(name)


def test_debug_output_holds_no_secret(aws: Aws) -> None:
    """--debug shows r2jwt's details and tracebacks, never the SDK's request/response bodies."""
    name = aws.secret(KEYSET)
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    listed = run_process("--debug", "keys", "list", "--source", f"aws-sm://{name}", env=env)
    assert listed.code == 0, listed.err
    aws.server.fail("PutSecretValue", "AccessDeniedException", secret_id=name)
    argv = (
        "--debug",
        "keys",
        "add",
        "--kid",
        "k3",
        "--secret-stdin",
        "--source",
        f"aws-sm://{name}",
    )
    added = run_process(*argv, env=env, stdin=CANARY)
    assert added.code == 1
    assert "Traceback" in added.err
    assert f"secretsmanager:PutSecretValue on secret {name!r}" in added.err
    assert not leaked(listed.out + listed.err + added.out + added.err)
