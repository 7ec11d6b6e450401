"""``vault://MOUNT/PATH``: a keyset in a HashiCorp Vault KV secret (v2, or v1).

    vault://r2jwt/payments/r2-jwt                                     KV v2, token auth
    vault://r2jwt/payments/r2-jwt?auth=approle                        AppRole login
    vault://r2jwt/payments/r2-jwt?auth=kubernetes&role=payments-api   Kubernetes login
    vault://r2jwt/payments/r2-jwt?version=7                           one KV v2 version, read-only
    vault://kv/r2/jwt?kv=1&allow_unsafe_v1_writes=1                   KV v1, unchecked writes

MOUNT is the first segment of the target; a nested mount writes its slashes as ``%2F``
(``vault://team%2Fkv/r2/jwt``). PATH is the rest, without KV v2's ``data/`` prefix.

**Data layout.** The secret's data *is* the keyset document, as fields (``{"keys": [...]}`` or
``{"kid": ..., "secret": ...}``), which is what ``vault kv put MOUNT/PATH @keyset.json`` stores.
Alternatively one string field, ``keyset``, holds the document as JSON text. Reads accept both; a
write keeps the layout it read, and every other field (fields for a new secret).

**Configuration** follows the Vault CLI: ``VAULT_ADDR`` (default ``https://127.0.0.1:8200``),
``VAULT_TOKEN`` (else ``~/.vault-token``), ``VAULT_NAMESPACE``, ``VAULT_CACERT`` /
``VAULT_CAPATH``, ``VAULT_CLIENT_CERT`` / ``VAULT_CLIENT_KEY``, ``VAULT_SKIP_VERIFY`` (allowed,
logged as a warning) and ``VAULT_CLIENT_TIMEOUT`` (default 10 s per request). AppRole reads
``VAULT_ROLE_ID`` and ``VAULT_SECRET_ID`` or ``VAULT_SECRET_ID_FILE``; Kubernetes reads the role
from ``?role=`` or ``VAULT_K8S_ROLE`` and the service-account JWT from
``VAULT_K8S_TOKEN_PATH`` (default the in-pod path), again at every login because kubelet
rotates it.

**What a reader touches:** ``GET MOUNT/data/PATH`` (``read``), ``auth/token/lookup-self`` once
for a given token and ``auth/token/renew-self`` (both in Vault's ``default`` policy), and its
login. Only when Vault answers 404 does it ask ``sys/internal/ui/mounts/MOUNT`` (allowed to any
token with access under the mount, as the Vault CLI does) to say whether the mount is missing
or of the other KV version. A writer reads, then ``POST MOUNT/data/PATH`` with ``cas`` set to
the version it read (``create``/``update``), so it works where ``cas_required`` is set.

**Token lifetime.** The token's TTL comes from the login (or one ``lookup-self`` for a given
token) and is tracked on the injectable monotonic clock. Before each request, when less than a
margin remains, a renewable token is renewed; a login-based source logs in afresh when the token
cannot be renewed or renewal no longer extends it past the margin. The margin is a third of the
TTL, or ``renew_before`` (default 600 s, two default refresh intervals) when that is more, but
at most two thirds of the TTL: a 1 h token is renewed with 20 min left, a 15 min token with
10 min left, so the next read, one refresh interval later, finds it alive. A login-based source
also logs in again, once, when Vault answers 403, and then reports the error. Tokens obtained by
login are revoked (best effort) on :meth:`VaultSource.close`.

**Writes** on KV v1 have no check-and-set, so they are refused unless the URL says
``allow_unsafe_v1_writes=1``; then the source compares the secret with what it read just before
writing, which narrows the race but cannot close it. A pinned ``?version=`` is read-only.

hvac is imported when a source is built, never by ``import r2jwt``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Self, TypeVar
from urllib.parse import quote, unquote

from r2jwt.clock import Clock, SystemClock
from r2jwt.errors import (
    ConfigurationError,
    MissingExtraError,
    SourceError,
    SourceNotFoundError,
    SourceURLError,
    WriteConflictError,
)
from r2jwt.sources.base import Document, Source, SourceURL, redact

__all__ = ["KEYSET_FIELD", "VaultSource"]

log = logging.getLogger("r2jwt")

#: The one field that may hold the whole keyset document as JSON text.
KEYSET_FIELD = "keyset"

DEFAULT_ADDR = "https://127.0.0.1:8200"  # the Vault CLI's default
K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
DEFAULT_TIMEOUT = 10.0  # seconds per request (connect: at most 5)
DEFAULT_RENEW_BEFORE = 600.0  # seconds; two default refresh intervals
AUTH_METHODS = ("token", "approle", "kubernetes")

_TRUE = ("1", "t", "true", "yes")  # Go's strconv.ParseBool, as the Vault CLI reads flags
_FALSE = ("0", "f", "false", "no", "")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Sdk:
    """hvac and the requests exceptions it lets through, imported once a source is built."""

    hvac: ModuleType
    errors: ModuleType  # hvac.exceptions
    requests: ModuleType  # requests.exceptions


def _import_sdk() -> _Sdk:
    try:
        import hvac  # type: ignore[import-untyped]
        import hvac.exceptions  # type: ignore[import-untyped]
        import requests.exceptions
    except ImportError as exc:
        raise MissingExtraError(module="hvac", extra="vault") from exc
    return _Sdk(hvac, hvac.exceptions, requests.exceptions)


@dataclass(frozen=True, slots=True)
class _Layout:
    """How a secret holds the keyset: as its fields, or as JSON in the ``keyset`` field (and
    then the other fields it had, kept on write)."""

    in_keyset_field: bool = False
    other_fields: dict[str, Any] = field(default_factory=dict, repr=False)


class VaultSource(Source):
    """Read and write a keyset document in a Vault KV secret; see the module docstring."""

    scheme = "vault"

    def __init__(
        self,
        mount: str,
        path: str,
        *,
        kv: int = 2,
        auth: str = "token",
        auth_mount: str | None = None,
        role: str | None = None,
        version: int | None = None,
        allow_unsafe_v1_writes: bool = False,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        renew_before: float = DEFAULT_RENEW_BEFORE,
        name: str | None = None,
    ) -> None:
        """:param renew_before: seconds; renew the token (or log in again) when fewer remain,
        within a third to two thirds of its TTL (module docstring). Keep it above the refresh
        interval.
        :param environ: where the VAULT_* variables are read (default ``os.environ``).
        :param clock: its ``monotonic()`` times the token's TTL (tests inject a fake one).
        """
        mount, path = mount.strip("/"), path.strip("/")
        shown = name or _canonical_url(
            mount,
            path,
            kv=kv,
            auth=auth,
            auth_mount=auth_mount,
            role=role,
            version=version,
            allow_unsafe_v1_writes=allow_unsafe_v1_writes,
        )
        if not mount or not path:
            raise SourceURLError(
                f"source {shown!r}: name a mount and a path, like vault://secret/r2/jwt",
                url=shown,
            )
        if kv not in (1, 2):
            raise SourceURLError(f"source {shown!r}: kv must be 1 or 2", url=shown)
        if auth not in AUTH_METHODS:
            raise SourceURLError(
                f"source {shown!r}: auth {auth!r} is not one of {', '.join(AUTH_METHODS)}",
                url=shown,
            )
        if auth == "token" and (auth_mount or role):
            raise SourceURLError(
                f"source {shown!r}: auth_mount and role apply to auth=approle or kubernetes",
                url=shown,
            )
        if auth == "approle" and role:
            raise SourceURLError(
                f"source {shown!r}: AppRole takes its role from VAULT_ROLE_ID, not ?role=",
                url=shown,
            )
        if version is not None and (kv != 2 or version < 1):
            raise SourceURLError(
                f"source {shown!r}: version pins a KV v2 version, a whole number from 1",
                url=shown,
            )
        if allow_unsafe_v1_writes and kv != 1:
            raise SourceURLError(
                f"source {shown!r}: allow_unsafe_v1_writes is for kv=1 only; "
                f"KV v2 writes always use check-and-set",
                url=shown,
            )
        if not renew_before >= 0 or not math.isfinite(renew_before):
            raise ConfigurationError("renew_before must be a number of seconds >= 0")

        self.mount, self.path, self.kv, self.auth = mount, path, kv, auth
        self.auth_mount = (auth_mount or ("" if auth == "token" else auth)).strip("/")
        self.role = role
        self.version = version
        self.allow_unsafe_v1_writes = allow_unsafe_v1_writes
        self.renew_before = float(renew_before)
        self.name = shown
        self._environ = os.environ if environ is None else environ
        self._monotonic = (clock or SystemClock()).monotonic

        # Where requests go, and how, fixed at construction (a bad variable fails fast).
        self._url = (self._env("VAULT_ADDR") or DEFAULT_ADDR).rstrip("/")
        self.addr = redact(self._url)  # what messages show
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", self._url):
            raise ConfigurationError(
                f"VAULT_ADDR {self.addr!r} is not a URL like https://vault.example.com:8200"
            )
        self.namespace = self._env("VAULT_NAMESPACE").strip("/") or None
        self._verify = self._tls_verify()
        self._cert = self._client_cert()
        self._timeout = self._request_timeout()
        self._sdk = _import_sdk()

        self._lock = threading.RLock()
        self._client: Any = None
        self._expires_at: float | None = None  # monotonic; None: no expiry or unknown
        self._ttl = 0.0  # seconds the token had when last issued, renewed or looked up
        self._renewable = False
        self._warned_expiry = False
        self._lookup_refused = False  # lookup-self of a given token answered 403
        self._sensitive: set[str] = set()  # credentials to scrub from Vault's error texts
        self._layouts: dict[str, _Layout] = {}  # by the version it was read at
        self._absent_version = 0  # cas for a create: 0, or the version whose deletion we read

    @classmethod
    def from_url(cls, url: SourceURL) -> Self:
        options = url.options(
            "kv", "auth", "auth_mount", "role", "version", "allow_unsafe_v1_writes"
        )
        mount_part, slash, path = url.target.partition("/")
        if not slash or not mount_part or not path.strip("/"):
            raise SourceURLError(
                f"source {url.display!r}: use vault://MOUNT/PATH, like vault://secret/r2/jwt "
                f"(a nested mount writes its slashes as %2F)",
                url=url.display,
            )
        kv = options.get("kv", "2")
        if kv not in ("1", "2"):
            raise SourceURLError(f"source {url.display!r}: kv must be 1 or 2", url=url.display)
        version = options.get("version")
        if version is not None and not version.isdigit():
            raise SourceURLError(
                f"source {url.display!r}: version must be a whole number", url=url.display
            )
        return cls(
            unquote(mount_part),
            unquote(path),
            kv=int(kv),
            auth=options.get("auth", "token"),
            auth_mount=options.get("auth_mount") or None,
            role=options.get("role") or None,
            version=None if version is None else int(version),
            allow_unsafe_v1_writes=url.flag("allow_unsafe_v1_writes"),
            name=url.display,
        )

    # -- configuration ---------------------------------------------------------------------------

    def _env(self, name: str) -> str:
        return self._environ.get(name, "").strip()

    def _env_flag(self, name: str) -> bool:
        value = self._env(name).lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigurationError(f"{name} must be true or false (1 or 0)")

    def _tls_verify(self) -> bool | str:
        if self._env_flag("VAULT_SKIP_VERIFY"):
            log.warning(
                "vault: VAULT_SKIP_VERIFY is set: the TLS certificate of %s is not checked, so "
                "whoever sits on the network path can take the Vault token and the keyset; set "
                "VAULT_CACERT instead",
                self.addr,
            )
            return False
        # As the Vault CLI: VAULT_CACERT takes precedence over VAULT_CAPATH.
        return self._env("VAULT_CACERT") or self._env("VAULT_CAPATH") or True

    def _client_cert(self) -> tuple[str, str] | None:
        cert, key = self._env("VAULT_CLIENT_CERT"), self._env("VAULT_CLIENT_KEY")
        if bool(cert) != bool(key):
            raise ConfigurationError(
                "set both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY for a TLS client certificate"
            )
        return (cert, key) if cert else None

    def _request_timeout(self) -> tuple[float, float]:
        text = self._env("VAULT_CLIENT_TIMEOUT")
        seconds = DEFAULT_TIMEOUT
        if text:
            match = re.fullmatch(r"(\d+(?:\.\d+)?)([sm]?)", text)
            if match is None or float(match.group(1)) <= 0:
                raise ConfigurationError(
                    "VAULT_CLIENT_TIMEOUT must be a positive number of seconds, like 10 or 30s"
                )
            seconds = float(match.group(1)) * (60 if match.group(2) == "m" else 1)
        return (min(5.0, seconds), seconds)

    # -- paths and names used in messages --------------------------------------------------------

    @property
    def api_path(self) -> str:
        """The path the ACL checks: ``MOUNT/data/PATH`` on KV v2, ``MOUNT/PATH`` on KV v1."""
        return f"{self.mount}/data/{self.path}" if self.kv == 2 else f"{self.mount}/{self.path}"

    # -- reading ---------------------------------------------------------------------------------

    def read(self) -> Document:
        with self._lock:
            if self.kv == 2:
                return self._read_v2(self.version)
            return self._read_v1()

    def _read_v2(self, version: int | None) -> Document:
        response = self._call(
            "read",
            lambda client: client.secrets.kv.v2.read_secret_version(
                path=self.path,
                version=version,
                mount_point=self.mount,
                raise_on_deleted_version=True,
            ),
        )
        body = self._field(response, "data")
        data, metadata = self._field(body, "data"), self._field(body, "metadata")
        number = metadata.get("version")
        if not isinstance(number, int) or isinstance(number, bool):
            raise SourceError(
                f"{self.name}: Vault's answer has no KV v2 version number; is {self.mount!r} "
                f"a KV v2 mount?",
                source=self.name,
            )
        tag = str(number)
        document, layout = self._unpack(data)
        self._layouts = {tag: layout}
        return Document(document, tag)

    def _read_v1(self) -> Document:
        response = self._call(
            "read",
            lambda client: client.secrets.kv.v1.read_secret(path=self.path, mount_point=self.mount),
        )
        data = self._field(response, "data")
        tag = _content_version(data)
        document, layout = self._unpack(data)
        self._layouts = {tag: layout}
        return Document(document, tag)

    def _unpack(self, data: dict[str, Any]) -> tuple[bytes, _Layout]:
        held = data.get(KEYSET_FIELD)
        if isinstance(held, str):
            others = {k: v for k, v in data.items() if k != KEYSET_FIELD}
            return held.encode("utf-8"), _Layout(in_keyset_field=True, other_fields=others)
        return json.dumps(data, ensure_ascii=False).encode("utf-8"), _Layout()

    # -- writing ---------------------------------------------------------------------------------

    def write(self, data: bytes, *, expected_version: str | None) -> Document:
        if self.version is not None:
            raise ConfigurationError(
                f"source {self.name!r} is pinned to version {self.version}: it is read-only; "
                f"drop ?version= to change keys"
            )
        if self.kv == 1 and not self.allow_unsafe_v1_writes:
            raise ConfigurationError(
                f"{self.name} is a KV v1 secret, and KV v1 has no check-and-set: a write "
                f"could silently overwrite a concurrent change. Move the keyset to a KV v2 "
                f"mount, or add ?allow_unsafe_v1_writes=1 to the source URL to accept that risk"
            )
        try:
            document = json.loads(data)
        except ValueError:
            # from None: the decoder's exception holds the document, secrets included.
            raise SourceError(
                f"{self.name}: refusing to write a keyset document that is not JSON",
                source=self.name,
            ) from None
        if not isinstance(document, dict):
            raise SourceError(
                f"{self.name}: a keyset document to write must be a JSON object", source=self.name
            )
        with self._lock:
            layout = self._layout_of(expected_version)
            if layout.in_keyset_field:
                secret = {**layout.other_fields, KEYSET_FIELD: data.decode("utf-8")}
            else:
                secret = document
            if self.kv == 2:
                return self._write_v2(data, secret, expected_version)
            return self._write_v1(data, secret, expected_version)

    def _layout_of(self, expected_version: str | None) -> _Layout:
        if expected_version is None:
            return _Layout()
        layout = self._layouts.get(expected_version)
        if layout is not None:
            return layout
        # Not the version we last read (a caller that read elsewhere): look at that version.
        if self.kv == 2 and expected_version.isdigit():
            self._read_v2(int(expected_version))
        else:
            self._read_v1()
        return self._layouts.get(expected_version, _Layout())

    def _write_v2(
        self, data: bytes, secret: dict[str, Any], expected_version: str | None
    ) -> Document:
        if expected_version is None:
            cas = self._absent_version
        elif expected_version.isdigit():
            cas = int(expected_version)
        else:
            raise WriteConflictError(
                f"{self.name}: version {expected_version!r} is not a KV v2 version; read the "
                f"secret again and run again",
                source=self.name,
            )
        response = self._call(
            "write",
            lambda client: client.secrets.kv.v2.create_or_update_secret(
                path=self.path, secret=secret, cas=cas, mount_point=self.mount
            ),
            cas=cas,
        )
        number = self._field(response, "data").get("version")
        tag = str(number) if isinstance(number, int) else None
        layout = self._layout_of_written(secret)
        self._layouts = {} if tag is None else {tag: layout}
        log.info("vault: wrote version %s of %s (check-and-set %d)", tag, self.api_path, cas)
        return Document(data, tag)

    def _write_v1(
        self, data: bytes, secret: dict[str, Any], expected_version: str | None
    ) -> Document:
        # No check-and-set in KV v1: compare just before writing. This narrows the race to
        # the moment between these two requests; it does not close it (the user accepted that).
        try:
            current: str | None = self._read_v1().version
        except SourceNotFoundError:
            current = None
        if current != expected_version:
            raise WriteConflictError(
                f"{self.name}: the secret changed since it was read; nothing was written, "
                f"run again",
                source=self.name,
            )
        log.warning(
            "vault: writing %s without check-and-set (KV v1, allow_unsafe_v1_writes)",
            self.api_path,
        )
        self._call(
            "write",
            lambda client: client.secrets.kv.v1.create_or_update_secret(
                path=self.path, secret=secret, mount_point=self.mount
            ),
        )
        tag = _content_version(secret)
        self._layouts = {tag: self._layout_of_written(secret)}
        return Document(data, tag)

    @staticmethod
    def _layout_of_written(secret: dict[str, Any]) -> _Layout:
        if isinstance(secret.get(KEYSET_FIELD), str):
            others = {k: v for k, v in secret.items() if k != KEYSET_FIELD}
            return _Layout(in_keyset_field=True, other_fields=others)
        return _Layout()

    # -- requests: a live token, one retry after logging in again, errors mapped -----------------

    def _call(self, action: str, request: Callable[[Any], T], *, cas: int | None = None) -> T:
        """Run ``request(client)`` with a live token; map what fails to r2jwt's errors.

        ``action`` is "read" or "write"; it picks the capability a 403 message names.
        """
        sdk = self._sdk
        try:
            client = self._ready_client()
            try:
                return request(client)
            except sdk.errors.Forbidden:
                if self.auth == "token":
                    raise
                # The token may have been revoked or have expired early: log in once more.
                log.info("vault: %s of %s was denied; logging in again", action, self.api_path)
                self._login(client)
                return request(client)
        except sdk.errors.VaultError as exc:
            raise self._vault_error(exc, action, cas=cas) from exc
        except sdk.requests.RequestException as exc:
            raise self._transport_error(exc) from exc

    def _ready_client(self) -> Any:
        """The client, authenticated, its token renewed when it runs low."""
        client = self._client
        if client is not None:
            self._keep_alive(client)
            return client
        client = self._sdk.hvac.Client(
            url=self._url,
            token="",  # never hvac's own fallback to VAULT_TOKEN: we choose the credential
            cert=self._cert,
            verify=self._verify,
            timeout=self._timeout,
            namespace=self.namespace,
        )
        try:
            if self.auth == "token":
                client.token = self._given_token()
                self._lookup_token(client)
            else:
                self._login(client)
        except BaseException:
            client.adapter.close()
            raise
        self._client = client
        return client

    def _given_token(self) -> str:
        token = self._env("VAULT_TOKEN")
        if not token:
            home = self._env("HOME")
            token_file = (Path(home) if home else Path.home()) / ".vault-token"
            try:
                token = token_file.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                token = ""
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read {token_file}: {exc.strerror or type(exc).__name__}"
                ) from exc
        if not token:
            raise ConfigurationError(
                f"{self.name}: no Vault token; set VAULT_TOKEN, run 'vault login' (it writes "
                f"~/.vault-token), or log in with ?auth=approle or ?auth=kubernetes"
            )
        self._sensitive.add(token)
        return token

    def _lookup_token(self, client: Any) -> None:
        try:
            info = self._field(client.auth.token.lookup_self(), "data")
        except self._sdk.errors.Forbidden:
            # Almost always an invalid token (lookup-self is in Vault's default policy); the
            # read will tell, and its message will mention this.
            self._lookup_refused = True
            self._set_lease(None, renewable=False)
            return
        self._lookup_refused = False
        self._set_lease(_seconds(info.get("ttl")), renewable=info.get("renewable") is True)

    def _login(self, client: Any) -> None:
        # Until this login succeeds the client has no token, and the next request logs in.
        client.token = ""
        self._set_lease(0.0, renewable=False)
        if self.auth == "approle":
            role_id = self._env("VAULT_ROLE_ID")
            if not role_id:
                raise ConfigurationError(f"{self.name}: auth=approle needs VAULT_ROLE_ID")
            secret_id = self._approle_secret_id()
            self._sensitive.update((role_id, secret_id))
        else:
            role = self._kubernetes_role()
            jwt = self._kubernetes_jwt()  # read at every login: kubelet rotates it
            self._sensitive.add(jwt)
        try:
            if self.auth == "approle":
                response = client.auth.approle.login(
                    role_id=role_id, secret_id=secret_id, mount_point=self.auth_mount
                )
            else:
                response = client.auth.kubernetes.login(
                    role=role, jwt=jwt, mount_point=self.auth_mount
                )
        except self._sdk.errors.VaultError as exc:
            raise self._login_error(exc) from exc
        auth = self._field(response, "auth")
        token = auth.get("client_token")
        if isinstance(token, str):
            self._sensitive.add(token)
        ttl = _seconds(auth.get("lease_duration"))
        self._set_lease(ttl, renewable=auth.get("renewable") is True)
        log.debug(
            "vault: logged in with %s at auth/%s (token TTL %s s%s)",
            self.auth,
            self.auth_mount,
            "unlimited" if ttl is None else f"{ttl:g}",
            ", renewable" if self._renewable else "",
        )

    def _approle_secret_id(self) -> str:
        secret_id = self._env("VAULT_SECRET_ID")
        secret_file = self._env("VAULT_SECRET_ID_FILE")
        if not secret_id and secret_file:
            secret_id = self._read_credential_file(secret_file, "VAULT_SECRET_ID_FILE")
        if not secret_id:
            raise ConfigurationError(
                f"{self.name}: auth=approle needs VAULT_SECRET_ID or VAULT_SECRET_ID_FILE"
            )
        return secret_id

    def _kubernetes_role(self) -> str:
        role = self.role or self._env("VAULT_K8S_ROLE")
        if not role:
            raise ConfigurationError(
                f"{self.name}: auth=kubernetes needs the Vault role: add ?role=NAME to the "
                f"source URL or set VAULT_K8S_ROLE"
            )
        return role

    def _kubernetes_jwt(self) -> str:
        path = self._env("VAULT_K8S_TOKEN_PATH") or K8S_TOKEN_PATH
        jwt = self._read_credential_file(path, "the Kubernetes service-account token")
        if not jwt:
            raise ConfigurationError(f"{path} (the Kubernetes service-account token) is empty")
        return jwt

    @staticmethod
    def _read_credential_file(path: str, what: str) -> str:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            outside = "; outside a pod, set VAULT_K8S_TOKEN_PATH" if "Kubernetes" in what else ""
            raise ConfigurationError(
                f"cannot read {what} at {path}: {exc.strerror or type(exc).__name__}{outside}"
            ) from exc

    def _set_lease(self, ttl: float | None, *, renewable: bool) -> None:
        """Record the token's TTL in seconds: None for a token that never expires."""
        self._ttl = ttl or 0.0
        self._expires_at = None if ttl is None else self._monotonic() + ttl
        self._renewable = renewable

    def _margin(self) -> float:
        """Seconds of token life below which we renew: a third of its TTL, or renew_before
        when that is more, but never more than two thirds (a short TTL would renew always)."""
        return max(self._ttl / 3, min(self.renew_before, self._ttl * 2 / 3))

    def _keep_alive(self, client: Any) -> None:
        """Renew the token, or log in again, when less than the margin of its life remains."""
        if self._expires_at is None:
            return
        left = self._expires_at - self._monotonic()
        margin = self._margin()
        if left > margin:
            return
        if self._renewable and left > 0:
            try:
                auth = self._field(client.auth.token.renew_self(), "auth")
            except self._sdk.errors.Forbidden:
                auth = {}  # revoked meanwhile: a login-based source logs in below
            ttl = _seconds(auth.get("lease_duration"))
            if ttl is not None:
                self._set_lease(ttl, renewable=auth.get("renewable") is True)
                log.debug("vault: renewed the token (TTL now %g s)", ttl)
                # Near its max TTL a renewal grants less and less: then log in afresh.
                if ttl > margin or self.auth == "token":
                    return
        if self.auth != "token":
            self._login(client)
        elif not self._warned_expiry:
            self._warned_expiry = True
            log.warning(
                "vault: the token for %s %s and cannot be renewed; give r2jwt a new "
                "VAULT_TOKEN, or use auth=approle or auth=kubernetes",
                self.name,
                f"expires in {left:.0f} s" if left > 0 else "has expired",
            )

    def _field(self, container: object, key: str) -> dict[str, Any]:
        """``container[key]`` when both are JSON objects; a SourceError otherwise."""
        value = container.get(key) if isinstance(container, dict) else None
        if not isinstance(value, dict):
            raise SourceError(
                f"{self.name}: Vault at {self.addr} answered without a {key!r} object; is "
                f"VAULT_ADDR a Vault server?",
                source=self.name,
            )
        return value

    # -- errors ----------------------------------------------------------------------------------

    def _said(self, exc: Any) -> str:
        """What Vault said, on one line, without any credential we sent."""
        errors = getattr(exc, "errors", None)
        parts = errors if isinstance(errors, list) else [exc.args[0] if exc.args else ""]
        text = "; ".join(str(p) for p in parts if p)
        text = re.sub(r"\d+ errors? occurred:\s*", "", text)
        text = re.sub(r"\s*\*\s*", "; ", text).strip("; \n\t")
        text = re.sub(r"\s+", " ", text)
        for value in self._sensitive:
            if value:
                text = text.replace(value, "***")
        return text[:200] or "no details"

    def _vault_error(
        self, exc: Any, action: str, *, cas: int | None = None, where: str | None = None
    ) -> SourceError:
        errors, said, where = self._sdk.errors, self._said(exc), where or self.api_path
        if isinstance(exc, errors.Forbidden):
            if "invalid token" in said or self._lookup_refused:
                hint = (
                    "set VAULT_TOKEN to a valid token or run 'vault login'"
                    if self.auth == "token"
                    else "logging in again did not help; check the auth role"
                )
                return SourceError(
                    f"Vault rejected the token for {self.name} (403: invalid token, expired or "
                    f"revoked; {said}); {hint}",
                    source=self.name,
                )
            need = "'read'" if action == "read" else "'create' and 'update' (and 'read')"
            again = "" if self.auth == "token" else ", after logging in again"
            return SourceError(
                f"Vault denied {action} of {self.mount}/{self.path} (403 permission "
                f"denied{again}): the token's policies need {need} on {where}",
                source=self.name,
            )
        if isinstance(exc, errors.InvalidPath):
            return self._not_found(exc)
        if isinstance(exc, errors.InvalidRequest) and "check-and-set" in said:
            if cas == 0:
                detail = "it was created by someone else meanwhile"
            else:
                detail = f"it is no longer at version {cas}"
            return WriteConflictError(
                f"{self.name}: the secret changed since it was read ({detail}); nothing was "
                f"written, run again",
                source=self.name,
            )
        if isinstance(exc, errors.VaultDown):
            return SourceError(
                f"Vault at {self.addr} is sealed or unavailable (503: {said}); retry once it "
                f"is unsealed and active",
                source=self.name,
                transient=True,
            )
        if isinstance(exc, errors.InternalServerError) and "not active" in said:
            return SourceError(
                f"Vault at {self.addr} is a standby with no active node (sealed or failing "
                f"over): {said}; retry shortly",
                source=self.name,
                transient=True,
            )
        if isinstance(exc, errors.RateLimitExceeded):
            return SourceError(
                f"Vault at {self.addr} rate-limited the {action} of {where} (429); retry later",
                source=self.name,
                transient=True,
            )
        if isinstance(exc, errors.VaultNotInitialized):
            return SourceError(
                f"Vault at {self.addr} is not initialized (501)", source=self.name, transient=True
            )
        if isinstance(
            exc,
            errors.InternalServerError
            | errors.BadGateway
            | errors.PreconditionFailed
            | errors.UnexpectedError,
        ):
            return SourceError(
                f"Vault at {self.addr} failed the {action} of {where}: {said}",
                source=self.name,
                transient=True,
            )
        return SourceError(
            f"Vault refused the {action} of {where}: {said}", source=self.name, transient=False
        )

    def _login_error(self, exc: Any) -> SourceError:
        errors, said = self._sdk.errors, self._said(exc)
        where = f"auth/{self.auth_mount}/login"
        if isinstance(
            exc,
            errors.VaultDown
            | errors.InternalServerError
            | errors.BadGateway
            | errors.RateLimitExceeded
            | errors.UnexpectedError
            | errors.VaultNotInitialized,
        ):
            return self._vault_error(exc, "login", where=where)
        if isinstance(exc, errors.InvalidPath) or "no handler" in said:
            return SourceError(
                f"{self.name}: no {self.auth} auth method at {where} (404); set ?auth_mount= "
                f"to the path it is enabled at ('vault auth list')",
                source=self.name,
            )
        # Vault answers an unauthenticated request to a path no auth method serves with 403,
        # so a 403 may also mean the method is enabled elsewhere.
        enabled = f"that {self.auth} auth is enabled at auth/{self.auth_mount} (?auth_mount=)"
        if self.auth == "approle":
            hint = (
                "check VAULT_ROLE_ID and VAULT_SECRET_ID (or VAULT_SECRET_ID_FILE); a secret ID "
                "may have expired or used up its uses"
            )
            if isinstance(exc, errors.Forbidden):
                hint += f"; and check {enabled}"
        else:
            hint = (
                f"check that role {self._kubernetes_role()!r} binds this pod's service "
                f"account and namespace, that the token file is this pod's, and {enabled}"
            )
        return SourceError(
            f"Vault {self.auth} login at {where} failed ({said}); {hint}", source=self.name
        )

    def _not_found(self, exc: Any) -> SourceError:
        # KV v2 answers a deleted or destroyed version with 404 and its metadata.
        body = exc.json if isinstance(exc.json, dict) else {}
        metadata = _maybe_dict(_maybe_dict(body.get("data")).get("metadata"))
        deleted = metadata.get("version")
        if self.kv == 2 and isinstance(deleted, int) and deleted > 0:
            how = "destroyed" if metadata.get("destroyed") is True else "deleted"
            if self.version is None:
                self._absent_version = deleted  # a create must carry cas=<that version>
                undo = (
                    f"; undelete it with 'vault kv undelete -mount={self.mount} "
                    f"-versions={deleted} {self.path}'"
                    if how == "deleted"
                    else ""
                )
                return SourceNotFoundError(
                    f"the latest version ({deleted}) of {self.mount}/{self.path} in Vault is "
                    f"{how}{undo}, or write a new keyset with 'r2jwt keys add'",
                    source=self.name,
                )
            return SourceNotFoundError(
                f"version {deleted} of {self.mount}/{self.path} in Vault is {how}; pin another "
                f"?version= or drop it",
                source=self.name,
            )
        self._absent_version = 0
        pinned = f" at version {self.version}" if self.version is not None else ""
        return SourceNotFoundError(
            f"no secret at path {self.path!r} in mount {self.mount!r}{pinned} (Vault at "
            f"{self.addr} answered 404 for {self.api_path}){self._mount_hint(exc)}; create it "
            f"with 'r2jwt keys add --source {self.name}'",
            source=self.name,
        )

    def _mount_hint(self, exc: Any) -> str:
        """Why a path may be missing: no such mount, or the other KV version. Best effort."""
        warnings = _maybe_dict(exc.json if isinstance(exc.json, dict) else None).get("warnings")
        if self.kv == 1 and any("versioned K/V" in str(w) for w in warnings or ()):
            return f"; {self.mount!r} is a KV v2 mount: drop ?kv=1"
        sdk = self._sdk
        try:
            answer = self._client.adapter.get(f"/v1/sys/internal/ui/mounts/{quote(self.mount)}")
        except (sdk.errors.VaultError, sdk.requests.RequestException):
            return f"; is there a KV mount named {self.mount!r}? ('vault secrets list')"
        mount = _maybe_dict(_maybe_dict(answer).get("data"))
        kind = mount.get("type")
        found = str(mount.get("path") or "").strip("/")
        version = str(_maybe_dict(mount.get("options")).get("version") or "1")
        if kind not in ("kv", "generic") or not found:
            return f"; {self.mount!r} is not a KV mount"
        if found != self.mount:
            return f"; the KV mount is {found!r}: name it as MOUNT (write its slashes as %2F)"
        if version != str(self.kv):
            flag = "?kv=1" if version == "1" else "?kv=2 (or no kv option)"
            return f"; {self.mount!r} is a KV v{version} mount: use {flag}"
        return ""

    def _transport_error(self, exc: Any) -> SourceError:
        requests = self._sdk.requests
        if isinstance(exc, requests.SSLError):
            return SourceError(
                f"TLS with Vault at {self.addr} failed ({_reason(exc)}); point VAULT_CACERT "
                f"(or VAULT_CAPATH) at the CA certificate that signed Vault's certificate",
                source=self.name,
            )
        if isinstance(exc, requests.Timeout):
            return SourceError(
                f"Vault at {self.addr} did not answer within {self._timeout[1]:g} s "
                f"(VAULT_CLIENT_TIMEOUT)",
                source=self.name,
                transient=True,
            )
        if isinstance(exc, requests.ConnectionError):
            unset = "" if self._env("VAULT_ADDR") else " (VAULT_ADDR is not set)"
            return SourceError(
                f"cannot reach Vault at {self.addr}{unset}: {_reason(exc)}",
                source=self.name,
                transient=True,
            )
        return SourceError(
            f"cannot talk to Vault at {self.addr}: {type(exc).__name__}; check VAULT_ADDR",
            source=self.name,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            if client is None:
                return
            sdk = self._sdk
            if self.auth != "token" and client.token:
                # Tokens from our logins would otherwise live out their TTL in Vault's store.
                try:
                    client.auth.token.revoke_self()
                except (sdk.errors.VaultError, sdk.requests.RequestException) as exc:
                    log.debug("vault: revoking the login token failed (%s)", type(exc).__name__)
            client.token = ""
            client.adapter.close()

    def reset(self) -> None:
        # After os.fork: the HTTP session's sockets are shared with the parent, and the lock may
        # be held by a parent thread that does not exist here. Start over without revoking: the
        # token is the parent's too. The next read logs in (or looks the token up) again.
        self._lock = threading.RLock()
        self._client = None
        self._expires_at = None


def _content_version(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _maybe_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _seconds(value: object) -> float | None:
    """A TTL from Vault: a positive number of seconds, else None (no expiry)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _canonical_url(
    mount: str,
    path: str,
    *,
    kv: int,
    auth: str,
    auth_mount: str | None,
    role: str | None,
    version: int | None,
    allow_unsafe_v1_writes: bool,
) -> str:
    """The URL that names a source built in Python, with its options (for messages)."""
    options = {"kv": str(kv), "auth": auth}
    options.update({"auth_mount": auth_mount or "", "role": role or ""})
    if version is not None:
        options["version"] = str(version)
    if allow_unsafe_v1_writes:
        options["allow_unsafe_v1_writes"] = "1"
    query = "&".join(f"{k}={quote(v, safe='/')}" for k, v in options.items() if v)
    return f"vault://{quote(mount, safe='')}/{quote(path, safe='/')}?{query}"


def _reason(exc: BaseException) -> str:
    """What went wrong underneath a requests exception, without its URL: the innermost
    exception's class, or the verifier's reason for a certificate."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        detail = text.split("certificate verify failed", 1)[-1].strip(" :()'\"")
        return "certificate verify failed" + (f": {detail[:80]}" if detail else "")
    return type(exc).__name__
