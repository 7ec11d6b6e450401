"""Tests of our Vault HTTP API server, driven through hvac as r2jwt drives a real Vault.

Each test shows one piece of the wire format hvac relies on: the envelope, the
status code and so the hvac exception, the error strings.  No test sleeps: token
lifetimes run on a ManualClock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import hvac
import hvac.exceptions
import pytest
import requests

from support.vault_server import (
    ERR_CAS_MISMATCH,
    ERR_CAS_REQUIRED,
    ERR_INVALID_TOKEN,
    ERR_PERMISSION_DENIED,
    ERR_SEALED,
    ERR_STANDBY,
    FakeVault,
    KVMount,
    ManualClock,
    TLSUnavailableError,
)

ClientFactory = Callable[..., hvac.Client]

KEYSET = {"keys": [{"kid": "r2-2026-11", "secret": "s3cr3t-value-never-logged"}]}
ENVELOPE_KEYS = {
    "request_id",
    "lease_id",
    "renewable",
    "lease_duration",
    "data",
    "wrap_info",
    "warnings",
    "auth",
    "mount_type",
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def vault(clock: ManualClock) -> Iterator[FakeVault]:
    with FakeVault(clock=clock) as server:
        yield server


@pytest.fixture
def make_client(vault: FakeVault) -> Iterator[ClientFactory]:
    """hvac clients against ``vault``, closed at teardown (no unclosed sockets)."""
    clients: list[hvac.Client] = []

    def factory(token: str | None = "", **kwargs: Any) -> hvac.Client:
        # token="" means the root token; token=None means no token at all.
        if token == "":
            token = vault.root_token
        client = hvac.Client(url=vault.addr, token=token, timeout=5, **kwargs)
        if token is None:
            client.token = None  # hvac falls back to VAULT_TOKEN / ~/.vault-token
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.adapter.close()


@pytest.fixture
def root(make_client: ClientFactory) -> hvac.Client:
    return make_client()


def kv2(client: hvac.Client) -> Any:
    return client.secrets.kv.v2


# ------------------------------------------------------------------ sys


def test_health_active_unsealed(root: hvac.Client, vault: FakeVault) -> None:
    health = root.sys.read_health_status(method="GET")
    assert health["initialized"] is True
    assert health["sealed"] is False
    assert health["standby"] is False
    assert health["version"] == "1.17.3"
    assert isinstance(health["server_time_utc"], int)
    assert root.sys.is_sealed() is False
    assert root.sys.read_health_status(method="HEAD").status_code == 200


def test_health_status_codes_follow_the_docs(root: hvac.Client, vault: FakeVault) -> None:
    vault.standby = True
    response = root.sys.read_health_status(method="GET")
    assert response.status_code == 429
    assert response.json()["standby"] is True
    assert root.sys.read_health_status(method="GET", standby_ok=True)["standby"] is True

    vault.standby, vault.sealed = False, True
    response = root.sys.read_health_status(method="GET")
    assert response.status_code == 503
    assert response.json()["sealed"] is True
    assert root.sys.read_health_status(method="GET", sealed_code=200)["sealed"] is True
    assert root.sys.read_seal_status()["sealed"] is True

    vault.sealed, vault.initialized = False, False
    assert root.sys.read_health_status(method="GET").status_code == 501


def test_sealed_vault_answers_503_vault_is_sealed(root: hvac.Client, vault: FakeVault) -> None:
    vault.put_secret("secret", "r2/jwt", KEYSET)
    vault.sealed = True
    with pytest.raises(hvac.exceptions.VaultDown) as excinfo:
        kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert excinfo.value.errors == [ERR_SEALED]
    with pytest.raises(hvac.exceptions.VaultDown):
        root.auth.token.lookup_self()

    vault.sealed = False
    assert kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)


def test_standby_without_an_active_node(root: hvac.Client, vault: FakeVault) -> None:
    vault.standby = True
    with pytest.raises(hvac.exceptions.InternalServerError) as excinfo:
        kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert excinfo.value.errors == [ERR_STANDBY]


def test_mounts_and_kv_version_detection(make_client: ClientFactory) -> None:
    root = make_client()
    mounts = root.sys.list_mounted_secrets_engines()
    assert mounts["data"]["secret/"]["options"] == {"version": "2"}
    assert mounts["secret/"] == mounts["data"]["secret/"]  # repeated at the top level
    assert root.sys.retrieve_mount_option("kv", "version") == "1"

    # What the Vault CLI's "kv" commands ask first.
    preflight = root.read("sys/internal/ui/mounts/secret/data/r2/jwt")
    assert preflight["data"]["path"] == "secret/"
    assert preflight["data"]["type"] == "kv"
    assert preflight["data"]["options"]["version"] == "2"


def test_mount_preflight_denied_without_access(
    vault: FakeVault, make_client: ClientFactory
) -> None:
    vault.add_policy("reader", {"secret/data/r2/*": ["read"]})
    reader = make_client(vault.create_token(policies=["reader"]))
    assert reader.read("sys/internal/ui/mounts/secret")["data"]["options"] == {"version": "2"}
    with pytest.raises(hvac.exceptions.Forbidden) as excinfo:
        reader.read("sys/internal/ui/mounts/kv")
    assert excinfo.value.errors == [
        "preflight capability check returned 403, please ensure client's "
        'policies grant access to path "kv/"'
    ]


# ------------------------------------------------------------------ KV v2


def test_kv2_create_and_read(root: hvac.Client) -> None:
    written = kv2(root).create_or_update_secret("r2/jwt", secret=KEYSET)
    assert set(written) == ENVELOPE_KEYS
    assert written["data"]["version"] == 1
    assert written["data"]["deletion_time"] == ""
    assert written["data"]["destroyed"] is False
    assert written["mount_type"] == "kv"

    read = kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert set(read) == ENVELOPE_KEYS
    assert read["data"]["data"] == KEYSET
    assert read["data"]["metadata"] == {
        "created_time": written["data"]["created_time"],
        "custom_metadata": None,
        "deletion_time": "",
        "destroyed": False,
        "version": 1,
    }
    assert read["lease_duration"] == 0
    assert read["renewable"] is False
    assert read["lease_id"] == ""


def test_kv2_missing_secret_is_404_with_empty_errors(root: hvac.Client) -> None:
    with pytest.raises(hvac.exceptions.InvalidPath) as excinfo:
        kv2(root).read_secret_version("r2/nothing", raise_on_deleted_version=True)
    assert excinfo.value.errors == []
    assert excinfo.value.json == {"errors": []}


def test_kv2_check_and_set(root: hvac.Client) -> None:
    kv2(root).create_or_update_secret("r2/jwt", secret={"v": "1"}, cas=0)
    with pytest.raises(hvac.exceptions.InvalidRequest) as excinfo:
        kv2(root).create_or_update_secret("r2/jwt", secret={"v": "lost"}, cas=0)
    assert excinfo.value.errors == [ERR_CAS_MISMATCH]

    assert (
        kv2(root).create_or_update_secret("r2/jwt", secret={"v": "2"}, cas=1)["data"]["version"]
        == 2
    )
    # A writer that read version 1 and writes now loses the race.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        kv2(root).create_or_update_secret("r2/jwt", secret={"v": "stale"}, cas=1)
    read = kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"v": "2"}


def test_kv2_patch_is_read_then_cas_write(root: hvac.Client, vault: FakeVault) -> None:
    kv2(root).create_or_update_secret("r2/jwt", secret={"a": "1"})
    # hvac's patch() reads without choosing raise_on_deleted_version, and says so.
    with pytest.warns(DeprecationWarning, match="raise_on_deleted_version"):
        kv2(root).patch("r2/jwt", secret={"b": "2"})
    assert vault.get_secret("secret", "r2/jwt") == {"a": "1", "b": "2"}


def test_kv2_cas_required_on_the_mount(root: hvac.Client) -> None:
    kv2(root).configure(cas_required=True, max_versions=5)
    config = kv2(root).read_configuration()
    assert config["data"] == {
        "cas_required": True,
        "delete_version_after": "0s",
        "max_versions": 5,
    }
    with pytest.raises(hvac.exceptions.InvalidRequest) as excinfo:
        kv2(root).create_or_update_secret("r2/jwt", secret={"v": "1"})
    assert excinfo.value.errors == [ERR_CAS_REQUIRED]
    assert kv2(root).create_or_update_secret("r2/jwt", secret={"v": "1"}, cas=0)


def test_kv2_cas_required_from_constructor_and_per_key() -> None:
    with FakeVault(kv_mounts=[KVMount("strict", cas_required=True), KVMount("loose")]) as v:
        client = hvac.Client(url=v.addr, token=v.root_token)
        try:
            with pytest.raises(hvac.exceptions.InvalidRequest, match="required"):
                client.secrets.kv.v2.create_or_update_secret(
                    "a", secret={"x": "1"}, mount_point="strict"
                )
            client.secrets.kv.v2.update_metadata("b", cas_required=True, mount_point="loose")
            with pytest.raises(hvac.exceptions.InvalidRequest, match="required"):
                client.secrets.kv.v2.create_or_update_secret(
                    "b", secret={"x": "1"}, mount_point="loose"
                )
            client.secrets.kv.v2.create_or_update_secret(
                "c", secret={"x": "1"}, mount_point="loose"
            )
        finally:
            client.adapter.close()


def test_kv2_versions_pin_and_metadata(root: hvac.Client) -> None:
    for value in ("one", "two", "three"):
        kv2(root).create_or_update_secret("r2/jwt", secret={"v": value})
    pinned = kv2(root).read_secret_version("r2/jwt", version=2, raise_on_deleted_version=True)
    assert pinned["data"]["data"] == {"v": "two"}
    assert pinned["data"]["metadata"]["version"] == 2

    metadata = kv2(root).read_secret_metadata("r2/jwt")["data"]
    assert metadata["current_version"] == 3
    assert metadata["oldest_version"] == 1
    assert sorted(metadata["versions"]) == ["1", "2", "3"]
    assert metadata["cas_required"] is False

    with pytest.raises(hvac.exceptions.InvalidPath):
        kv2(root).read_secret_version("r2/jwt", version=9, raise_on_deleted_version=True)


def test_kv2_max_versions_prunes_the_oldest(root: hvac.Client) -> None:
    kv2(root).configure(max_versions=2)
    for value in ("one", "two", "three"):
        kv2(root).create_or_update_secret("r2/jwt", secret={"v": value})
    metadata = kv2(root).read_secret_metadata("r2/jwt")["data"]
    assert metadata["oldest_version"] == 2
    assert sorted(metadata["versions"]) == ["2", "3"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv2(root).read_secret_version("r2/jwt", version=1, raise_on_deleted_version=True)


def test_kv2_soft_delete_and_raise_on_deleted_version(root: hvac.Client) -> None:
    kv2(root).create_or_update_secret("r2/jwt", secret={"v": "one"})
    kv2(root).create_or_update_secret("r2/jwt", secret={"v": "two"})
    kv2(root).delete_latest_version_of_secret("r2/jwt")

    # True: hvac raises, and the 404 still carries Vault's envelope.
    with pytest.raises(hvac.exceptions.InvalidPath) as excinfo:
        kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    body = excinfo.value.json
    assert set(body) == ENVELOPE_KEYS
    assert body["data"]["data"] is None
    assert body["data"]["metadata"]["deletion_time"] != ""
    assert body["data"]["metadata"]["version"] == 2

    # False: hvac hands back that envelope.
    deleted = kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=False)
    assert deleted["data"]["data"] is None
    assert deleted["data"]["metadata"]["deletion_time"] != ""

    # The earlier version is still there, pinned.
    older = kv2(root).read_secret_version("r2/jwt", version=1, raise_on_deleted_version=True)
    assert older["data"]["data"] == {"v": "one"}

    kv2(root).undelete_secret_versions("r2/jwt", versions=[2])
    restored = kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert restored["data"]["data"] == {"v": "two"}


def test_kv2_destroyed_version_raises_even_when_not_asked(root: hvac.Client) -> None:
    kv2(root).create_or_update_secret("r2/jwt", secret={"v": "one"})
    kv2(root).destroy_secret_versions("r2/jwt", versions=[1])
    # A destroyed version has no deletion_time, so hvac raises either way.
    with pytest.raises(hvac.exceptions.InvalidPath) as excinfo:
        kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=False)
    assert excinfo.value.json["data"]["metadata"]["destroyed"] is True


def test_kv2_list_with_list_method_and_query(root: hvac.Client, make_client: ClientFactory) -> None:
    for path in ("r2/jwt", "r2/old/jwt", "other"):
        kv2(root).create_or_update_secret(path, secret={"x": "1"})
    assert kv2(root).list_secrets("")["data"]["keys"] == ["other", "r2/"]
    assert kv2(root).list_secrets("r2")["data"]["keys"] == ["jwt", "old/"]
    strict = make_client(strict_http=True)  # GET ?list=true instead of LIST
    assert kv2(strict).list_secrets("r2")["data"]["keys"] == ["jwt", "old/"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv2(root).list_secrets("nothing-here")


def test_kv2_delete_metadata_removes_every_version(root: hvac.Client) -> None:
    kv2(root).create_or_update_secret("r2/jwt", secret={"x": "1"})
    kv2(root).delete_metadata_and_all_versions("r2/jwt")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv2(root).read_secret_metadata("r2/jwt")


def test_kv2_raw_path_without_data_prefix_gets_vaults_warning(
    root: hvac.Client,
) -> None:
    with pytest.raises(hvac.exceptions.InvalidPath) as excinfo:
        root.secrets.kv.v1.read_secret("r2/jwt", mount_point="secret")
    warnings = excinfo.value.json["warnings"]
    assert warnings == [
        "Invalid path for a versioned K/V secrets engine. See the API docs for the "
        "appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' "
        "for this operation."
    ]


# ------------------------------------------------------------------ KV v1


def test_kv1_read_write_list_delete(root: hvac.Client) -> None:
    kv1 = root.secrets.kv.v1
    kv1.create_or_update_secret("r2/jwt", secret=KEYSET, mount_point="kv")
    read = kv1.read_secret("r2/jwt", mount_point="kv")
    assert read["data"] == KEYSET
    assert read["lease_duration"] == 2_764_800
    assert read["mount_type"] == "kv"
    assert kv1.list_secrets("r2", mount_point="kv")["data"]["keys"] == ["jwt"]

    kv1.create_or_update_secret("r2/jwt", secret={"kid": "b"}, mount_point="kv")
    assert kv1.read_secret("r2/jwt", mount_point="kv")["data"] == {"kid": "b"}

    kv1.delete_secret("r2/jwt", mount_point="kv")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv1.read_secret("r2/jwt", mount_point="kv")


# ------------------------------------------------------------------ auth


def test_approle_login(vault: FakeVault, make_client: ClientFactory) -> None:
    vault.add_policy("r2-reader", {"secret/data/r2/*": ["read"]})
    vault.add_approle(
        "r2",
        role_id="role-1",
        secret_id="secret-1",
        policies=["r2-reader"],
        token_ttl=600,
    )
    vault.put_secret("secret", "r2/jwt", KEYSET)
    client = make_client(None)

    login = client.auth.approle.login(role_id="role-1", secret_id="secret-1")
    auth = login["auth"]
    assert login["data"] is None
    assert auth["client_token"].startswith("hvs.")
    assert auth["accessor"]
    assert auth["policies"] == ["default", "r2-reader"]
    assert auth["token_policies"] == ["default", "r2-reader"]
    assert auth["metadata"] == {"role_name": "r2"}
    assert auth["lease_duration"] == 600
    assert auth["renewable"] is True
    assert client.token == auth["client_token"]
    read = kv2(client).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert read["data"]["data"] == KEYSET
    assert client.auth.token.lookup_self()["data"]["path"] == "auth/approle/login"


@pytest.mark.parametrize(
    ("role_id", "secret_id", "message"),
    [
        ("role-1", "wrong", "invalid role or secret ID"),
        ("no-such-role", "secret-1", "invalid role or secret ID"),
        ("role-1", "", "missing secret_id"),
        ("", "secret-1", "missing role_id"),
    ],
)
def test_approle_login_failures(
    vault: FakeVault,
    make_client: ClientFactory,
    role_id: str,
    secret_id: str,
    message: str,
) -> None:
    vault.add_approle("r2", role_id="role-1", secret_id="secret-1")
    with pytest.raises(hvac.exceptions.InvalidRequest) as excinfo:
        make_client(None).auth.approle.login(role_id=role_id, secret_id=secret_id)
    assert excinfo.value.errors == [message]


def test_approle_on_another_mount(vault: FakeVault, make_client: ClientFactory) -> None:
    vault.add_approle("r2", role_id="r", secret_id="s", mount="apps/approle")
    client = make_client(None)
    with pytest.raises(hvac.exceptions.Forbidden):  # nothing mounted at auth/approle
        client.auth.approle.login(role_id="r", secret_id="s")
    assert client.auth.approle.login(role_id="r", secret_id="s", mount_point="apps/approle")


def test_kubernetes_login(vault: FakeVault, make_client: ClientFactory) -> None:
    vault.add_kubernetes_role(
        "r2-signer",
        jwt="eyJ.service-account.jwt",
        policies=["r2-reader"],
        service_account_name="signer",
        service_account_namespace="payments",
    )
    client = make_client(None)
    auth = client.auth.kubernetes.login("r2-signer", "eyJ.service-account.jwt")["auth"]
    assert auth["policies"] == ["default", "r2-reader"]
    assert auth["metadata"]["role"] == "r2-signer"
    assert auth["metadata"]["service_account_name"] == "signer"
    assert auth["metadata"]["service_account_namespace"] == "payments"
    assert client.auth.token.lookup_self()["data"]["path"] == "auth/kubernetes/login"

    with pytest.raises(hvac.exceptions.InvalidRequest) as excinfo:
        client.auth.kubernetes.login("no-such-role", "eyJ.service-account.jwt")
    assert excinfo.value.errors == ['invalid role name "no-such-role"']
    with pytest.raises(hvac.exceptions.Forbidden) as forbidden:
        client.auth.kubernetes.login("r2-signer", "eyJ.some-other.jwt")
    assert forbidden.value.errors == ["permission denied"]


def test_token_lookup_and_renew_on_the_injected_clock(
    vault: FakeVault, clock: ManualClock, make_client: ClientFactory
) -> None:
    token = vault.create_token(policies=["r2-reader"], ttl="60s", explicit_max_ttl=300)
    client = make_client(token)

    data = client.auth.token.lookup_self()["data"]
    assert data["ttl"] == 60
    assert data["creation_ttl"] == 60
    assert data["renewable"] is True
    assert data["explicit_max_ttl"] == 300
    assert data["policies"] == ["default", "r2-reader"]
    assert data["expire_time"] is not None

    clock.advance(50)
    assert client.auth.token.lookup_self()["data"]["ttl"] == 10

    renewed = client.auth.token.renew_self(increment="2m")
    assert renewed["auth"]["lease_duration"] == 120
    assert renewed["auth"]["client_token"] == token
    assert renewed["warnings"] is None
    assert vault.token_ttl(token) == 120

    # Without an increment the token gets its creation TTL back.
    clock.advance(100)
    assert client.auth.token.renew_self()["auth"]["lease_duration"] == 60

    # The explicit max TTL (300 s from issue; 150 s have gone) caps a renewal.
    capped = client.auth.token.renew_self(increment=3600)
    assert capped["auth"]["lease_duration"] == 150
    assert "capped" in capped["warnings"][0]

    clock.advance(150)
    with pytest.raises(hvac.exceptions.Forbidden) as excinfo:
        client.auth.token.lookup_self()
    assert excinfo.value.errors == [ERR_INVALID_TOKEN]
    assert vault.token_ttl(token) is None


def test_login_token_expires_by_the_clock(
    vault: FakeVault, clock: ManualClock, make_client: ClientFactory
) -> None:
    vault.add_approle("r2", role_id="r", secret_id="s", token_ttl=30, token_max_ttl=60)
    client = make_client(None)
    client.auth.approle.login(role_id="r", secret_id="s")
    clock.advance(29)
    assert client.auth.token.lookup_self()["data"]["ttl"] == 1
    clock.advance(1)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup_self()


def test_non_renewable_token(vault: FakeVault, make_client: ClientFactory) -> None:
    client = make_client(vault.create_token(ttl=60, renewable=False))
    with pytest.raises(hvac.exceptions.InvalidRequest) as excinfo:
        client.auth.token.renew_self()
    assert excinfo.value.errors == ["lease is not renewable"]
    root_lookup = make_client().auth.token.lookup_self()["data"]
    assert root_lookup["policies"] == ["root"]
    assert root_lookup["ttl"] == 0
    assert root_lookup["expire_time"] is None


def test_token_create(vault: FakeVault, make_client: ClientFactory) -> None:
    vault.add_policy("r2-reader", {"secret/data/r2/*": ["read"]})
    created = make_client().auth.token.create(policies=["r2-reader"], ttl="1h")["auth"]
    assert created["policies"] == ["default", "r2-reader"]
    assert created["lease_duration"] == 3600

    child_maker = make_client(created["client_token"])
    with pytest.raises(hvac.exceptions.Forbidden):  # no policy grants auth/token/create
        child_maker.auth.token.create(policies=["r2-reader"])


def test_bearer_authorization_header(vault: FakeVault) -> None:
    vault.put_secret("secret", "r2/jwt", KEYSET)
    url = f"{vault.addr}/v1/secret/data/r2/jwt"
    with requests.Session() as session:
        response = session.get(url, headers={"Authorization": f"Bearer {vault.root_token}"})
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["data"]["data"] == KEYSET
        anonymous = session.get(url)
        assert anonymous.status_code == 403
        assert anonymous.json() == {"errors": [ERR_INVALID_TOKEN]}


def test_unknown_or_revoked_token_is_forbidden(
    vault: FakeVault, make_client: ClientFactory
) -> None:
    with pytest.raises(hvac.exceptions.Forbidden) as excinfo:
        make_client("hvs.not-a-token").auth.token.lookup_self()
    assert excinfo.value.errors == [ERR_INVALID_TOKEN]
    token = vault.create_token()
    client = make_client(token)
    assert client.auth.token.lookup_self()
    vault.revoke_token(token)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup_self()


# ------------------------------------------------------------------ policies


def test_policy_denies_with_vaults_403(vault: FakeVault, make_client: ClientFactory) -> None:
    vault.add_policy("r2-reader", {"secret/data/r2/*": ["read"]})
    vault.put_secret("secret", "r2/jwt", KEYSET)
    vault.put_secret("secret", "other", {"x": "1"})
    reader = make_client(vault.create_token(policies=["r2-reader"]))

    assert kv2(reader).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    for forbidden_call in (
        lambda: kv2(reader).read_secret_version("other", raise_on_deleted_version=True),
        lambda: kv2(reader).create_or_update_secret("r2/jwt", secret={"x": "1"}, cas=1),
        lambda: kv2(reader).read_secret_metadata("r2/jwt"),
        lambda: kv2(reader).list_secrets("r2"),
        lambda: reader.sys.list_mounted_secrets_engines(),
    ):
        with pytest.raises(hvac.exceptions.Forbidden) as excinfo:
            forbidden_call()
        assert excinfo.value.errors == [ERR_PERMISSION_DENIED]
    # The default policy still lets a token look itself up and renew itself.
    assert reader.auth.token.lookup_self()["data"]["policies"] == [
        "default",
        "r2-reader",
    ]


def test_create_and_update_are_different_capabilities(
    vault: FakeVault, make_client: ClientFactory
) -> None:
    vault.add_policy("creator", {"secret/data/*": ["create"]})
    vault.add_policy("updater", {"secret/data/*": ["update"]})
    creator = make_client(vault.create_token(policies=["creator"]))
    updater = make_client(vault.create_token(policies=["updater"]))

    with pytest.raises(hvac.exceptions.Forbidden):
        kv2(updater).create_or_update_secret("r2/jwt", secret={"v": "1"})
    kv2(creator).create_or_update_secret("r2/jwt", secret={"v": "1"})
    with pytest.raises(hvac.exceptions.Forbidden):
        kv2(creator).create_or_update_secret("r2/jwt", secret={"v": "2"})
    kv2(updater).create_or_update_secret("r2/jwt", secret={"v": "2"}, cas=1)
    assert vault.current_version("secret", "r2/jwt") == 2


def test_policy_priority_deny_and_segment_wildcards(
    vault: FakeVault, make_client: ClientFactory
) -> None:
    vault.add_policy(
        "mixed",
        {
            "secret/data/*": ["read"],
            "secret/data/r2/private": ["deny"],
            "secret/data/+/shared": ["read", "create", "update"],
            "secret/metadata/r2/*": ["list"],
        },
    )
    vault.add_policy("more", {"secret/data/r2/private": ["read"]})
    for path in ("r2/jwt", "r2/private", "team/shared"):
        vault.put_secret("secret", path, {"x": "1"})
    client = make_client(vault.create_token(policies=["mixed", "more"]))

    assert kv2(client).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):  # deny wins over any grant
        kv2(client).read_secret_version("r2/private", raise_on_deleted_version=True)
    # "+" matches one segment, and beats the glob: this write is allowed ...
    kv2(client).create_or_update_secret("team/shared", secret={"x": "2"})
    # ... but not two segments deep.
    with pytest.raises(hvac.exceptions.Forbidden):
        kv2(client).create_or_update_secret("a/b/shared", secret={"x": "2"})
    assert kv2(client).list_secrets("r2")["data"]["keys"] == ["jwt", "private"]


# ------------------------------------------------------------------ faults and the log


def test_injected_429_then_recovery(root: hvac.Client, vault: FakeVault) -> None:
    vault.put_secret("secret", "r2/jwt", KEYSET)
    vault.inject(429, times=2, path="secret/data/")
    for _ in range(2):
        with pytest.raises(hvac.exceptions.RateLimitExceeded) as excinfo:
            kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert excinfo.value.errors == [
        '1 error occurred:\n\t* request path "secret/data/r2/jwt": rate limit quota exceeded\n\n'
    ]
    assert vault.pending_faults == 0
    assert kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert vault.count(path="secret/data/r2/jwt", status=429) == 2
    assert vault.count(path="secret/data/r2/jwt", status=200) == 1


def test_injected_faults_match_path_method_and_order(root: hvac.Client, vault: FakeVault) -> None:
    vault.put_secret("secret", "r2/jwt", KEYSET)
    vault.inject(500, path="secret/data/other")  # never matches below
    vault.inject(503, method="GET", path="secret/")
    vault.inject(502, errors=["upstream down"], headers={"Retry-After": "3"})
    with pytest.raises(hvac.exceptions.VaultDown):
        kv2(root).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.BadGateway) as excinfo:
        root.auth.token.lookup_self()
    assert excinfo.value.errors == ["upstream down"]
    assert vault.pending_faults == 1
    vault.clear_faults()
    assert root.auth.token.lookup_self()


def test_injected_disconnect(root: hvac.Client, vault: FakeVault) -> None:
    vault.inject(None, disconnect=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        root.auth.token.lookup_self()
    assert root.auth.token.lookup_self()["data"]["policies"] == ["root"]


def test_request_log_counts_reads_and_keeps_no_secrets(
    vault: FakeVault, make_client: ClientFactory
) -> None:
    vault.put_secret("secret", "r2/jwt", KEYSET)
    client = make_client()
    for _ in range(3):
        kv2(client).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    kv2(client).read_secret_version("r2/jwt", version=1, raise_on_deleted_version=True)
    assert vault.count(method="GET", path="secret/data/r2/jwt") == 4
    assert vault.count(path_prefix="secret/data/") == 4
    assert vault.requests[-1].query == "version=1"

    everything = repr(vault.requests) + repr(vault)
    assert vault.root_token not in everything
    assert "s3cr3t-value-never-logged" not in everything
    vault.clear_requests()
    assert vault.requests == []


def test_unsupported_method_is_405(vault: FakeVault) -> None:
    response = requests.request(
        "FROB",
        f"{vault.addr}/v1/secret/data/r2/jwt",
        headers={"X-Vault-Token": vault.root_token, "Connection": "close"},
        timeout=5,
    )
    assert response.status_code == 405
    assert response.json() == {"errors": []}


def test_unknown_route_for_root_is_404(root: hvac.Client) -> None:
    with pytest.raises(hvac.exceptions.InvalidPath) as excinfo:
        root.adapter.get("/v1/nomount/thing")  # Client.read() would swallow the 404
    assert excinfo.value.errors == ['no handler for route "nomount/thing". route entry not found.']


# ------------------------------------------------------------------ namespaces


def test_namespaces_keep_data_apart() -> None:
    with FakeVault(
        kv_mounts=[KVMount("secret"), KVMount("secret", namespace="team-a")],
        namespaces=["team-b"],
    ) as v:
        v.mount_kv("secret", namespace="team-b")
        clients = {
            ns: hvac.Client(url=v.addr, token=v.root_token, namespace=ns or None)
            for ns in ("", "team-a", "team-b")
        }
        try:
            for ns, client in clients.items():
                client.secrets.kv.v2.create_or_update_secret(
                    "r2/jwt", secret={"kid": f"kid-{ns or 'root'}"}
                )
            for ns, client in clients.items():
                read = client.secrets.kv.v2.read_secret_version(
                    "r2/jwt", raise_on_deleted_version=True
                )
                assert read["data"]["data"] == {"kid": f"kid-{ns or 'root'}"}
            assert v.get_secret("secret", "r2/jwt", namespace="team-a") == {"kid": "kid-team-a"}
            assert v.count(method="GET", namespace="team-b") == 1

            # A token made in team-a works there and nowhere else.
            team_token = v.create_token(namespace="team-a", policies=["reader"])
            v.add_policy("reader", {"secret/data/*": ["read"]}, namespace="team-a")
            in_a = hvac.Client(url=v.addr, token=team_token, namespace="team-a")
            in_b = hvac.Client(url=v.addr, token=team_token, namespace="team-b")
            try:
                assert in_a.secrets.kv.v2.read_secret_version(
                    "r2/jwt", raise_on_deleted_version=True
                )
                with pytest.raises(hvac.exceptions.Forbidden):
                    in_b.secrets.kv.v2.read_secret_version("r2/jwt", raise_on_deleted_version=True)
            finally:
                in_a.adapter.close()
                in_b.adapter.close()

            # An unknown namespace is just an unknown path, as in Vault Enterprise.
            nowhere = hvac.Client(url=v.addr, token=v.root_token, namespace="team-z")
            try:
                with pytest.raises(hvac.exceptions.InvalidPath, match="no handler"):
                    nowhere.secrets.kv.v2.read_secret_version(
                        "r2/jwt", raise_on_deleted_version=True
                    )
            finally:
                nowhere.adapter.close()
        finally:
            for client in clients.values():
                client.adapter.close()


def test_login_inside_a_namespace(vault: FakeVault, make_client: ClientFactory) -> None:
    vault.mount_kv("secret", namespace="payments")
    vault.add_policy("reader", {"secret/data/*": ["read"]}, namespace="payments")
    vault.add_approle("r2", role_id="r", secret_id="s", policies=["reader"], namespace="payments")
    vault.put_secret("secret", "r2/jwt", KEYSET, namespace="payments")
    client = make_client(None, namespace="payments")
    client.auth.approle.login(role_id="r", secret_id="s")
    read = kv2(client).read_secret_version("r2/jwt", raise_on_deleted_version=True)
    assert read["data"]["data"] == KEYSET
    vault.add_approle("other", role_id="x", secret_id="y")
    with pytest.raises(hvac.exceptions.InvalidRequest):  # no such role in root
        make_client(None).auth.approle.login(role_id="r", secret_id="s")


# ------------------------------------------------------------------ TLS


def test_tls_with_a_self_signed_certificate() -> None:
    server = FakeVault()
    try:
        server.start(tls=True)
    except TLSUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        assert server.addr.startswith("https://127.0.0.1:")
        assert server.ca_cert is not None
        client = hvac.Client(url=server.addr, token=server.root_token, verify=server.ca_cert)
        try:
            assert client.auth.token.lookup_self()["data"]["policies"] == ["root"]
        finally:
            client.adapter.close()
        untrusted = hvac.Client(url=server.addr, token=server.root_token)
        try:
            with pytest.raises(requests.exceptions.SSLError):
                untrusted.auth.token.lookup_self()
        finally:
            untrusted.adapter.close()
    finally:
        server.stop()
    assert server.ca_cert is None
