"""Rotation without downtime, end to end through real stores over HTTP.

The same scenarios run against moto's Secrets Manager server and against our Vault HTTP API
server, through boto3 and hvac exactly as production does. The signer's clock is fake (hours pass
in milliseconds); refreshes run in the signing thread so that every fetch is deterministic, except
in the threaded test. The store is written the way ops write it: ``r2jwt keys add``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import jwt
import pytest
from botocore.config import Config

from r2jwt import Signer, StaleKeySetError, open_source
from r2jwt.admin import add_key
from r2jwt.jws import decode_unverified
from r2jwt.keys import Key, Secret, format_time
from r2jwt.sources.aws import AwsSecretsManagerSource
from r2jwt.sources.base import Source
from r2jwt.testing import FakeClock, run_now
from support.moto_server import MotoServer
from support.vault_server import FakeVault, KVMount

from conftest import CANARY, CANARY_2, T0

INTERVAL, MAX_STALE = 300.0, 3600.0
SECRETS = {"r2-old": CANARY, "r2-new": CANARY_2}
FIRST = json.dumps({"keys": [{"kid": "r2-old", "secret": CANARY}]})


@dataclass
class Backend:
    """A store under test: how r2jwt opens it, and how the test breaks and mends it."""

    name: str
    open: Callable[[], Source]
    go_down: Callable[[], None]
    come_back: Callable[[], None]
    reads: Callable[[], int]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def aws_backend(server: MotoServer) -> Backend:
    # One attempt per call: botocore's own retries sleep in real time, and the key cache's
    # backoff is what is under test here.
    client = boto3.session.Session().client(
        "secretsmanager",
        region_name="us-east-1",
        endpoint_url=server.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    name = f"r2jwt-e2e/{uuid.uuid4().hex[:12]}"
    client.create_secret(Name=name, SecretString=FIRST)
    return Backend(
        name="aws-sm",
        open=lambda: AwsSecretsManagerSource(name, client=client),
        go_down=lambda: server.fail(
            "GetSecretValue", "InternalServiceError", status=500, secret_id=name
        ),
        come_back=server.clear_faults,
        reads=lambda: server.count("GetSecretValue", name),
    )


def vault_backend(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[Backend]:
    fake = FakeVault(clock=clock.monotonic, kv_mounts=[KVMount("secret")])
    fake.start()
    fake.put_secret("secret", "r2/jwt", json.loads(FIRST))
    monkeypatch.setenv("VAULT_ADDR", fake.addr)
    monkeypatch.setenv("VAULT_TOKEN", fake.root_token)

    def go_down() -> None:
        fake.sealed = True

    def come_back() -> None:
        fake.sealed = False

    yield Backend(
        name="vault",
        open=lambda: open_source("vault://secret/r2/jwt"),
        go_down=go_down,
        come_back=come_back,
        reads=lambda: fake.count(method="GET", path="secret/data/r2/jwt"),
    )
    fake.stop()


@pytest.fixture(params=["aws-sm", "vault"])
def backend(
    request: pytest.FixtureRequest,
    moto_server: MotoServer,
    clean_env: pytest.MonkeyPatch,
    clock: FakeClock,
) -> Iterator[Backend]:
    if request.param == "aws-sm":
        yield aws_backend(moto_server)
        moto_server.clear_faults()
    else:
        yield from vault_backend(clean_env, clock)


def iso(t: float) -> str:
    return format_time(datetime.fromtimestamp(t, UTC))


def kid_of(token: str) -> str:
    return str(decode_unverified(token)[0]["kid"])


def check(token: str) -> str:
    """Verify a token with its kid's secret; return the kid."""
    kid = kid_of(token)
    jwt.decode(token, SECRETS[kid], algorithms=["HS256"], options={"verify_exp": False})
    return kid


def signer_for(backend: Backend, clock: FakeClock, **kwargs: Any) -> Signer:
    options: dict[str, Any] = {
        "clock": clock,
        "spawn": run_now,
        "refresh_interval": INTERVAL,
        "max_stale": MAX_STALE,
    }
    return Signer(backend.open(), **(options | kwargs))


def schedule_new_key(backend: Backend, not_before: float) -> None:
    """What ops run: r2jwt keys add --kid r2-new --not-before ..."""
    source = backend.open()
    try:
        start = datetime.fromtimestamp(not_before, UTC)
        add_key(source, Key("r2-new", Secret(CANARY_2), start))
    finally:
        source.close()


def test_rotation_is_picked_up_without_a_restart(backend: Backend, clock: FakeClock) -> None:
    with signer_for(backend, clock) as signer:
        assert check(signer.token(mid="m")) == "r2-old"
        schedule_new_key(backend, T0 + INTERVAL)  # one refresh interval ahead
        seen = set()
        for _ in range(int(INTERVAL * 2)):
            clock.advance(1)
            kid = check(signer.token(mid="m"))
            seen.add(kid)
            # Never the old kid once the new one's not_before has come.
            assert kid == ("r2-new" if clock.time() >= T0 + INTERVAL else "r2-old")
        assert seen == {"r2-old", "r2-new"}
        assert 2 <= backend.reads() <= 4  # the first load and about one read per interval


def test_scheduled_key_takes_over_while_the_backend_is_down(
    backend: Backend, clock: FakeClock
) -> None:
    schedule_new_key(backend, T0 + 1800)
    with signer_for(backend, clock) as signer:
        assert check(signer.token()) == "r2-old"
        backend.go_down()
        clock.advance(1799)
        assert check(signer.token()) == "r2-old"
        clock.advance(1)
        assert check(signer.token()) == "r2-new"  # time-driven: no fetch needed
        incident = signer.stats().incident
        assert incident is not None and incident.transient


def test_outage_serves_stale_then_fails_closed_then_recovers(
    backend: Backend, clock: FakeClock
) -> None:
    with signer_for(backend, clock) as signer:
        signer.token()
        backend.go_down()
        before = backend.reads()
        for _ in range(int(MAX_STALE) - 60):  # a token a second, just short of max_stale
            clock.advance(1)
            assert check(signer.token()) == "r2-old"
        failed_reads = backend.reads() - before
        assert 5 <= failed_reads <= 40  # backoff, not one call per token
        clock.advance(120)
        with pytest.raises(StaleKeySetError) as info:
            signer.token()
        assert info.value.source.startswith(f"{backend.name}://")
        assert info.value.source in str(info.value)
        backend.come_back()
        clock.advance(INTERVAL + 1)  # within one backoff step, capped at the interval
        assert check(signer.token()) == "r2-old"
        assert signer.stats().incident is None


def test_eight_threads_through_a_rotation(backend: Backend, clock: FakeClock) -> None:
    signer = signer_for(backend, clock, spawn=None)  # real background threads
    signer.token()
    schedule_new_key(backend, T0 + INTERVAL)
    stop = threading.Event()
    samples: list[str] = []
    errors: list[BaseException] = []

    def sign(n: int) -> None:
        try:
            while not stop.is_set():
                token = signer.token(mid=str(n))
                if len(samples) < 5000:
                    samples.append(token)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sign, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    final_kid = None
    try:
        for _ in range(int(INTERVAL * 2)):
            clock.advance(1)
        for _ in range(500):  # the last background refresh may still be in flight
            final_kid = kid_of(signer.token(mid="0"))
            if final_kid == "r2-new":
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
        signer.close()
    assert errors == []
    assert {check(token) for token in set(samples)} <= {"r2-old", "r2-new"}
    assert final_kid == "r2-new"
