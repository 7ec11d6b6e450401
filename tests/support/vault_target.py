"""The Vault that tests/test_sources_vault.py runs against: our FakeVault, or a real Vault.

A real Vault is used when ``VAULT_ADDR`` and ``VAULT_TOKEN`` are set as pytest starts (the token
must be allowed to mount secrets engines and auth methods and to write policies; a dev server's
root token is). The tests then work in KV mounts, an AppRole mount and policies named
``r2jwt-test-<random>``, which are removed at the end. ``R2JWT_TEST_VAULT=fake`` forces the fake.
Tests that need what only the fake has (fault injection, server-side request counts, its clock,
Kubernetes logins, namespaces) ask for the ``fake`` fixture, which skips on a real Vault.

Both targets offer the same setup methods; the tests use nothing else to prepare a Vault.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from support.vault_server import FakeVault, KVMount

__all__ = ["REAL_VAULT_ENV", "FakeTarget", "RealTarget", "Target"]

# Captured at import: the per-test clean_env fixture removes every VAULT_* variable.
REAL_VAULT_ENV = {
    name: os.environ[name]
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_CACERT", "VAULT_CAPATH", "VAULT_NAMESPACE")
    if os.environ.get(name)
}
USE_REAL_VAULT = (
    "VAULT_ADDR" in REAL_VAULT_ENV
    and "VAULT_TOKEN" in REAL_VAULT_ENV
    and os.environ.get("R2JWT_TEST_VAULT", "") != "fake"
)


class Target:
    """What a test may do to the Vault it runs against."""

    fake: FakeVault | None = None
    kv2 = "secret"  # a KV v2 mount
    kv1 = "kv"  # a KV v1 mount
    approle_mount = "approle"
    #: The environment r2jwt needs to reach this Vault (VAULT_ADDR, ...), without a token.
    env: dict[str, str]
    root_token: str

    def put(self, mount: str, path: str, data: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def get(self, mount: str, path: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def version(self, path: str) -> int:
        """The current KV v2 version of ``path`` in the kv2 mount (0 when absent)."""
        raise NotImplementedError

    def delete_latest(self, path: str) -> None:
        raise NotImplementedError

    def policy(self, rules: Mapping[str, list[str]]) -> str:
        """Create a policy from {path: capabilities}; return its name."""
        raise NotImplementedError

    def token(self, *policies: str, ttl: int = 3600) -> str:
        raise NotImplementedError

    def approle(self, *policies: str, token_ttl: int = 3600) -> tuple[str, str]:
        """Create an AppRole role with these policies; return (role_id, secret_id)."""
        raise NotImplementedError

    def require_cas(self) -> None:
        """Make the kv2 mount refuse writes without check-and-set."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what this target made."""


class FakeTarget(Target):
    def __init__(self, *, clock: Callable[[], float]) -> None:
        self.fake = FakeVault(clock=clock, kv_mounts=[KVMount("secret"), KVMount("kv", version=1)])
        self.fake.start()
        self.env = {"VAULT_ADDR": self.fake.addr}
        self.root_token = self.fake.root_token
        self._names = 0

    def put(self, mount: str, path: str, data: Mapping[str, Any]) -> None:
        assert self.fake is not None
        self.fake.put_secret(mount, path, data)

    def get(self, mount: str, path: str) -> dict[str, Any] | None:
        assert self.fake is not None
        found: dict[str, Any] | None = self.fake.get_secret(mount, path)
        return found

    def version(self, path: str) -> int:
        assert self.fake is not None
        return self.fake.current_version(self.kv2, path)

    def delete_latest(self, path: str) -> None:
        import hvac

        assert self.fake is not None
        client = hvac.Client(url=self.fake.addr, token=self.root_token)
        try:
            client.secrets.kv.v2.delete_latest_version_of_secret(path, mount_point=self.kv2)
        finally:
            client.adapter.close()

    def policy(self, rules: Mapping[str, list[str]]) -> str:
        assert self.fake is not None
        self._names += 1
        name = f"policy-{self._names}"
        self.fake.add_policy(name, dict(rules))
        return name

    def token(self, *policies: str, ttl: int = 3600) -> str:
        assert self.fake is not None
        return self.fake.create_token(policies=policies, ttl=ttl)

    def approle(self, *policies: str, token_ttl: int = 3600) -> tuple[str, str]:
        assert self.fake is not None
        self._names += 1
        role_id, secret_id = f"role-{secrets.token_hex(8)}", f"sid-{secrets.token_hex(16)}"
        self.fake.add_approle(
            f"role-{self._names}",
            role_id=role_id,
            secret_id=secret_id,
            policies=policies,
            token_ttl=token_ttl,
        )
        return role_id, secret_id

    def require_cas(self) -> None:
        assert self.fake is not None
        self.fake.mount_kv(self.kv2, version=2, cas_required=True)

    def close(self) -> None:
        assert self.fake is not None
        self.fake.stop()


class RealTarget(Target):
    """A real Vault, reached with the VAULT_* variables pytest started with."""

    def __init__(self) -> None:
        import hvac

        prefix = f"r2jwt-test-{secrets.token_hex(4)}"
        self.kv2, self.kv1, self.approle_mount = f"{prefix}-kv2", f"{prefix}-kv1", prefix
        self.root_token = REAL_VAULT_ENV["VAULT_TOKEN"]
        self.env = {k: v for k, v in REAL_VAULT_ENV.items() if k != "VAULT_TOKEN"}
        verify: bool | str = (
            REAL_VAULT_ENV.get("VAULT_CACERT") or REAL_VAULT_ENV.get("VAULT_CAPATH") or True
        )
        self.client = hvac.Client(
            url=REAL_VAULT_ENV["VAULT_ADDR"],
            token=self.root_token,
            verify=verify,
            namespace=REAL_VAULT_ENV.get("VAULT_NAMESPACE"),
        )
        self._prefix = prefix
        self._policies: list[str] = []
        self._roles = 0
        self.client.sys.enable_secrets_engine("kv", path=self.kv2, options={"version": "2"})
        self.client.sys.enable_secrets_engine("kv", path=self.kv1, options={"version": "1"})
        self.client.sys.enable_auth_method("approle", path=self.approle_mount)
        self._wait_for_kv2()

    def _wait_for_kv2(self) -> None:
        # A new KV v2 mount answers "upgrading" for a moment.
        import hvac.exceptions

        for _ in range(50):
            try:
                self.client.secrets.kv.v2.read_configuration(mount_point=self.kv2)
                return
            except hvac.exceptions.VaultError:
                time.sleep(0.1)

    def put(self, mount: str, path: str, data: Mapping[str, Any]) -> None:
        if mount == self.kv1:
            self.client.secrets.kv.v1.create_or_update_secret(path, dict(data), mount_point=mount)
        else:  # with cas, so that require_cas() does not get in the way
            self.client.secrets.kv.v2.create_or_update_secret(
                path, dict(data), cas=self.version(path), mount_point=mount
            )

    def get(self, mount: str, path: str) -> dict[str, Any] | None:
        import hvac.exceptions

        try:
            if mount == self.kv1:
                found = self.client.secrets.kv.v1.read_secret(path, mount_point=mount)["data"]
            else:
                found = self.client.secrets.kv.v2.read_secret_version(
                    path, mount_point=mount, raise_on_deleted_version=True
                )["data"]["data"]
        except hvac.exceptions.InvalidPath:
            return None
        return dict(found)

    def version(self, path: str) -> int:
        import hvac.exceptions

        try:
            meta = self.client.secrets.kv.v2.read_secret_metadata(path, mount_point=self.kv2)
        except hvac.exceptions.InvalidPath:
            return 0
        return int(meta["data"]["current_version"])

    def delete_latest(self, path: str) -> None:
        self.client.secrets.kv.v2.delete_latest_version_of_secret(path, mount_point=self.kv2)

    def policy(self, rules: Mapping[str, list[str]]) -> str:
        name = f"{self._prefix}-{len(self._policies)}"
        hcl = "\n".join(
            f'path "{path}" {{ capabilities = {list(caps)!r} }}'.replace("'", '"')
            for path, caps in rules.items()
        )
        self.client.sys.create_or_update_policy(name, hcl)
        self._policies.append(name)
        return name

    def token(self, *policies: str, ttl: int = 3600) -> str:
        created = self.client.auth.token.create(policies=list(policies), ttl=f"{ttl}s")
        return str(created["auth"]["client_token"])

    def approle(self, *policies: str, token_ttl: int = 3600) -> tuple[str, str]:
        self._roles += 1
        role, mount = f"role-{self._roles}", self.approle_mount
        self.client.auth.approle.create_or_update_approle(
            role, token_policies=list(policies), token_ttl=f"{token_ttl}s", mount_point=mount
        )
        role_id = self.client.auth.approle.read_role_id(role, mount_point=mount)["data"]["role_id"]
        secret_id = self.client.auth.approle.generate_secret_id(role, mount_point=mount)["data"][
            "secret_id"
        ]
        return str(role_id), str(secret_id)

    def require_cas(self) -> None:
        self.client.secrets.kv.v2.configure(cas_required=True, mount_point=self.kv2)

    def close(self) -> None:
        try:
            self.client.sys.disable_secrets_engine(self.kv2)
            self.client.sys.disable_secrets_engine(self.kv1)
            self.client.sys.disable_auth_method(self.approle_mount)
            for name in self._policies:
                self.client.sys.delete_policy(name)
        finally:
            self.client.adapter.close()
